"""Real mail servers on loopback for the e-mail adapter's tests: Dovecot (IMAP) and aiosmtpd.

Dovecot runs from a throwaway configuration in a ``mkdtemp()`` folder under /tmp (chmod 0755:
mail is delivered as ``nobody``, who must traverse every parent; pytest's ``tmp_path`` is
0700), with a passwd-file user, on a free port, in the foreground (``dovecot -F -c``), in its
own session so that teardown's ``killpg`` also stops the logged-in ``imap`` processes. It is
ready when its port answers. Not installed, the fixture fails (never skips) naming the apt
package: ``.ci/run`` installs it.

aiosmtpd's :class:`Controller` gets a free port (port 0 does not work: its start-up
self-test connects to the port it was given), optional AUTH and optional STARTTLS; the
handler records every envelope and can be told to refuse (a reply code) or the server
stopped and started again on the same port.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import imaplib
import logging
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

USER = "testuser"
PASSWORD = "secret-imap-pw"
SMTP_USER = "mailer"
SMTP_PASSWORD = "secret-smtp-pw"
DOVECOT_PACKAGE = "dovecot-imapd"

# aiosmtpd logs the whole dialogue (addresses, mail) at DEBUG and INFO on "mail.log", and a
# deprecation WARNING at every AUTH: the test server's chatter, not Ondo's.
logging.getLogger("mail.log").setLevel(logging.ERROR)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answered on port {port} within {seconds:g}s")
        time.sleep(0.01)


_CONF = """\
protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:{d}/mail/%u
passdb {{
  driver = passwd-file
  args = {d}/users
}}
userdb {{
  driver = passwd-file
  args = {d}/users
  default_fields = uid=nobody gid=nogroup home={d}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {tls_port}
  }}
}}
protocol imap {{
  imap_idle_notify_interval = 1 secs
}}
"""


@dataclass
class Dovecot:
    """One running Dovecot: its port, its user, a way to append mail and to stop it."""

    folder: Path
    port: int
    tls_port: int | None = None
    """With TLS: the IMAPS port (the plain one then also offers STARTTLS)."""
    process: subprocess.Popen[bytes] | None = None
    user: str = USER
    password: str = PASSWORD

    def start(self) -> None:
        """Start (or start again) on the same port; returns once the port answers."""
        self.process = subprocess.Popen(
            ["dovecot", "-F", "-c", str(self.folder / "dovecot.conf")],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port)
        if self.tls_port:
            _wait_for_port(self.tls_port)

    def stop(self) -> None:
        """Stop the master and every session it started (a dropped connection)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(10)
        self.process = None

    def kill_sessions(self) -> None:
        """Drop every logged-in IMAP connection, the server itself staying up."""
        for line in subprocess.run(
            ["pgrep", "-s", str(self.process.pid if self.process else 0), "-x", "imap"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(line), signal.SIGKILL)

    @contextlib.contextmanager
    def imap(self) -> Iterator[imaplib.IMAP4]:
        """A logged-in stdlib client (the tests' side of the mailbox)."""
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        try:
            client.login(self.user, self.password)
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    def append(self, raw: bytes, folder: str = "INBOX", flags: str = "") -> None:
        """Put one raw RFC 5322 message into ``folder`` (APPEND), unseen unless ``flags``."""
        with self.imap() as client:
            client.create(folder)  # fails harmlessly when it exists
            typ, _ = client.append(folder, flags or None, None, raw)
            assert typ == "OK", typ

    def flags(self, folder: str = "INBOX") -> dict[int, str]:
        """UID → the FLAGS list of each message in ``folder``."""
        with self.imap() as client:
            client.select(folder, readonly=True)
            _, data = client.uid("FETCH", "1:*", "(FLAGS)")
        found: dict[int, str] = {}
        for item in data:
            if not isinstance(item, bytes):
                continue
            text = item.decode()
            uid = int(text.split("UID ")[1].split()[0].rstrip(")"))
            found[uid] = text.split("FLAGS (")[1].split(")")[0]
        return found

    def recreate(self, folder: str) -> None:
        """Delete and create ``folder`` again, empty: it gets a new UIDVALIDITY."""
        with self.imap() as client:
            assert client.delete(folder)[0] == "OK"
            assert client.create(folder)[0] == "OK"


@contextlib.contextmanager
def dovecot_server(*, tls: bool = False) -> Iterator[Dovecot]:
    """A real Dovecot on a free loopback port, with one passwd-file user and a fresh mailbox;
    with ``tls``, also IMAPS and STARTTLS on a self-signed certificate (``folder/cert.pem``)."""
    if shutil.which("dovecot") is None:
        pytest.fail(
            f"dovecot is not installed: apt-get install -y {DOVECOT_PACKAGE}", pytrace=False
        )
    folder = Path(tempfile.mkdtemp(prefix="ondo-dovecot-", dir="/tmp"))
    folder.chmod(0o755)
    try:
        port = free_port()
        tls_port = free_port() if tls else None
        ssl_conf = "ssl = no"
        if tls:
            self_signed_context(folder)
            ssl_conf = f"ssl = yes\nssl_cert = <{folder}/cert.pem\nssl_key = <{folder}/key.pem"
        for sub in ("run", "state", "mail"):
            (folder / sub).mkdir()
        shutil.chown(folder / "mail", "nobody", "nogroup")
        (folder / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        conf = _CONF.format(d=folder, port=port, tls_port=tls_port or 0, ssl=ssl_conf)
        (folder / "dovecot.conf").write_text(conf)
        server = Dovecot(folder, port, tls_port)
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    """A real Dovecot (plain IMAP on loopback) for one test."""
    with dovecot_server() as server:
        yield server


@dataclass
class Recorder:
    """The aiosmtpd handler: records each accepted envelope; ``refuse`` answers DATA with a
    code instead (``"550 5.1.1 no such user"``, ``"451 4.3.0 try later"``)."""

    received: list[Envelope] = field(default_factory=list)
    refuse: str | None = None
    refuse_rcpt: str | None = None

    async def handle_RCPT(  # aiosmtpd's hook names
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse:
            return self.refuse
        self.received.append(envelope)
        return "250 Message accepted for delivery"


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = (
        isinstance(data, LoginPassword)
        and data.login == SMTP_USER.encode()
        and data.password == SMTP_PASSWORD.encode()
    )
    # handled=False: aiosmtpd answers 535 itself (True would leave the client waiting).
    return AuthResult(success=ok, handled=False)


def self_signed_context(folder: Path) -> ssl.SSLContext:
    """A server TLS context for 127.0.0.1 with a throwaway self-signed certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


@dataclass
class SmtpServer:
    """One aiosmtpd server: its port, what it received, down and up again on the same port."""

    port: int
    handler: Recorder
    auth: bool = False
    tls: ssl.SSLContext | None = None
    implicit_tls: bool = False
    cafile: Path | None = None
    controller: Controller | None = None

    def start(self) -> None:
        """Start (again) on the same port."""
        kwargs: dict[str, Any] = {}
        if self.auth:
            kwargs.update(authenticator=_authenticate, auth_require_tls=False)
        if self.tls is not None:
            kwargs["ssl_context" if self.implicit_tls else "tls_context"] = self.tls
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()

    def stop(self) -> None:
        """Stop listening: a connection is refused until :meth:`start`."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def received(self) -> list[Envelope]:
        return self.handler.received


@contextlib.contextmanager
def smtp_server(
    *, auth: bool = False, tls: bool = False, implicit_tls: bool = False
) -> Iterator[SmtpServer]:
    """A running aiosmtpd on a free port (optionally AUTH; STARTTLS with ``tls``, TLS from
    the first byte with ``implicit_tls``), with a self-signed certificate in ``cafile``."""
    folder = Path(tempfile.mkdtemp(prefix="ondo-smtp-", dir="/tmp"))
    try:
        context = self_signed_context(folder) if tls or implicit_tls else None
        server = SmtpServer(
            free_port(),
            Recorder(),
            auth=auth,
            tls=context,
            implicit_tls=implicit_tls,
            cafile=folder / "cert.pem",
        )
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def smtpd() -> Iterator[SmtpServer]:
    """A plain aiosmtpd without AUTH that records what it receives."""
    with smtp_server() as server:
        yield server
