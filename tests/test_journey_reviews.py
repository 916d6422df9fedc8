"""Answers to a journey's review request become reviews: the sample ``delivery_review``
journey sends its DM through the courier, the customer answers in that DM, and the router
(with the journeys' opt-out and review hooks, a real engine on an offline knowledge base and
the cue emotion detector) stores the review, thanks them or apologises and offers a person, on
both backends, in Korean and English. The clock is the test's."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.app import Runtime
from bot.conversation.courier import Courier
from bot.conversation.direct import MemoryDirect
from bot.conversation.engine import Engine
from bot.conversation.routing import MemoryDesk, MemorySender, Router
from bot.insights.polarity import lexicon_polarity
from bot.journeys.definitions import SAMPLE_JOURNEYS, load_journeys
from bot.journeys.events import CustomerRef, Event
from bot.journeys.reviews import REVIEW_WINDOW_SECONDS, asks_something, parse_rating
from bot.journeys.rules import QuietHours
from bot.journeys.service import JourneyService
from bot.responder.composer import ComposerResponder
from bot.storage.sql.store import SqlStore
from bot.texts import text as fixed_text
from bot.types import Language, Message
from bot.understanding.emotion import CueEmotionDetector
from knowledge.base import KnowledgeBase
from knowledge.embedders import Embedder
from knowledge.entries import Entry
from tests.backends import Backend, raw

SEOUL = dt.timezone(dt.timedelta(hours=9))
DELIVERED = dt.datetime(2026, 12, 7, 13, 0, tzinfo=SEOUL)  # 13:00 in Seoul: no quiet hours
DAY = 24 * 3600.0
KEY = "slack:dm:U1"
SHIPPING = Entry(
    "shipping-time",
    "shipping",
    {"ko": ("배송은 언제 오나요?",), "en": ("When will my order arrive?",)},
    {"ko": "보통 2-3일 안에 도착해요.", "en": "Orders usually arrive within 2-3 days."},
)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Shop:
    """A store with one review request sent to customer ``C-1`` (Slack user ``U1``) and
    the router a customer's answer reaches."""

    store: SqlStore
    service: JourneyService
    router: Router
    desk: MemoryDesk
    sender: MemorySender
    clock: Clock
    request: str

    async def say(self, text: str, message_id: str) -> tuple[str, list[str]]:
        """The customer writes in the DM: the outcome's notes and what the bot posted."""
        before = len(self.sender.sent)
        message = Message("slack", KEY, "U1", text, time.time(), message_id)
        outcome = await self.router.customer_message(message, self.sender)
        return ",".join(outcome.notes), [r.text for r in self.sender.sent[before:]]

    async def reviews(self) -> list[tuple[int | None, str, str]]:
        return [(r.rating, r.polarity, r.text) for r in await self.store.reviews.reviews(0, 1e12)]


def engine_on(store: SqlStore, embedders: Sequence[Embedder]) -> Engine:
    knowledge = KnowledgeBase([SHIPPING], embedders)
    return Engine(store, knowledge, ComposerResponder(), CueEmotionDetector())


async def shop(store: SqlStore, embedders: Sequence[Embedder], language: str) -> Shop:
    clock = Clock(DELIVERED.timestamp())
    service = JourneyService(
        store,
        load_journeys(SAMPLE_JOURNEYS),
        shop_name="온도마켓",
        quiet_hours=QuietHours.parse("21:00-08:00"),
        clock=clock,
        polarity=lexicon_polarity().polarity,
    )
    customer = CustomerRef("C-1", "김민지", language, "Asia/Seoul", None, {"slack": "U1"})  # type: ignore[arg-type]
    delivered = Event("ev-1", "order.delivered", clock.now, customer, {"order_id": "o-1"})
    await service.ingest(delivered)
    clock.now += DAY + 60
    assert await service.run_due(None) == 1
    router = Router(engine_on(store, embedders), handoff_channel="slack:C0DESK")
    desk = MemoryDesk("slack")
    router.set_desk(desk)
    router.add_direct_messenger(MemoryDirect("slack"))
    router.opt_out = service.opt_out
    router.review = service.review
    assert await Courier(router).deliver_due() == 1
    [request] = await store.history(KEY)
    assert request.role == "bot"
    clock.now += 3600
    return Shop(store, service, router, desk, MemorySender(), clock, request.text)


