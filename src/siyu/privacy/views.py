def requests_queue(r): pass
request_new = request_page = request_move = requests_queue
