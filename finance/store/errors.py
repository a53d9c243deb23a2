"""What goes wrong with the store, as errors the CLI and the app show in words."""

from __future__ import annotations


class StoreError(RuntimeError):
    """An operation on the store that cannot be done (unknown import, undo out of order)."""


class StoreUnreadable(StoreError):
    """The file exists but DuckDB cannot open it (damaged, or not a database): see the backups."""


class StoreBusy(StoreError):
    """Another process holds the database file for longer than the wait allows."""
