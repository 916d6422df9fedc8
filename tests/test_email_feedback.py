"""Feedback mail (ko, en): which mails are feedback, and feedback end to end — acknowledged in
the customer's thread, stored as a review that ``ondo insights reviews`` reads, an unhappy
one offered a person — against the real Dovecot and aiosmtpd and the fake Slack desk."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from email import message_from_bytes, policy

import pytest

from adapters.email.app import EmailAdapter
from adapters.email.config import EmailConfig
from adapters.email.feedback import is_feedback
from adapters.email.imap import ImapMailbox
from adapters.email.smtp import SmtpSender
from bot.app import Runtime
from bot.cli.insights import _read_reviews
from bot.insights.reading import stored_reviews
from bot.journeys.service import FEEDBACK_SOURCE
from bot.serve import build_router
from bot.storage.records import StoredReview
from bot.texts import text as fixed_text
from tests.mailservers import Dovecot, SmtpServer
from tests.slack_harness import fake_slack, running_slack, slack_settings
from tests.test_email_flows import (
    CUSTOMERS,
    SECRET,
    Desk,
    body_of,
    email_settings,
    mail,
    no_address_logged,
)
from tests.test_email_flows import runtime as runtime_fixture
from tests.test_email_flows import smtpd as smtpd_fixture

smtpd = smtpd_fixture
runtime = runtime_fixture

FEEDBACK = [
    ("배송 후기", "배송 후기입니다 — 포장이 꼼꼼해서 좋았어요"),
    ("", "후기 남겨요. 상담원분이 정말 친절했어요!"),
    ("칭찬합니다", "어제 통화한 상담원분이 정말 친절했어요. 감사합니다!"),
    ("건의사항", "앱에 다크모드가 있으면 좋겠어요. 다음엔 더 빨리 보내주세요"),
    ("의견 드립니다", "정말 실망했어요. 포장이 다 뜯겨서 왔어요."),
    ("배송", "4/5 점 드려요. 빠르긴 했는데 포장이 아쉬워요"),
    ("리뷰", "★★★★★ 최고예요"),
    ("Feedback on my order", "Everything arrived quickly, great quality. Keep it up!"),
    ("A compliment for your team", "Sara was wonderful on the phone."),
    ("Suggestion", "It would be nice to have a dark mode in the app."),
    ("Great service!", "★★★★★ Loved it, fast delivery."),
    ("Testimonial", "Happy to share: the best skincare shop ever."),
    ("Feedback", "Terrible experience, the box was crushed and nobody cared."),
]
NOT_FEEDBACK = [
    ("리뷰", "리뷰 작성은 어디서 하나요?"),
    ("Re: 환불 문의", "환불은 어떻게 받나요?"),
    ("후기", "환불해 주세요. 물건이 엉망이에요"),
    ("의견 드립니다", "배송이 너무 늦어요. 확인 부탁드립니다"),
    ("리뷰 이벤트 문의", "리뷰 이벤트 참여 방법"),
    ("제안서 송부", "제휴 관련 자료 첨부합니다"),
    ("제휴 제안드립니다", "저희 브랜드와 협업을 제안드립니다."),
    ("Partnership suggestion", "We'd love to feature your products in our newsletter."),
    ("Re: 배송 후기", "네, 연결해 주세요"),
    ("주문", "내일 오후에 전화 주세요"),
    ("Feedback", "the app keeps crashing, please fix my account"),
    ("Feedback", "I want a refund, the shoes broke"),
    ("Feedback", "Why is my parcel still not here"),
    ("Re: Feedback", "yes please"),
    ("Please review my order", "It hasn't arrived yet"),
    ("3 questions", "what is the price"),
    ("Order 1234", "Hello, the parcel is late"),
]


@pytest.mark.parametrize(("subject", "text"), FEEDBACK)
def test_feedback_is_read_as_feedback(subject: str, text: str) -> None:
    assert is_feedback(subject, text)


@pytest.mark.parametrize(("subject", "text"), NOT_FEEDBACK)
def test_a_question_or_a_request_is_not_feedback(subject: str, text: str) -> None:
    assert not is_feedback(subject, text)


@contextlib.asynccontextmanager
async def serving(dovecot: Dovecot, smtpd: SmtpServer, runtime: Runtime) -> AsyncIterator[Desk]:
    """The e-mail desk with the review hook wired as ``ondo serve email`` wires it."""
    router, _journeys = build_router(runtime)
    config = EmailConfig.from_settings(runtime.settings)
    mailbox = ImapMailbox.from_config(config)
    adapter = EmailAdapter(router, config, mailbox, SmtpSender.from_config(config), SECRET)
    stream = mailbox.messages()
    try:
        yield Desk(dovecot, smtpd, runtime, router, adapter, mailbox, stream)
    finally:
        await mailbox.close()
        with contextlib.suppress(Exception):
            await stream.aclose()  # type: ignore[attr-defined]


async def stored(runtime: Runtime) -> list[StoredReview]:
    return await runtime.store.reviews.reviews(0, 1e12)


HAPPY = {
    "ko": ("배송 후기", "★★★★★ 배송 후기입니다. 포장이 꼼꼼하고 배송도 빨라서 정말 만족해요!"),
    "en": ("Feedback", "5 stars! Love it, great quality and super fast delivery."),
}
UNHAPPY = {
    "ko": ("후기", "배송이 너무 늦었어요. 정말 실망이에요."),
    "en": ("Feedback", "Really disappointed, the box arrived crushed and late."),
}
YES = {"ko": "네, 연결해 주세요", "en": "yes please"}


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_happy_feedback_is_thanked_in_the_thread_and_stored_once(
    dovecot: Dovecot,
    smtpd: SmtpServer,
    runtime: Runtime,
    language: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    subject, body = HAPPY[language]
    raw = mail(CUSTOMERS[language], subject, body)
    dovecot.append(raw)
    async with serving(dovecot, smtpd, runtime) as desk:
        await desk.next()
        [thanks] = desk.sent()
        original = message_from_bytes(raw, policy=policy.default)
        assert thanks["In-Reply-To"] == original["Message-ID"]
        assert thanks["Subject"] == f"Re: {subject}"
        assert body_of(thanks).startswith(fixed_text("review.thanks", language))  # type: ignore[arg-type]
        assert desk.adapter.figures["feedback"] == 1
        assert desk.adapter.figures["answered"] == 0
        key = desk.key(raw)
    [review] = await stored(runtime)
    assert (review.source, review.ref) == (FEEDBACK_SOURCE, original["Message-ID"])
    assert (review.polarity, review.rating, review.language) == ("positive", 5, language)
    assert review.platform == "email" and review.conversation_key == key
    assert CUSTOMERS[language] not in review.text
    # The same mail again, read by a new adapter on the same store (a restart): nothing new.
    dovecot.append(raw)
    async with serving(dovecot, smtpd, runtime) as again:
        await again.next()
        assert again.adapter.figures["duplicates"] == 1
    assert len(smtpd.received) == 1
    assert len(await stored(runtime)) == 1
    # `ondo insights reviews` reads it from the database.
    label, rows = await asyncio.to_thread(_read_reviews, runtime.settings, 0.0, 1e12)
    file = stored_reviews(rows, label, dt.UTC)
    assert [(r.text, r.rating) for r in file.reviews] == [(review.text, 5.0)]
    no_address_logged(caplog)


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_unhappy_feedback_is_offered_a_person_and_yes_opens_a_ticket(
    dovecot: Dovecot,
    smtpd: SmtpServer,
    sample_runtime_factory: Callable[..., Runtime],
    language: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    customer = CUSTOMERS[language]
    async with fake_slack() as slack_fake:
        runtime = sample_runtime_factory(
            **slack_settings(slack_fake), **email_settings(dovecot, smtpd)
        )
        async with (
            serving(dovecot, smtpd, runtime) as desk,
            running_slack(slack_fake, runtime, desk.router) as slack,
        ):
            subject, body = UNHAPPY[language]
            raw = mail(customer, subject, body)
            dovecot.append(raw)
            await desk.next()
            [sorry] = desk.sent()
            assert body_of(sorry).startswith(fixed_text("review.sorry", language))  # type: ignore[arg-type]
            assert slack.tickets() == []
            [review] = await stored(runtime)
            assert review.polarity == "negative"
            yes = mail(customer, f"Re: {subject}", YES[language], reply_of=sorry)
            dovecot.append(yes)
            await desk.next()
            [ticket] = slack.tickets()
            assert customer not in str(ticket.params)
            key = desk.key(raw)
            assert desk.key(yes) == key
            assert (await runtime.store.conversation(key, "slack")).state == "waiting_human"
            assert desk.adapter.figures["feedback"] == 1
            assert desk.adapter.figures["handed_over"] == 1
            assert len(await stored(runtime)) == 1
    no_address_logged(caplog)


@pytest.mark.parametrize(
    ("language", "subject", "question", "word"),
    [
        ("ko", "피드백", "환불은 어떻게 받나요?", "환불"),
        ("en", "Feedback", "How do I get a refund?", "refund"),
    ],
)
async def test_a_question_under_a_feedback_subject_is_answered_as_a_question(
    dovecot: Dovecot,
    smtpd: SmtpServer,
    runtime: Runtime,
    language: str,
    subject: str,
    question: str,
    word: str,
) -> None:
    dovecot.append(mail(CUSTOMERS[language], subject, question))
    async with serving(dovecot, smtpd, runtime) as desk:
        await desk.next()
        [answer] = desk.sent()
        assert word in body_of(answer).lower()
        assert desk.adapter.figures["answered"] == 1
        assert desk.adapter.figures["feedback"] == 0
    assert await stored(runtime) == []
