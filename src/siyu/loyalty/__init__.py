"""Loyalty (会员权益): the points ledger, tiers, coupons, check-in and the rewards mall, by subject in
sub-packages, layered (import-linter): `mall | checkin` over `earning` over `tiers` over `coupons` over
`points`. One Django app: the sub-packages' models are gathered in `loyalty.models` (DESIGN.md §3). Loyalty
state is control-plane and transactional; its facts flow to the warehouse as events."""
