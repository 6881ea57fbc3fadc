"""The capital ledger: append-only capital transactions, and the balances derived from it."""