@pytest.mark.parametrize(
    ("language", "text", "rating"),
    [
        ("ko", "★★★★★ 정말 만족해요 최고예요", 5),
        ("ko", "5점! 포장도 꼼꼼하고 좋아요", 5),
        ("en", "5/5 love it, great quality!", 5),
        ("en", "Love it, great quality!", None),
    ],
)
async def test_a_happy_review_is_stored_and_thanked(
    any_store: SqlStore,
    fake_embedders: Sequence[Embedder],
    language: str,
    text: str,
    rating: int | None,
) -> None:
    s = await shop(any_store, fake_embedders, language)
    notes, posted = await s.say(text, "m1")
    assert notes == "review" and posted == [fixed_text("review.thanks", language)]  # type: ignore[arg-type]
    [review] = await any_store.reviews.reviews(0, 1e12)
    assert (review.rating, review.polarity, review.text) == (rating, "positive", text)
    assert review.source == "journey" and review.customer_id == "C-1"
    assert (review.platform, review.conversation_key, review.language) == ("slack", KEY, language)
    [send] = await any_store.journeys.sends("C-1")
    assert review.send_id == send.id and review.ref.startswith("inbound:")
    history = [(m.role, m.text) for m in await any_store.history(KEY)]
    assert history == [("bot", s.request), ("customer", text), ("bot", posted[0])]
    # The review answered the request: the next message is the bot's as usual.
    notes, _ = await s.say("감사합니다" if language == "ko" else "thanks", "m2")
    assert notes != "review" and len(await s.reviews()) == 1


@pytest.mark.parametrize(
    ("language", "text", "yes"),
    [
        ("ko", "배송이 너무 늦었어요 실망이에요", "네"),
        ("en", "The delivery was late and the box was damaged", "yes"),
        ("ko", "⭐ x2 그냥 그래요", "네"),
    ],
)
async def test_an_unhappy_review_is_offered_a_person_and_yes_hands_over(
    any_store: SqlStore, fake_embedders: Sequence[Embedder], language: str, text: str, yes: str
) -> None:
    s = await shop(any_store, fake_embedders, language)
    notes, posted = await s.say(text, "m1")
    sorry = fixed_text("review.sorry", language)  # type: ignore[arg-type]
    assert notes == "review" and posted == [sorry]
    [(_, polarity, _)] = await s.reviews()
    assert polarity == "negative" or "x2" in text
    assert (await any_store.conversation(KEY, "slack")).state == "bot"
    # "Yes" to the offer: the existing offer mechanism hands the conversation over.
    message = Message("slack", KEY, "U1", yes, time.time(), "m2")
    outcome = await s.router.customer_message(message, s.sender)
    assert outcome.handoff is not None and outcome.handoff.reason == "asked_for_human"
    assert (await any_store.conversation(KEY, "slack")).state == "waiting_human"
    [ticket] = s.desk.tickets
    assert ticket.conversation_key == KEY
    # The agents' summary has the review request and the review in it.
    words = text.split()[-1]
    assert words in ticket.summary, ticket.summary
    assert len(await s.reviews()) == 1  # the "yes" is no review


@pytest.mark.parametrize(
    ("language", "question"),
    [
        ("ko", "배송은 언제 오나요?"),
        ("en", "When will my order arrive?"),
        ("ko", "상담원 연결해 주세요"),
        ("en", "I want to talk to a person"),
    ],
)
async def test_a_question_after_a_review_request_is_answered_not_stored(
    any_store: SqlStore, fake_embedders: Sequence[Embedder], language: str, question: str
) -> None:
    s = await shop(any_store, fake_embedders, language)
    notes, posted = await s.say(question, "m1")
    assert notes != "review" and len(posted) == 1
    assert posted[0] not in (
        fixed_text("review.thanks", language),  # type: ignore[arg-type]
        fixed_text("review.sorry", language),  # type: ignore[arg-type]
    )
    assert await s.reviews() == []


