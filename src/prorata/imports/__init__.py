"""CSV imports: upload (web) → blob → job (worker) → validated, applied all-or-nothing."""
