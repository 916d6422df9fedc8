"""``ondo serve email`` as a user starts it: the installed script, configured only by
``ONDO_EMAIL_*`` variables, reading a real Dovecot and answering through a real aiosmtpd."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.mailservers import (
    PASSWORD,
    SMTP_PASSWORD,
    SMTP_USER,
    USER,
    Dovecot,
    SmtpServer,
    smtp_server,
)
from tests.test_email_flows import EN_CUSTOMER, KO_CUSTOMER, QUESTIONS, SUPPORT, body_of, mail
from tests.test_serve import start_ondo, wait_healthy

WAIT = 60.0
"""Seconds for the process to load its models and answer (a real server: polled)."""


@pytest.fixture
def smtpd() -> Iterator[SmtpServer]:
    """aiosmtpd with AUTH, as at any provider."""
    with smtp_server(auth=True) as server:
        yield server


def email_env(dovecot: Dovecot, smtpd: SmtpServer, **changes: str | None) -> dict[str, str]:
    """The ``ONDO_EMAIL_*`` variables for the test servers; ``None`` in ``changes`` unsets."""
    base: dict[str, str | None] = {
        "ONDO_EMAIL_IMAP_HOST": "127.0.0.1",
        "ONDO_EMAIL_IMAP_PORT": str(dovecot.port),
        "ONDO_EMAIL_IMAP_SECURITY": "plain",
        "ONDO_EMAIL_IMAP_USER": USER,
        "ONDO_EMAIL_IMAP_PASSWORD": PASSWORD,
        "ONDO_EMAIL_SMTP_HOST": "127.0.0.1",
        "ONDO_EMAIL_SMTP_PORT": str(smtpd.port),
        "ONDO_EMAIL_SMTP_SECURITY": "plain",
        "ONDO_EMAIL_SMTP_USER": SMTP_USER,
        "ONDO_EMAIL_SMTP_PASSWORD": SMTP_PASSWORD,
        "ONDO_EMAIL_ADDRESS": SUPPORT,
    }
    env = base | changes
    return {name: value for name, value in env.items() if value is not None}


async def until(done: Callable[[], bool], process: asyncio.subprocess.Process) -> None:
    """Wait for ``done()`` while the process runs (real servers: polled, with a timeout)."""
    async with asyncio.timeout(WAIT):
        while not done():
            assert process.returncode is None, "ondo serve email exited"
            await asyncio.sleep(0.1)


def sent(smtpd: SmtpServer) -> list[EmailMessage]:
    return [
        message_from_bytes(e.original_content or b"", policy=policy.default) for e in smtpd.received
    ]


def no_address(output: str) -> None:
    for address in (KO_CUSTOMER, EN_CUSTOMER, SUPPORT):
        assert address not in output
        assert address.split("@")[0] not in output


async def test_ondo_serve_email_answers_korean_and_english_in_their_threads(
    tmp_path: Path, warm_db: Path, dovecot: Dovecot, smtpd: SmtpServer
) -> None:
    ko_subject, ko_question, ko_word = QUESTIONS["ko"]
    en_subject, en_question, en_word = QUESTIONS["en"]
    korean = mail(KO_CUSTOMER, ko_subject, ko_question)
    english = mail(EN_CUSTOMER, en_subject, en_question)
    dovecot.append(korean)  # waiting before the start: read at once
    process, port = await start_ondo(tmp_path, warm_db, "email", email_env(dovecot, smtpd))
    try:
        health = await wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        assert health["platforms"] == ["email"]
        await until(lambda: len(smtpd.received) >= 1, process)
        dovecot.append(english)  # arriving while it runs: IDLE
        await until(lambda: len(smtpd.received) >= 2, process)
        await until(lambda: all(r"\Seen" in flags for flags in dovecot.flags().values()), process)
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(process.communicate(), WAIT)
    logs = stdout.decode() + stderr.decode()
    assert process.returncode == 0, logs
    assert "Traceback" not in logs and "serving email" in logs
    no_address(logs)
    answers = {str(m["In-Reply-To"]): m for m in sent(smtpd)}
    assert len(answers) == 2
    for raw, subject, word, customer in (
        (korean, ko_subject, ko_word, KO_CUSTOMER),
        (english, en_subject, en_word, EN_CUSTOMER),
    ):
        original = message_from_bytes(raw, policy=policy.default)
        answer = answers[str(original["Message-ID"])]
        assert answer["Subject"] == f"Re: {subject}"
        assert answer["Auto-Submitted"] == "auto-replied"
        assert str(original["Message-ID"]) in str(answer["References"])
        assert answer["To"].addresses[0].addr_spec == customer
        assert word in body_of(answer).lower()
    assert len(dovecot.flags()) == 2


async def run_to_exit(tmp_path: Path, warm_db: Path, env: dict[str, str]) -> tuple[int | None, str]:
    process, _ = await start_ondo(tmp_path, warm_db, "email", env)
    stdout, stderr = await asyncio.wait_for(process.communicate(), WAIT)
    return process.returncode, stdout.decode() + stderr.decode()


async def test_a_missing_setting_is_one_line_naming_it(
    tmp_path: Path, warm_db: Path, dovecot: Dovecot, smtpd: SmtpServer
) -> None:
    code, logs = await run_to_exit(
        tmp_path, warm_db, email_env(dovecot, smtpd, ONDO_EMAIL_ADDRESS=None)
    )
    assert code not in (0, None)
    assert "Traceback" not in logs
    [line] = [line for line in logs.splitlines() if "ONDO_EMAIL_ADDRESS" in line]
    assert "must be set" in line
    assert PASSWORD not in logs and SMTP_PASSWORD not in logs


async def test_a_refused_imap_login_is_one_clear_line(
    tmp_path: Path, warm_db: Path, dovecot: Dovecot, smtpd: SmtpServer
) -> None:
    dovecot.append(mail(KO_CUSTOMER, "환불 문의", "환불은 어떻게 받나요?"))
    wrong = "not-the-password"
    code, logs = await run_to_exit(
        tmp_path, warm_db, email_env(dovecot, smtpd, ONDO_EMAIL_IMAP_PASSWORD=wrong)
    )
    assert code not in (0, None)
    assert "Traceback" not in logs
    [line] = [line for line in logs.splitlines() if "refused the login" in line]
    assert "ONDO_EMAIL_IMAP_USER" in line
    assert wrong not in logs and PASSWORD not in logs and USER not in logs
    no_address(logs)
    assert smtpd.received == []
    assert all(r"\Seen" not in flags for flags in dovecot.flags().values())