@pytest.mark.parametrize(("language", "stop"), [("ko", "수신거부"), ("en", "stop")])
async def test_an_opt_out_after_a_review_request_is_an_opt_out(
    any_store: SqlStore, fake_embedders: Sequence[Embedder], language: str, stop: str
) -> None:
    s = await shop(any_store, fake_embedders, language)
    notes, posted = await s.say(stop, "m1")
    assert notes == "opt_out" and len(posted) == 1
    assert await s.reviews() == []
    consent = await any_store.journeys.consent("C-1", "review_request")
    assert consent is not None and consent.granted is False


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_a_redelivery_stores_once_and_a_failed_post_is_answered_on_retry(
    any_store: SqlStore, fake_embedders: Sequence[Embedder], language: str
) -> None:
    s = await shop(any_store, fake_embedders, language)
    s.sender.fail_next = 1
    with pytest.raises(ConnectionError):
        await s.say("★★★★ 좋아요", "m1")
    assert len(await s.reviews()) == 1  # stored before the post failed
    notes, posted = await s.say("★★★★ 좋아요", "m1")  # the platform redelivers it
    assert notes == "review" and len(posted) == 1
    notes, posted = await s.say("★★★★ 좋아요", "m1")  # and once more, after the answer
    assert posted == []
    assert [(r, p) for r, p, _ in await s.reviews()] == [(4, "positive")]
    replies = raw(any_store, "SELECT COUNT(*) FROM messages WHERE direction = 'out'")
    assert replies == [(2,)]  # the request and one thanks


async def test_two_replicas_racing_store_one_review(
    backend: Backend, fake_embedders: Sequence[Embedder]
) -> None:
    first = backend.open()
    s = await shop(first, fake_embedders, "ko")
    second = backend.open()
    other = Router(engine_on(second, fake_embedders))
    service = JourneyService(
        second,
        s.service.journeys,
        shop_name="온도마켓",
        quiet_hours=s.service.quiet_hours,
        clock=s.clock,
        polarity=lexicon_polarity().polarity,
    )
    other.opt_out, other.review = service.opt_out, service.review
    message = Message("slack", KEY, "U1", "5점 만점에 5점!", time.time(), "m1")
    senders = (MemorySender(), MemorySender())
    await asyncio.gather(
        s.router.customer_message(message, senders[0]),
        other.customer_message(message, senders[1]),
    )
    assert len(await s.reviews()) == 1
    assert sum(len(x.sent) for x in senders) == 1


async def test_a_request_older_than_the_window_is_not_matched(
    any_store: SqlStore, fake_embedders: Sequence[Embedder]
) -> None:
    s = await shop(any_store, fake_embedders, "ko")
    s.clock.now += REVIEW_WINDOW_SECONDS
    notes, posted = await s.say("★★★★★ 정말 만족해요", "m1")
    assert notes != "review" and len(posted) == 1 and await s.reviews() == []


async def test_a_message_elsewhere_after_a_review_request_is_no_review(
    any_store: SqlStore, fake_embedders: Sequence[Embedder]
) -> None:
    """The customer who got the request writes in a channel thread, not in the DM: that is a
    conversation of its own, answered by the bot, not the review."""
    s = await shop(any_store, fake_embedders, "ko")
    elsewhere = "slack:T1:C0HELP:1700000000.000100"
    message = Message("slack", elsewhere, "U1", "제품 정말 좋아요 최고예요", time.time(), "m9")
    outcome = await s.router.customer_message(message, s.sender)
    assert outcome.notes != ("review",) and await s.reviews() == []
    notes, _ = await s.say("★★★★★ 정말 만족해요", "m10")  # the DM still takes the review
    assert notes == "review" and len(await s.reviews()) == 1


async def test_without_a_review_request_nothing_is_a_review(
    any_store: SqlStore, fake_embedders: Sequence[Embedder]
) -> None:
    router = Router(engine_on(any_store, fake_embedders))
    service = JourneyService(
        any_store,
        load_journeys(SAMPLE_JOURNEYS),
        shop_name="온도마켓",
        quiet_hours=QuietHours.parse("21:00-08:00"),
        polarity=lexicon_polarity().polarity,
    )
    router.review = service.review
    await any_store.journeys.upsert_customer("C-1", language="ko", at=1.0)
    await any_store.journeys.link("C-1", "slack", "U1", at=1.0)
    message = Message("slack", KEY, "U1", "★★★★★ 최고예요", time.time(), "m1")
    outcome = await router.customer_message(message, MemorySender())
    assert outcome.notes != ("review",) and await any_store.reviews.reviews(0, 1e12) == []


