"""Earn rules: points per yuan by channel and product, tier multipliers, birthday, first purchase, limits per member per day; the order earn job and its compensation on refunds."""
