"""The ONDO_EMAIL_* settings (bot/settings.py) and the adapter's typed config
(adapters/email/config.py): defaults, one-line errors, secrets never shown."""

from __future__ import annotations

import pytest

from adapters.email.config import EmailConfig, EmailConfigError
from bot.settings import Settings, SettingsError

BASE = {
    "ONDO_EMAIL_IMAP_HOST": "imap.naver.com",
    "ONDO_EMAIL_IMAP_USER": "ondo-support@naver.com",
    "ONDO_EMAIL_IMAP_PASSWORD": "app-password-imap-1234",
    "ONDO_EMAIL_SMTP_HOST": "smtp.naver.com",
    "ONDO_EMAIL_ADDRESS": "ondo-support@naver.com",
}


def config(**extra: str) -> EmailConfig:
    return EmailConfig.from_settings(Settings.from_env(environ={**BASE, **extra}, dotenv=None))


def test_defaults_ssl_ports_and_shared_login() -> None:
    got = config()
    assert (got.imap.port, got.imap.security) == (993, "ssl")
    assert (got.smtp.port, got.smtp.security) == (465, "ssl")
    assert got.smtp.user == got.imap.user and got.smtp.password == got.imap.password
    assert got.folder == "INBOX" and got.done_folder is None and got.poll_seconds == 60
    assert got.name == "온도마켓"  # ONDO_SHOP_NAME's default


def test_starttls_and_own_smtp_login_and_korean_name() -> None:
    got = config(
        ONDO_EMAIL_SMTP_SECURITY="STARTTLS",
        ONDO_EMAIL_SMTP_USER="mailer",
        ONDO_EMAIL_SMTP_PASSWORD="smtp-secret-5678",
        ONDO_EMAIL_IMAP_PORT="1993",
        ONDO_EMAIL_NAME="온도마켓 고객센터",
        ONDO_EMAIL_DONE_FOLDER="Ondo/Answered",
        ONDO_EMAIL_POLL_SECONDS="30",
    )
    assert (got.smtp.port, got.smtp.security, got.smtp.user) == (587, "starttls", "mailer")
    assert got.imap.port == 1993 and got.name == "온도마켓 고객센터"
    assert got.done_folder == "Ondo/Answered" and got.poll_seconds == 30


def test_secrets_and_addresses_are_not_in_repr() -> None:
    text = repr(config()) + repr(Settings.from_env(environ=BASE, dotenv=None))
    for secret in ("app-password-imap-1234", "ondo-support@naver.com"):
        assert secret not in text


def test_missing_settings_are_named_in_one_line() -> None:
    with pytest.raises(EmailConfigError) as caught:
        EmailConfig.from_settings(Settings.from_env(environ={}, dotenv=None))
    message = str(caught.value)
    assert "ONDO_EMAIL_IMAP_HOST" in message and "ONDO_EMAIL_ADDRESS" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("ONDO_EMAIL_IMAP_SECURITY", "tls", "ssl, starttls or plain"),
        ("ONDO_EMAIL_SMTP_PORT", "99999", "port number"),
        ("ONDO_EMAIL_IMAP_HOST", "imap naver com", "host name"),
        ("ONDO_EMAIL_ADDRESS", "고객센터", "one e-mail address"),
        ("ONDO_EMAIL_POLL_SECONDS", "1", "5-3600"),
        ("ONDO_EMAIL_POLL_SECONDS", "often", "5-3600"),
        ("ONDO_EMAIL_FOLDER", 'In"box', "folder name"),
        ("ONDO_EMAIL_NAME", "a\nb", "one line"),
    ],
)
def test_bad_values_are_one_line_errors(name: str, value: str, needle: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(environ={**BASE, name: value}, dotenv=None)
    message = str(caught.value)
    assert name in message and needle in message and "\n" not in message


def test_a_bad_address_is_not_echoed() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(environ={**BASE, "ONDO_EMAIL_ADDRESS": "help at shop.kr"}, dotenv=None)
    assert "help at shop.kr" not in str(caught.value)


def test_the_mail_passwords_are_masked_in_logs() -> None:
    from bot.logs import secret_values

    settings = Settings.from_env(
        environ={**BASE, "ONDO_EMAIL_SMTP_PASSWORD": "smtp-secret-5678"}, dotenv=None
    )
    assert {"app-password-imap-1234", "smtp-secret-5678"} <= set(secret_values(settings))
