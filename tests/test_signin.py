"""Sign-in for real: a local OpenID Connect provider, the dashboard configured to use it, and
headless Chromium signing in as a viewer and as an editor.

The provider is the PyPI package ``oidc-provider-mock`` on a local port: the dashboard fetches
its discovery document, redirects the browser to its authorisation page, exchanges the code
and checks the ID token, exactly as with a company's identity provider. The test then checks:

- a viewer sees the figures, has no upload and no undo, and a crafted request (the widget
  message an editor's browser sends to undo an import, sent over the viewer's own WebSocket)
  changes nothing, while the same message from the editor's session does undo;
- an editor uploads and imports a file, recorded under their e-mail address;
- a token past its expiry signs the session out.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from finance.demo import build_demo_db
from finance.store.database import Store

from .conftest import ROOT
from .dashboard_server import free_port, serve
from .test_browser import ARTIFACTS, CHROMIUM, _ensure_chromium

EDITOR = ("cmo", {"email": "cmo@example.com", "email_verified": True, "name": "Casey CMO"})
VIEWER = ("cfo", {"email": "cfo@example.com", "email_verified": True, "name": "Fran CFO"})
OUTSIDER = ("guest", {"email": "guest@elsewhere.com", "name": "A Guest"})


@contextlib.contextmanager
def _provider(token_seconds: int) -> Iterator[str]:
    from oidc_provider_mock import User, run_server_in_thread

    users = [User(sub=sub, claims=claims) for sub, claims in (EDITOR, VIEWER, OUTSIDER)]
    with run_server_in_thread(port=0, user_claims=users,
                              access_token_max_age=timedelta(seconds=token_seconds)) as server:
        yield f"http://localhost:{server.server_port}"


@contextlib.contextmanager
def _dashboard(db: Path, provider: str, folder: Path) -> Iterator[str]:
    port = free_port()
    secrets_file = folder / "secrets.toml"
    secrets_file.write_text(f"""
[auth]
redirect_uri = "http://localhost:{port}/oauth2callback"
cookie_secret = "{secrets.token_hex(32)}"
client_id = "ltv-dashboard"
client_secret = "{secrets.token_hex(16)}"
server_metadata_url = "{provider}/.well-known/openid-configuration"

[access]
editors = ["cmo@example.com"]
viewers = ["@example.com"]
""")
    # The browser must use the redirect URI's host: the sign-in cookie is tied to it.
    with serve(db, port=port, host="localhost", args=["--secrets.files", str(secrets_file)],
               env={"FINANCE_USER": "should not be used"}) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _ensure_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("signin")
    db = folder / "company.duckdb"
    build_demo_db(db)
    with _provider(token_seconds=3600) as provider, _dashboard(db, provider, folder) as url:
        yield url, db


def _sign_in(browser: Any, url: str, sub: str) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(url)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/oauth2/authorize.*"), timeout=30_000)  # the provider's page
    page.locator("input[name=sub]").fill(sub)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(re.compile(re.escape(url) + r"/.*"), timeout=30_000)
    page.get_by_text("Signed in as").wait_for(timeout=60_000)
    return page


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _undo_request(db: Path, import_id: int) -> bytes:
    """The BackMsg an editor's browser sends to undo ``import_id`` on the Data page (confirm ticked,
    Undo clicked), built from the widget ids the page gives those controls."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.testing.v1 import AppTest

    os.environ["FINANCE_DB"] = str(db)
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.run()
        at.switch_page("pages/data.py").run()
        at.selectbox(key="data.undo_id").set_value(import_id)
        at.checkbox(key="data.undo_confirm").check().run()
        at.button(key="data.undo").click()
        states = at._tree.get_widget_states()
    finally:
        del os.environ["FINANCE_DB"]
    message = BackMsg()
    message.rerun_script.widget_states.CopyFrom(states)
    message.rerun_script.page_name = "data"
    message.rerun_script.query_string = ""
    return bytes(message.SerializeToString())


SEND = """async ({path, payload}) => {
  const token = (document.cookie.match(/(?:^|; )_streamlit_xsrf=([^;]*)/) || [])[1] || "";
  const socket = new WebSocket(location.origin.replace("http", "ws") + path, ["streamlit", token]);
  socket.binaryType = "arraybuffer";
  const received = [];
  return await new Promise((resolve) => {
    socket.onopen = () => socket.send(new Uint8Array(payload));
    socket.onmessage = (event) => received.push(Array.from(new Uint8Array(event.data)));
    socket.onclose = () => resolve({closed: true, received});
    setTimeout(() => { socket.close(); resolve({closed: false, received}); }, 15000);
  });
}"""


