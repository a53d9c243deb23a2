"""``deliver``: the CFO board pack, PDF and XLSX, mailed to the board over SMTP, for a scheduled job.

The pack is ``report``'s, made the same way (``finance.present.report.gather`` and ``write``); both files
are written in full before any connection is opened, so a pack that cannot be made sends nothing. The
mail server comes from the ``[smtp]`` section of the secrets file the dashboard's sign-in reads
(``.streamlit/secrets.toml``), checked in full, with every problem named, before anything is built.

Python's own ``smtplib`` and ``email`` do the work: a plain-text mail with two attachments, STARTTLS or
implicit TLS and a password sign-in are all they need, so no mail library is added to the dependencies.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import smtplib
import ssl
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email import policy, utils
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finance.cli.common import EXIT_FAILED, EXIT_OK, EXIT_REJECTED, add_db, fail
from finance.domain import literal
from finance.ltv.base import METHODS
from finance.store.database import PROJECT_DIR, StoreError, cli_user, default_db_path

if TYPE_CHECKING:
    from finance.present.report import BoardPack, Written

ENV_PASSWORD = "FINANCE_SMTP_PASSWORD"
"""The SMTP password, when it should not sit in the secrets file (a systemd credential, a CI secret)."""
DEFAULT_SECRETS = PROJECT_DIR / ".streamlit" / "secrets.toml"
SECTION = "smtp"
STARTTLS_PORT, TLS_PORT = 587, 465
"""The submission ports: STARTTLS on 587, implicit TLS (``ssl = true``) on 465 (RFC 8314)."""
DEFAULT_TIMEOUT = 60.0
"""Seconds to wait for the mail server at each step."""
SETTINGS = ("host", "port", "starttls", "ssl", "user", "password", "sender", "timeout", "cafile")
LATEST = "latest"
MIME_TYPES = {".pdf": ("application", "pdf"),
              ".xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")}
"""Each attachment's MIME type by the pack's file suffix; the PDF first, as the board reads it first."""
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOMAIN = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*"
_ADDR_SPEC = re.compile(rf"(?P<user>{_ATOM}(?:\.{_ATOM})*)@(?P<domain>{_DOMAIN})")
"""An addr-spec: a dot-atom mailbox (RFC 5322 3.4.1), ``@``, and a host name of dot-separated labels of
letters, digits and inner hyphens (IDNA's ``xn--`` form for other scripts)."""
_NAMED = re.compile(r'(?P<name>"[^"\\]*"|[^"<>@,;:\\]*?)\s*<(?P<spec>[^<>]*)>')
"""``Display Name <addr-spec>``: a name with none of the characters that separate addresses, or quoted."""


class SettingsError(ValueError):
    """The mail settings or the recipients are wrong: every problem, each naming the setting and its value."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


class DeliveryError(RuntimeError):
    """The mail server could not be reached or refused the mail; the message carries its reply."""


@dataclass(frozen=True)
class MailSettings:
    """The ``[smtp]`` section, checked: where the mail server is, how to reach it safely, who sends."""

    host: str
    port: int
    starttls: bool
    ssl: bool
    user: str | None
    password: str | None = field(repr=False)
    sender: Address
    timeout: float
    cafile: Path | None
    """CA certificates to trust for the server's certificate instead of the system's (a company's own CA)."""

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def security(self) -> str:
        return "implicit TLS" if self.ssl else "STARTTLS" if self.starttls else "no encryption"


@dataclass(frozen=True)
class Attachment:
    """One file of the pack as attached: its name, MIME type, bytes, and pages (PDF) or sheets (XLSX)."""

    name: str
    maintype: str
    subtype: str
    data: bytes
    count: int
    unit: str

    @property
    def size(self) -> int:
        return len(self.data)

    def described(self) -> str:
        return f"{self.name} ({self.size:,} bytes, {self.count} {self.unit})"


def add_deliver_parser(sub: Any) -> None:
    """The ``deliver`` command."""
    deliver = sub.add_parser("deliver", help="mail the CFO board pack (PDF and XLSX) for a quarter over SMTP")
    add_db(deliver)
    deliver.add_argument("--period", required=True, metavar="QUARTER|latest",
                         help="the quarter, e.g. 2025-Q4 (FY2026-Q1 with a fiscal year), or latest: the one "
                              "`report` shows by default (the latest complete quarter with new customers)")
    deliver.add_argument("--to", required=True, metavar="ADDRESSES",
                         help="the recipients, separated by commas: a@example.com,b@example.com")
    deliver.add_argument("--scenario", metavar="NAME", default=None,
                         help="the saved scenario to present as the budget request (default: the latest saved "
                              "request, else last quarter repeated)")
    deliver.add_argument("--method", "--ltv-method", dest="method", choices=METHODS, default="auto",
                         help="LTV method (default: auto, the recommended model per segment)")
    deliver.add_argument("--secrets", type=Path, default=DEFAULT_SECRETS, metavar="FILE",
                         help=f"the TOML file whose [smtp] section names the mail server (default: {DEFAULT_SECRETS})")
    deliver.add_argument("--publish", action="store_true",
                         help="publish the pack too, before it is sent: the files mailed are the ones stored "
                              "(python -m finance packs)")
    deliver.add_argument("--dry-run", action="store_true",
                         help="check the settings, make the pack and the mail, and print what would be sent; "
                              "connect to nothing")
    deliver.epilog = (f"The password may come from ${ENV_PASSWORD} instead of the file. Exit codes: 0 sent, 2 the "
                      "settings, recipients or quarter are wrong, 1 the pack could not be made or the mail server "
                      "refused it; nothing is sent unless the code is 0.")


# ---------------------------------------------------------------------------------------------
# Checking the settings and the recipients
# ---------------------------------------------------------------------------------------------


def parse_address(text: str, named: str) -> Address:
    """One address, ``a@example.com`` or ``Name <a@example.com>``, as a header holds it; SettingsError
    starting with ``named`` (the setting and its value) when it is anything else (two addresses, a group,
    a line break).

    Checked against the plain grammar below, not ``email``'s header parser, which repairs what it can and
    raises IndexError or AttributeError on some fragments (``a@``, ``.:``).
    """
    expected = f"{named}: expected one e-mail address such as finance@example.com"
    if not text.isprintable():  # CR/LF would start another header; nothing invisible belongs in an address
        raise SettingsError([f"{expected}, with no line break or control character"])
    named_match = _NAMED.fullmatch(text.strip())
    name, spec = (named_match["name"].strip().strip('"'), named_match["spec"].strip()) if named_match else (
        "", text.strip())
    found = _ADDR_SPEC.fullmatch(spec)
    if found is None:
        if not spec.isascii():
            raise SettingsError([f"{expected}; an address in another script needs its domain in the xn-- form "
                                 "and an ASCII mailbox name"])
        raise SettingsError([expected])
    return Address(display_name=name, username=found["user"], domain=found["domain"])


def parse_recipients(text: str) -> tuple[Address, ...]:
    """``--to``: addresses separated by commas, each checked, repeats dropped; SettingsError naming every bad one."""
    if not text.isprintable():
        raise SettingsError([f"--to {text!r}: expected e-mail addresses separated by commas, with no line break "
                             "or control character"])
    problems: list[str] = []
    recipients: dict[str, Address] = {}
    for part in text.split(","):
        if not part.strip():
            problems.append(f"--to {text!r}: an empty address between commas; expected addresses separated by "
                            "commas, e.g. cfo@example.com,ceo@example.com")
            continue
        try:
            address = parse_address(part, f"--to {part!r}")
        except SettingsError as exc:
            problems.extend(exc.problems)
            continue
        recipients.setdefault(address.addr_spec.lower(), address)
    if problems:
        raise SettingsError(problems)
    return tuple(recipients.values())


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> MailSettings:
    """The ``[smtp]`` section of the TOML file ``path``, checked; SettingsError with every problem."""
    env = os.environ if environ is None else environ
    where = str(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError([f"no secrets file at {where}: write one with an [smtp] section (see "
                             ".streamlit/secrets.example.toml) or name it with --secrets"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError([f"cannot read the secrets file {where}: {exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError([f"{where} is not valid TOML: {exc}"]) from None
    section = document.get(SECTION)
    if section is None:
        raise SettingsError([f"no [{SECTION}] section in {where}: add one with host and sender (see "
                             ".streamlit/secrets.example.toml)"])
    if not isinstance(section, dict):
        raise SettingsError([f"{SECTION} in {where} is {section!r}, not a section: expected an [{SECTION}] table"])
    problems: list[str] = []

    def bad(key: str, expected: str) -> None:
        problems.append(f"{SECTION}.{key} = {section[key]!r} in {where}: expected {expected}")

    def text(key: str, expected: str) -> str | None:
        value = section.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip() or not value.isprintable():
            bad(key, expected)
            return None
        return value.strip()

    def flag(key: str) -> bool | None:
        value = section.get(key)
        if value is not None and not isinstance(value, bool):
            bad(key, "true or false")
            return None
        return value

    for key in section:
        if key not in SETTINGS:
            problems.append(f"unknown setting {SECTION}.{key} in {where}: expected one of {', '.join(SETTINGS)}")
    host_expected = 'the mail server\'s name alone, e.g. "smtp.example.com"'
    host = text("host", host_expected)
    if "host" not in section:
        problems.append(f"{SECTION}.host is missing in {where}: expected {host_expected}")
    elif host is not None and (any(ch.isspace() for ch in host) or "/" in host):
        bad("host", host_expected)
        host = None
    implicit_tls, starttls = flag("ssl"), flag("starttls")
    if implicit_tls and starttls:
        problems.append(f"{SECTION}.ssl and {SECTION}.starttls are both true in {where}: expected one of them "
                        f"(ssl = true for implicit TLS, usually port {TLS_PORT}; starttls = true on port "
                        f"{STARTTLS_PORT})")
    use_ssl = bool(implicit_tls)
    use_starttls = not use_ssl if starttls is None else starttls and not use_ssl
    port: int | None = TLS_PORT if use_ssl else STARTTLS_PORT
    if "port" in section:
        raw_port = section["port"]
        digits = raw_port.strip() if isinstance(raw_port, str) else ""
        number = (raw_port if isinstance(raw_port, int) and not isinstance(raw_port, bool)
                  else int(digits) if digits.isascii() and digits.isdigit() else None)
        port = number if number is not None and 1 <= number <= 65535 else None
        if port is None:
            bad("port", f"a whole number from 1 to 65535 ({STARTTLS_PORT} for STARTTLS, {TLS_PORT} for ssl)")
    user = text("user", "the user name to sign in to the mail server as")
    password = env.get(ENV_PASSWORD) or None  # the environment's, when set, wins over the file's
    if password is None and "password" in section:
        password = section["password"]
        if not isinstance(password, str) or not password:
            bad("password", f"the password as a string (or set ${ENV_PASSWORD} instead)")
            password = ""  # wrong, and said so: not missing as well
    if user is not None and password is None:
        problems.append(f"{SECTION}.user is set in {where} but no password: set {SECTION}.password or "
                        f"${ENV_PASSWORD}")
    if password is not None and "user" not in section:
        problems.append(f"a password is set (by {SECTION}.password in {where} or ${ENV_PASSWORD}) but no "
                        f"{SECTION}.user to sign in as: add the user, or remove the password for a server that "
                        "needs no sign-in")
    if "user" in section and not (use_ssl or use_starttls):
        problems.append(f"{SECTION}.user is set in {where} with starttls = false and ssl = false: the password "
                        f"would cross the network in plain text; expected starttls = true (port {STARTTLS_PORT}) "
                        f"or ssl = true (port {TLS_PORT})")
    sender = None
    raw_sender = section.get("sender")
    if raw_sender is None:
        problems.append(f"{SECTION}.sender is missing in {where}: expected the From address, e.g. "
                        '"Finance <finance@example.com>"')
    elif not isinstance(raw_sender, str):
        bad("sender", 'the From address as a string, e.g. "finance@example.com"')
    else:
        try:
            sender = parse_address(raw_sender, f"{SECTION}.sender = {raw_sender!r} in {where}")
        except SettingsError as exc:
            problems.extend(exc.problems)
    timeout = DEFAULT_TIMEOUT
    raw_timeout = section.get("timeout")
    if raw_timeout is not None:
        if (isinstance(raw_timeout, bool) or not isinstance(raw_timeout, int | float)
                or not math.isfinite(raw_timeout) or not 0 < raw_timeout <= 3600):
            bad("timeout", "a number of seconds above 0, at most 3600")
        else:
            timeout = float(raw_timeout)
    cafile = None
    raw_cafile = text("cafile", "the path of a PEM file of CA certificates")
    if raw_cafile is not None:
        cafile = path.parent / Path(raw_cafile).expanduser()  # relative to the secrets file, as cron has no cwd
        if not cafile.is_file():
            bad("cafile", f"a PEM file of CA certificates; there is no file at {cafile}")
    if problems or host is None or port is None or sender is None:
        raise SettingsError(problems)
    return MailSettings(host=host, port=port, starttls=use_starttls, ssl=use_ssl, user=user, password=password,
                        sender=sender, timeout=timeout, cafile=cafile)


# ---------------------------------------------------------------------------------------------
# The mail
# ---------------------------------------------------------------------------------------------


def file_name(pack: BoardPack, suffix: str) -> str:
    """``board-pack-2025-Q4.pdf``: the quarter's label, kept to letters, digits and hyphens."""
    return f"board-pack-{re.sub(r'[^A-Za-z0-9-]+', '-', pack.period)}{suffix}"


def subject(pack: BoardPack) -> str:
    from finance.present.i18n import _
    from finance.present.report import TITLE

    return f"{_(TITLE)}: {pack.company}, {pack.period}"


def body(pack: BoardPack, attachments: Sequence[Attachment]) -> str:
    """The mail's text: the quarter, the finding, the headline figures as the pack's first page writes them,
    the budget request, which data and who prepared it, and what is attached. Plain text: every line has its
    control characters written as escapes, so a name from the data can neither add a line nor hide text."""
    from finance.present import pdf, summary

    def shown(value: Any, kind: str) -> str:
        # As the pack's own tiles (report._fmt): a NumPy float from the planner written as a plain float.
        return pdf.format_cell(float(value) if isinstance(value, float) else value, kind, pack.currency)

    def ranged(text: str, low: Any, high: Any, kind: str) -> str:
        if low is None or high is None:
            return text
        return f"{text} (range {shown(low, kind)} to {shown(high, kind)})"

    row, request = pack.row, pack.request
    projected = request.figures
    chance = summary.chance_text(row, pack.target_ratio)
    ratio = ranged(f"{shown(row['ltv_cac'], 'ratio')}, {summary.band(row['band'])}", row["ltv_cac_low"],
                   row["ltv_cac_high"], "ratio")
    figures = [
        ("LTV:CAC", ratio + (f"; {chance}" if chance else "")),
        ("Fully loaded CAC", f"{shown(row['cac'], 'money')} (media-only {shown(row['cac_media'], 'money')})"),
        ("LTV (gross margin)", ranged(shown(row["ltv"], "money"), row["ltv_low"], row["ltv_high"], "money")),
        ("CAC payback", shown(row["payback_months"], "months")),
        ("New customers", shown(row["new_customers"], "int")),
        ("Marketing spend", shown(row["spend"], "money")),
    ]
    width = max(len(label) for label, _value in figures) + 2
    lines = [
        f"{subject(pack)}, with the budget request for {pack.plan_period}.",
        "",
        summary.finding(row, pack.period, pack.target_ratio, pack.mix, pack.prior, pack.prior_period),
        "",
        f"Headline figures, {pack.period}:",
        *(f"  {label + ':':<{width}}{value}" for label, value in figures),
        "",
        f"Budget request for {pack.plan_period} ({request.name}): marketing spend {shown(request.spend, 'money')}; "
        + ranged(f"projected LTV:CAC {shown(projected['ltv_cac'].point, 'ratio')}", projected["ltv_cac"].low,
                 projected["ltv_cac"].high, "ratio") + ", "
        + ranged(f"projected new customers {shown(projected['customers'].point, 'int')}",
                 projected["customers"].low, projected["customers"].high, "int") + ".",
        "",
        pack.data_version,
        "",
        "Attached: " + " and ".join(a.described() for a in attachments) + ".",
    ]
    # The lines above are the only line breaks; a name from the data is one more piece of text on its line.
    return "\n".join(literal.visible(line) for line in lines) + "\n"


def compose(pack: BoardPack, attachments: Sequence[Attachment], sender: Address,
            recipients: Sequence[Address], *, now: datetime | None = None) -> EmailMessage:
    """The mail: text/plain only (no HTML part for a name to turn into markup), the files attached.

    Headers are set through ``EmailMessage``, which refuses a line break in a header; the subject's
    company name has its control characters written as escapes first, so a hostile name still reads as text.
    """
    message = EmailMessage()  # the default policy: headers checked, no line break let into one
    message["From"] = sender
    message["To"] = recipients
    message["Subject"] = literal.visible(subject(pack))
    message["Date"] = utils.format_datetime(now or datetime.now().astimezone())
    message["Message-ID"] = utils.make_msgid(domain=sender.domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies to a scheduled job
    # Quoted-printable keeps the mail 7-bit (any server relays it) and the text readable as sent.
    message.set_content(body(pack, attachments), subtype="plain", charset="utf-8", cte="quoted-printable")
    for attachment in attachments:
        message.add_attachment(attachment.data, maintype=attachment.maintype, subtype=attachment.subtype,
                               filename=attachment.name)
    return message


# ---------------------------------------------------------------------------------------------
# Sending
# ---------------------------------------------------------------------------------------------


def _reply(exc: smtplib.SMTPResponseException) -> str:
    error = exc.smtp_error
    text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
    return f"{exc.smtp_code} {text}"


def send(settings: MailSettings, message: EmailMessage, recipients: Sequence[Address]) -> None:
    """Hand ``message`` to the mail server for every recipient, or for none; DeliveryError with the server's reply.

    The envelope is written step by step (MAIL, RCPT for each recipient, DATA) rather than with
    ``send_message``, which delivers to the recipients accepted and only reports the refused: a board pack
    that reaches half the board is a failure, so when one recipient is refused the transaction is reset
    and nothing is sent. The server's certificate is always checked; STARTTLS never falls back to plain text.
    """
    data = message.as_bytes(policy=policy.SMTP)  # CRLF line ends, as the wire wants them
    context = ssl.create_default_context(cafile=str(settings.cafile) if settings.cafile else None)
    step, outcome = "connecting to", "nothing was sent"
    try:
        client: smtplib.SMTP
        if settings.ssl:
            client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        try:
            client.ehlo()
            if settings.starttls:
                step = "starting TLS with"
                client.starttls(context=context)
                client.ehlo()
            if settings.user is not None:
                step = f"signing in as {settings.user!r} to"
                client.login(settings.user, settings.password or "")
            step = "sending to"
            options = [f"SIZE={len(data)}"] if client.has_extn("size") else []
            code, reply = client.mail(settings.sender.addr_spec, options)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, settings.sender.addr_spec)
            refused = []
            for recipient in recipients:
                code, reply = client.rcpt(recipient.addr_spec)
                if code not in (250, 251):
                    refused.append(f"{recipient.addr_spec}: {code} {reply.decode('utf-8', 'replace')}")
            if refused:
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    client.rset()
                raise DeliveryError(f"the mail server {settings.where} refused "
                                    f"{'a recipient' if len(refused) == 1 else 'recipients'} "
                                    f"({'; '.join(refused)}), so nothing was sent to anyone")
            step = "handing the mail to"
            outcome = "it may or may not have been delivered: ask a recipient before sending it again"
            code, reply = client.data(data)  # raises when DATA is refused, but only returns the final reply
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
        finally:
            try:  # once DATA is accepted the mail is the server's: a failed goodbye changes nothing
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()
    except smtplib.SMTPSenderRefused as exc:
        raise DeliveryError(f"the mail server {settings.where} refused to take mail from {exc.sender!r}: "
                            f"{_reply(exc)}; nothing was sent") from None
    except smtplib.SMTPResponseException as exc:  # refused sign-in, data, greeting: the server's own words
        raise DeliveryError(f"{step} the mail server {settings.where} failed: it replied {_reply(exc)}; "
                            "nothing was sent") from None
    except (smtplib.SMTPException, OSError) as exc:  # refused or dropped connection, TLS, time-out, no AUTH
        detail = (str(exc) or type(exc).__name__).rstrip(".")
        raise DeliveryError(f"{step} the mail server {settings.where} ({settings.security}) failed: {detail}; "
                            f"{outcome}") from None


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------


def _attachment(written: Written) -> Attachment:
    maintype, subtype = MIME_TYPES[written.path.suffix]
    return Attachment(written.path.name, maintype, subtype, written.path.read_bytes(), written.count, written.unit)


def cmd_deliver(args: argparse.Namespace) -> int:
    problems: list[str] = []
    recipients: tuple[Address, ...] = ()
    settings = None
    try:
        recipients = parse_recipients(args.to)
    except SettingsError as exc:
        problems.extend(exc.problems)
    try:
        settings = load_settings(args.secrets)
    except SettingsError as exc:
        problems.extend(exc.problems)
    if problems or settings is None:  # every problem at once, before a long pack is made for nothing
        listed = f" {problems[0]}" if len(problems) == 1 else "".join(f"\n  - {problem}" for problem in problems)
        return fail(f"nothing was sent:{listed}", "text", EXIT_REJECTED)

    from finance.present import (
        publish,
        report,  # the PDF toolchain (kaleido, Chromium) only for this command
    )
    from finance.present.pdf import PdfError

    period = None if args.period.strip().lower() == LATEST else args.period
    path = args.db or default_db_path()
    try:
        before = publish.state(path) if args.publish and not args.dry_run else None
        pack = report.gather(args.db or default_db_path(), period=period, scenario=args.scenario,
                             method=args.method, prepared_by=cli_user())
    except ValueError as exc:  # a PlanError is a ValueError
        return fail(f"{exc}; nothing was sent", "text", EXIT_REJECTED)
    except StoreError as exc:
        return fail(f"{exc}; nothing was sent", "text", EXIT_FAILED)
    try:  # both files in full before any connection: a pack that fails sends nothing
        with tempfile.TemporaryDirectory(prefix="board-pack-") as folder:
            attachments = [_attachment(report.write(pack, Path(folder) / file_name(pack, suffix)))
                           for suffix in MIME_TYPES]
    except (PdfError, OSError, ValueError) as exc:
        return fail(f"the board pack was not written, so nothing was sent: {exc}", "text", EXIT_FAILED)
    if before is not None:
        try:
            published = publish.store(path, pack, attachments[0].data, attachments[1].data, before,
                                      method=args.method, scenario=args.scenario, user=cli_user())
        except StoreError as exc:
            return fail(f"the board pack was not published, so nothing was sent: {exc}", "text", EXIT_FAILED)
        print(f"published pack #{published.pack_id} of {published.period}")
    message = compose(pack, attachments, settings.sender, recipients)
    to = ", ".join(r.addr_spec for r in recipients)
    files = ", ".join(a.described() for a in attachments)
    if args.dry_run:
        login = f" as {settings.user!r}" if settings.user else ""
        print(f"dry run, nothing sent: would connect to {settings.where} ({settings.security}){login}")
        print(f"From: {message['From']}")
        print(f"To: {message['To']}")
        print(f"Subject: {message['Subject']}")
        for a in attachments:
            print(f"Attachment: {a.name} ({a.maintype}/{a.subtype}, {a.size:,} bytes, {a.count} {a.unit})")
        print()
        print(message.get_body().get_content(), end="")  # type: ignore[union-attr]
        return EXIT_OK
    try:
        send(settings, message, recipients)
    except DeliveryError as exc:
        return fail(str(exc), "text", EXIT_FAILED)
    print(f"sent the {pack.period} board pack to {to} via {settings.where}: {files}")
    return EXIT_OK
