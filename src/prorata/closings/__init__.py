"""Subsequent closes: new investors equalized with the earlier ones."""