def _send(page: Any, payload: bytes) -> list[str]:
    """Send one BackMsg over a new WebSocket from the signed-in page; the ForwardMsg types it got back."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    result = page.evaluate(SEND, {"path": "/_stcore/stream", "payload": list(payload)})
    kinds = []
    for raw in result["received"]:
        message = ForwardMsg()
        message.ParseFromString(bytes(raw))
        kinds.append(message.WhichOneof("type") or "")
    return kinds


def test_a_viewer_reads_everything_and_can_change_nothing(site: tuple[str, Path], browser: Any) -> None:
    url, db = site
    page = _sign_in(browser, url, VIEWER[0])
    assert "Fran CFO" in page.locator('[data-testid="stSidebar"]').inner_text()
    page.locator('[data-testid="stMetric"]').first.wait_for(timeout=60_000)
    assert page.locator('[data-testid="stMetric"]').count() >= 4  # the figures are there
    page.goto(url + "/data")
    page.get_by_text("Import history", exact=True).wait_for(timeout=60_000)
    page.get_by_text("importing and undoing imports need the editor role").wait_for()
    assert page.locator('[data-testid="stFileUploader"]').count() == 0
    assert page.get_by_role("button", name="Undo").count() == 0
    _shot(page, "signin-viewer-data")
    page.goto(url + "/assumptions")
    page.get_by_text("changing them needs the editor role").wait_for(timeout=60_000)
    assert page.get_by_role("button", name="Save assumptions").count() == 0

    with Store(db, read_only=True) as store:
        before = store.snapshot()
        newest = int(store.imports()["import_id"][0])
    request = _undo_request(db, newest)
    replies = _send(page, request)  # the crafted request, from the viewer's own session
    assert "script_finished" in replies, replies  # the server ran the page for the viewer...
    with Store(db, read_only=True) as store:
        assert store.snapshot() == before  # ...and nothing changed

    editor = _sign_in(browser, url, EDITOR[0])
    replies = _send(editor, request)  # the same bytes from the editor's session do undo
    assert "script_finished" in replies, replies
    with Store(db, read_only=True) as store:
        log = store.imports()
    undone = log.filter(log["import_id"] == newest)
    assert undone["status"].to_list() == ["undone"] and undone["undone_by"].to_list() == ["cmo@example.com"]
    with Store(db, user="test") as store:  # put it back for the next test
        store.con.execute("UPDATE imports SET status = 'active', undone_at = NULL, undone_by = NULL "
                          "WHERE import_id = ?", [newest])
    page.context.close()
    editor.context.close()


def test_an_editor_uploads_and_imports(site: tuple[str, Path], browser: Any, tmp_path: Path) -> None:
    url, db = site
    csv = tmp_path / "events_2026.csv"
    csv.write_text("period,category,channel,amount\n2026-Q1,events,Events,12345.67\n")
    page = _sign_in(browser, url, EDITOR[0])
    page.goto(url + "/data")
    page.locator('[data-testid="stFileUploader"] input[type=file]').set_input_files(str(csv), timeout=60_000)
    try:
        page.get_by_text("No problems found").wait_for(timeout=60_000)
    finally:
        _shot(page, "signin-editor-checked")
    page.get_by_role("button", name=re.compile(r"Import 1 rows?\b")).click()
    page.get_by_text(re.compile(r"Imported events_2026\.csv as import #\d+")).wait_for(timeout=60_000)
    _shot(page, "signin-editor-imported")
    with Store(db, read_only=True) as store:
        log = store.imports()
    row = log.filter(log["file_name"] == "events_2026.csv")
    assert row["imported_by"].to_list() == ["cmo@example.com"]
    assert row["total"][0] == Decimal("12345.67")
    page.context.close()


def test_someone_not_listed_is_refused(site: tuple[str, Path], browser: Any) -> None:
    url, _ = site
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/oauth2/authorize.*"), timeout=30_000)
    page.locator("input[name=sub]").fill(OUTSIDER[0])
    page.get_by_role("button", name="Authorize").click()
    page.get_by_text("has no access to this dashboard").wait_for(timeout=60_000)
    assert page.locator('[data-testid="stMetric"]').count() == 0
    context.close()


def test_an_expired_token_signs_the_session_out(browser: Any, tmp_path: Path) -> None:
    db = tmp_path / "company.duckdb"
    build_demo_db(db)
    lifetime = 12
    with _provider(token_seconds=lifetime) as provider, _dashboard(db, provider, tmp_path) as url:
        page = _sign_in(browser, url, VIEWER[0])
        signed_in = time.monotonic()
        page.locator('[data-testid="stMetric"]').first.wait_for(timeout=60_000)
        time.sleep(max(0.0, lifetime + 2 - (time.monotonic() - signed_in)))
        page.goto(url)  # a new session with the same cookie, after the token's expiry
        # The app signs the session out, which also ends it at the provider (its confirmation page).
        end_session = page.get_by_role("button", name="End session")
        sign_in = page.get_by_role("button", name="Sign in")
        end_session.or_(sign_in).wait_for(timeout=60_000)
        assert page.locator('[data-testid="stMetric"]').count() == 0
        if end_session.is_visible():
            end_session.click()
        sign_in.wait_for(timeout=60_000)
        assert page.locator('[data-testid="stMetric"]').count() == 0
        page.context.close()
