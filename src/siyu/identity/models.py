# Identity keeps its state in the warehouse (customer_map, merge_log, match_candidates, match_decisions).
