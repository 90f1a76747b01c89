"""The points ledger: append-only, double-entry entries with idempotency keys, lots with expiry (spent soonest-expiring first), pending lots, balances derived, never edited."""
