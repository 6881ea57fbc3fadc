"""Capital accounts: each investor's roll-forward, derived from the ledger and valuations."""
