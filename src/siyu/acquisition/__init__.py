"""Growing the pool: live codes (WeCom contact ways) with staff routing, store and guide codes, posters, what
happens when someone adds through a code, and the quality of what each code brought (DESIGN.md §3)."""
