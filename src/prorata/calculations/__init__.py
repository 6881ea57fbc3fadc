"""Stateless calculations over the pure engines (what-if analysis; no tenant data)."""
