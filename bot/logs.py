"""Logging set-up: plain lines for people, or one JSON object per line for log pipelines.

Ondo's own code never logs customer text (the engine and adapters log ids, states and
reasons), but libraries do: slack_bolt logs the whole body of a request whose signature fails,
an HTTP client may log a URL with ``user:password@`` in it. So every record of every logger
that reaches the configured handler goes through :class:`RedactingFilter` first: its message
(formatted with its arguments), exception and stack text are redacted with
:func:`bot.understanding.privacy.redact` and credentials are masked: Slack, Discord and
OpenAI-style tokens, the configured secret values themselves, and the password part of URLs.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from bot.understanding.privacy import redact

if TYPE_CHECKING:
    from bot.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MASK = "[SECRET]"
BAD_SIGNATURE = "Slack request refused: invalid signature or stale timestamp (body not logged)"
"""What replaces slack_bolt's dump of a refused request (its headers and whole body)."""

_TOKENS = re.compile(
    r"\bxox[abeoprs]-[A-Za-z0-9-]{6,}"  # Slack bot / user / refresh tokens
    r"|\bxapp-[A-Za-z0-9-]{6,}"  # Slack app-level token
    r"|\bsk-[A-Za-z0-9_-]{12,}"  # OpenAI-style API keys
    r"|\b[A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,}"  # Discord bot token
    r"|(?<=\bBearer )[A-Za-z0-9._~+/-]{8,}=*"
    r"|(?<=\bBot )[A-Za-z0-9._-]{20,}"
    # Slack's verification token, in every event payload and Socket Mode envelope dumped.
    r"""|(?<=['"]token['"]: ['"])[^'"]{6,}(?=['"])"""
    r"""|(?<=['"]token['"]:['"])[^'"]{6,}(?=['"])"""
)
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+@")
_MIN_SECRET = 6
"""Configured values shorter than this are not masked (they would mask ordinary words)."""


def mask_url(url: str) -> str:
    """``url`` without the password of its ``user:password@`` part (for log lines)."""
    return _URL_CREDENTIALS.sub("***:***@", url)


def secret_values(settings: Settings) -> list[str]:
    """The configured credentials, masked wherever they would appear in a log line."""
    values = [
        settings.slack_bot_token,
        settings.slack_signing_secret,
        settings.slack_app_token,
        settings.discord_token,
        settings.openai_api_key,
        settings.encryption_key,
        settings.events_secret,
        settings.email_imap_password,
        settings.email_smtp_password,
        settings.email_key,
        settings.twilio_auth_token,
        settings.phone_key,
    ]
    url = settings.openai_base_url or ""
    found = re.search(r"://([^/\s:@]+):([^/\s@]+)@", url)
    if found:
        values.append(found.group(2))
    return [v for v in values if v]


class RedactingFilter(logging.Filter):
    """Redacts personal data and masks credentials in every record it sees (any logger).

    :meth:`scrub` gives the redacted text without touching the record; :meth:`filter`
    rewrites the record in place (message with its arguments applied, exception and stack
    text), so every handler after it writes the redacted line."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        values = sorted({s for s in secrets if len(s) >= _MIN_SECRET}, key=len, reverse=True)
        self._secrets = re.compile("|".join(map(re.escape, values))) if values else None

    def clean(self, text: str) -> str:
        """``text`` with personal data redacted and credentials masked."""
        if self._secrets is not None:
            text = self._secrets.sub(MASK, text)
        text = _TOKENS.sub(MASK, _URL_CREDENTIALS.sub("***:***@", text))
        return redact(text)

    def scrub(self, record: logging.LogRecord) -> tuple[str, str | None]:
        """The record's message and its exception/stack text, redacted (record untouched)."""
        if _is_signature_dump(record):
            return BAD_SIGNATURE, None
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the line
            message = f"{record.msg} {record.args}"
        extra = []
        if record.exc_info:
            extra.append(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            extra.append(record.exc_text)
        if record.stack_info:
            extra.append(record.stack_info)
        return self.clean(message), self.clean("\n".join(extra)) if extra else None

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` redacted; a refused Slack request becomes one warning."""
        message, extra = self.scrub(record)
        _quiet_signature_dump(record)
        record.msg, record.args = message, None
        record.exc_info, record.exc_text, record.stack_info = None, extra, None
        return True


class SignatureDumpFilter(logging.Filter):
    """On slack_bolt's request-verification logger: its INFO dump of a refused request
    (signature, timestamp and the whole body, customer text and all) becomes the one-line
    warning :data:`BAD_SIGNATURE`, before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the dump; other records pass unchanged."""
        _quiet_signature_dump(record)
        return True


def quiet_slack_signature_dumps() -> None:
    """Install :class:`SignatureDumpFilter` on slack_bolt's verification logger (once)."""
    logger = logging.getLogger(BOLT_VERIFICATION_LOGGER)
    if not any(isinstance(f, SignatureDumpFilter) for f in logger.filters):
        logger.addFilter(SignatureDumpFilter())


BOLT_VERIFICATION_LOGGER = "slack_bolt.RequestVerification"


def _is_signature_dump(record: logging.LogRecord) -> bool:
    return record.name.startswith("slack_bolt") and str(record.msg).startswith(
        "Invalid request signature detected"
    )


def _quiet_signature_dump(record: logging.LogRecord) -> None:
    if _is_signature_dump(record):
        record.msg, record.args = BAD_SIGNATURE, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message"[, "error"]}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON line (UTC ISO-8601 time)."""
        data = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["error"] = record.exc_text
        return json.dumps(data, ensure_ascii=False)


def configure(level: int, log_format: str = "text", secrets: Iterable[str] = ()) -> None:
    """Send log records at ``level`` and above to standard error, as text or JSON lines,
    every one redacted (:class:`RedactingFilter`, masking ``secrets`` too)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    handler.addFilter(RedactingFilter(secrets))
    logging.basicConfig(level=level, handlers=[handler])
    quiet_slack_signature_dumps()
