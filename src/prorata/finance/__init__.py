"""Pure finance: money, day counts, the waterfall, performance measures. Imports nothing else of Prorata."""
