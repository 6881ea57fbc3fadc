"""Management fees: what a period's fee is and how it splits across investors."""
