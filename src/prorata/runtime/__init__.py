"""Running Prorata: the launcher, embedded PostgreSQL, migrations, the demo, process tuning."""
