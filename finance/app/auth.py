"""Who may use the dashboard: the sign-in gate and the roles, from the server's own state.

Every page runs behind :func:`gate` (the entry script calls it, or ``finance.app.sidebar.context``
when a page runs alone); every change asks :func:`require_editor` again right before it writes.
The rules themselves are pure and live in ``finance.domain.access``.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Mapping

import streamlit as st

from finance.domain import literal
from finance.domain.access import (
    LOCAL,
    LOOPBACK_HOSTS,
    AccessConfigError,
    AccessPolicy,
    Actor,
    Decision,
    decide,
    host_allowed,
)
from finance.present.i18n import N_, _

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
ROLE_WORDS = {"editor": N_("editor"), "viewer": N_("viewer")}
"""The roles (``finance.domain.access``) in a sentence."""


def auth_configured() -> bool:
    """Whether ``.streamlit/secrets.toml`` has an ``[auth]`` section (OpenID Connect sign-in)."""
    try:
        return "auth" in st.secrets
    except FileNotFoundError:
        return False


def _header(name: str) -> str | None:
    """A header of the request that opened this session (None under AppTest, which has none)."""
    try:
        value = st.context.headers.get(name)
    except Exception:  # no request behind this run (a bare script)
        return None
    return value if isinstance(value, str) else None


def _is_loopback(address: str | None) -> bool:
    if address is None:
        return False
    if address in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def current_actor() -> Actor | None:
    """The session's user from the server's own state (``st.user``), never from anything the browser
    sends: the local user when sign-in is not configured, None when not let in."""
    if not auth_configured():
        return LOCAL
    try:
        return _decision().actor
    except AccessConfigError:
        return None


def can_edit() -> bool:
    """Whether to draw the controls that change data (each change checks again: ``require_editor``)."""
    actor = current_actor()
    return actor is not None and actor.can_edit


def _decision() -> Decision:
    """The signed-in user's role from ``[access]`` and their token's claims (AccessConfigError if misconfigured)."""
    return decide(st.user.to_dict(), AccessPolicy.from_config(st.secrets.get("access")), time.time())


def gate() -> Actor:
    """Let the session in, or show why not and stop the run. Called before any page runs.

    - No sign-in configured: the app serves this computer only. It refuses to show anything
      when the server listens beyond localhost or the browser connects from another address,
      and says on every page that it is unauthenticated.
    - Sign-in configured: a signed-out session sees only the sign-in button; an expired token
      signs the session out; a user with no role, or a wrong ``[access]`` section, is refused.
    """
    if st.get_option("server.trustedUserHeaders"):
        st.error("server.trustedUserHeaders is set: identities taken from request headers can be forged, so "
                 "this dashboard refuses to run. Remove it and use sign-in (.streamlit/secrets.example.toml).")
        st.stop()
    if not auth_configured():
        host = _header("host")
        if host is not None and not host_allowed(host, LOOPBACK_HOSTS):
            # behind finance/app/server.py this never runs: the server refuses the request first
            st.error("This dashboard answers only to localhost, 127.0.0.1 and [::1] while sign-in is not "
                     "configured; open it by one of those names.")
            st.stop()
        bound = st.get_option("server.address")
        client = st.context.ip_address  # None for a loopback peer; a string otherwise (not a str under AppTest)
        if not _is_loopback(bound) or (isinstance(client, str) and not _is_loopback(client)):
            st.error("Sign-in is not configured, so this dashboard only serves the computer it runs on. "
                     f"It is listening on {bound or 'every network address'}: start it with "
                     "`--server.address localhost`, or configure sign-in (see .streamlit/secrets.example.toml).")
            st.stop()
        st.sidebar.warning(_("Unauthenticated: sign-in is not configured. This dashboard serves this computer "
                             "only, and anyone using it can change the data."), icon=":material/lock_open:")
        return LOCAL
    try:
        decision = _decision()
    except AccessConfigError as exc:
        st.error(f"Access is misconfigured, so nobody is let in: {literal.markdown(exc)}. Fix .streamlit/secrets.toml "
                 "(see .streamlit/secrets.example.toml).")
        st.stop()
    if decision.outcome == "expired":
        st.logout()
        st.stop()
    if decision.actor is None:
        st.title(_("LTV:CAC dashboard"))
        st.markdown(literal.markdown(_decision_text(decision)))
        if decision.outcome == "signed_out":
            providers = [key for key, value in st.secrets["auth"].items() if isinstance(value, Mapping)]
            for provider in providers or [None]:
                label = _("Sign in with {provider}").format(provider=provider) if provider else _("Sign in")
                if st.button(label, type="primary", key=f"auth.login.{provider or 'default'}"):
                    if provider:
                        st.login(provider)
                    else:
                        st.login()
        elif st.button(_("Sign out"), key="auth.logout"):
            st.logout()
        st.stop()
    actor = decision.actor
    with st.sidebar:
        st.caption(_("Signed in as **{name}** ({email}), {role}.").format(
            name=literal.markdown(actor.name), email=literal.markdown(actor.email or _("no e-mail")),
            role=_(ROLE_WORDS.get(actor.role, actor.role))))
        if st.button(_("Sign out"), key="auth.logout"):
            st.logout()
    return actor


def require_editor(action: str) -> Actor:
    """The signed-in editor, checked again on the server right before a change; anyone else gets
    an error and the run stops, whatever the browser sent (a hidden button, a crafted message)."""
    actor = current_actor()
    if actor is None or not actor.can_edit:
        if actor:
            text = _("Not allowed: {action} needs the editor role, and {name} is a viewer. Nothing was changed.")
        else:
            text = _("Not allowed: {action} needs the editor role, and you are not signed in. Nothing was changed.")
        st.error(text.format(action=_(action), name=literal.markdown(actor.name) if actor else ""))
        st.stop()
    return actor


EDITOR_ACTIONS = (N_("removing the demo data"), N_("importing a file"), N_("importing exchange rates"),
                  N_("undoing an import"), N_("changing the assumptions"), N_("changing the reporting currency"),
                  N_("remembering how to read a file"), N_("saving a scenario"), N_("deleting a scenario"),
                  N_("mapping the ledger's accounts"), N_("publishing the board pack"),
                  N_("adding a note"), N_("deleting a note"))
"""What an editor does, as ``finance.app.loaders.writable_store`` is told it and a refusal says it."""


def _decision_text(decision: Decision) -> str:
    """Why a session is not let in, in the page's language (the decision's own message is English)."""
    if decision.outcome == "signed_out":
        return _("Sign in to see the dashboard.")
    if decision.outcome == "refused":
        return _("{who} is signed in but has no access to this dashboard; ask its administrator to add you as "
                 "a viewer or an editor.").format(who=decision.who)
    return decision.message

