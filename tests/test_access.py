"""Roles: the rules that map sign-in claims to editor, viewer or nobody, and the pages under
Streamlit's AppTest signed in as each, including requests a browser would never send.

The crafted requests are the widget states of an editor's click (undo, save the assumptions,
remove the demo data), replayed in a viewer's session: the same bytes that change the data
for the editor must change nothing for the viewer.
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from finance.demo import build_demo_db
from finance.domain.access import LOCAL_NAME, AccessConfigError, AccessPolicy, decide
from finance.store.database import Store

from .conftest import ROOT, open_dashboard

AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "s" * 64, "client_id": "ltv",
        "client_secret": "secret", "server_metadata_url": "http://localhost:9/.well-known/openid-configuration"}
ACCESS = {"editors": ["cmo@example.com"], "viewers": ["@example.com"]}
NOW = 1_800_000_000.0


def claims(email: str | None, **extra: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"is_logged_in": True, "sub": "u-1", "name": "Pat", "exp": time.time() + 3600}
    if email:
        found["email"], found["email_verified"] = email, True
    return {**found, **extra}


# -- the rules ------------------------------------------------------------------------------------

def test_roles_come_from_addresses_and_domains() -> None:
    policy = AccessPolicy.from_config(ACCESS)
    at = {"exp": NOW + 60, "is_logged_in": True, "email_verified": True}
    assert decide({**at, "email": "CMO@Example.com"}, policy, NOW).actor.role == "editor"  # type: ignore[union-attr]
    assert decide({**at, "email": "cfo@example.com"}, policy, NOW).actor.role == "viewer"  # type: ignore[union-attr]
    assert decide({**at, "email": "cfo@eu.example.com"}, policy, NOW).outcome == "refused"  # not a subdomain
    assert decide({**at, "email": "cfo@example.com.evil.io"}, policy, NOW).outcome == "refused"
    assert decide({**at, "email": "x@elsewhere.com"}, policy, NOW).outcome == "refused"
    assert decide({**at}, policy, NOW).outcome == "refused"  # no e-mail, no claim


@pytest.mark.parametrize("verified", [False, "false", "False", 0, 1, "true", None, "missing"])
def test_an_address_not_verified_by_exactly_true_never_matches(verified: Any) -> None:
    policy = AccessPolicy.from_config(ACCESS)
    token = {"is_logged_in": True, "exp": NOW + 60, "email": "cmo@example.com", "email_verified": verified}
    if verified == "missing":
        del token["email_verified"]
    found = decide(token, policy, NOW)
    assert found.outcome == "refused"
    verified = decide({"is_logged_in": True, "exp": NOW + 60, "email": "cmo@example.com", "email_verified": True},
                      policy, NOW)
    assert verified.actor is not None and verified.actor.can_edit


def test_roles_come_from_a_claim() -> None:
    policy = AccessPolicy.from_config({"role_claim": "groups", "editor_values": ["LTV-Editors"],
                                       "viewer_values": ["ltv-viewers"]})
    base = {"is_logged_in": True, "exp": NOW + 60, "email": "a@b.com"}
    assert decide({**base, "groups": ["staff", "ltv-editors"]}, policy, NOW).actor.role == "editor"  # type: ignore[union-attr]
    assert decide({**base, "groups": "staff ltv-viewers"}, policy, NOW).actor.role == "viewer"  # type: ignore[union-attr]
    assert decide({**base, "groups": ["staff"]}, policy, NOW).outcome == "refused"
    assert decide({**base, "groups": 7}, policy, NOW).outcome == "refused"


def test_an_expired_or_timeless_token_is_signed_out() -> None:
    policy = AccessPolicy.from_config(ACCESS)
    user = {"is_logged_in": True, "email": "cmo@example.com", "email_verified": True}
    assert decide({**user, "exp": NOW - 1}, policy, NOW).outcome == "expired"
    assert decide({**user, "exp": NOW}, policy, NOW).outcome == "expired"
    assert decide(user, policy, NOW).outcome == "expired"
    assert decide({**user, "exp": "soon"}, policy, NOW).outcome == "expired"
    assert decide({**user, "exp": NOW + 1}, policy, NOW).outcome == "allowed"
    assert decide({"is_logged_in": False}, policy, NOW).outcome == "signed_out"


@pytest.mark.parametrize(("section", "message"), [
    ({}, "lets nobody in"),
    ({"editors": ["cmo@example.com"], "viewer": ["@example.com"]}, "unknown setting"),
    ({"editors": ["example.com"]}, "neither an e-mail address"),
    ({"editors": "cmo@example.com", "viewers": [3]}, "expected a list of strings"),
    ({"role_claim": ""}, "expected the name of a claim"),
])
def test_a_wrong_access_section_is_an_error(section: dict[str, Any], message: str) -> None:
    with pytest.raises(AccessConfigError, match=message):
        AccessPolicy.from_config(section)


def test_the_committed_example_configures_sign_in_and_roles() -> None:
    example = tomllib.loads((ROOT / ".streamlit" / "secrets.example.toml").read_text())
    required = {"redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url"}
    assert required <= set(example["auth"])
    policy = AccessPolicy.from_config(example["access"])
    assert policy.editors and policy.viewers
    assert ".streamlit/secrets.toml" in (ROOT / ".gitignore").read_text().splitlines()


# -- the pages ------------------------------------------------------------------------------------

Runner = Callable[..., AppTest]


@pytest.fixture
def demo_db(tmp_path: Path) -> Path:
    path = tmp_path / "demo.duckdb"
    build_demo_db(path)
    return path


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Runner:
    def run(db: Path, page: str | None = None, user: dict[str, Any] | None = None,
            access: dict[str, Any] | None = None) -> AppTest:
        secrets = None if user is None else {"auth": AUTH, "access": ACCESS if access is None else access}
        return open_dashboard(monkeypatch, db, page, secrets=secrets, user=user)
    return run


@pytest.fixture
def exposed() -> Iterator[None]:
    config.set_option("server.address", "0.0.0.0")
    try:
        yield
    finally:
        config.set_option("server.address", "localhost")


def test_without_sign_in_the_app_says_it_is_unauthenticated(app: Runner, demo_db: Path) -> None:
    at = app(demo_db)
    assert any("Unauthenticated" in w.value for w in at.sidebar.warning)
    assert at.metric  # and shows the figures


def test_without_sign_in_the_app_refuses_to_serve_a_network(app: Runner, demo_db: Path, exposed: None) -> None:
    at = app(demo_db)
    assert any("only serves the computer it runs on" in e.value for e in at.error)
    assert not at.metric


def test_a_signed_out_visitor_sees_only_the_sign_in_button(app: Runner, demo_db: Path) -> None:
    at = app(demo_db, user={"is_logged_in": False})
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.metric and not at.dataframe


def test_someone_not_listed_is_refused(app: Runner, demo_db: Path) -> None:
    at = app(demo_db, user=claims("visitor@elsewhere.com"))
    assert any("has no access" in m.value for m in at.markdown)
    assert not at.metric


def test_a_wrong_access_section_refuses_everyone(app: Runner, demo_db: Path) -> None:
    at = app(demo_db, user=claims("cmo@example.com"), access={"editors": ["cmo"]})
    assert any("Access is misconfigured" in e.value for e in at.error)
    assert not at.metric


def test_a_viewer_sees_the_figures_but_no_way_to_change_them(app: Runner, demo_db: Path) -> None:
    viewer = claims("cfo@example.com", name="Fran")
    at = app(demo_db, user=viewer)
    assert at.metric and any("Fran" in c.value and "viewer" in c.value for c in at.sidebar.caption)
    at = app(demo_db, "pages/data.py", user=viewer)
    assert not at.get("file_uploader")
    assert not [b for b in at.button if b.key in ("data.undo", "data.clear_demo")]
    with Store(demo_db, read_only=True) as store:
        assert at.dataframe[-1].value.shape[0] == store.imports().height == 5  # the history is there to read
    at = app(demo_db, "pages/assumptions.py", user=viewer)
    assert not [b for b in at.button if b.key != "auth.logout"] and not at.number_input
    at = app(demo_db, "pages/planner.py", user=viewer)
    assert "plan.save" not in {getattr(f, "form_id", None) for f in at.get("form")}
    assert not [b for b in at.button if b.key == "plan.delete.confirm"]


def test_an_editor_has_the_import_undo_and_assumptions_controls(app: Runner, demo_db: Path) -> None:
    editor = claims("cmo@example.com")
    at = app(demo_db, "pages/data.py", user=editor)
    assert at.get("file_uploader") and at.button(key="data.undo") and at.button(key="data.clear_demo")
    at = app(demo_db, "pages/assumptions.py", user=editor)
    assert at.number_input


def _crafted(at: AppTest, action: Callable[[AppTest], None]) -> Any:
    """The widget states an editor's browser would send for ``action`` (not run)."""
    action(at)
    return at._tree.get_widget_states()


