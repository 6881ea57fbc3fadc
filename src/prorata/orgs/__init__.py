"""Organisations (tenants), their users, memberships with roles, and API keys."""
