"""The SMTP sender (adapters/email/smtp.py) against a real aiosmtpd on loopback.

Korean and English; headers kept; failures classified for the outbox; down then up, once.
"""

from __future__ import annotations

import email
import email.policy
import logging
import ssl
from email.message import EmailMessage

import pytest

from adapters.email.config import ServerConfig
from adapters.email.smtp import (
    MemorySmtp,
    PermanentFailure,
    SendFailed,
    SmtpSender,
    TransientFailure,
    fingerprint,
)
from tests.mailservers import (
    SMTP_PASSWORD,
    SMTP_USER,
    SmtpServer,
    free_port,
    smtp_server,
)

SUPPORT = "help@ondo-shop.example"
CUSTOMER = "minji.kim@example.com"


def reply(body: str, subject: str, n: int = 1) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"온도마켓 고객센터 <{SUPPORT}>"
    message["To"] = f"김민지 <{CUSTOMER}>"
    message["Subject"] = subject
    message["Message-ID"] = f"<ondo.{n}.reply@ondo-shop.example>"
    message["In-Reply-To"] = "<customer.1@example.com>"
    message["References"] = "<customer.0@example.com> <customer.1@example.com>"
    message["Auto-Submitted"] = "auto-replied"
    message.set_content(body)
    return message


KO = reply("안녕하세요, 고객님. 환불은 3영업일 안에 처리됩니다.", "Re: 환불 문의")
EN = reply("Hello, your refund will be processed within 3 business days.", "Re: Refund", 2)


def sender(
    server: SmtpServer, *, security: str = "plain", user: str = "", password: str = "", **kw: object
) -> SmtpSender:
    config = ServerConfig("127.0.0.1", server.port, security, user, password, timeout=5)  # type: ignore[arg-type]
    return SmtpSender(config, SUPPORT, **kw)  # type: ignore[arg-type]


def received(server: SmtpServer, index: int = 0) -> EmailMessage:
    envelope = server.received[index]
    parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


@pytest.mark.parametrize("message", [KO, EN], ids=["ko", "en"])
async def test_delivered_with_headers_and_body_intact(
    smtpd: SmtpServer, message: EmailMessage
) -> None:
    message_id = await sender(smtpd).deliver(message)
    assert message_id == message["Message-ID"]
    [envelope] = smtpd.received
    assert envelope.mail_from == SUPPORT and envelope.rcpt_tos == [CUSTOMER]
    got = received(smtpd)
    for header in ("Message-ID", "In-Reply-To", "References", "Auto-Submitted", "Subject"):
        assert got[header] == message[header]
    assert str(got["To"]) == str(message["To"])
    body = got.get_body()
    assert body is not None
    assert body.get_content().strip() == message.get_content().strip()


async def test_auth_login_accepted_and_wrong_password_refused() -> None:
    with smtp_server(auth=True) as server:
        await sender(server, user=SMTP_USER, password=SMTP_PASSWORD).deliver(KO)
        assert len(server.received) == 1
        with pytest.raises(TransientFailure) as caught:
            await sender(server, user=SMTP_USER, password="wrong").deliver(EN)
        assert "ONDO_EMAIL_SMTP_PASSWORD" in str(caught.value) and caught.value.code == 535
        assert "\n" not in str(caught.value) and "wrong" not in str(caught.value)
        assert len(server.received) == 1


def client_context(server: SmtpServer) -> ssl.SSLContext:
    assert server.cafile is not None
    return ssl.create_default_context(cafile=str(server.cafile))


async def test_starttls_with_a_self_signed_certificate() -> None:
    with smtp_server(tls=True, auth=True) as server:
        send = sender(
            server,
            security="starttls",
            user=SMTP_USER,
            password=SMTP_PASSWORD,
            ssl_context=client_context(server),
        )
        await send.deliver(KO)
        assert received(server)["Message-ID"] == KO["Message-ID"]


async def test_ssl_from_the_first_byte() -> None:
    with smtp_server(implicit_tls=True) as server:
        await sender(server, security="ssl", ssl_context=client_context(server)).deliver(EN)
        assert received(server)["Subject"] == "Re: Refund"


async def test_an_untrusted_certificate_is_not_sent_to(caplog: pytest.LogCaptureFixture) -> None:
    with smtp_server(tls=True) as server:
        with pytest.raises(TransientFailure):
            await sender(server, security="starttls").deliver(KO)
        assert server.received == []


async def test_server_down_is_transient_and_logs_no_address(
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = SmtpServer(free_port(), handler=None)  # type: ignore[arg-type]
    with (
        caplog.at_level(logging.INFO, logger="ondo.email"),
        pytest.raises(TransientFailure) as caught,
    ):
        await sender(down).deliver(KO)
    assert not caught.value.permanent and not caught.value.maybe_sent
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert CUSTOMER not in text and "minji" not in text and "환불" not in text
    assert fingerprint(CUSTOMER) in text and "to be retried" in text


@pytest.mark.parametrize(
    ("where", "code", "kind"),
    [
        ("rcpt", "550 5.1.1 No such user", PermanentFailure),
        ("data", "554 5.7.1 Rejected as spam", PermanentFailure),
        ("rcpt", "450 4.2.1 Mailbox busy", TransientFailure),
        ("data", "451 4.3.0 Try again later", TransientFailure),
    ],
)
async def test_refusals_are_classified(
    smtpd: SmtpServer, where: str, code: str, kind: type[SendFailed]
) -> None:
    if where == "rcpt":
        smtpd.handler.refuse_rcpt = code
    else:
        smtpd.handler.refuse = code
    with pytest.raises(kind) as caught:
        await sender(smtpd).deliver(EN)
    assert caught.value.code == int(code[:3])
    assert type(caught.value) is kind
    assert smtpd.received == []


async def test_down_then_up_is_delivered_once_by_the_callers_retry(smtpd: SmtpServer) -> None:
    send = sender(smtpd)
    smtpd.stop()
    attempts = 0

    async def outbox_retry() -> str:
        # What the courier does with a queued row: try, and on a transient failure wait
        # (here: the server comes back) and try again; a permanent one gives up.
        nonlocal attempts
        while True:
            attempts += 1
            try:
                return await send.deliver(KO)
            except TransientFailure:
                smtpd.start()

    assert await outbox_retry() == KO["Message-ID"]
    assert attempts == 2
    assert [received(smtpd)["Message-ID"]] == [KO["Message-ID"]]


async def test_a_message_without_message_id_is_refused_before_sending(smtpd: SmtpServer) -> None:
    message = reply("본문", "Re: 문의")
    del message["Message-ID"]
    with pytest.raises(ValueError, match="Message-ID"):
        await sender(smtpd).deliver(message)
    assert smtpd.received == []


async def test_memory_smtp_fails_then_records() -> None:
    fake = MemorySmtp()
    fake.fail_next(TransientFailure("SMTP 451", code=451))
    with pytest.raises(TransientFailure):
        await fake.deliver(KO)
    assert await fake.deliver(KO) == KO["Message-ID"]
    await fake.deliver(EN)
    assert fake.message_ids() == [KO["Message-ID"], EN["Message-ID"]]
