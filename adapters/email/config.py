"""The e-mail adapter's settings, checked once: what is missing is named (never a password
nor an address)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bot.settings import Settings, SettingsError

Security = Literal["ssl", "starttls", "plain"]
IMAP_PORTS: dict[str, int] = {"ssl": 993, "starttls": 143, "plain": 143}
SMTP_PORTS: dict[str, int] = {"ssl": 465, "starttls": 587, "plain": 25}


class EmailConfigError(SettingsError):
    """E-mail cannot start with these settings; the message names the variable."""


@dataclass(frozen=True)
class ServerConfig:
    """One server (IMAP or SMTP): where, how secured, and the login."""

    host: str
    port: int
    security: Security
    user: str = field(repr=False)
    password: str = field(repr=False)
    timeout: float = 30.0
    """Seconds for connecting and for each command."""


@dataclass(frozen=True)
class EmailConfig:
    """What the mailbox reader and the sender need from the settings."""

    imap: ServerConfig
    smtp: ServerConfig
    address: str = field(repr=False)
    """The support address: the From of every reply (and how our own mail is recognised)."""
    name: str
    """The From's display name."""
    folder: str = "INBOX"
    done_folder: str | None = None
    """Handled mail is moved there; ``None``: it is marked ``\\Seen`` where it is."""
    poll_seconds: float = 60.0
    key: str = field(default="", repr=False)
    """The secret sealing addresses into conversation keys (:func:`email_key_of`)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> EmailConfig:
        """Check and convert; raises :class:`EmailConfigError`."""
        missing = [
            name
            for name, value in (
                ("ONDO_EMAIL_IMAP_HOST", settings.email_imap_host),
                ("ONDO_EMAIL_IMAP_USER", settings.email_imap_user),
                ("ONDO_EMAIL_IMAP_PASSWORD", settings.email_imap_password),
                ("ONDO_EMAIL_SMTP_HOST", settings.email_smtp_host),
                ("ONDO_EMAIL_ADDRESS", settings.email_address),
            )
            if not value
        ]
        if missing:
            raise EmailConfigError(
                f"{' and '.join(missing)} must be set to serve e-mail (see the README's E-mail "
                "section)"
            )
        assert settings.email_imap_host and settings.email_smtp_host
        assert settings.email_imap_user and settings.email_imap_password
        assert settings.email_address
        imap_security = _security(settings.email_imap_security)
        smtp_security = _security(settings.email_smtp_security)
        return cls(
            imap=ServerConfig(
                host=settings.email_imap_host,
                port=settings.email_imap_port or IMAP_PORTS[imap_security],
                security=imap_security,
                user=settings.email_imap_user,
                password=settings.email_imap_password,
            ),
            smtp=ServerConfig(
                host=settings.email_smtp_host,
                port=settings.email_smtp_port or SMTP_PORTS[smtp_security],
                security=smtp_security,
                # Most providers use one login (and app password) for both.
                user=settings.email_smtp_user or settings.email_imap_user,
                password=settings.email_smtp_password or settings.email_imap_password,
            ),
            address=settings.email_address,
            name=settings.email_name or settings.shop_name,
            folder=settings.email_folder,
            done_folder=settings.email_done_folder,
            poll_seconds=settings.email_poll_seconds,
            key=email_key_of(settings) or "",
        )


def email_key_of(settings: Settings) -> str | None:
    """The secret that seals addresses into keys and pseudonyms: ``ONDO_EMAIL_KEY``, else
    ``ONDO_ENCRYPTION_KEY``, else one derived from the IMAP password (changing the password
    then starts new conversations); ``None`` when none is set."""
    if settings.email_key:
        return settings.email_key
    if settings.encryption_key:
        return f"encryption-key:{settings.encryption_key}"
    password = settings.email_imap_password
    return f"imap-password:{password}" if password else None


def _security(value: str) -> Security:
    if value == "ssl":
        return "ssl"
    if value == "starttls":
        return "starttls"
    if value == "plain":
        return "plain"
    raise EmailConfigError(f"a SECURITY setting must be ssl, starttls or plain, not {value!r}")
