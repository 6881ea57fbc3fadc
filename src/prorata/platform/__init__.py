"""Infrastructure every layer above uses: database, ids, errors, object storage, mail, events,
audit. Imports no domain."""
