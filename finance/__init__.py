"""LTV:CAC marketing-finance dashboard: import, store and metric core.

Data flows one way: CSV -> ``finance.ingest`` (parse, normalise, validate) ->
``finance.store`` (DuckDB) -> metrics -> charts, pages, CLI and exports.
"""

from __future__ import annotations

__version__ = "0.1.0"