def _undo(at: AppTest) -> None:
    at.checkbox(key="data.undo_confirm").check().run()
    at.button(key="data.undo").click()


def _save_assumptions(at: AppTest) -> None:
    at.number_input[0].set_value(12.0)
    at.button[0].click()


def _remove_demo(at: AppTest) -> None:
    at.button(key="data.clear_demo").click()


@pytest.mark.parametrize(("page", "action"), [("pages/data.py", _undo), ("pages/assumptions.py", _save_assumptions),
                                              ("pages/data.py", _remove_demo)])
def test_a_viewer_replaying_an_editors_request_changes_nothing(app: Runner, tmp_path: Path, page: str,
                                                               action: Callable[[AppTest], None]) -> None:
    dbs = {}
    for who in ("viewer", "editor"):
        dbs[who] = tmp_path / f"{who}.duckdb"
        build_demo_db(dbs[who])
    request = _crafted(app(dbs["editor"], page, user=claims("cmo@example.com")), action)
    with Store(dbs["viewer"], read_only=True) as store:
        before = store.snapshot()
    viewer = app(dbs["viewer"], page, user=claims("cfo@example.com"))
    viewer._run(widget_state=request)
    assert not viewer.exception
    with Store(dbs["viewer"], read_only=True) as store:
        assert store.snapshot() == before
    # The same request from the editor's session does change the data: the replay is a real one.
    editor = app(dbs["editor"], page, user=claims("cmo@example.com"))
    editor._run(widget_state=request)
    with Store(dbs["editor"], read_only=True) as store:
        after = store.snapshot()
        changes = store.changes()
    assert after != before
    assert changes["changed_by"].to_list()[0] == "cmo@example.com"


