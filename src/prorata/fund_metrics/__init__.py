"""Fund metrics: paid-in, distributions, NAV, DPI, RVPI, TVPI and IRR, for the fund or one
investor, as of any date."""
