"""E-mail figures through the real stack: ``python -m bench.email_flow [N]`` (not in CI).

A real Dovecot and a recording aiosmtpd on loopback (started by ``tests/mailservers.py``, the
tests' own servers: importing from ``tests`` is deliberate, as in ``bench.twilio_latency``),
the bundled sample shop (real models, SQLite in a temporary folder, the offline composer) and
the real :class:`adapters.email.app.EmailAdapter` with its IMAP reader and SMTP sender, run as
``ondo serve email`` runs it (IDLE). A seeded corpus of ``N`` mails (default 300), Korean and
English, is appended one after another, each once the previous one was handled:

- questions the sample knowledge answers, in UTF-8, EUC-KR, ISO-2022-KR, HTML only, or under a
  long quoted history, and follow-ups in the thread of an answered one;
- questions needing a person (angry, legal or sensitive, asking for a person);
- auto-replies and out-of-office notices, bounces (multipart/report), mailing-list and bulk
  mail, noreply senders, our own reply coming back (a loop), one sender flooding, the same
  Message-ID appended twice, and two unreadable mails;
- half-way, a restart: for the last few mails before it the mailbox is not marked (a crash
  between the answer and the mark), then a new adapter (new reader, router and sender) on the
  same SQLite store reads them again.

Baseline in the same run: a naive auto-responder (answers every mail it reads that has a
sender, no loop rules, no dedupe) over exactly the mails Ondo's reader yielded, re-reads
included; counted, not sent.

Reported: one table. Replies are counted at the SMTP server by their In-Reply-To; latency is
from the APPEND's answer to the reply's arrival at the SMTP server.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

from adapters.email.app import EmailAdapter
from adapters.email.config import EmailConfig
from adapters.email.imap import ImapMailbox, RawMail
from adapters.email.loops import REASONS
from adapters.email.smtp import SmtpSender
from bench.common import percentile
from bot.app import Runtime, build_runtime
from bot.serve import build_router
from bot.settings import Settings
from tests.mailservers import (
    PASSWORD,
    SMTP_PASSWORD,
    SMTP_USER,
    USER,
    Dovecot,
    Recorder,
    SmtpServer,
    dovecot_server,
    free_port,
)

SUPPORT = "help@ondo-shop.example"
SECRET = "a-bench-secret-for-sealing-mail-keys"
WAIT = 30.0
UNMARKED_BEFORE_RESTART = 5
FLOOD = 9
"""Mails from the flooding sender (the limit is 5 answers per sender per hour)."""

ANSWERABLE = {
    "ko": [
        ("환불 문의", "환불은 어떻게 받나요?"),
        ("배송 문의", "배송은 얼마나 걸리나요?"),
        ("주문 취소", "주문을 취소하고 싶어요"),
        ("교환", "사이즈 교환하고 싶은데 어떻게 하나요?"),
        ("배송비", "배송비는 얼마인가요?"),
    ],
    "en": [
        ("Refund question", "How do I get a refund?"),
        ("Shipping", "How long does shipping take?"),
        ("Cancel", "I want to cancel my order."),
        ("Exchange", "Can I exchange an item for another size?"),
        ("Shipping fee", "How much is shipping?"),
    ],
}
FEEDBACK = {
    "ko": [
        ("배송 후기", "포장이 꼼꼼하고 배송도 빨라서 정말 만족했어요. 감사합니다!"),
        ("상품 후기", "★★★★★ 색감이 사진이랑 똑같아요. 또 살게요."),
        ("피드백", "상품이 설명과 달라서 실망했어요. 2점 드려요."),
    ],
    "en": [
        ("Feedback", "Great service, the parcel came a day early. Thank you!"),
        ("Review", "4/5 - nice quality, a bit pricey."),
        ("Feedback", "Honestly disappointed, the box arrived crushed. 1 star."),
    ],
}
PERSON = {
    "ko": [
        ("환불", "세 번째 연락인데 아직도 환불이 안 됐어요. 정말 화가 납니다!! 최악이에요"),
        ("법적 조치", "제품 때문에 다쳤습니다. 소송을 준비하고 있어요. 변호사와 상의 중입니다."),
        ("상담원", "상담원 연결해 주세요. 사람이랑 직접 얘기하고 싶어요."),
    ],
    "en": [
        ("Refund", "This is the third time I'm asking, I'm furious!! Worst shop ever."),
        ("Legal", "Your product injured me and my lawyer is preparing a lawsuit."),
        ("Agent", "Please let me talk to a human agent, not a bot."),
    ],
}
KINDS = (
    "question",
    "question_euc_kr",
    "question_iso_2022_kr",
    "question_html",
    "question_quoted",
    "follow_up",
    "needs_person",
    "feedback",
    "auto_reply",
    "out_of_office",
    "bounce",
    "list_or_bulk",
    "noreply",
    "own_reply",
    "flood",
    "same_id_again",
    "unreadable",
)
NOT_TO_ANSWER = ("auto_reply", "out_of_office", "bounce", "list_or_bulk", "noreply", "own_reply")


@dataclass
class TimedRecorder(Recorder):
    """The tests' recording handler, also noting when each envelope arrived."""

    arrived: list[float] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        if answer.startswith("250"):
            self.arrived.append(time.perf_counter())
        return answer


