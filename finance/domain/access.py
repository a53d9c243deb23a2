"""Who may see the figures and who may change the data: sign-in claims to a role.

Pure rules, no Streamlit: ``finance.app.auth`` hands in the claims of the signed-in user's ID token
(``st.user``) and the ``[access]`` section of ``.streamlit/secrets.toml``.

Two roles:
- **editor**: imports, undo, assumptions, category and column mappings, saved scenarios;
- **viewer**: every page and export, read-only.

A signed-in user is an editor when their e-mail address or domain is in ``editors``, or when
the role claim (``role_claim``, e.g. ``groups``) holds one of ``editor_values``; else a viewer
by ``viewers`` or ``viewer_values``; else refused. Nobody is let in by default: with sign-in
configured and no one listed, everyone is refused. An e-mail address is matched only when the
provider marks it verified (``email_verified`` exactly ``true``; missing, ``"false"`` or ``0`` are
not). A token past its ``exp`` time is treated as signed out, whatever the session cookie says.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Role = Literal["editor", "viewer"]
LOCAL_NAME = "local user (no sign-in)"


LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
"""The only names a dashboard without sign-in answers to (the Host header, port aside)."""
ENV_ALLOWED_HOSTS = "FINANCE_ALLOWED_HOSTS"


def host_name(header: str) -> str:
    """The name in a Host header, without its port, lower-cased: ``[::1]:8501`` -> ``[::1]``."""
    host = header.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[:end + 1] if end > 0 else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def allowed_hosts(signed_in: bool, setting: str | None) -> frozenset[str] | None:
    """The Host names the server answers to; None for any.

    Without sign-in: the loopback names only, so a page on another name that resolves to this
    computer (DNS rebinding) is refused. With sign-in: the names in ``$FINANCE_ALLOWED_HOSTS``
    (comma-separated; the public name the reverse proxy forwards), else any.
    """
    if not signed_in:
        return LOOPBACK_HOSTS
    names = frozenset(host_name(name) for name in (setting or "").split(",") if name.strip())
    return names or None


def host_allowed(header: str | None, allowed: frozenset[str] | None) -> bool:
    """Whether a request with this Host header is answered (a request without one is not)."""
    if allowed is None:
        return True
    return header is not None and host_name(header) in allowed


class AccessConfigError(ValueError):
    """The ``[access]`` section is wrong: the app refuses everyone until it is fixed."""


@dataclass(frozen=True)
class AccessPolicy:
    """Who gets which role. E-mail entries are addresses (``cfo@example.com``) or domains
    (``@example.com``); matching ignores case; a domain matches that domain only, not its subdomains."""

    editors: tuple[str, ...] = ()
    viewers: tuple[str, ...] = ()
    role_claim: str | None = None
    editor_values: tuple[str, ...] = ("editor",)
    viewer_values: tuple[str, ...] = ("viewer",)

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> AccessPolicy:
        """Read ``[access]``; unknown keys and wrong types are errors (a typo must not open the door)."""
        section = dict(section or {})
        known = {"editors", "viewers", "role_claim", "editor_values", "viewer_values"}
        unknown = sorted(set(section) - known)
        if unknown:
            raise AccessConfigError(f"[access] has unknown setting(s) {', '.join(unknown)}; "
                                    f"expected some of {', '.join(sorted(known))}")
        values: dict[str, Any] = {}
        for key in ("editors", "viewers", "editor_values", "viewer_values"):
            if key in section:
                values[key] = _strings(key, section[key])
        for key in ("editors", "viewers"):
            for entry in values.get(key, ()):
                if "@" not in entry or entry.count("@") > 1 or entry.endswith("@") or " " in entry:
                    raise AccessConfigError(f"[access] {key}: {entry!r} is neither an e-mail address "
                                            "(name@example.com) nor a domain (@example.com)")
        claim = section.get("role_claim")
        if claim is not None and (not isinstance(claim, str) or not claim.strip()):
            raise AccessConfigError(f"[access] role_claim: expected the name of a claim, got {claim!r}")
        if claim:
            values["role_claim"] = claim.strip()
        policy = cls(**values)
        if not (policy.editors or policy.viewers or policy.role_claim):
            raise AccessConfigError("[access] lets nobody in: list editors and viewers (e-mail addresses or "
                                    "@domains), or name a role_claim")
        return policy


def _strings(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise AccessConfigError(f"[access] {key}: expected a list of strings, got {value!r}")
    return tuple(v.strip().lower() for v in value if v.strip())


@dataclass(frozen=True)
class Actor:
    """The person behind a session, as the store records them."""

    role: Role
    name: str
    email: str | None = None
    authenticated: bool = True

    @property
    def can_edit(self) -> bool:
        return self.role == "editor"

    @property
    def audit_name(self) -> str:
        """What the import history and the changes log record."""
        return self.email or self.name


LOCAL = Actor("editor", LOCAL_NAME, None, authenticated=False)
"""The only user of an app without sign-in, which serves this computer alone."""


@dataclass(frozen=True)
class Decision:
    """``actor`` when let in; else ``outcome`` says why not (``expired`` means: sign out)."""

    outcome: Literal["allowed", "expired", "refused", "signed_out"]
    actor: Actor | None = None
    message: str = ""
    who: str = ""
    """Whom a refusal is about (their e-mail, else name): a page writes ``message`` in its own words."""


def decide(claims: Mapping[str, Any], policy: AccessPolicy, now: float) -> Decision:
    """The role for a signed-in user's claims at time ``now`` (seconds since the epoch)."""
    if not claims.get("is_logged_in"):
        return Decision("signed_out", message="Sign in to see the dashboard.")
    expires = _number(claims.get("exp"))
    if expires is None or expires <= now:
        return Decision("expired", message="Your sign-in has expired; sign in again.")
    email = claims.get("email")
    email = email.strip().lower() if isinstance(email, str) and email.strip() else None
    if email is not None and claims.get("email_verified") is not True:
        email = None  # only a provider's plain ``true`` proves the address is theirs ("false", 0, missing: not)
    name = str(claims.get("name") or email or claims.get("sub") or "signed-in user")
    granted = _claim_values(claims, policy.role_claim)
    role: Role | None = None
    if _listed(email, policy.editors) or granted & set(policy.editor_values):
        role = "editor"
    elif _listed(email, policy.viewers) or granted & set(policy.viewer_values):
        role = "viewer"
    if role is None:
        who = claims.get("email") or name
        return Decision("refused", message=f"{who} is signed in but has no access to this dashboard; "
                                           "ask its administrator to add you as a viewer or an editor.",
                        who=str(who))
    return Decision("allowed", Actor(role, name, email or (str(claims["sub"]) if claims.get("sub") else None)))


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _listed(email: str | None, entries: tuple[str, ...]) -> bool:
    if email is None:
        return False
    domain = "@" + email.rpartition("@")[2]
    return email in entries or domain in entries


def _claim_values(claims: Mapping[str, Any], claim: str | None) -> set[str]:
    if not claim:
        return set()
    value = claims.get(claim)
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list | tuple):
        return set()
    return {str(v).strip().lower() for v in value}


__all__ = ["LOCAL", "AccessConfigError", "AccessPolicy", "Actor", "Decision", "decide"]
