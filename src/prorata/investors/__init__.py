"""Investors (LPs) of an organisation."""
