"""Tiers: rules on spend, orders or points over a rolling window; upgrade at once, downgrade at the review date after a grace period; benefits per tier."""
