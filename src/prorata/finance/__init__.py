"""Pure finance: money, day counts, the waterfall, performance measures.

Imports nothing else of Prorata: no I/O, no database, no web framework."""
