"""Distributions: cash returned to investors, split pro-rata and run through the waterfall."""
