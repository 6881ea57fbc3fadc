"""The HTTP shell: routing, the policy table, guards (auth, tenancy, roles, idempotency, rate
limits), problems as problem+json, pagination, shared schemas. Imports no domain."""
