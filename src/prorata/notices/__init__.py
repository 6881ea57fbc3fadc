"""Notices held until released: the rule capital calls and distributions share."""
