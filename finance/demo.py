"""The embedded demo company: a DuckDB file built from ``sample_data/`` on first run."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from finance.domain.schema import KINDS
from finance.ingest.prepare import load_account_map
from finance.store import accounts, backup
from finance.store.database import DEMO_SETTING, PROJECT_DIR, Store, StoreUnreadable

SAMPLE_DIR = PROJECT_DIR / "sample_data"
DEMO_CHECK = SAMPLE_DIR / "model-check.json"
"""The demo company's model check, shipped so the demo opens checked; rebuilt by ``demo --force``
whenever it no longer matches (``tests/test_demo.py`` holds it equal to a fresh run)."""


def build_demo_db(path: Path, *, force: bool = False, sample_dir: Path = SAMPLE_DIR) -> bool:
    """Build the demo database at ``path`` unless it exists; True when it was built.

    The file is built beside its destination and renamed into place, so an interrupted
    first run never leaves a half-built database behind.
    """
    path = Path(path)
    if path.exists() and not force:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=".demo-", suffix=".duckdb", dir=path.parent)
    os.close(handle)
    temp = Path(temp_name)
    temp.unlink()
    if path.exists():  # --force: keep a copy of the database being replaced
        _keep_copy(path)
    try:
        with Store(temp, keep_backups=0, user="demo builder") as store:
            for kind in KINDS:
                if kind == "gl" and not (sample_dir / "gl.csv").exists():
                    continue  # a company without its ledger: nothing to reconcile to
                result = store.import_file(kind, sample_dir / f"{kind}.csv")
                if result.status != "imported":
                    problems = "; ".join(p.describe(result.file_name) for p in result.errors[:5])
                    raise RuntimeError(f"the sample {kind} file did not import: {problems}")
            if (sample_dir / "gl-accounts.csv").exists():
                accounts.map_accounts(store, load_account_map(sample_dir / "gl-accounts.csv", accounts.NOT_SPEND))
            store.set_setting(DEMO_SETTING, "Northwind Analytics")
            store.checkpoint()
        # A log left by an older file at this path must not replay onto the new one.
        Path(str(path) + ".wal").unlink(missing_ok=True)
        os.replace(temp, path)
        if sample_dir == SAMPLE_DIR:
            install_demo_check(path)
    finally:
        for leftover in (temp, Path(str(temp) + ".wal"), Path(str(temp) + ".lock")):
            leftover.unlink(missing_ok=True)
    return True


def _keep_copy(path: Path) -> None:
    try:
        with Store(path) as old:
            old.backup("demo")
    except StoreUnreadable:
        backup.keep_unreadable(path)


def remove_demo_data(store: Store) -> int:
    """Start from an empty database: undo every import, newest first, and drop the demo mark.

    The imports log keeps the undone imports, so nothing disappears without a trace;
    ``python -m finance demo --force`` builds the demo again. Returns the imports undone.
    """
    active = store.active_imports()
    if active:
        store.backup("undo")  # one backup for the lot
    for import_id in active:
        store.undo(import_id, backup_first=False)
    with store.transaction():
        store.delete_setting(DEMO_SETTING)
        store.log_change("demo_removed", {"imports_undone": len(active)})
    return len(active)


def demo_check_key(path: Path) -> tuple[str, object, object]:
    """(key, dataset, settings) of the demo database's model check under the default assumptions."""
    from finance.domain.assumptions import Assumptions
    from finance.ltv import backtest
    from finance.metrics.params import metric_params
    from finance.store.dataset import default_as_of

    with Store(path, read_only=True) as store:
        data, imports = store.dataset(), store.imports()
    settings = metric_params(Assumptions()).ltv
    return backtest.fingerprint(imports, settings, default_as_of(data)), data, settings


def install_demo_check(path: Path, *, rerun: bool = False) -> None:
    """Put the demo's model check beside its database: the shipped one when it is for this very data
    and method version, else run it (about half a minute) and ship the new one."""
    import json

    from finance.ltv import backtest
    from finance.store.dataset import default_as_of

    key, data, settings = demo_check_key(path)
    shipped = None
    if DEMO_CHECK.exists() and not rerun:
        stored = json.loads(DEMO_CHECK.read_text())
        if stored.get("key") == key:
            shipped = backtest.ModelCheck.from_json(stored["check"])
    if shipped is None:
        shipped = backtest.run(data, settings, default_as_of(data))  # type: ignore[arg-type]
        try:
            DEMO_CHECK.write_text(json.dumps({"key": key, "check": shipped.to_json()}, indent=1, default=str)
                                  + "\n")
        except OSError:
            pass  # a read-only checkout still gets the check beside its database
    backtest.save(path, key, shipped)