def _sent(recorder: Recorder) -> list[tuple[EmailMessage, float]]:
    """What the SMTP server received, with when."""
    assert isinstance(recorder, TimedRecorder)
    return [
        (message_from_bytes(e.original_content or b"", policy=policy.default), t)
        for e, t in zip(recorder.received, recorder.arrived, strict=True)
    ]


def _mail(
    sender: str,
    subject: str,
    body: str,
    *,
    charset: str = "utf-8",
    html: bool = False,
    headers: dict[str, str] | None = None,
    message_id: str | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = SUPPORT
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="customer.example")
    for name, value in (headers or {}).items():
        message[name] = value
    if html:
        message.set_content(f"<html><body><p>{body}</p></body></html>", subtype="html")
    elif charset == "utf-8":
        message.set_content(body)
    else:
        message["MIME-Version"] = "1.0"
        message["Content-Type"] = f'text/plain; charset="{charset}"'
        message["Content-Transfer-Encoding"] = "8bit"
        head = bytes(message).rstrip(b"\r\n")
        return head + b"\r\n\r\n" + body.encode(charset) + b"\r\n"
    return bytes(message)


def _bounce(rng: random.Random) -> bytes:
    """A delivery status notification as an MTA writes it (multipart/report)."""
    boundary = f"bounce-{rng.randrange(10**9)}"
    lines = [
        "From: Mail Delivery System <mailer-daemon@mx.example.net>",
        f"To: {SUPPORT}",
        "Subject: Undelivered Mail Returned to Sender",
        f"Message-ID: {make_msgid(domain='mx.example.net')}",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        f"--{boundary}",
        "Content-Type: text/plain",
        "",
        "This is the mail system. Your message could not be delivered.",
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; mx.example.net",
        "",
        f"Final-Recipient: rfc822; gone{rng.randrange(999)}@example.com",
        "Action: failed",
        "Status: 5.1.1",
        f"--{boundary}--",
        "",
    ]
    return "\r\n".join(lines).encode()


@dataclass
class Item:
    """One mail of the corpus: its kind and how to build it (some need what was sent)."""

    kind: str
    build: Callable[[Bench], bytes]
    message_id: str = ""


def _constant(raw: bytes) -> Callable[[Bench], bytes]:
    return lambda _bench: raw


def _copy_of(item: Item) -> Callable[[Bench], bytes]:
    """The very bytes ``item`` was appended as (the same Message-ID again)."""
    return lambda bench: bench.raw_of[id(item)]


