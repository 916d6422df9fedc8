"""The journey service on both backends, on a clock the tests move (never a sleep): events in
once, exits honoured before the send, quiet hours deferring across midnight in Seoul and New
York, an opt-out between scheduling and sending, caps, a crash between "due" and "sent" (sent
once), the conversation facts read at send time (handoff, a person, anger), consent, and where
the DM goes. Korean and English throughout."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.journeys.definitions import SAMPLE_JOURNEYS, load_journeys, parse_journeys
from bot.journeys.events import Event, EventError, parse_event
from bot.journeys.rules import QuietHours
from bot.journeys.service import CONSENT_EVENT, JourneyService
from bot.storage.journey_records import SEND_LEASE_SECONDS
from bot.storage.records import Outgoing
from bot.storage.sql.store import SqlStore
from bot.types import Message
from tests.backends import Backend, raw

SEOUL = ZoneInfo("Asia/Seoul")
NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=SEOUL).timestamp()  # a Monday morning in Seoul
HOUR = 3600.0
DAY = 86400.0
NAMES = {"ko": "김민지", "en": "Alex"}
ITEMS = {"ko": "제주 감귤 5kg", "en": "Jeju tangerines 5kg"}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def service(store: SqlStore, clock: Clock, journeys: Any = None) -> JourneyService:
    return JourneyService(
        store,
        journeys or load_journeys(SAMPLE_JOURNEYS),
        shop_name="온도마켓",
        quiet_hours=QuietHours(),
        clock=clock,
    )


def event(
    event_id: str,
    type: str,
    *,
    at: float = NOW,
    language: str = "ko",
    customer: str = "cust-1",
    zone: str | None = "Asia/Seoul",
    identities: dict[str, str] | None = None,
    tier: str | None = None,
    **payload: Any,
) -> Event:
    who: dict[str, Any] = {
        "customer_id": customer,
        "name": NAMES[language],
        "language": language,
        "identities": {"slack": "U1"} if identities is None else identities,
    }
    if zone:
        who["time_zone"] = zone
    if tier:
        who["tier"] = tier
    return parse_event(
        {"event_id": event_id, "type": type, "occurred_at": at, "customer": who, "payload": payload}
    )


def cart(event_id: str = "ev-cart", cart_id: str = "c-1", language: str = "ko", **kw: Any) -> Event:
    items = [{"name": ITEMS[language], "price": 19900}]
    return event(event_id, "cart.abandoned", language=language, cart_id=cart_id, items=items, **kw)


async def grant(store: SqlStore, category: str = "marketing", night: bool = False) -> None:
    await store.journeys.set_consent(
        "cust-1", category, granted=True, night=night, source="test", evidence="form", at=NOW - DAY
    )


async def posted(store: SqlStore) -> list[Outgoing]:
    """The DMs waiting in the outbox (read, not claimed for good: the test owns the store)."""
    return await store.outbox.take(["slack", "discord"], None, limit=100)


def states(store: SqlStore) -> list[tuple[str, str, str | None]]:
    return [
        (r[0], r[1], r[2])
        for r in raw(store, "SELECT journey, state, reason FROM journey_sends ORDER BY id")
    ]


# --- events in -----------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_a_duplicate_event_changes_nothing(any_store: SqlStore, language: str) -> None:
    clock = Clock()
    svc = service(any_store, clock)
    await grant(any_store)
    first = await svc.ingest(cart(language=language))
    assert (first.duplicate, first.scheduled, first.cancelled) == (False, 1, 0)
    again = await svc.ingest(cart(language=language, cart_id="c-2"))  # same id, other body
    assert again.duplicate and (again.scheduled, again.cancelled) == (0, 0)
    assert raw(any_store, "SELECT COUNT(*) FROM journey_events") == [(1,)]
    clock.advance(HOUR)
    assert await svc.run_due(None) == 1
    assert await svc.ingest(cart(language=language)) == first.__class__(duplicate=True)
    clock.advance(DAY)
    assert await svc.run_due(None) == 0
    dms = await posted(any_store)
    assert len(dms) == 1 and dms[0].target == "U1" and dms[0].kind == "dm"
    assert ITEMS[language] in (dms[0].text or "")


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_a_redelivery_finishes_what_a_crash_after_storing_left_undone(
    backend: Backend, language: str
) -> None:
    store = backend.open()
    order = event("ev-o", "order.placed", language=language, order_id="o-1")
    # The first delivery stored the event and died before scheduling anything.
    await store.journeys.upsert_customer("cust-1", language=language)
    await store.journeys.link("cust-1", "slack", "U1")
    await store.journeys.record_event(
        "ev-o", "order.placed", order.occurred_at, "cust-1", order.payload
    )
    store.close()
    again = backend.open()
    clock = Clock()
    svc = service(again, clock)
    done = await svc.ingest(order)
    assert (done.duplicate, done.scheduled) == (True, 1)
    assert (await svc.ingest(order)).scheduled == 0
    other = event("ev-o", "order.placed", language=language, order_id="o-2")  # same id, other body
    assert await svc.ingest(other) == done.__class__(duplicate=True)
    assert await svc.run_due(None) == 1
    assert raw(again, "SELECT COUNT(*) FROM outbox") == [(1,)]


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_the_event_describes_and_links_the_customer(
    any_store: SqlStore, language: str
) -> None:
    svc = service(any_store, Clock())
    await svc.ingest(cart(language=language, identities={"slack": "U1", "discord": "42"}))
    customer = await any_store.journeys.customer("cust-1")
    assert customer is not None
    assert (customer.name, customer.language, customer.time_zone) == (
        NAMES[language],
        language,
        "Asia/Seoul",
    )
    assert {(i.platform, i.user) for i in customer.identities} == {
        ("slack", "U1"),
        ("discord", "42"),
    }


async def test_an_unknown_event_type_is_stored_and_starts_nothing(any_store: SqlStore) -> None:
    svc = service(any_store, Clock())
    done = await svc.ingest(event("ev-x", "wishlist.viewed", sku="A-1"))
    assert (done.duplicate, done.scheduled) == (False, 0)
    stored = await any_store.journeys.event("ev-x")
    assert stored is not None and stored.payload == {"sku": "A-1"}
    assert states(any_store) == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b'{"event_id": "e", "type": "cart.abandoned"}',
        b'{"event_id": "e", "type": "Cart Abandoned", "occurred_at": 1796605200, '
        b'"customer": {"customer_id": "c"}}',
        b'{"event_id": "e", "type": "x", "occurred_at": "2026-12-07T10:00:00", '
        b'"customer": {"customer_id": "c"}}',
        '{"event_id": "e", "type": "x", "occurred_at": 1796605200, '
        '"customer": {"customer_id": "c", "language": "日本語"}}'.encode(),
        b'{"event_id": "e", "type": "x", "occurred_at": 1796605200, '
        b'"customer": {"customer_id": "c"}, "payload": []}',
        b"[" * 100_000,
    ],
)
async def test_a_malformed_event_is_refused_before_ingest(any_store: SqlStore, body: bytes) -> None:
    with pytest.raises(EventError) as caught:
        await service(any_store, Clock()).ingest(parse_event(body))
    assert "\n" not in str(caught.value) and str(caught.value)
    assert raw(any_store, "SELECT COUNT(*) FROM journey_events") == [(0,)]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"category": "spam", "granted": True}, "payload.category"),
        ({"category": "marketing", "granted": "yes"}, "payload.granted"),
        ({"category": "marketing", "granted": True, "night": 1}, "payload.night"),
    ],
)
async def test_a_malformed_consent_event_is_refused_and_not_stored(
    any_store: SqlStore, payload: dict[str, Any], field: str
) -> None:
    with pytest.raises(EventError, match=field):
        await service(any_store, Clock()).ingest(event("ev-c", CONSENT_EVENT, **payload))
    assert raw(any_store, "SELECT COUNT(*) FROM journey_events") == [(0,)]


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_consent_from_the_shop_lets_marketing_go(any_store: SqlStore, language: str) -> None:
    clock = Clock()
    svc = service(any_store, clock)
    evidence = {"ko": "가입 양식 동의 체크", "en": "signup form checkbox"}[language]
    await svc.ingest(
        event("ev-c", CONSENT_EVENT, category="marketing", granted=True, evidence=evidence)
    )
    entry = await any_store.journeys.consent("cust-1", "marketing")
    assert entry is not None and entry.granted and entry.source == "webhook"
    assert entry.evidence == evidence and entry.at == NOW
    await svc.ingest(cart(language=language))
    clock.advance(HOUR)
    assert await svc.run_due(None) == 1
    assert states(any_store) == [("cart_reminder", "sent", None)]


async def test_a_future_dated_consent_does_not_outrank_a_later_opt_out(
    any_store: SqlStore,
) -> None:
    clock = Clock()
    svc = service(any_store, clock)
    await svc.ingest(
        event("ev-c", CONSENT_EVENT, at=NOW + 30 * DAY, category="marketing", granted=True)
    )
    clock.advance(HOUR)
    assert await svc.opt_out("slack", "U1", "광고 수신거부", "ko") is not None
    entry = await any_store.journeys.consent("cust-1", "marketing")
    assert entry is not None and not entry.granted


# --- exits ---------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_an_exit_event_cancels_the_send_before_it_goes(
    any_store: SqlStore, language: str
) -> None:
    clock = Clock()
    svc = service(any_store, clock)
    await grant(any_store)
    await svc.ingest(cart("ev-1", "c-1", language))
    await svc.ingest(cart("ev-2", "c-2", language))
    clock.advance(30 * 60)
    order = event(
        "ev-3", "order.placed", at=clock.now, language=language, cart_id="c-1", order_id="o-1"
    )
    done = await svc.ingest(order)
    assert (done.scheduled, done.cancelled) == (1, 1)  # the confirmation; the c-1 reminder
    clock.advance(HOUR)
    assert await svc.run_due(None) == 2
    assert states(any_store) == [
        ("cart_reminder", "cancelled", "exit"),
        ("cart_reminder", "sent", None),
        ("order_confirmation", "sent", None),
    ]
    texts = [d.text or "" for d in await posted(any_store)]
    assert sum("o-1" in t for t in texts) == 1 and len(texts) == 2


async def test_an_exit_that_arrived_before_its_trigger_still_cancels(any_store: SqlStore) -> None:
    clock = Clock()
    svc = service(any_store, clock)
    await grant(any_store)
    order = event("ev-o", "order.placed", at=NOW + 600, cart_id="c-1", order_id="o-1")
    await svc.ingest(order)
    late = await svc.ingest(cart("ev-c", "c-1"))  # occurred before the order, arrived after
    assert (late.scheduled, late.cancelled) == (1, 1)
    clock.advance(2 * HOUR)
    await svc.run_due(None)
    assert ("cart_reminder", "cancelled", "exit") in states(any_store)


# --- quiet hours ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "language"), [(SEOUL, "ko"), (NEW_YORK, "en"), (SEOUL, "en"), (NEW_YORK, "ko")]
)
async def test_a_send_due_at_night_waits_past_midnight_for_the_morning(
    backend: Backend, zone: ZoneInfo, language: str
) -> None:
    store = backend.open()
    delivered = datetime(2026, 12, 7, 22, 30, tzinfo=zone).timestamp()
    clock = Clock(delivered)
    svc = service(store, clock)
    await svc.ingest(
        event(
            "ev-d",
            "order.delivered",
            at=delivered,
            language=language,
            zone=str(zone),
            order_id="o-9",
        )
    )
    clock.now = delivered + DAY  # 22:30 the next evening: inside the quiet hours
    assert await svc.run_due(None) == 1
    [send] = await store.journeys.sends("cust-1")
    morning = datetime(2026, 12, 9, 8, 0, tzinfo=zone).timestamp()
    assert (send.state, send.reason, send.due_at, send.deferrals) == (
        "pending",
        "quiet_hours",
        morning,
        1,
    )
    clock.now = datetime(2026, 12, 9, 0, 30, tzinfo=zone).timestamp()  # past midnight
    assert await svc.run_due(None) == 0  # not due yet
    clock.now = morning
    assert await svc.run_due(None) == 1
    [send] = await store.journeys.sends("cust-1")
    assert (send.state, send.sent_at) == ("sent", morning)
    [dm] = await posted(store)
    assert "o-9" in (dm.text or "") and dm.language == language


async def test_marketing_at_night_needs_the_night_consent(any_store: SqlStore) -> None:
    clock = Clock(datetime(2026, 12, 7, 20, 30, tzinfo=SEOUL).timestamp())
    svc = service(any_store, clock)
    await grant(any_store, night=True)
    await svc.ingest(cart(at=clock.now))
    clock.advance(HOUR)  # 21:30 Seoul
    await svc.run_due(None)
    assert states(any_store) == [("cart_reminder", "sent", None)]


# --- opt-out -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language", "confirmation"),
    [
        ("수신거부", "ko", "광고성 메시지 수신거부가 처리되었습니다"),
        ("광고 문자 그만 보내세요 010-1234-5678", "ko", "리뷰 요청 메시지 수신거부"),
        ("STOP", "en", "unsubscribed from marketing messages"),
        ("please unsubscribe me, mail me at minji@example.com", "en", "review requests"),
    ],
)
async def test_an_opt_out_between_scheduling_and_sending_stops_the_send(
    any_store: SqlStore, text: str, language: str, confirmation: str
) -> None:
    clock = Clock()
    svc = service(any_store, clock)
    await grant(any_store)
    await svc.ingest(cart(language=language))
    clock.advance(10 * 60)
    reply = await svc.opt_out("slack", "U1", text, language)
    assert reply is not None and confirmation in reply and "온도마켓" in reply
    assert "2026" in reply
    clock.advance(HOUR)
    assert await svc.run_due(None) == 0
    assert states(any_store) == [("cart_reminder", "cancelled", "opted out")]
    assert await posted(any_store) == []
    entry = await any_store.journeys.consent("cust-1", "marketing")
    assert entry is not None and not entry.granted and entry.source == "reply"
    assert entry.at == clock.now - HOUR
    assert entry.evidence is not None and "1234" not in entry.evidence
    assert "minji@example.com" not in entry.evidence
    review = await any_store.journeys.consent("cust-1", "review_request")
    assert review is not None and not review.granted


@pytest.mark.parametrize(
    ("text", "language"),
    [("배송 언제 와요?", "ko"), ("수신거부 안 할게요", "ko"), ("where is my order?", "en")],
)
async def test_a_message_that_is_no_opt_out_is_left_to_the_bot(
    any_store: SqlStore, text: str, language: str
) -> None:
    svc = service(any_store, Clock())
    await svc.ingest(cart(language=language))
    assert await svc.opt_out("slack", "U1", text, language) is None
    assert await any_store.journeys.consent_history("cust-1") == []


@pytest.mark.parametrize(
    ("text", "language"),
    [("수신거부\x00", "ko"), ("STOP " + "x" * 100_000, "en"), ("", "ko"), ("\x00" * 50, "en")],
)
async def test_a_hostile_reply_never_breaks_the_opt_out(
    any_store: SqlStore, text: str, language: str
) -> None:
    svc = service(any_store, Clock())
    await svc.ingest(cart(language=language))
    reply = await svc.opt_out("slack", "U1", text, language)
    history = await any_store.journeys.consent_history("cust-1")
    assert (reply is None) == (history == [])
    for entry in history:
        assert entry.evidence is not None and len(entry.evidence) < 1100
        assert "\x00" not in entry.evidence


async def test_an_opt_out_from_an_unlinked_user_is_left_to_the_bot(any_store: SqlStore) -> None:
    svc = service(any_store, Clock())
    await svc.ingest(cart())
    assert await svc.opt_out("slack", "U-stranger", "수신거부", "ko") is None
    assert await svc.opt_out("discord", "U1", "stop", "en") is None


@pytest.mark.parametrize(
    ("language", "confirmation"), [("ko", "수신거부가 처리"), ("en", "unsubscribed")]
)
async def test_the_opt_out_button_records_its_category_once(
    any_store: SqlStore, language: str, confirmation: str
) -> None:
    clock = Clock()
    svc = service(any_store, clock)
    await grant(any_store)
    await svc.ingest(cart(language=language))
    clock.advance(10 * 60)
    for _ in range(3):  # a double (triple) click: one consent change
        reply = await svc.opt_out_category("slack", "U1", "marketing", language)
        assert reply is not None and confirmation in reply and "온도마켓" in reply
    changes = [c for c in await any_store.journeys.consent_history("cust-1") if not c.granted]
    assert [(c.category, c.source) for c in changes] == [("marketing", "button")]
    assert states(any_store) == [("cart_reminder", "cancelled", "opted out")]
    # Only that DM's category: review requests are still wanted (no entry for them).
    assert await any_store.journeys.consent("cust-1", "review_request") is None


async def test_two_simultaneous_clicks_of_the_opt_out_button_record_one_change(
    any_store: SqlStore,
) -> None:
    svc = service(any_store, Clock())
    await svc.ingest(cart(language="en"))
    replies = await asyncio.gather(
        *(svc.opt_out_category("slack", "U1", "review_request", "en") for _ in range(4))
    )
    assert all(r is not None and "unsubscribed" in r for r in replies)
    changes = [c for c in await any_store.journeys.consent_history("cust-1") if not c.granted]
    assert [c.category for c in changes] == ["review_request"]


async def test_the_opt_out_button_of_a_stranger_or_an_unbuttoned_category_records_nothing(
    any_store: SqlStore,
) -> None:
    svc = service(any_store, Clock())
    await svc.ingest(cart())
    assert await svc.opt_out_category("slack", "U-stranger", "marketing", "ko") is None
    assert await svc.opt_out_category("discord", "U1", "marketing", "en") is None
    assert await svc.opt_out_category("slack", "U1", "transactional", "ko") is None
    assert await svc.opt_out_category("slack", "U1", "<b>" * 1000, "ko") is None
    assert await any_store.journeys.consent_history("cust-1") == []


async def test_a_stop_under_an_order_notice_stops_order_notices_too(any_store: SqlStore) -> None:
    clock = Clock()
    svc = service(any_store, clock)
    await svc.ingest(event("ev-o", "order.placed", order_id="o-1", language="en"))
    assert await svc.run_due(None) == 1
    reply = await svc.opt_out("slack", "U1", "stop", "en")
    assert reply is not None
    first = reply.splitlines()[0]
    assert "order and delivery updates" in first and "marketing" in reply
    entry = await any_store.journeys.consent("cust-1", "transactional")
    assert entry is not None and not entry.granted
    await svc.ingest(event("ev-o2", "order.placed", order_id="o-2", language="en"))
    await svc.run_due(None)
    assert states(any_store)[-1] == ("order_confirmation", "suppressed", "consent")


# --- the rules at send time ----------------------------------------------------------------


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_marketing_without_consent_is_suppressed(any_store: SqlStore, language: str) -> None:
    clock = Clock()
    svc = service(any_store, clock)
    await svc.ingest(cart(language=language))
    clock.advance(HOUR)
    assert await svc.run_due(None) == 1
    assert states(any_store) == [("cart_reminder", "suppressed", "consent")]
    assert await posted(any_store) == []


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_a_cap_reached_suppresses_the_next_send(any_store: SqlStore, language: str) -> None:
    clock = Clock()
    svc = service(any_store, clock)
    await grant(any_store)
    returned = {"language": language, "tier": "VIP"}
    await svc.ingest(event("ev-1", "customer.returned", visit_id="v1", **returned))
    assert await svc.run_due(None) == 1
    clock.advance(2 * DAY)
    await svc.ingest(event("ev-2", "customer.returned", at=clock.now, visit_id="v2", **returned))
    assert await svc.run_due(None) == 1
    clock.advance(6 * DAY)  # the week of the cap is over
    await svc.ingest(event("ev-3", "customer.returned", at=clock.now, visit_id="v3", **returned))
    assert await svc.run_due(None) == 1
    assert [s[1:] for s in states(any_store)] == [
        ("sent", None),
        ("suppressed", "cap"),
        ("sent", None),
    ]
    texts = [d.text or "" for d in await posted(any_store)]
    prefix = "(광고) 온도마켓" if language == "ko" else "(Ad) 온도마켓"
    assert len(texts) == 2 and all(t.startswith(prefix) for t in texts)


async def _conversation(store: SqlStore, key: str, text: str, user: str = "U1") -> int:
    message = Message("slack", key, user, text, NOW, f"m-{key}-{text[:8]}")
    return (await store.record_inbound(message)).id


@pytest.mark.parametrize(
    ("language", "text"), [("ko", "환불은 언제 되나요"), ("en", "when is my refund coming")]
)
async def test_an_open_handoff_suppresses_the_send(
    any_store: SqlStore, language: str, text: str
) -> None:
    clock = Clock()
    svc = service(any_store, clock)
    await svc.ingest(event("ev-d", "order.delivered", language=language, order_id="o-1"))
    await _conversation(any_store, "slack:T:D1:1", text)
    handoff = await any_store.escalate(
        "slack:T:D1:1",
        reason="asked_for_human",
        summary="refund",
        intent="refund",
        emotion="neutral",
        language=language,
    )
    assert handoff is not None
    clock.advance(DAY)
    assert await svc.run_due(None) == 1
    assert states(any_store) == [("delivery_review", "suppressed", "handoff")]


async def test_a_person_on_the_conversation_suppresses_the_send(any_store: SqlStore) -> None:
    clock = Clock()
    svc = service(any_store, clock)
    await svc.ingest(event("ev-d", "order.delivered", order_id="o-1"))
    await _conversation(any_store, "slack:T:D1:1", "상담원 연결해 주세요")
    await any_store.set_state("slack:T:D1:1", "human")
    clock.advance(DAY)
    await svc.run_due(None)
    assert states(any_store) == [("delivery_review", "suppressed", "handoff")]


@pytest.mark.parametrize(
    ("language", "text"), [("ko", "진짜 화나네요 배송이 왜 이래요"), ("en", "I am furious")]
)
async def test_recent_anger_suppresses_the_send_and_old_anger_does_not(
    backend: Backend, language: str, text: str
) -> None:
    store = backend.open()
    clock = Clock()
    svc = service(store, clock)
    await svc.ingest(event("ev-d", "order.delivered", language=language, order_id="o-1"))
    await svc.ingest(
        event("ev-e", "order.delivered", language=language, order_id="o-2", at=NOW + 5 * DAY)
    )
    inbound = await _conversation(store, "slack:T:D1:1", text)
    await store.annotate_inbound(inbound, emotion="angry", emotion_score=0.9)
    raw(store, "UPDATE messages SET created_at = ?", [NOW + HOUR])
    clock.advance(DAY)
    await svc.run_due(None)
    clock.advance(5 * DAY)  # six days after the anger
    await svc.run_due(None)
    assert states(store) == [
        ("delivery_review", "suppressed", "anger"),
        ("delivery_review", "sent", None),
    ]


# --- where the DM goes ---------------------------------------------------------------------


async def test_the_dm_goes_to_slack_before_discord(any_store: SqlStore) -> None:
    svc = service(any_store, Clock())
    await svc.ingest(
        event("ev-o", "order.placed", order_id="o-1", identities={"discord": "42", "slack": "U1"})
    )
    await svc.run_due(None)
    [dm] = await posted(any_store)
    [send] = await any_store.journeys.sends("cust-1")
    assert (dm.platform, dm.target, dm.ref) == ("slack", "U1", f"journey:{send.id}:transactional")
    assert send.outbox_id == dm.id


async def test_the_dm_goes_where_the_customer_last_wrote(any_store: SqlStore) -> None:
    svc = service(any_store, Clock())
    await svc.ingest(
        event("ev-o", "order.placed", order_id="o-1", identities={"discord": "42", "slack": "U1"})
    )
    message = Message("discord", "discord:g:1", "42", "안녕하세요", NOW, "d-1")
    await any_store.record_inbound(message)
    await svc.run_due(None)
    [dm] = await posted(any_store)
    assert (dm.platform, dm.target) == ("discord", "42")


async def test_an_undeliverable_identity_is_passed_over_and_none_left_suppresses(
    any_store: SqlStore,
) -> None:
    clock = Clock()
    svc = service(any_store, clock)
    await svc.ingest(
        event("ev-o", "order.placed", order_id="o-1", identities={"discord": "42", "slack": "U1"})
    )
    await any_store.journeys.mark_undeliverable("slack", "U1", "cannot_dm_bot")
    await svc.run_due(None)
    [dm] = await posted(any_store)
    assert (dm.platform, dm.target) == ("discord", "42")
    await any_store.journeys.mark_undeliverable("discord", "42", "50007")
    await svc.ingest(event("ev-o2", "order.placed", order_id="o-2", identities={}))
    await svc.run_due(None)
    assert states(any_store)[-1] == ("order_confirmation", "suppressed", "undeliverable")


# --- crashes and the loop ------------------------------------------------------------------


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_a_crash_between_due_and_sent_sends_once_after_the_restart(
    backend: Backend, language: str
) -> None:
    store = backend.open()
    clock = Clock()
    await service(store, clock).ingest(
        event("ev-o", "order.placed", language=language, order_id="o-7")
    )
    [claimed] = await store.journeys.take_due(clock.now, None)  # due... and the process dies
    store.close()
    again = backend.open()
    clock.advance(SEND_LEASE_SECONDS / 2)
    assert await service(again, clock).run_due(None) == 0  # the lease still holds
    clock.advance(SEND_LEASE_SECONDS)
    assert await service(again, clock).run_due(None) == 1
    assert await again.journeys.finish(claimed.id, "sent", None, clock.now) is False  # too late
    assert raw(again, "SELECT COUNT(*) FROM outbox WHERE kind = 'dm'") == [(1,)]
    assert await service(again, clock).run_due(None) == 0
    assert states(again) == [("order_confirmation", "sent", None)]


async def test_a_journey_taken_out_of_the_file_cancels_its_sends(any_store: SqlStore) -> None:
    clock = Clock()
    await service(any_store, clock).ingest(cart())
    only_orders = parse_journeys(
        "journeys:\n  - name: order_confirmation\n    trigger: order.placed\n"
        "    category: transactional\n    templates: {ko: '주문 완료', en: 'Order received'}\n"
    )
    clock.advance(HOUR)
    assert await service(any_store, clock, only_orders).run_due(None) == 1
    assert states(any_store) == [("cart_reminder", "cancelled", "journey removed")]


async def test_the_loop_never_raises_and_stops(
    any_store: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    stop = asyncio.Event()
    calls: list[int] = []

    class Failing(JourneyService):
        async def run_due(self, replica: str | None, limit: int = 50) -> int:
            calls.append(limit)
            if len(calls) == 2:
                stop.set()
            raise RuntimeError("database is gone\nsecond line")

    svc = Failing(
        any_store, load_journeys(SAMPLE_JOURNEYS), shop_name="온도마켓", quiet_hours=QuietHours()
    )
    with caplog.at_level(logging.WARNING, "ondo.journeys"):
        await asyncio.wait_for(svc.run(stop, None, poll=0.0), timeout=10)
    assert len(calls) == 2
    lines = [r.getMessage() for r in caplog.records]
    assert lines and all("\n" not in line and "database is gone" in line for line in lines)


async def test_a_link_to_a_platform_without_dms_is_kept_but_not_messaged(
    any_store: SqlStore,
) -> None:
    svc = service(any_store, Clock())
    await svc.ingest(
        event("ev-o", "order.placed", order_id="o-1", identities={"phone": "+82-10-0000-0000"})
    )
    await svc.run_due(None)
    assert states(any_store) == [("order_confirmation", "suppressed", "undeliverable")]
    assert await any_store.journeys.customer_for("phone", "+82-10-0000-0000") == "cust-1"


async def test_one_send_that_fails_does_not_stop_the_others(
    any_store: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    svc = service(any_store, clock)
    for n, lang in enumerate(("ko", "en")):
        await svc.ingest(
            event(
                f"ev-{n}",
                "order.placed",
                customer=f"cust-{lang}",
                language=lang,
                identities={"slack": f"U-{lang}"},
                order_id=f"o-{n}",
            )
        )
    raw(any_store, "DELETE FROM journey_events WHERE event_id = 'ev-0'")  # forgotten meanwhile
    failing = service(any_store, clock)

    async def broken(send: Any, now: float) -> bool:
        if send.customer_id == "cust-ko":
            raise RuntimeError("boom")
        return await JourneyService._decide(failing, send, now)

    failing._decide = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, "ondo.journeys"):
        assert await failing.run_due(None) == 1
    assert any("boom" in r.getMessage() for r in caplog.records)
    clock.advance(SEND_LEASE_SECONDS + 1)
    assert await svc.run_due(None) == 1  # taken again: its event is gone, so cancelled
    assert sorted(states(any_store)) == [
        ("order_confirmation", "cancelled", "event forgotten"),
        ("order_confirmation", "sent", None),
    ]


# --- settings ------------------------------------------------------------------------------


def test_the_journey_settings_and_their_one_line_errors(any_store: SqlStore, tmp_path: Any) -> None:
    from bot.logs import secret_values
    from bot.settings import Settings, SettingsError

    plain = Settings.from_env({}, dotenv=None)
    assert (plain.journeys_path, plain.shop_name) == (SAMPLE_JOURNEYS, "온도마켓")
    assert plain.quiet_hours == "21:00-08:00" and plain.events_secret is None
    secret = "s3cret-for-the-shop-webhook"
    env = {
        "ONDO_JOURNEYS": str(SAMPLE_JOURNEYS),
        "ONDO_SHOP_NAME": "Ondo Market",
        "ONDO_QUIET_HOURS": "22:30-07:00",
        "ONDO_EVENTS_SECRET": secret,
    }
    custom = Settings.from_env(env, dotenv=None)
    assert JourneyService.from_settings(any_store, custom).quiet_hours == QuietHours.parse(
        "22:30-07:00"
    )
    assert custom.shop_name == "Ondo Market" and secret in secret_values(custom)
    for name, value, message in [
        ("ONDO_QUIET_HOURS", "9pm-8am", "ONDO_QUIET_HOURS"),
        ("ONDO_QUIET_HOURS", "25:00-08:00", "ONDO_QUIET_HOURS"),
        ("ONDO_QUIET_HOURS", "21:00", "ONDO_QUIET_HOURS"),
        ("ONDO_EVENTS_SECRET", "short", "at least 16"),
        ("ONDO_SHOP_NAME", "x" * 81, "ONDO_SHOP_NAME"),
    ]:
        with pytest.raises(SettingsError, match=message) as caught:
            Settings.from_env({name: value}, dotenv=None)
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "text",
    ["journeys: []\n", "journeys:\n  - name: x\n    trigger: a.b\n", ": : :\n", "\x00"],
)
def test_a_broken_journey_file_is_one_line_at_start(
    any_store: SqlStore, tmp_path: Any, text: str
) -> None:
    from bot.settings import Settings, SettingsError

    path = tmp_path / "journeys.yaml"
    path.write_text(text, encoding="utf-8")
    settings = Settings.from_env({"ONDO_JOURNEYS": str(path)}, dotenv=None)
    with pytest.raises(SettingsError, match="ONDO_JOURNEYS: ") as caught:
        JourneyService.from_settings(any_store, settings)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)
    ok = JourneyService.from_settings(any_store, Settings.from_env({}, dotenv=None))
    assert ok.journeys.get("cart_reminder") is not None and ok.shop_name == "온도마켓"


def test_the_events_secret_is_not_in_the_settings_repr() -> None:
    from bot.settings import Settings

    secret = "another-long-webhook-secret"
    assert secret not in repr(Settings.from_env({"ONDO_EVENTS_SECRET": secret}, dotenv=None))


# --- a simulated week ----------------------------------------------------------------------


async def test_a_simulated_week_through_the_service(
    backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    """The stream of tests/test_journey_week.py through the service and a real store: events
    arrive as the clock reaches them (resent ones too), consent comes from the shop, five
    customers write "수신거부"/"stop" mid-week, three are angry; every invariant of issue 17
    holds on what reached the outbox."""
    import json
    import random
    from collections import Counter

    from bot.journeys.events import parse_event_lines
    from bot.journeys.rules import LEGAL_NIGHT, customer_zone
    from tests.test_journey_week import START, WEEK, _stream

    store = backend.open()
    rng = random.Random(17)
    parsed = parse_event_lines(_stream(rng))
    events = sorted((p for p in parsed if isinstance(p, Event)), key=lambda e: e.occurred_at)
    ids = sorted({e.customer.customer_id for e in events})
    consenting = {c for c in ids if rng.random() < 0.6}
    night = {c for c in consenting if rng.random() < 0.2}
    who = {e.customer.customer_id: e.customer for e in events}
    clock = Clock(START)
    svc = service(store, clock)
    for n, customer in enumerate(sorted(consenting)):
        line = {
            "event_id": f"consent-{n}",
            "type": CONSENT_EVENT,
            "occurred_at": START,
            "customer": {"customer_id": customer},
            "payload": {"category": "marketing", "granted": True, "night": customer in night},
        }
        await svc.ingest(parse_event(json.dumps(line)))
    opt_outs = {c: START + 3 * DAY for c in ids[:5]}
    angry = {c: START + 4 * DAY for c in ids[5:8]}
    figures: Counter[str] = Counter()
    queue = list(events)
    tick = 600.0
    while clock.now < START + WEEK + 4 * DAY:
        while queue and queue[0].occurred_at <= clock.now:
            done = await svc.ingest(queue.pop(0))
            figures["duplicate events"] += done.duplicate
        for customer, at in list(opt_outs.items()):
            if clock.now >= at and customer in who:
                platform, user = next(iter(who[customer].identities.items()))
                text = "수신거부" if who[customer].language != "en" else "stop"
                assert await svc.opt_out(platform, user, text, who[customer].language or "ko")
                del opt_outs[customer]
        for customer, at in list(angry.items()):
            if clock.now >= at and customer in who:
                platform, user = next(iter(who[customer].identities.items()))
                message = Message(platform, f"{platform}:{user}", user, "화나요", at, f"a-{user}")
                inbound = (await store.record_inbound(message)).id
                await store.annotate_inbound(inbound, emotion="angry", emotion_score=0.9)
                raw(store, "UPDATE messages SET created_at = ? WHERE id = ?", [at, inbound])
                del angry[customer]
        await svc.run_due("week")
        clock.advance(tick)

    sends = raw(
        store,
        "SELECT journey, customer_id, category, state, reason, sent_at, outbox_id, "
        "trigger_event_id FROM journey_sends",
    )
    assert not [s for s in sends if s[3] in ("pending", "sending")], "every send is decided"
    sent = [s for s in sends if s[3] == "sent"]
    outbox = raw(store, "SELECT id FROM outbox WHERE kind = 'dm'")
    assert sorted(s[6] for s in sent) == sorted(r[0] for r in outbox), "one DM per sent send"
    opted = {c: START + 3 * DAY for c in ids[:5]}
    for journey, customer, category, _, _, at, _, trigger_id in sent:
        zone = customer_zone(who[customer].time_zone)
        local = datetime.fromtimestamp(at, zone).time()
        if category == "marketing":
            assert customer in consenting and not (customer in opted and at >= opted[customer])
            assert customer in night or not LEGAL_NIGHT.contains(local)
        if category == "review_request":
            assert not QuietHours().contains(local)
        if journey == "cart_reminder":
            trigger = next(e for e in events if e.event_id == trigger_id)
            assert not any(
                e.type == "order.placed"
                and e.payload.get("cart_id") == trigger.payload["cart_id"]
                and trigger.occurred_at <= e.occurred_at <= at
                for e in events
            ), "a cart reminder after the order of its cart"
    for s in sends:
        figures[f"{s[3]} ({s[4] or s[2]})"] += 1
    with capsys.disabled():
        print(
            f"\n[{backend.name}] a simulated week: "
            + ", ".join(sorted(f"{k}: {v}" for k, v in figures.items()))
        )
    assert figures["duplicate events"] > 0
    for key in (
        "suppressed (consent)",
        "suppressed (cap)",
        "cancelled (exit)",
        "sent (marketing)",
        "sent (review_request)",
        "sent (transactional)",
        "suppressed (anger)",
    ):
        assert figures[key] > 0, key
    replies = raw(
        store,
        "SELECT COUNT(DISTINCT customer_id) FROM journey_consent WHERE source = 'reply' "
        "AND category = 'marketing' AND granted = 0",
    )
    assert replies == [(5,)]