def test_an_editors_undo_and_assumptions_are_recorded_as_theirs(app: Runner, demo_db: Path) -> None:
    editor = claims("cmo@example.com")
    at = app(demo_db, "pages/data.py", user=editor)
    _undo(at)
    at.run()
    assert any("Undid import" in s.value for s in at.success)
    at = app(demo_db, "pages/assumptions.py", user=editor)
    _save_assumptions(at)
    at.run()
    with Store(demo_db, read_only=True) as store:
        log = store.imports()
        changes = store.changes()
    undone = log.filter(log["status"] == "undone")
    assert undone["undone_by"].to_list() == ["cmo@example.com"]
    assert undone["imported_by"].to_list() == ["demo builder"]
    assumptions = changes.filter(changes["action"] == "assumptions")
    assert assumptions["changed_by"].to_list() == ["cmo@example.com"]
    assert '"to": "0.12"' in assumptions["detail"][0]
    at = app(demo_db, "pages/data.py", user=editor)
    history = at.dataframe[-1].value
    assert any(text.startswith("undone ") and text.endswith(" UTC by cmo@example.com")
               for text in history["Status"].to_list())


def test_without_sign_in_changes_are_recorded_as_the_local_user(app: Runner, demo_db: Path) -> None:
    at = app(demo_db, "pages/data.py")
    _undo(at)
    at.run()
    with Store(demo_db, read_only=True) as store:
        assert store.changes()["changed_by"].to_list()[0] == LOCAL_NAME


def test_an_expired_sign_in_shows_nothing(app: Runner, demo_db: Path) -> None:
    at = app(demo_db, user=claims("cmo@example.com", exp=time.time() - 5))
    assert not at.metric and not at.dataframe
