"""Deals a fund invests in."""
