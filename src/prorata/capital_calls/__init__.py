"""Capital calls: drafts, issue, cancel, payments."""
