"""A fund's activity: the audit log's entries about the fund and everything that belongs to it."""
