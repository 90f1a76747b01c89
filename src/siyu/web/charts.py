"""What every chart shares."""

# the console's series colours, in order
PALETTE = ["#0f766e", "#2563eb", "#d97706", "#9333ea", "#dc2626", "#65a30d", "#0891b2", "#db2777"]
