"""Fund valuations (NAV as of a date) and the metrics derived from the ledger and them."""
