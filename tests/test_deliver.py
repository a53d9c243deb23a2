"""``python -m finance deliver``: the board pack mailed to a real SMTP server on this machine.

Each test starts aiosmtpd on 127.0.0.1 (a free port) with a handler that keeps what it receives,
and runs the command in-process (``finance.cli.commands.main``). The demo company's pack is gathered
and its PDF printed once for the module: ``report.gather`` and ``report.to_pdf`` are memoised (same
arguments, same pack; same pack, same PDF bytes), while ``report.write`` runs for real every time and
is watched, so each test can compare what arrived with what the command wrote.
"""

from __future__ import annotations

import dataclasses
import email
import io
import re
import socket
import ssl
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from finance.cli import deliver
from finance.cli.commands import main
from finance.cli.common import EXIT_FAILED, EXIT_OK, EXIT_REJECTED
from finance.present import formats, report
from finance.present.pdf import PdfError

from .conftest import ROOT

SENDER = "Finance reports <finance@northwind.example>"
CFO, CHAIR = "cfo@northwind.example", "chair@northwind.example"
PREPARER = "controller@northwind.example"
USER, PASSWORD = "ltv-mailer", "correct horse battery staple"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# -- the pack, made once ----------------------------------------------------------------------------


@dataclass
class Packs:
    """What the command gathered and wrote: the packs (memoised) and each file as ``write`` left it."""

    gathered: list[report.BoardPack] = field(default_factory=list)
    written: dict[str, bytes] = field(default_factory=dict)


@pytest.fixture(scope="module")
def packs(demo_db: Path) -> Iterator[Packs]:
    seen = Packs()
    cache: dict[tuple[Any, ...], report.BoardPack] = {}
    pdfs: dict[int, bytes] = {}
    real_gather, real_to_pdf, real_write = report.gather, report.to_pdf, report.write

    def gather(store: Any, **options: Any) -> report.BoardPack:
        key = (str(store), *sorted(options.items()))
        if key not in cache:  # a failure (an unknown quarter) raises every time, as it should
            cache[key] = real_gather(store, **options)
        seen.gathered.append(cache[key])
        return cache[key]

    def to_pdf(pack: report.BoardPack) -> bytes:
        if id(pack) not in pdfs:
            pdfs[id(pack)] = real_to_pdf(pack)
        return pdfs[id(pack)]

    def write(pack: report.BoardPack, out: Path | str) -> report.Written:
        written = real_write(pack, out)
        seen.written[written.path.name] = written.path.read_bytes()
        return written

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report, "gather", gather)
        patch.setattr(report, "to_pdf", to_pdf)
        patch.setattr(report, "write", write)
        yield seen


@pytest.fixture(autouse=True)
def _preparer(monkeypatch: pytest.MonkeyPatch, packs: Packs) -> None:
    """Every run is prepared by the same person (one memoised pack), with no password in the environment."""
    monkeypatch.setenv("FINANCE_USER", PREPARER)
    monkeypatch.delenv(deliver.ENV_PASSWORD, raising=False)
    packs.written.clear()


# -- a real SMTP server -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    user: str | None
    """Who signed in (AUTH), if anyone."""
    encrypted: bool

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class Inbox:
    """An aiosmtpd handler that keeps every message, counts the clients that greet it, and refuses the
    recipients in ``refuse`` as a real server refuses an unknown mailbox."""

    def __init__(self, refuse: tuple[str, ...] = (), reject_data: str | None = None) -> None:
        self.refuse = set(refuse)
        self.reject_data = reject_data
        self.messages: list[Received] = []
        self.greetings = 0

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        self.greetings += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in virtual mailbox table"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reject_data:
            return self.reject_data
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        encrypted = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content,
                                      login, encrypted))
        return "250 2.0.0 Ok: queued"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _check_password(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(), PASSWORD.encode())
    return AuthResult(success=True, auth_data=auth_data) if ok else AuthResult(success=False, handled=False)


Server = Callable[..., tuple[int, Inbox]]


