"""Prorata: open-source, multi-tenant fund administration."""