class Corpus:
    """The seeded mix of :data:`KINDS` for ``count`` mails."""

    def __init__(self, count: int, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.customers = 0
        self.items: list[Item] = []
        weights = {
            "question": 30,
            "question_euc_kr": 5,
            "question_iso_2022_kr": 5,
            "question_html": 5,
            "question_quoted": 5,
            "follow_up": 8,
            "needs_person": 10,
            "feedback": 5,
            "auto_reply": 5,
            "out_of_office": 5,
            "bounce": 5,
            "list_or_bulk": 5,
            "noreply": 4,
            "own_reply": 3,
        }
        fixed = FLOOD + 4 + 2  # the flood, the same-id copies (2 × 2), two unreadable
        kinds = self.rng.choices(list(weights), weights=list(weights.values()), k=count - fixed)
        for kind in kinds:
            self.items.append(Item(kind, self._builder(kind)))
        for _ in range(2):  # the same Message-ID, the copy appended later
            item = Item("question", self._builder("question"))
            self.items.insert(self.rng.randrange(len(self.items)), item)
            copy = Item("same_id_again", _copy_of(item))
            later = self.items.index(item) + 1 + self.rng.randrange(20)
            self.items.insert(min(later, len(self.items)), copy)
        flooder = self._customer("en")
        start = self.rng.randrange(len(self.items) // 3)
        for n in range(FLOOD):
            subject, body = ANSWERABLE["en"][n % 5]
            self.items.insert(start + n, Item("flood", _constant(_mail(flooder, subject, body))))
        for garbage in (b"\x00\x01\x02 not a mail at all", b"Subject: no sender\r\n\r\nxx"):
            self.items.insert(
                self.rng.randrange(len(self.items)),
                Item("unreadable", _constant(garbage)),
            )

    def _customer(self, language: str) -> str:
        self.customers += 1
        name = f"minji{self.customers}" if language == "ko" else f"alex{self.customers}"
        domain = "example.kr" if language == "ko" else "example.com"
        return f"Customer <{name}@{domain}>"

    def _builder(self, kind: str) -> Callable[[Bench], bytes]:
        rng = self.rng
        language = rng.choice(("ko", "en"))
        who = self._customer(language)
        subject, body = rng.choice(ANSWERABLE[language])
        if kind == "question":
            return lambda _b: _mail(who, subject, body)
        if kind in ("question_euc_kr", "question_iso_2022_kr"):
            charset = "euc-kr" if kind == "question_euc_kr" else "iso-2022-kr"
            subject, body = rng.choice(ANSWERABLE["ko"])
            return lambda _b: _mail(self._customer("ko"), subject, body, charset=charset)
        if kind == "question_html":
            return lambda _b: _mail(who, subject, body, html=True)
        if kind == "question_quoted":
            quoted = "\n".join(
                f"> I am very angry, this is terrible service {i}" for i in range(60)
            )
            text = f"{body}\n\nOn Mon, Jan 5, 2026 at 10:00, Shop wrote:\n{quoted}\n"
            return lambda _b: _mail(who, subject, text)
        if kind == "follow_up":
            follow = rng.choice(ANSWERABLE[language])[1]
            return lambda bench: bench.follow_up(follow)
        if kind == "needs_person":
            subject, body = rng.choice(PERSON[language])
            return lambda _b: _mail(who, subject, body)
        if kind == "feedback":
            subject, body = rng.choice(FEEDBACK[language])
            return lambda _b: _mail(who, subject, body)
        if kind == "auto_reply":
            headers = rng.choice(
                ({"Auto-Submitted": "auto-replied"}, {"X-Autoreply": "yes"}, {"X-Autorespond": "1"})
            )
            return lambda _b: _mail(who, f"Re: {subject}", "Thanks, received.", headers=headers)
        if kind == "out_of_office":
            title = rng.choice(("부재중 자동 회신", "Out of office", "Automatic reply: away"))
            return lambda _b: _mail(who, title, "I am away until Monday. 월요일에 복귀합니다.")
        if kind == "bounce":
            return lambda _b: _bounce(rng)
        if kind == "list_or_bulk":
            headers = rng.choice(
                (
                    {"List-Id": "<news.shop.example>", "List-Unsubscribe": "<mailto:u@x.example>"},
                    {"Precedence": "bulk"},
                    {"Precedence": "list"},
                )
            )
            return lambda _b: _mail("News <news@shop.example>", subject, body, headers=headers)
        if kind == "noreply":
            sender = rng.choice(("no-reply@shop.example", "noreply@bank.example"))
            return lambda _b: _mail(sender, "주문 알림 / Order notice", body)
        if kind == "own_reply":
            return lambda bench: bench.own_reply()
        raise ValueError(kind)


class Watched:
    """Ondo's reader, noting every mail it yields; ``unmarked`` mark requests are dropped."""

    def __init__(
        self, mailbox: ImapMailbox, reads: list[RawMail], read_at: dict[str, float]
    ) -> None:
        self.mailbox = mailbox
        self.reads = reads
        self.read_at = read_at
        """Message-ID → when the reader first yielded it."""
        self.unmarked = 0
        self.marks = 0
        """Mails whose handling ended (marked, or the mark dropped on purpose)."""

    async def messages(self) -> AsyncIterator[RawMail]:
        async for raw in self.mailbox.messages():
            self.reads.append(raw)
            message_id = str(message_from_bytes(raw.raw, policy=policy.default)["Message-ID"])
            self.read_at.setdefault(message_id, time.perf_counter())
            yield raw

    async def mark_handled(self, uid: int, uidvalidity: int | None = None) -> None:
        self.marks += 1
        if self.unmarked > 0:
            self.unmarked -= 1  # the crash between the answer and the mark
            return
        await self.mailbox.mark_handled(uid, uidvalidity)

    async def close(self) -> None:
        await self.mailbox.close()


class Bench:
    """The servers, the runtime and the adapter in service, fed the corpus mail by mail."""

    def __init__(self, dovecot: Dovecot, smtpd: SmtpServer, runtime: Runtime) -> None:
        self.dovecot = dovecot
        self.smtpd = smtpd
        self.recorder = smtpd.handler
        assert isinstance(self.recorder, TimedRecorder)
        self.runtime = runtime
        self.reads: list[RawMail] = []
        self.read_at: dict[str, float] = {}
        self.raw_of: dict[int, bytes] = {}
        self.kind_of: dict[str, str] = {}
        self.appended: dict[str, float] = {}
        self.figures: Counter[str] = Counter()
        self.rng = random.Random(1)
        self.adapter: EmailAdapter | None = None
        self.watched: Watched | None = None
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """A new adapter on the runtime's store, running as ``ondo serve email`` runs it."""
        config = EmailConfig.from_settings(self.runtime.settings)
        router, _journeys = build_router(self.runtime)
        self.watched = Watched(ImapMailbox.from_config(config), self.reads, self.read_at)
        self.adapter = EmailAdapter(
            router, config, self.watched, SmtpSender.from_config(config), SECRET
        )
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(self.adapter.run(self.stop))

    async def restart(self) -> None:
        """Stop the adapter and start a new one (same store, same mailbox)."""
        assert self.adapter is not None and self.task is not None
        self.stop.set()
        await asyncio.wait_for(self.task, WAIT)
        self.figures += self.adapter.figures
        await self.start()
        # The mails not marked before the restart are read again first.
        watched = self.watched
        assert watched is not None
        await self._wait(lambda: watched.marks >= UNMARKED_BEFORE_RESTART)

    async def _wait(self, done: Callable[[], bool]) -> None:
        """Until ``done()`` (the adapter is polled; it failing ends the bench)."""
        async with asyncio.timeout(WAIT):
            while not done():
                if self.task is not None and self.task.done():
                    self.task.result()
                    raise RuntimeError("the adapter stopped")
                await asyncio.sleep(0.002)

    async def finish(self) -> None:
        assert self.adapter is not None and self.task is not None
        self.stop.set()
        await asyncio.wait_for(self.task, WAIT)
        self.figures += self.adapter.figures

    async def feed(self, item: Item) -> None:
        """Append ``item`` and wait until the adapter handled it (a real server: polled)."""
        assert self.adapter is not None
        raw = item.build(self)
        self.raw_of[id(item)] = raw
        parsed = message_from_bytes(raw, policy=policy.default)
        message_id = str(parsed.get("Message-ID", "") or "")
        if message_id and item.kind != "same_id_again":
            self.kind_of[message_id] = item.kind
        watched = self.watched
        assert watched is not None
        seen = watched.marks
        await asyncio.to_thread(self.dovecot.append, raw)
        if message_id and message_id not in self.appended:
            self.appended[message_id] = time.perf_counter()
        await self._wait(lambda: watched.marks > seen)

    def follow_up(self, text: str) -> bytes:
        """A customer's next mail in the thread of an answered question."""
        answered = [m for m, _ in _sent(self.recorder) if m["In-Reply-To"] in self.kind_of]
        answered = [m for m in answered if self.kind_of[m["In-Reply-To"]] == "question"]
        if not answered:
            return _mail("Customer <late@example.com>", "Question", text)
        reply = self.rng.choice(answered)
        refs = str(reply.get("References", "")).split()
        customer = reply["To"].addresses[0]
        headers = {
            "In-Reply-To": str(reply["Message-ID"]),
            "References": " ".join([*refs, str(reply["Message-ID"])]),
        }
        return _mail(
            f"Customer <{customer.addr_spec}>", str(reply["Subject"]), text, headers=headers
        )

    def own_reply(self) -> bytes:
        """One of our replies coming back into the mailbox (a forwarding loop)."""
        sent = _sent(self.recorder)
        if not sent:
            return _mail(SUPPORT, "Re: hello", "our own mail")
        return bytes(self.rng.choice(sent)[0])


def naive_replies(reads: list[RawMail]) -> list[str]:
    """The naive auto-responder: a reply to every mail read that has a sender; returns the
    Message-IDs it answers, one per reply (what it would send)."""
    answered: list[str] = []
    for raw in reads:
        message = message_from_bytes(raw.raw, policy=policy.default)
        if "@" in parseaddr(str(message.get("From", "")))[1]:
            answered.append(str(message.get("Message-ID", "")))
    return answered


def _run_settings(folder: Path, dovecot: Dovecot, smtpd: SmtpServer) -> Settings:
    return Settings(
        db_path=str(folder / "bench.db"),
        email_imap_host="127.0.0.1",
        email_imap_port=dovecot.port,
        email_imap_security="plain",
        email_imap_user=USER,
        email_imap_password=PASSWORD,
        email_smtp_host="127.0.0.1",
        email_smtp_port=smtpd.port,
        email_smtp_security="plain",
        email_smtp_user=SMTP_USER,
        email_smtp_password=SMTP_PASSWORD,
        email_address=SUPPORT,
    )


def _unseen(dovecot: Dovecot) -> int:
    return sum(1 for flags in dovecot.flags().values() if r"\Seen" not in flags)


async def measure(count: int) -> tuple[list[tuple[str, str, str]], Counter[str]]:
    """Run the corpus through Ondo and the naive baseline; the table's rows."""
    corpus = Corpus(count)
    folder = Path(tempfile.mkdtemp(prefix="ondo-mailbench-"))
    smtpd = SmtpServer(free_port(), TimedRecorder(), auth=True)
    smtpd.start()
    try:
        with dovecot_server() as dovecot:
            runtime = build_runtime(_run_settings(folder, dovecot, smtpd))
            try:
                bench = Bench(dovecot, smtpd, runtime)
                await bench.start()
                half = len(corpus.items) // 2
                for n, item in enumerate(corpus.items):
                    if n == half - UNMARKED_BEFORE_RESTART:
                        assert bench.watched is not None
                        bench.watched.unmarked = UNMARKED_BEFORE_RESTART
                    if n == half:
                        await bench.restart()
                    await bench.feed(item)
                await asyncio.sleep(0.5)  # a last reply still on its way to the server
                await bench.finish()
                unseen = await asyncio.to_thread(_unseen, dovecot)
                reviews = len(await runtime.store.reviews.reviews(0.0, time.time() + 1))
            finally:
                runtime.close()
    finally:
        smtpd.stop()
    return _rows(corpus, bench, unseen, reviews), Counter(item.kind for item in corpus.items)


def _rows(corpus: Corpus, bench: Bench, unseen: int, reviews: int) -> list[tuple[str, str, str]]:
    figures = bench.figures
    sent = _sent(bench.recorder)
    replied = Counter(str(m["In-Reply-To"]) for m, _ in sent)
    kinds = Counter(item.kind for item in corpus.items)
    ondo_by_kind = Counter(bench.kind_of.get(m, "?") for m in replied.elements())
    naive = naive_replies(bench.reads)
    naive_ids = Counter(naive)
    naive_by_kind = Counter(bench.kind_of.get(m, "?") for m in naive)
    first: dict[str, float] = {}
    for m, arrived in sent:
        first.setdefault(str(m["In-Reply-To"]), arrived)
    one_per_mail = [(t - bench.appended[m]) * 1000 for m, t in first.items() if m in bench.appended]
    after_read = [(t - bench.read_at[m]) * 1000 for m, t in first.items() if m in bench.read_at]
    rows = [
        ("mails appended", str(len(corpus.items)), str(len(corpus.items))),
        (
            "mails read (re-reads after the restart included)",
            str(figures["mails"]),
            str(len(bench.reads)),
        ),
        ("answered (a reply sent)", str(figures["answered"]), str(len(naive))),
        ("handed over (ticket, the customer told)", str(figures["handed_over"]), "0"),
        (
            "feedback acknowledged (stored as a review, unhappy offered a person)",
            f"{figures['feedback']} ({reviews} reviews stored)",
            "0",
        ),
    ]
    for reason in REASONS:
        note = " (kept in its thread, unanswered)" if reason == "rate_limited" else ""
        rows.append((f"ignored: {reason}{note}", str(figures[f"ignored:{reason}"]), "0"))
    rows += [
        ("unreadable", str(figures["unreadable"]), str(len(bench.reads) - len(naive))),
        ("read again, recognised (no reply)", str(figures["duplicates"]), "0"),
        ("relayed / suppressed", f"{figures['relayed']} / {figures['suppressed']}", "—"),
        ("failed", str(figures["failed"]), "—"),
    ]
    for kind in (*NOT_TO_ANSWER, "flood"):
        rows.append(
            (
                f"replies to {kind} ({kinds[kind]} mails)",
                str(ondo_by_kind[kind]),
                str(naive_by_kind[kind]),
            )
        )
    rows += [
        ("replies sent in all", str(len(sent)), str(len(naive))),
        (
            "duplicate replies (a Message-ID answered twice)",
            str(sum(v - 1 for v in replied.values() if v > 1)),
            str(sum(v - 1 for v in naive_ids.values() if v > 1)),
        ),
        ("mails left unseen", str(unseen), "—"),
        ("latency appended → reply at SMTP, p50 / p95", _p50_95(one_per_mail), "—"),
        ("latency read by Ondo → reply at SMTP, p50 / p95", _p50_95(after_read), "—"),
    ]
    return rows


def _p50_95(values: list[float]) -> str:
    return (
        f"{percentile(values, 50):.0f} ms / {percentile(values, 95):.0f} ms ({len(values)} replies)"
    )


async def main(count: int) -> None:
    """Measure and print the table."""
    logging.basicConfig(level=logging.ERROR)
    started = time.perf_counter()
    rows, mix = await measure(count)
    print("| figure | Ondo | naive auto-responder |")
    print("|---|---|---|")
    for name, ondo, naive in rows:
        print(f"| {name} | {ondo} | {naive} |")
    print("\nthe corpus: " + ", ".join(f"{kind} {mix[kind]}" for kind in KINDS if mix[kind]))
    print(f"{count} mails in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
