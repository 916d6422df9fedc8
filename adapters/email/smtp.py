"""Sending mail over SMTP: one composed :class:`email.message.EmailMessage`, delivered or
refused with a reason the outbox can act on.

The client is aiosmtplib (asyncio, typed, kept up): SSL on connect (465), STARTTLS (587) or
plain (tests only), AUTH with the configured login, one timeout for connecting and for each
command. Composition (headers, threading, ``Auto-Submitted``) is :mod:`adapters.email.compose`'s.

Failures come in two kinds (:class:`SendFailed`): :class:`TransientFailure` (the server
could not be reached, timed out, answered 4xx, refused the login: retried later from the
outbox with a growing pause) and :class:`PermanentFailure` (5xx for the sender, the
recipients or the content: given up, logged). Log lines never hold an address, a subject or
a body: recipients and the Message-ID appear as short hashes.

At least once. SMTP has no idempotency key: when the connection drops after the message's
final dot but before the server's 250, nobody knows whether it was accepted. Ondo then sends
it again (``maybe_sent`` tells the outbox so), keeping the same Message-ID, so the
recipient's mail client shows the copies as one message, and a reply is never lost for fear
of a duplicate. Before the DATA phase a failure means nothing was accepted.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Protocol

import aiosmtplib

from adapters.email.config import EmailConfig, ServerConfig

log = logging.getLogger("ondo.email")
# aiosmtplib may log the dialogue (addresses included) at DEBUG: never in Ondo's logs.
logging.getLogger("aiosmtplib").setLevel(logging.WARNING)


def fingerprint(value: str) -> str:
    """A short stable stand-in for an address or a Message-ID in a log line."""
    return hashlib.sha256(value.strip().lower().encode("utf-8", "replace")).hexdigest()[:10]


class SendFailed(Exception):
    """A message was not delivered; the text names codes and hashes, never an address."""

    permanent = False

    def __init__(self, reason: str, *, code: int | None = None, maybe_sent: bool = False):
        super().__init__(reason)
        self.code = code
        self.maybe_sent = maybe_sent
        """The connection broke after the whole message was handed over: it may have been
        accepted (a retry may make a duplicate with the same Message-ID)."""


class TransientFailure(SendFailed):
    """Retry later: unreachable, timed out, 4xx, or a login refused (until it is fixed)."""


class PermanentFailure(SendFailed):
    """Give up: the server refused this message for good (5xx)."""

    permanent = True


class MailSender(Protocol):
    """What the outbox and the reply path send through: :class:`SmtpSender` or
    :class:`MemorySmtp` in tests."""

    async def deliver(self, message: EmailMessage) -> str:
        """Send ``message``; its Message-ID. Raises :class:`SendFailed`."""
        ...


@dataclass
class SmtpSender:
    """Delivers through the configured SMTP server, one connection per message (replies are
    few; a kept connection would time out between them)."""

    server: ServerConfig
    sender: str = field(repr=False)
    """The envelope sender (``MAIL FROM``): the support address; bounces come back there."""
    ssl_context: ssl.SSLContext | None = None

    @classmethod
    def from_config(cls, config: EmailConfig) -> SmtpSender:
        """The sender of the configured support address."""
        return cls(config.smtp, config.address)

    async def deliver(self, message: EmailMessage) -> str:
        """Send ``message`` as it is, to its To, Cc and Bcc. Safe to call again with the same
        message after a failure or a crash: the Message-ID stays, so copies are one message
        to the recipient's client. Raises :class:`TransientFailure` or
        :class:`PermanentFailure`; a message without a Message-ID is a :class:`ValueError`
        (a retry could not be recognised)."""
        message_id = message.get("Message-ID")
        if not message_id or not str(message_id).strip():
            raise ValueError("a message needs its Message-ID before it is sent")
        message_id = str(message_id).strip()
        recipients = _recipients(message)
        if not recipients:
            raise PermanentFailure("the message has no recipient")
        mark = fingerprint(message_id)
        who = ",".join(fingerprint(r) for r in recipients)
        try:
            await self._send(message, recipients)
        except SendFailed as exc:
            level = logging.ERROR if exc.permanent else logging.WARNING
            verdict = "given up" if exc.permanent else "to be retried"
            log.log(level, "e-mail %s to %s not sent (%s); %s", mark, who, exc, verdict)
            raise
        log.info("e-mail %s to %s delivered", mark, who)
        return message_id

    async def _send(self, message: EmailMessage, recipients: list[str]) -> None:
        server = self.server
        client = aiosmtplib.SMTP(
            hostname=server.host,
            port=server.port,
            timeout=server.timeout,
            use_tls=server.security == "ssl",
            start_tls=server.security == "starttls",
            tls_context=self.ssl_context,
        )
        handed_over = False
        try:
            await client.connect()
            if server.user:
                await client.login(server.user, server.password)
            handed_over = True
            errors, _ = await client.send_message(
                message, sender=self.sender, recipients=recipients
            )
            if errors:  # some recipients refused, the others accepted: no retry for them
                codes = sorted({code for code, _ in errors.values()})
                log.warning(
                    "e-mail %s: %d recipient(s) refused (SMTP %s)",
                    fingerprint(str(message["Message-ID"])),
                    len(errors),
                    ",".join(map(str, codes)),
                )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [e.code for e in exc.recipients]
            kind = PermanentFailure if all(c >= 500 for c in codes) else TransientFailure
            raise kind(f"recipients refused (SMTP {min(codes)})", code=min(codes)) from None
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise TransientFailure(
                f"the SMTP server refused the login of ONDO_EMAIL_SMTP_USER (SMTP {exc.code}; "
                "check ONDO_EMAIL_SMTP_PASSWORD: with 2-step verification, an app password)",
                code=exc.code,
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            kind = PermanentFailure if exc.code >= 500 else TransientFailure
            raise kind(f"SMTP {exc.code}", code=exc.code) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # A break or a silence once the dialogue began may follow the server's acceptance
            # of the data (aiosmtplib does not say which phase): counted as maybe sent.
            broke = isinstance(exc, aiosmtplib.SMTPServerDisconnected | TimeoutError)
            reason = "no answer in time" if isinstance(exc, TimeoutError) else type(exc).__name__
            raise TransientFailure(reason, maybe_sent=handed_over and broke) from None
        finally:
            if client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    client.close()


def _recipients(message: EmailMessage) -> list[str]:
    pairs = getaddresses([str(v) for h in ("To", "Cc", "Bcc") for v in message.get_all(h, [])])
    return _unique(address for _, address in pairs if "@" in address)


def _unique(values: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for value in values:
        seen.setdefault(value.lower(), value)
    return list(seen.values())


@dataclass
class MemorySmtp:
    """A :class:`MailSender` in memory: :attr:`sent` holds every delivered message in order
    (a duplicate delivery appears twice); :meth:`fail_next` makes the next sends fail."""

    sent: list[EmailMessage] = field(default_factory=list)
    failures: list[SendFailed] = field(default_factory=list)

    def fail_next(self, *failures: SendFailed) -> None:
        """The next ``len(failures)`` deliveries raise these, in order."""
        self.failures.extend(failures)

    async def deliver(self, message: EmailMessage) -> str:
        """Record ``message`` (or raise the next queued failure); its Message-ID."""
        message_id = message.get("Message-ID")
        if not message_id:
            raise ValueError("a message needs its Message-ID before it is sent")
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)
        return str(message_id).strip()

    def message_ids(self) -> list[str]:
        """The Message-IDs delivered, in order (repeated when delivered twice)."""
        return [str(m["Message-ID"]).strip() for m in self.sent]
