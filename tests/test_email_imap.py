"""The mailbox reader (adapters/email/imap.py) against a real Dovecot on loopback.

Korean and English mail alike; every wait is on the reader with a timeout, never a sleep loop.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from adapters.email.config import ServerConfig
from adapters.email.imap import (
    RETRY_FIRST,
    ImapMailbox,
    MailboxError,
    MailboxLoginError,
    MemoryMailbox,
    RawMail,
)
from tests.mailservers import PASSWORD, USER, Dovecot, dovecot_server

WAIT = 10.0


def mail(subject: str, body: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Customer <customer@example.com>"
    message["To"] = "help@example.com"
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="example.com")
    message.set_content(body)
    return bytes(message)


KO = mail("환불 문의", "주문한 상품을 환불하고 싶어요.")
EN = mail("Refund", "I would like a refund for my order.")


class Ticks:
    """A controllable sleep: records each pause and returns at once (or when ticked)."""

    def __init__(self, *, wait: bool = False) -> None:
        self.pauses: list[float] = []
        self.wait = wait
        self.event = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)
        if self.wait:
            await self.event.wait()
            self.event.clear()
        else:
            await asyncio.sleep(0)


def reader(server: Dovecot, **kwargs: object) -> ImapMailbox:
    config = ServerConfig("127.0.0.1", server.port, "plain", USER, kwargs.pop("password", PASSWORD))  # type: ignore[arg-type]
    kwargs.setdefault("sleep", Ticks())
    return ImapMailbox(config, **kwargs)  # type: ignore[arg-type]


async def take(stream: AsyncIterator[RawMail], count: int = 1) -> list[RawMail]:
    return [await asyncio.wait_for(anext(stream), WAIT) for _ in range(count)]


async def nothing_more(stream: AsyncIterator[RawMail], seconds: float = 0.5) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(stream), seconds)


async def test_new_mail_is_yielded_once_in_uid_order_and_stays_unseen(dovecot: Dovecot) -> None:
    dovecot.append(KO)
    dovecot.append(EN)
    box = reader(dovecot)
    stream = box.messages()
    first, second = await take(stream, 2)
    assert (first.uid, second.uid) == (1, 2)
    assert first.raw.replace(b"\r\n", b"\n") == KO.replace(b"\r\n", b"\n")
    assert "주문한 상품" in first.raw.decode()
    assert "refund" in second.raw.decode()
    assert first.uidvalidity == box.uidvalidity and box.uidvalidity
    assert r"\Seen" not in first.flags and not box.encrypted
    # PEEK: fetching marked nothing seen.
    assert all(r"\Seen" not in flags for flags in dovecot.flags().values())
    await box.close()


async def test_mark_handled_sets_seen(dovecot: Dovecot) -> None:
    dovecot.append(EN)
    box = reader(dovecot)
    stream = box.messages()
    [got] = await take(stream)
    await box.mark_handled(got.uid, got.uidvalidity)
    assert r"\Seen" in dovecot.flags()[got.uid]
    await box.close()


async def test_mark_handled_moves_to_the_done_folder(dovecot: Dovecot) -> None:
    dovecot.append(KO)
    box = reader(dovecot, done_folder="Answered")
    stream = box.messages()
    [got] = await take(stream)
    await box.mark_handled(got.uid)
    assert dovecot.flags() == {}
    [moved] = dovecot.flags("Answered").values()
    assert r"\Seen" in moved
    await box.close()


async def test_a_restart_before_mark_handled_yields_the_mail_again(dovecot: Dovecot) -> None:
    dovecot.append(KO)
    dovecot.append(EN)
    box = reader(dovecot)
    stream = box.messages()
    first, second = await take(stream, 2)
    await box.mark_handled(first.uid)
    await box.close()  # a crash before the second one's answer was recorded
    again = reader(dovecot).messages()
    [got] = await take(again)
    assert got.uid == second.uid and got.raw == second.raw
    await nothing_more(again)


async def test_idle_wakes_on_an_append(dovecot: Dovecot) -> None:
    ticks = Ticks(wait=True)
    box = reader(dovecot, sleep=ticks)
    stream = box.messages()
    pending = asyncio.ensure_future(anext(stream))
    await nothing_more_task(pending)
    dovecot.append(KO)
    got = await asyncio.wait_for(pending, WAIT)
    assert "환불" in got.raw.decode()
    assert ticks.pauses == []  # woken by IDLE, never by a poll
    dovecot.append(EN)
    [got] = await take(stream)
    assert "refund" in got.raw.decode()
    await box.close()


async def test_mail_appended_while_the_last_one_is_handled_is_read_at_once(
    dovecot: Dovecot,
) -> None:
    box = reader(dovecot, sleep=Ticks(wait=True))
    stream = box.messages()
    dovecot.append(KO)
    [first] = await take(stream)
    dovecot.append(EN)  # announced in the answer to the STORE below, not in the next IDLE
    await box.mark_handled(first.uid, first.uidvalidity)
    [second] = await take(stream)
    assert "refund" in second.raw.decode()
    await box.close()


async def nothing_more_task(pending: asyncio.Future[RawMail]) -> None:
    done, _ = await asyncio.wait({pending}, timeout=0.3)
    assert not done


async def test_polling_without_idle(dovecot: Dovecot) -> None:
    ticks = Ticks(wait=True)
    box = reader(dovecot, sleep=ticks, use_idle=False, poll_seconds=30)
    stream = box.messages()
    pending = asyncio.ensure_future(anext(stream))
    await nothing_more_task(pending)
    assert ticks.pauses == [30]
    dovecot.append(EN)
    ticks.event.set()  # the poll interval passes
    got = await asyncio.wait_for(pending, WAIT)
    assert "refund" in got.raw.decode()
    await box.close()


async def test_a_dropped_connection_reconnects_with_one_log_line(
    dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    ticks = Ticks()
    box = reader(dovecot, sleep=ticks)
    stream = box.messages()
    dovecot.append(KO)
    [first] = await take(stream)
    pending = asyncio.ensure_future(anext(stream))
    await nothing_more_task(pending)  # in IDLE now
    with caplog.at_level(logging.WARNING, logger="ondo.email"):
        dovecot.stop()
        dovecot.start()
        dovecot.append(EN)
        got = await asyncio.wait_for(pending, WAIT)
    assert "refund" in got.raw.decode() and got.uid > first.uid
    assert box.reconnects >= 1 and ticks.pauses[0] == 1.0
    lines = [r for r in caplog.records if r.name == "ondo.email" and r.levelno >= logging.WARNING]
    assert lines and all(r.exc_info is None for r in lines)
    assert all("reconnecting" in r.getMessage() for r in lines)
    assert all("\n" not in r.getMessage() for r in lines)
    await box.close()


async def test_killed_sessions_reconnect_without_losing_mail(dovecot: Dovecot) -> None:
    box = reader(dovecot)
    stream = box.messages()
    pending = asyncio.ensure_future(anext(stream))
    await nothing_more_task(pending)
    dovecot.kill_sessions()
    dovecot.append(KO)
    got = await asyncio.wait_for(pending, WAIT)
    assert "환불" in got.raw.decode()
    await nothing_more(stream)
    await box.close()


async def test_a_wrong_password_is_one_line_not_retried(dovecot: Dovecot) -> None:
    box = reader(dovecot, password="wrong")
    with pytest.raises(MailboxLoginError) as caught:
        await asyncio.wait_for(anext(box.messages()), WAIT)
    message = str(caught.value)
    assert "\n" not in message and "ONDO_EMAIL_IMAP_PASSWORD" in message
    assert "wrong" not in message and USER not in message


async def test_a_new_uidvalidity_reads_the_folder_again(dovecot: Dovecot) -> None:
    dovecot.append(KO, "Support")
    box = reader(dovecot, folder="Support", use_idle=False)
    stream = box.messages()
    [first] = await take(stream)
    dovecot.recreate("Support")  # the same mail, in a folder with new UIDs
    dovecot.append(KO, "Support")
    dovecot.kill_sessions()  # the reader's next command fails: it reconnects and selects
    [got] = await take(stream)
    assert got.raw == first.raw and got.uid == 1
    assert got.uidvalidity == box.uidvalidity != first.uidvalidity
    # marking with the old UIDVALIDITY touches nothing
    await box.mark_handled(first.uid, first.uidvalidity)
    assert all(r"\Seen" not in f for f in dovecot.flags("Support").values())
    await box.mark_handled(got.uid, got.uidvalidity)
    assert all(r"\Seen" in f for f in dovecot.flags("Support").values())
    await box.close()


async def test_a_released_mail_is_offered_again_after_a_doubling_pause(dovecot: Dovecot) -> None:
    """Its answer could not be recorded now: it comes again without a restart, new mail still
    comes meanwhile (and does not put the retry off), and once marked it comes no more."""
    ticks = Ticks(wait=True)
    box = reader(dovecot, sleep=ticks)
    dovecot.append(KO)
    stream = box.messages()
    [first] = await take(stream)
    await box.release(first.uid, first.uidvalidity)
    pending = asyncio.ensure_future(anext(stream))
    await nothing_more_task(pending)
    assert ticks.pauses == [RETRY_FIRST]  # IDLE, with the retry's pause beside it
    dovecot.append(EN)
    newer = await asyncio.wait_for(pending, WAIT)
    assert "refund" in newer.raw.decode()  # new mail is not held up by the retry
    await box.mark_handled(newer.uid)
    pending = asyncio.ensure_future(anext(stream))
    await nothing_more_task(pending)
    assert ticks.pauses == [RETRY_FIRST]  # the same pause runs on
    ticks.event.set()  # the pause has passed
    again = await asyncio.wait_for(pending, WAIT)
    assert again.uid == first.uid and again.raw == first.raw
    await box.release(again.uid, again.uidvalidity)  # failed again: a longer pause
    pending = asyncio.ensure_future(anext(stream))
    await nothing_more_task(pending)
    assert ticks.pauses == [RETRY_FIRST, RETRY_FIRST * 2]
    ticks.event.set()
    third = await asyncio.wait_for(pending, WAIT)
    assert third.uid == first.uid
    await box.mark_handled(third.uid, third.uidvalidity)
    assert box.retries == {}
    pending = asyncio.ensure_future(anext(stream))
    await nothing_more_task(pending)
    assert len(ticks.pauses) == 2  # nothing waits for a retry any more
    await box.close()
    assert all(r"\Seen" in flags for flags in dovecot.flags().values())


async def test_a_released_mail_seen_meanwhile_is_not_offered_again(dovecot: Dovecot) -> None:
    ticks = Ticks(wait=True)
    box = reader(dovecot, sleep=ticks, use_idle=False, poll_seconds=600)
    dovecot.append(EN)
    stream = box.messages()
    [first] = await take(stream)
    await box.release(first.uid, first.uidvalidity)
    pending = asyncio.ensure_future(anext(stream))
    await nothing_more_task(pending)
    assert sorted(ticks.pauses) == [RETRY_FIRST, 600]  # polling: the shorter one wakes it
    other = reader(dovecot)
    await other.connect()
    await other.mark_handled(first.uid)  # another process (or a person) handled it
    await other.close()
    ticks.event.set()
    await nothing_more_task(pending)
    assert box.retries == {}
    pending.cancel()
    await box.close()


async def test_memory_mailbox_behaves_like_the_real_one() -> None:
    box = MemoryMailbox()
    ko, en = box.deliver(KO), box.deliver(EN)
    stream = box.messages()
    first, second = await take(stream, 2)
    assert (first.uid, second.uid) == (ko, en)
    await box.mark_handled(ko)
    box.restart()
    [again] = await take(box.messages())
    assert again.uid == en
    box.renumber()
    stream = box.messages()
    [renumbered] = await take(stream)
    assert renumbered.raw == EN and renumbered.uidvalidity == 2
    await box.mark_handled(en, 1)  # the old UIDVALIDITY: ignored
    assert box.handled == [ko]
    current = renumbered
    await box.release(current.uid, current.uidvalidity)
    box.retry_now()
    [retried] = await take(stream)
    assert retried.uid == current.uid and box.released == [current.uid]
    await box.close()


@pytest.mark.parametrize(("security", "tls_port"), [("ssl", True), ("starttls", False)])
async def test_ssl_and_starttls_with_a_self_signed_certificate(
    security: str, tls_port: bool
) -> None:
    with dovecot_server(tls=True) as server:
        server.append(KO)
        port = server.tls_port if tls_port else server.port
        assert port is not None
        config = ServerConfig("127.0.0.1", port, security, USER, PASSWORD)  # type: ignore[arg-type]
        context = ssl.create_default_context(cafile=str(server.folder / "cert.pem"))
        box = ImapMailbox(config, ssl_context=context, sleep=Ticks())
        stream = box.messages()
        [got] = await take(stream)
        assert "환불" in got.raw.decode() and box.encrypted
        await box.mark_handled(got.uid)
        assert r"\Seen" in server.flags()[got.uid]
        await box.close()


async def test_an_untrusted_certificate_is_refused_and_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with dovecot_server(tls=True) as server:
        assert server.tls_port is not None
        config = ServerConfig("127.0.0.1", server.tls_port, "ssl", USER, PASSWORD)
        ticks = Ticks(wait=True)
        box = ImapMailbox(config, sleep=ticks)  # the system's trust store: not ours
        pending = asyncio.ensure_future(anext(box.messages()))
        await nothing_more_task(pending)
        assert ticks.pauses == [1.0] and box.reconnects == 1
        assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
        await box.close()
        ticks.event.set()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(pending, WAIT)


async def test_a_huge_mail_is_read_as_its_header_only_and_stays_unseen(dovecot: Dovecot) -> None:
    huge = mail("첨부 파일이 커요", "사진 보냅니다.\n" + "A" * 200_000)
    dovecot.append(huge)
    dovecot.append(EN)
    box = reader(dovecot, max_bytes=100_000)
    stream = box.messages()
    big, small = await take(stream, 2)
    assert big.truncated and big.size is not None and big.size > 100_000
    assert b"Subject:" in big.raw and b"AAAA" not in big.raw and len(big.raw) < 2000
    assert not small.truncated and b"refund" in small.raw
    assert all(r"\Seen" not in f for f in dovecot.flags().values())
    await box.close()


async def test_mark_handled_after_a_drop_opens_the_mailbox_again(dovecot: Dovecot) -> None:
    dovecot.append(KO)
    box = reader(dovecot)
    stream = box.messages()
    [got] = await take(stream)
    dovecot.kill_sessions()  # lost while the answer was being recorded
    await box.mark_handled(got.uid, got.uidvalidity)
    assert r"\Seen" in dovecot.flags()[got.uid]
    await nothing_more(stream)
    await box.close()


async def test_mark_handled_with_the_server_down_raises_and_the_mail_comes_again(
    dovecot: Dovecot,
) -> None:
    dovecot.append(EN)
    box = reader(dovecot)
    stream = box.messages()
    [got] = await take(stream)
    dovecot.stop()
    with pytest.raises(MailboxError):
        await box.mark_handled(got.uid)
    await box.close()
    dovecot.start()
    [again] = await take(reader(dovecot).messages())  # after a restart
    assert again.raw == got.raw
