"""The DuckDB database: connection and locks, migrations, imports, settings, backups, and the dataset read back."""
