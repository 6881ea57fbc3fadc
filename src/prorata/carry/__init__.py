"""Carry that is settled: escrow, the interim clawback measure, the clawback at wind-down."""
