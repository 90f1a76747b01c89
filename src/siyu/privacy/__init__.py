"""The customer's rights (PIPL): data-subject requests (copy, deletion, correction) in one staff queue.
Privacy sits low (DESIGN.md §7): each domain registers how it exports and erases one person."""
