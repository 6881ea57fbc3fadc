"""The HTTP shell: routing, policy, guards, errors as problem+json, pagination, shared schemas. Imports no domain."""