@pytest.mark.parametrize(
    ("text", "rating"),
    [
        ("<script>alert(1)</script> **굵게** <@U999> ★★★★★", 5),
        ("좋아요 " * 20_000, None),
        ("\u202e\x00 ⭐⭐⭐ \ud800 so-so", 3),
    ],
)
async def test_hostile_reviews_are_stored_as_text_once(
    any_store: SqlStore, fake_embedders: Sequence[Embedder], text: str, rating: int | None
) -> None:
    s = await shop(any_store, fake_embedders, "ko")
    notes, posted = await s.say(text, "m1")
    assert notes == "review" and len(posted) == 1
    [(stored_rating, _, stored)] = await s.reviews()
    assert stored_rating == rating
    assert len(stored) < 4100 and "\x00" not in stored
    if "<script>" in text:
        assert "<script>alert(1)</script>" in stored  # kept as text; reports escape it


async def test_an_empty_answer_or_emoji_alone_is_no_review(
    any_store: SqlStore, fake_embedders: Sequence[Embedder]
) -> None:
    s = await shop(any_store, fake_embedders, "ko")
    await s.say("", "m1")
    await s.say("👍", "m2")
    assert await s.reviews() == []


async def test_personal_data_in_a_review_is_redacted(
    any_store: SqlStore, fake_embedders: Sequence[Embedder]
) -> None:
    s = await shop(any_store, fake_embedders, "ko")
    await s.say("좋아요! 010-1234-5678 minji@example.com 으로 쿠폰 주세요", "m1")
    [(_, _, stored)] = await s.reviews()
    assert "010-1234-5678" not in stored and "minji@example.com" not in stored


@pytest.mark.parametrize(
    ("text", "rating"),
    [
        ("★★★★", 4),
        ("⭐⭐⭐⭐⭐", 5),
        ("⭐️⭐️⭐️", 3),
        ("⭐ x4", 4),
        ("★×2 별로", 2),
        ("5점", 5),
        ("별점 3점 드려요", 3),
        ("4/5", 4),
        ("4 / 5 good", 4),
        ("4 stars", 4),
        ("3 out of 5", 3),
        ("5", 5),
        ("4 - fine", 4),
        ("2 days late, bad", None),
        ("2일이나 늦었어요", None),
        ("3개 샀는데 좋아요", None),
        ("good", None),
        ("10/10", None),
        ("7점", None),
    ],
)
def test_ratings(text: str, rating: int | None) -> None:
    assert parse_rating(text) == rating


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("배송은 언제 오나요", True),
        ("환불은 어떻게 하나요", True),
        ("교환 가능할까요", True),
        ("How do I return it", True),
        ("Is it washable?", True),
        ("상담원 연결해 주세요", True),
        # Support requests: answered by the bot, not thanked for.
        ("교환하고 싶어요", True),
        ("환불 부탁드려요", True),
        ("사과가 다 썩어서 왔네요 환불해주세요", True),
        ("반품하려고요", True),
        ("교환이요", True),
        ("It arrived broken, I want a refund", True),
        ("Please replace it", True),
        ("refund please", True),
        # The same nouns in a story or a wish for next time: still a review.
        ("환불이 빨라서 좋았어요", False),
        ("배송은 빨랐는데 교환은 귀찮았어요", False),
        ("좋아요 근데 다음엔 더 빨리 보내주세요", False),
        ("포장이 꼼꼼했어요. 교환 안 해도 될 것 같아요", False),
        ("The return process was easy", False),
        ("Great, I returned the other one already", False),
        ("배송이 너무 늦었어요 실망이에요", False),
        ("Can't wait to use it!", False),
        ("Will buy again", False),
        ("정말 좋아요", False),
        ("★★★★★", False),
    ],
)
def test_questions(text: str, asks: bool) -> None:
    assert asks_something(text) is asks


