"""Funds and SPVs: currency, terms used by calls and the waterfall."""
