"""LTV:CAC marketing-finance dashboard: import, store and metric core.

Data flows one way: CSV -> ``finance.ingest`` (parse, normalise, validate) -> ``finance.store``
(DuckDB) -> ``finance.ltv`` and ``finance.metrics`` -> ``finance.present`` -> pages, CLI and
exports. The README's Architecture section lists the layers; ``tests/test_layers.py`` holds them.
"""

from __future__ import annotations

__version__ = "0.1.0"