# --- through the real Slack adapter ------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "answer", "reply"),
    [
        ("ko", "★★★★★ 정말 만족해요 최고예요", "review.thanks"),
        ("en", "2/5 the box arrived damaged", "review.sorry"),
    ],
)
async def test_a_review_answered_in_a_slack_dm(
    tmp_path: Path, language: str, answer: str, reply: str
) -> None:
    from tests.slack_harness import fake_slack, running_slack, slack_settings
    from tests.test_journey_dm_platforms import dm_posts, modelless_runtime

    clock = Clock(DELIVERED.timestamp())
    async with fake_slack() as fake:
        with modelless_runtime(tmp_path, **slack_settings(fake, handoff_channel=None)) as rt:
            store = rt.store
            service = JourneyService(
                store,
                load_journeys(SAMPLE_JOURNEYS),
                shop_name="온도마켓",
                quiet_hours=QuietHours.parse("21:00-08:00"),
                clock=clock,
                polarity=lexicon_polarity().polarity,
            )
            router = Router(rt.engine)
            router.opt_out, router.review = service.opt_out, service.review
            async with running_slack(fake, rt, router) as slack:
                fake.add_user("U0MINJI", name="minji", locale="ko-KR")
                who = CustomerRef(
                    "C-1",
                    "김민지",
                    "ko" if language == "ko" else "en",
                    "Asia/Seoul",
                    None,
                    {"slack": "U0MINJI"},
                )
                await service.ingest(
                    Event("ev-1", "order.delivered", clock.now, who, {"order_id": "o-1"})
                )
                clock.now += DAY + 60
                assert await service.run_due(None) == 1
                assert await Courier(router).deliver_due() == 1
                channel = fake.dm_channels["U0MINJI"]
                before = slack.adapter.completed
                event = fake.message_event(
                    answer, user="U0MINJI", channel=channel, channel_type="im"
                )
                assert await slack.deliver(event) == 200
                assert await slack.deliver(event) == 200  # Slack retries the delivery
                await slack.adapter.wait_completed(before + 1)
                posts = [p["text"] for p in dm_posts(fake)]
                assert posts[1:] == [fixed_text(reply, "ko" if language == "ko" else "en")]
            [review] = await store.reviews.reviews(0, 1e12)
            assert review.text == answer and review.platform == "slack"


def test_serve_reads_reviews_with_the_shared_sentence_model(runtime: Runtime) -> None:
    from bot.serve import review_polarity

    polarity = review_polarity(runtime)
    [use] = [e for e in runtime.knowledge.embedders if e.name == "use-multilingual-v3"]
    assert polarity.model._embedder is use  # loaded once per process, not twice
    assert polarity.polarity("배송이 너무 늦었어요 실망이에요", "ko") == "negative"
    assert polarity.polarity("정말 만족해요 최고예요", "ko") == "positive"
    assert polarity.polarity("Love it, great quality!", "en") == "positive"


@pytest.mark.parametrize(
    ("language", "answer", "reply"),
    [
        ("ko", "배송이 너무 늦었어요 실망이에요", "review.sorry"),
        ("en", "⭐⭐⭐⭐⭐ perfect", "review.thanks"),
    ],
)
async def test_a_review_answered_in_a_discord_dm(
    tmp_path: Path, language: str, answer: str, reply: str
) -> None:
    from tests.discord_harness import discord_settings, fake_discord, running_discord
    from tests.test_journey_dm_platforms import dm_channel_of, modelless_runtime

    clock = Clock(DELIVERED.timestamp())
    async with fake_discord() as fake:
        with modelless_runtime(tmp_path, **discord_settings(fake, desk=None)) as rt:
            store = rt.store
            service = JourneyService(
                store,
                load_journeys(SAMPLE_JOURNEYS),
                shop_name="온도마켓",
                quiet_hours=QuietHours.parse("21:00-08:00"),
                clock=clock,
                polarity=lexicon_polarity().polarity,
            )
            router = Router(rt.engine)
            router.opt_out, router.review = service.opt_out, service.review
            async with running_discord(fake, rt, router) as discord:
                user = fake.customer
                uid = str(user["id"])
                lang: Language = "ko" if language == "ko" else "en"
                who = CustomerRef("C-1", "김민지", lang, "Asia/Seoul", None, {"discord": uid})
                await service.ingest(
                    Event("ev-1", "order.delivered", clock.now, who, {"order_id": "o-1"})
                )
                clock.now += DAY + 60
                assert await service.run_due(None) == 1
                assert await Courier(router).deliver_due() == 1
                channel = dm_channel_of(fake, int(uid))
                await discord.say(answer, channel=channel, author=user)
                assert discord.texts(channel)[1:] == [fixed_text(reply, lang)]
            [review] = await store.reviews.reviews(0, 1e12)
            assert (review.text, review.platform) == (answer, "discord")
            assert review.conversation_key == f"discord:dm:{channel}"