@pytest.fixture
def smtp_server() -> Iterator[Server]:
    """Start aiosmtpd on 127.0.0.1: ``smtp_server(refuse=(...), reject_data=reply, **aiosmtpd options)`` gives
    (port, inbox)."""
    with ExitStack() as running:
        def start(refuse: tuple[str, ...] = (), reject_data: str | None = None, **options: Any) -> tuple[int, Inbox]:
            inbox, port = Inbox(refuse, reject_data), _free_port()
            controller = Controller(inbox, hostname="127.0.0.1", port=port, server_hostname="mx.test", **options)
            controller.start()
            running.callback(controller.stop)
            return port, inbox
        yield start


@pytest.fixture
def listener() -> Iterator[tuple[int, Callable[[], bool]]]:
    """A bare TCP port that never answers, and whether anyone has connected to it: proof of no connection."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)

        def connected() -> bool:
            try:
                sock.accept()[0].close()
            except BlockingIOError:
                return False
            return True

        yield int(sock.getsockname()[1]), connected


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made now with the openssl command: (cert, key)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def _server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def _secrets(folder: Path, text: str, name: str = "secrets.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _plain(folder: Path, port: int, extra: str = "") -> Path:
    """Settings for a server on this machine that needs no sign-in, so no encryption either."""
    return _secrets(folder, f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nstarttls = false\nsender = "{SENDER}"\n'
                            f"timeout = 5\n{extra}")


def _deliver(db: Path, secrets: Path, *args: str, to: str = f"{CFO},Board Chair <{CHAIR}>",
             period: str = "latest") -> int:
    return main(["deliver", "--db", str(db), "--period", period, "--to", to, "--secrets", str(secrets), *args])


# -- (1) the pack arrives -----------------------------------------------------------------------------


def test_the_pack_arrives_with_both_files_and_its_headline(demo_db: Path, packs: Packs, tmp_path: Path,
                                                          smtp_server: Server,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    port, inbox = smtp_server()
    code = _deliver(demo_db, _plain(tmp_path, port))
    out, err = capsys.readouterr()
    assert (code, err) == (EXIT_OK, "")
    pack = packs.gathered[-1]
    assert pack.period == "2025-Q4"  # the demo's latest complete quarter: what `report` shows by default
    assert len(inbox.messages) == 1
    received = inbox.messages[0]
    assert received.mail_from == "finance@northwind.example"
    assert sorted(received.rcpt_tos) == [CFO, CHAIR]
    message = received.message
    assert [a.addr_spec for a in message["To"].addresses] == [CFO, CHAIR]
    assert message["To"].addresses[1].display_name == "Board Chair"
    assert str(message["From"]) == SENDER
    assert message["Subject"] == "Marketing efficiency board pack: Northwind Analytics, 2025-Q4"
    assert message["Auto-Submitted"] == "auto-generated" and message["Message-ID"] and message["Date"]

    # Text only: no HTML part anywhere, and exactly the two files attached.
    assert [part.get_content_type() for part in message.walk()] == [
        "multipart/mixed", "text/plain", "application/pdf", XLSX_TYPE]
    attachments = list(message.iter_attachments())
    assert [(a.get_filename(), a.get_content_type()) for a in attachments] == [
        ("board-pack-2025-Q4.pdf", "application/pdf"), ("board-pack-2025-Q4.xlsx", XLSX_TYPE)]
    pdf_bytes, xlsx_bytes = (a.get_content() for a in attachments)
    assert pdf_bytes.startswith(b"%PDF-") and pdf_bytes == packs.written["board-pack-2025-Q4.pdf"]
    assert zipfile.is_zipfile(io.BytesIO(xlsx_bytes)) and xlsx_bytes == packs.written["board-pack-2025-Q4.xlsx"]
    workbook = openpyxl.load_workbook(io.BytesIO(xlsx_bytes), read_only=True)
    assert workbook.sheetnames[:len(report.SHEETS)] == list(report.SHEETS)

    # The headline as the pack states it: each figure written as the pack writes it, and found in the PDF.
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    row = pack.row
    figures = {"LTV:CAC": formats.ratio(row["ltv_cac"]), "Fully loaded CAC": formats.money(row["cac"]),
               "LTV (gross margin)": formats.money(row["ltv"]), "CAC payback": formats.months(row["payback_months"]),
               "New customers": formats.count(row["new_customers"]), "Marketing spend": formats.money(row["spend"])}
    shapes = {"LTV:CAC": r"\d+\.\d\dx", "Fully loaded CAC": r"\$\d{1,3}(,\d{3})*\.\d\d", "CAC payback": r"\d+ months?",
              "LTV (gross margin)": r"\$\d{1,3}(,\d{3})*\.\d\d", "New customers": r"\d{1,3}(,\d{3})*",
              "Marketing spend": r"\$\d{1,3}(,\d{3})*\.\d\d"}  # e.g. 5.02x, $1,050.47, 6 months, 2,829
    assert all(re.fullmatch(shapes[label], figure) for label, figure in figures.items()), figures
    lines = text.splitlines()
    pdf_text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf_bytes, capture_output=True,
                              check=True).stdout.decode()
    for label, figure in figures.items():
        line = next(line.strip() for line in lines if line.strip().startswith(f"{label}:"))
        assert line.removeprefix(f"{label}:").strip().startswith(figure), (label, line)
        assert figure in pdf_text, label
    assert "2025-Q4" in lines[0] and "budget request for 2026-Q1" in lines[0]
    assert f"by {PREPARER}" in text and formats.day(pack.prepared_on) in text  # who prepared it, and when
    assert pack.data_version in text
    sizes = [f"{len(pdf_bytes):,} bytes", f"{len(xlsx_bytes):,} bytes"]
    assert all(size in text for size in sizes)

    # One line on success: to whom, which files and how large.
    assert out.count("\n") == 1
    assert out.startswith(f"sent the 2025-Q4 board pack to {CFO}, {CHAIR} via 127.0.0.1:{port}: ")
    assert f"board-pack-2025-Q4.pdf ({sizes[0]}" in out and f"board-pack-2025-Q4.xlsx ({sizes[1]}" in out


@pytest.mark.parametrize(("period", "asked"), [("latest", None), ("LATEST", None), ("2025-q3", "2025-q3")])
def test_the_quarter_is_reports_choice(demo_db: Path, tmp_path: Path, period: str, asked: str | None,
                                       monkeypatch: pytest.MonkeyPatch, smtp_server: Server,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """``latest`` asks for report's default quarter (None); a named one is passed on as written, for ``gather``
    to read (and refuse) exactly as ``report --period`` does."""
    calls: list[dict[str, Any]] = []

    def gather(store: Any, **options: Any) -> report.BoardPack:
        calls.append(options)
        raise ValueError("no pack in this test")

    monkeypatch.setattr(report, "gather", gather)
    port, inbox = smtp_server()
    assert _deliver(demo_db, _plain(tmp_path, port), "--scenario", "Q1 ask", "--method", "cohort",
                    period=period) == EXIT_REJECTED
    assert capsys.readouterr().err == "error: no pack in this test; nothing was sent\n"
    assert calls == [{"period": asked, "scenario": "Q1 ask", "method": "cohort", "prepared_by": PREPARER}]
    assert inbox.greetings == 0


def test_a_fiscal_quarter_names_the_files(packs: Packs, demo_db: Path) -> None:
    pack = packs.gathered[0] if packs.gathered else report.gather(demo_db, prepared_by=PREPARER)
    fiscal = dataclasses.replace(pack, period="FY2026-Q1")
    assert [deliver.file_name(fiscal, suffix) for suffix in deliver.MIME_TYPES] == [
        "board-pack-FY2026-Q1.pdf", "board-pack-FY2026-Q1.xlsx"]


# -- (2) signing in, over TLS only ---------------------------------------------------------------------


def test_starttls_and_a_password_sign_in(demo_db: Path, packs: Packs, tmp_path: Path, smtp_server: Server,
                                         certificate: tuple[Path, Path],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    port, inbox = smtp_server(tls_context=_server_tls(certificate), require_starttls=True, auth_required=True,
                              authenticator=_check_password)
    secrets = _secrets(tmp_path, f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nuser = "{USER}"\n'
                                 f'password = "{PASSWORD}"\nsender = "{SENDER}"\ncafile = "{certificate[0]}"\n')
    assert _deliver(demo_db, secrets, to=CFO) == EXIT_OK, capsys.readouterr().err
    assert [(m.user, m.encrypted, m.rcpt_tos) for m in inbox.messages] == [(USER, True, [CFO])]


def test_the_password_can_come_from_the_environment(demo_db: Path, packs: Packs, tmp_path: Path,
                                                    smtp_server: Server, certificate: tuple[Path, Path],
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    port, inbox = smtp_server(tls_context=_server_tls(certificate), require_starttls=True, auth_required=True,
                              authenticator=_check_password)
    secrets = _secrets(tmp_path, f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nuser = "{USER}"\n'
                                 f'sender = "{SENDER}"\ncafile = "{certificate[0].name}"\n')
    (tmp_path / certificate[0].name).write_bytes(certificate[0].read_bytes())  # cafile: beside the secrets file
    monkeypatch.setenv(deliver.ENV_PASSWORD, PASSWORD)
    assert _deliver(demo_db, secrets, to=CFO) == EXIT_OK, capsys.readouterr().err
    assert [(m.user, m.encrypted) for m in inbox.messages] == [(USER, True)]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls_with_a_password(demo_db: Path, packs: Packs, tmp_path: Path, smtp_server: Server,
                                      certificate: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # aiosmtpd only counts STARTTLS as TLS for AUTH; on an implicit-TLS port the whole session is encrypted.
    port, inbox = smtp_server(ssl_context=_server_tls(certificate), auth_require_tls=False, auth_required=True,
                              authenticator=_check_password)
    secrets = _secrets(tmp_path, f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nssl = true\nuser = "{USER}"\n'
                                 f'password = "{PASSWORD}"\nsender = "{SENDER}"\ncafile = "{certificate[0]}"\n')
    assert _deliver(demo_db, secrets, to=CFO) == EXIT_OK, capsys.readouterr().err
    assert [(m.user, m.encrypted) for m in inbox.messages] == [(USER, True)]


def test_a_refused_password_is_the_servers_reply(demo_db: Path, packs: Packs, tmp_path: Path, smtp_server: Server,
                                                 certificate: tuple[Path, Path],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    port, inbox = smtp_server(tls_context=_server_tls(certificate), require_starttls=True, auth_required=True,
                              authenticator=_check_password)
    secrets = _secrets(tmp_path, f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nuser = "{USER}"\n'
                                 f'password = "wrong"\nsender = "{SENDER}"\ncafile = "{certificate[0]}"\n')
    assert _deliver(demo_db, secrets, to=CFO) == EXIT_FAILED
    err = capsys.readouterr().err
    assert f"signing in as '{USER}' to the mail server 127.0.0.1:{port} failed" in err
    assert "535 5.7.8 Authentication credentials invalid" in err and "nothing was sent" in err
    assert "Traceback" not in err and inbox.messages == []


def test_a_certificate_not_trusted_is_refused(demo_db: Path, packs: Packs, tmp_path: Path, smtp_server: Server,
                                              certificate: tuple[Path, Path],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    port, inbox = smtp_server(tls_context=_server_tls(certificate), require_starttls=True)
    secrets = _secrets(tmp_path, f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsender = "{SENDER}"\n')
    assert _deliver(demo_db, secrets, to=CFO) == EXIT_FAILED
    err = capsys.readouterr().err
    assert f"starting TLS with the mail server 127.0.0.1:{port} (STARTTLS) failed" in err
    assert "certificate verify failed" in err and "Traceback" not in err
    assert inbox.messages == []


def test_starttls_never_falls_back_to_plain_text(demo_db: Path, packs: Packs, tmp_path: Path, smtp_server: Server,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    port, inbox = smtp_server(auth_require_tls=False)  # no STARTTLS offered
    secrets = _secrets(tmp_path, f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nuser = "{USER}"\n'
                                 f'password = "{PASSWORD}"\nsender = "{SENDER}"\n')
    assert _deliver(demo_db, secrets, to=CFO) == EXIT_FAILED
    err = capsys.readouterr().err
    assert err == (f"error: starting TLS with the mail server 127.0.0.1:{port} (STARTTLS) failed: STARTTLS extension "
                   "not supported by server; nothing was sent\n")
    assert inbox.messages == []


def test_a_password_in_plain_text_is_refused_before_anything(demo_db: Path, packs: Packs, tmp_path: Path,
                                                            listener: tuple[int, Callable[[], bool]],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    port, connected = listener
    gathered = len(packs.gathered)
    secrets = _plain(tmp_path, port, f'user = "{USER}"\npassword = "{PASSWORD}"\n')
    assert _deliver(demo_db, secrets) == EXIT_REJECTED
    err = capsys.readouterr().err
    assert "smtp.user is set" in err and "in plain text" in err and "starttls = true" in err
    assert not connected() and len(packs.gathered) == gathered  # refused before the pack was made


# -- (3) a pack that fails sends nothing ----------------------------------------------------------------


def test_an_unknown_quarter_sends_nothing(demo_db: Path, tmp_path: Path, smtp_server: Server,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    port, inbox = smtp_server()
    assert _deliver(demo_db, _plain(tmp_path, port), period="2019-Q1") == EXIT_REJECTED
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: unknown period '2019-Q1': expected a quarter with spend and new customers")
    assert err.rstrip().endswith("nothing was sent")
    assert (inbox.messages, inbox.greetings) == ([], 0)


def test_a_pdf_that_fails_sends_nothing(demo_db: Path, packs: Packs, tmp_path: Path, smtp_server: Server,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    def broken(pack: report.BoardPack) -> bytes:
        raise PdfError("Chromium exited with status 1: install it with apt-get install chromium")

    monkeypatch.setattr(report, "to_pdf", broken)
    port, inbox = smtp_server()
    assert _deliver(demo_db, _plain(tmp_path, port)) == EXIT_FAILED
    err = capsys.readouterr().err
    assert err == ("error: the board pack was not written, so nothing was sent: Chromium exited with status 1: "
                   "install it with apt-get install chromium\n")
    assert (inbox.messages, inbox.greetings) == ([], 0)


def test_no_database_sends_nothing(tmp_path: Path, smtp_server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    port, inbox = smtp_server()
    assert _deliver(tmp_path / "none.duckdb", _plain(tmp_path, port)) == EXIT_REJECTED
    assert "no database at" in capsys.readouterr().err
    assert (inbox.messages, inbox.greetings) == ([], 0)


# -- (4) bad settings and recipients ---------------------------------------------------------------------


@pytest.mark.parametrize(("recipients", "shown"), [
    ("a@b.com\nBcc: x@y", r"--to 'a@b.com\nBcc: x@y': expected e-mail addresses separated by commas, with no line "
                          "break or control character"),
    ("a@b.com\r\nBcc: x@y", r"--to 'a@b.com\r\nBcc: x@y'"),
    ("a@b.com x@y.com", "--to 'a@b.com x@y.com': expected one e-mail address"),
    ("a@b.com;c@d.com", "--to 'a@b.com;c@d.com': expected one e-mail address"),
    ("board: a@b.com;", "--to 'board: a@b.com;': expected one e-mail address"),
    ("a@b.com,,c@d.com", "an empty address between commas"),
    ("a@", "--to 'a@': expected one e-mail address"),
    ("cfo", "--to 'cfo': expected one e-mail address"),
    ("a@-b.com", "--to 'a@-b.com': expected one e-mail address"),
    ("josé@b.com", "the xn-- form"),
])
def test_a_bad_recipient_is_named_and_nothing_is_sent(demo_db: Path, tmp_path: Path, recipients: str, shown: str,
                                                      listener: tuple[int, Callable[[], bool]],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    port, connected = listener
    assert _deliver(demo_db, _plain(tmp_path, port), to=recipients) == EXIT_REJECTED
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: nothing was sent: ") and shown in err
    assert "\nBcc" not in err  # the value is quoted, its line breaks shown as escapes
    assert not connected()


def test_every_bad_setting_is_named_at_once(demo_db: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    secrets = _secrets(tmp_path, '[smtp]\nhost = "smtp example.com"\nport = "abc"\nsender = "finance"\n'
                                 'timeout = "soon"\npasword = "x"\n')
    assert _deliver(demo_db, secrets, to="cfo") == EXIT_REJECTED
    err = capsys.readouterr().err
    where = str(secrets)
    assert err.splitlines() == [
        "error: nothing was sent:",
        "  - --to 'cfo': expected one e-mail address such as finance@example.com",
        f"  - unknown setting smtp.pasword in {where}: expected one of host, port, starttls, ssl, user, password, "
        "sender, timeout, cafile",
        f"  - smtp.host = 'smtp example.com' in {where}: expected the mail server's name alone, e.g. "
        '"smtp.example.com"',
        f"  - smtp.port = 'abc' in {where}: expected a whole number from 1 to 65535 (587 for STARTTLS, 465 for ssl)",
        f"  - smtp.sender = 'finance' in {where}: expected one e-mail address such as finance@example.com",
        f"  - smtp.timeout = 'soon' in {where}: expected a number of seconds above 0, at most 3600",
    ]


@pytest.mark.parametrize(("text", "message"), [
    ('[auth]\nclient_id = "x"\n', "no [smtp] section in"),
    ('[smtp\nhost = "x"\n', "is not valid TOML: Expected ']'"),
    ('smtp = "smtp.example.com"\n', "not a section: expected an [smtp] table"),
    ('[smtp]\nsender = "f@example.com"\n', "smtp.host is missing"),
    ('[smtp]\nhost = "smtp.example.com"\n', "smtp.sender is missing"),
    ('[smtp]\nhost = "smtp.example.com"\nport = 0\nsender = "f@example.com"\n', "smtp.port = 0 in"),
    ('[smtp]\nhost = "smtp.example.com"\nport = 70000\nsender = "f@example.com"\n', "smtp.port = 70000 in"),
    ('[smtp]\nhost = "smtp.example.com"\nport = true\nsender = "f@example.com"\n', "smtp.port = True in"),
    ('[smtp]\nhost = "smtp.example.com"\nstarttls = "yes"\nsender = "f@example.com"\n',
     "smtp.starttls = 'yes' in"),
    ('[smtp]\nhost = "smtp.example.com"\nssl = true\nstarttls = true\nsender = "f@example.com"\n',
     "smtp.ssl and smtp.starttls are both true"),
    ('[smtp]\nhost = "smtp.example.com"\nuser = "me"\nsender = "f@example.com"\n',
     "smtp.user is set in {where} but no password: set smtp.password or $FINANCE_SMTP_PASSWORD"),
    ('[smtp]\nhost = "smtp.example.com"\npassword = "pw"\nsender = "f@example.com"\n',
     "but no smtp.user to sign in as"),
    ('[smtp]\nhost = "smtp.example.com"\nsender = "A <a@example.com>, b@example.com"\n',
     "smtp.sender = 'A <a@example.com>, b@example.com' in {where}: expected one e-mail address"),
    ('[smtp]\nhost = "smtp.example.com"\nsender = "f@example.com"\ncafile = "missing.pem"\n',
     "expected a PEM file of CA certificates; there is no file at"),
    ('[smtp]\nhost = "smtp.example.com"\nsender = "f@example.com"\ntimeout = nan\n', "smtp.timeout = nan in"),
])
def test_a_bad_setting_is_named(demo_db: Path, tmp_path: Path, text: str, message: str,
                                capsys: pytest.CaptureFixture[str]) -> None:
    secrets = _secrets(tmp_path, text)
    assert _deliver(demo_db, secrets, to=CFO) == EXIT_REJECTED
    err = capsys.readouterr().err
    assert err.startswith("error: nothing was sent: ") and message.format(where=secrets) in err, err


def test_a_missing_secrets_file_is_named(demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _deliver(demo_db, tmp_path / "nowhere.toml", to=CFO) == EXIT_REJECTED
    assert f"no secrets file at {tmp_path / 'nowhere.toml'}" in capsys.readouterr().err


def test_the_settings_defaults(tmp_path: Path) -> None:
    minimal = _secrets(tmp_path, '[smtp]\nhost = "smtp.example.com"\nsender = "finance@example.com"\n')
    settings = deliver.load_settings(minimal, environ={})
    assert (settings.host, settings.port, settings.starttls, settings.ssl, settings.user, settings.password,
            settings.timeout, settings.cafile) == ("smtp.example.com", 587, True, False, None, None, 60.0, None)
    implicit = _secrets(tmp_path, '[smtp]\nhost = "smtp.example.com"\nssl = true\nport = "2465"\nuser = "me"\n'
                                  'password = "file"\nsender = "finance@example.com"\n', "tls.toml")
    settings = deliver.load_settings(implicit, environ={deliver.ENV_PASSWORD: "from env"})
    assert (settings.port, settings.starttls, settings.ssl, settings.user, settings.password) == (
        2465, False, True, "me", "from env")
    assert "from env" not in repr(settings)  # a settings object printed in a log shows no password


def test_the_committed_example_is_valid_once_uncommented(tmp_path: Path) -> None:
    example = (ROOT / ".streamlit" / "secrets.example.toml").read_text(encoding="utf-8").splitlines()
    start = example.index("# [smtp]")
    block = []
    for line in example[start:]:
        if not line.startswith("#"):
            break
        block.append(line[2:] if line.startswith("# ") else line[1:])
    settings = deliver.load_settings(_secrets(tmp_path, "\n".join(block) + "\n"),
                                     environ={deliver.ENV_PASSWORD: "secret"})
    assert settings.starttls and settings.port == 587 and settings.user and settings.password == "secret"


# -- (5) the server refuses -------------------------------------------------------------------------------


def test_a_refused_recipient_sends_nothing_to_anyone(demo_db: Path, packs: Packs, tmp_path: Path,
                                                     smtp_server: Server,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    gone = "former.cfo@northwind.example"
    port, inbox = smtp_server(refuse=(gone,))
    assert _deliver(demo_db, _plain(tmp_path, port), to=f"{CFO},{gone}") == EXIT_FAILED
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert err == (f"error: the mail server 127.0.0.1:{port} refused a recipient ({gone}: 550 5.1.1 <{gone}>: "
                   "Recipient address rejected: User unknown in virtual mailbox table), so nothing was sent to "
                   "anyone\n")
    assert inbox.messages == []  # the CFO, accepted, gets nothing either: the board gets the pack whole or not


def test_a_mail_too_large_for_the_server_is_refused_whole(demo_db: Path, packs: Packs, tmp_path: Path,
                                                          smtp_server: Server,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    port, inbox = smtp_server(data_size_limit=100_000)  # the pack's PDF alone is about 450 kB
    assert _deliver(demo_db, _plain(tmp_path, port), to=CFO) == EXIT_FAILED
    err = capsys.readouterr().err
    assert err == (f"error: the mail server 127.0.0.1:{port} refused to take mail from 'finance@northwind.example': "
                   "552 Error: message size exceeds fixed maximum message size; nothing was sent\n")
    assert inbox.messages == []


def test_a_message_refused_at_data_is_the_servers_reply(demo_db: Path, packs: Packs, tmp_path: Path,
                                                        smtp_server: Server,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    port, inbox = smtp_server(reject_data="554 5.7.1 Message rejected: attachments of this type are not allowed")
    assert _deliver(demo_db, _plain(tmp_path, port), to=CFO) == EXIT_FAILED
    err = capsys.readouterr().err
    assert err == (f"error: handing the mail to the mail server 127.0.0.1:{port} failed: it replied 554 5.7.1 "
                   "Message rejected: attachments of this type are not allowed; nothing was sent\n")
    assert inbox.messages == []


def test_no_server_is_a_failure_in_words(demo_db: Path, packs: Packs, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    port = _free_port()  # nothing listens there
    assert _deliver(demo_db, _plain(tmp_path, port), to=CFO) == EXIT_FAILED
    err = capsys.readouterr().err
    assert err == (f"error: connecting to the mail server 127.0.0.1:{port} (no encryption) failed: [Errno 111] "
                   "Connection refused; nothing was sent\n")


# -- (6) a dry run connects to nothing ---------------------------------------------------------------------


def test_a_dry_run_connects_to_nothing(demo_db: Path, packs: Packs, tmp_path: Path,
                                       listener: tuple[int, Callable[[], bool]],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    port, connected = listener
    assert _deliver(demo_db, _plain(tmp_path, port), "--dry-run") == EXIT_OK
    out, err = capsys.readouterr()
    assert err == "" and not connected()
    pdf_size = len(packs.written["board-pack-2025-Q4.pdf"])
    xlsx_size = len(packs.written["board-pack-2025-Q4.xlsx"])
    lines = out.splitlines()
    assert lines[:6] == [
        f"dry run, nothing sent: would connect to 127.0.0.1:{port} (no encryption)",
        f"From: {SENDER}",
        f"To: {CFO}, Board Chair <{CHAIR}>",
        "Subject: Marketing efficiency board pack: Northwind Analytics, 2025-Q4",
        f"Attachment: board-pack-2025-Q4.pdf (application/pdf, {pdf_size:,} bytes, 11 pages)",
        f"Attachment: board-pack-2025-Q4.xlsx ({XLSX_TYPE}, {xlsx_size:,} bytes, 11 sheets)",
    ]
    assert "Headline figures, 2025-Q4:" in lines


# -- text from the data is text ----------------------------------------------------------------------------


def test_hostile_names_stay_text_in_the_headers_and_the_body(demo_db: Path, packs: Packs) -> None:
    """A company or importer name with line breaks, escape sequences or markup adds no header, runs nothing
    in a terminal and is no markup: the mail is text/plain and the names read as written, escapes visible."""
    pack = packs.gathered[0] if packs.gathered else report.gather(demo_db, prepared_by=PREPARER)
    hostile = dataclasses.replace(
        pack, company="Evil\r\nBcc: attacker@evil.example\x1b[2J<b>x</b>",
        data_version="Figures \u202eEVIL\u202c by <script>alert(1)</script>\nBcc: x@evil.example")
    files = [deliver.Attachment("board-pack-2025-Q4.pdf", "application", "pdf", b"%PDF-1.4 test", 1, "pages")]
    message = deliver.compose(hostile, files, Address("Finance", "finance", "northwind.example"),
                              [Address(addr_spec=CFO)])
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert [key for key in parsed if key.lower() == "bcc"] == []
    assert parsed["Subject"] == ("Marketing efficiency board pack: Evil\\r\\nBcc: attacker@evil.example\\x1b[2J"
                                 "<b>x</b>, 2025-Q4")
    assert [part.get_content_type() for part in parsed.walk()] == ["multipart/mixed", "text/plain",
                                                                   "application/pdf"]
    body = parsed.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "\x1b" not in text and "\u202e" not in text and "\r" not in text
    assert "Figures \\u202eEVIL\\u202c by <script>alert(1)</script>\\nBcc: x@evil.example" in text
    assert not any(line.startswith("Bcc") for line in text.splitlines())


def test_publish_and_send_mails_the_files_as_published(demo_db: Path, packs: Packs, tmp_path: Path,
                                                        smtp_server: Server,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """``--publish``: the pack is stored first (nothing is sent if it cannot be), and the mail carries the very
    files the store keeps, so the board's copy and the published one are the same bytes."""
    from finance.store import packs as published
    from finance.store.database import Store

    db = tmp_path / "books.duckdb"
    db.write_bytes(demo_db.read_bytes())
    port, inbox = smtp_server()
    code = _deliver(db, _plain(tmp_path, port), "--publish", to=CFO)
    out, err = capsys.readouterr()
    assert (code, err) == (EXIT_OK, "") and out.startswith("published pack #1 of 2025-Q4\n")
    [received] = inbox.messages
    pdf_bytes, xlsx_bytes = (a.get_content() for a in received.message.iter_attachments())
    with Store(db, read_only=True) as store:
        stored = published.get(store, 1)
    assert (stored.pdf, stored.xlsx) == (pdf_bytes, xlsx_bytes)
    # A dry run publishes nothing.
    assert _deliver(db, _plain(tmp_path, port), "--publish", "--dry-run", to=CFO) == EXIT_OK
    with Store(db, read_only=True) as store:
        assert published.listed(store).height == 1
