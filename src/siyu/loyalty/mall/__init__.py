"""The rewards mall: items (coupon, physical gift, points + cash) with stock, per-member limits and time windows; redemption that never oversells; fulfilment lists."""
