"""Allocations: an investor's share of a deal within a fund. All writes go through service.py."""
