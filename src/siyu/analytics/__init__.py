"""Analytics: the pages operators steer by (funnel, GMV tree, private-domain formula, cohorts and LTV,
channel ROI, traffic map, sales by hour, repurchase of a chosen group), computed in the warehouse."""
