"""A real Streamlit server on the dashboard, for the browser tests: started, waited for, stopped."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(db: Path, *, port: int | None = None, host: str = "127.0.0.1", args: Sequence[str] = (),
          env: dict[str, str] | None = None, log: Path | None = None) -> Iterator[str]:
    """The dashboard over ``db`` on ``host``; yields its URL. ``args`` go to ``streamlit run`` (a
    ``--secrets.files`` among them configures sign-in); the output goes to ``log`` when given.

    The server's environment keeps no ``FINANCE_*`` variable of the caller but ``FINANCE_DB`` and
    ``env``; without ``--secrets.files`` it reads an empty secrets file, so a developer's own
    ``.streamlit/secrets.toml`` never turns sign-in on in a test.
    """
    port = port or free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FINANCE_")}
    clean.update({"FINANCE_DB": str(db), **(env or {})})
    if "--secrets.files" not in args:
        none = db.parent / "no-secrets.toml"
        none.write_text("")
        args = [*args, "--secrets.files", str(none)]
    out = open(log, "w") if log else subprocess.DEVNULL  # closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "finance" / "app" / "server.py"),
         "--server.headless", "true", "--server.port", str(port), "--server.address", host,
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none", *args],
        cwd=ROOT, env=clean, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    pytest.fail("the dashboard did not start" + (":\n" + log.read_text() if log else ""))
                time.sleep(0.3)
        yield f"http://{host}:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        if log:
            out.close()  # type: ignore[union-attr]
