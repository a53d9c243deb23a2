"""The dashboard's web server: Streamlit's own (``st.App``), behind one guard on every request.

``make run`` starts it with ``streamlit run finance/app/server.py``; every Streamlit option
(``--server.port``, ``--server.address``, ``--secrets.files``...) works as with ``app.py``.

The guard, before Streamlit sees a request or a WebSocket:
- **Host names.** Without sign-in, only ``localhost``, ``127.0.0.1`` and ``[::1]`` (any port)
  are answered: a web page on another name that resolves to this computer (DNS rebinding)
  gets "400 Invalid host", never the dashboard or its WebSocket. With sign-in, the names in
  ``$FINANCE_ALLOWED_HOSTS`` (the public name behind the reverse proxy), else any.
- **No metrics endpoint.** ``/_stcore/metrics`` (sessions, memory, cache sizes) is switched
  off: it would answer anyone, signed in or not.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import streamlit as st
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from finance.domain.access import ENV_ALLOWED_HOSTS, allowed_hosts, host_allowed

SCRIPT = Path(__file__).resolve().parents[2] / "app.py"
METRICS_PATH = "/_stcore/metrics"


def _signed_in_configured() -> bool:
    try:
        return "auth" in st.secrets
    except FileNotFoundError:
        return False


class HostGuard:
    """ASGI middleware: refuse unknown Host names and the metrics endpoint (see the module's notes)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._allowed: tuple[frozenset[str] | None] | None = None  # decided at the first request

    def allowed(self) -> frozenset[str] | None:
        if self._allowed is None:  # the secrets file is read once the server's options are set
            self._allowed = (allowed_hosts(_signed_in_configured(), os.environ.get(ENV_ALLOWED_HOSTS)),)
        return self._allowed[0]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if scope["path"].rstrip("/").endswith(METRICS_PATH):
            await _refuse(scope, receive, send, 404, "Not found")
            return
        headers: dict[bytes, bytes] = dict(scope.get("headers") or [])
        raw = headers.get(b"host")
        if not host_allowed(raw.decode("latin-1") if raw is not None else None, self.allowed()):
            await _refuse(scope, receive, send, 400, "Invalid host: this dashboard answers only to its own name")
            return
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, text: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    response: Any = PlainTextResponse(text, status_code=status)
    await response(scope, receive, send)


app = st.App(SCRIPT, middleware=[Middleware(HostGuard)])
