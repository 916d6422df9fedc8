"""Journeys' storage on both backends: an event is stored once; a dedupe key schedules once;
an exit event cancels what is not sent yet; a due send is claimed by one replica, and a crashed
or dead replica's claim is taken over without a second post; caps count what was sent; the
consent ledger keeps its history and the latest entry wins; forgetting a customer deletes their
journey rows; nothing personal is stored in clear once a key is set. Times are given, never
waited for."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from bot.storage.crypto import cipher_for, generate_key
from bot.storage.journey_records import (
    MAX_PAYLOAD_BYTES,
    SEND_LEASE_SECONDS,
    SEND_MAX_CLAIMS,
    JourneyStoreError,
)
from bot.storage.records import DEAD_AFTER_SECONDS, Post, StoreError
from bot.storage.sql.store import SqlStore
from tests.backends import Backend, raw

NOW = 1_800_000_000.0
HOUR = 3600.0
DAY = 86400.0
PAYLOADS = {
    "ko": {"cart_id": "c-1", "items": [{"name": "제주 감귤 5kg", "price": 19900}]},
    "en": {"cart_id": "c-1", "items": [{"name": "Jeju tangerines 5kg", "price": 19900}]},
}
TEXTS = {
    "ko": "(광고) 온도마켓: 김민지님, 장바구니의 감귤이 할인 중이에요. 수신거부: 답장 '수신거부'",
    "en": "(Ad) Ondo Market: Minji, the tangerines in your cart are on sale. Reply STOP to opt out",
}


async def schedule(store: SqlStore, key: str = "c-1", **fields: Any) -> int | None:
    """A cart reminder for customer ``cust-1`` due at ``NOW``, unless ``fields`` say else."""
    values: dict[str, Any] = {
        "category": "marketing",
        "dedupe_key": key,
        "due_at": NOW,
        "match_value": key,
        "platform": "slack",
        "text": TEXTS["ko"],
        "language": "ko",
        "at": NOW - HOUR,
    }
    values.update(fields)
    journey = values.pop("journey", "cart_reminder")
    customer = values.pop("customer", "cust-1")
    return await store.journeys.schedule(journey, customer, **values)


def dm(text: str = TEXTS["ko"], user: str = "U1") -> Post:
    return Post("slack", "dm", user, text, "journey", None, "ko")


# --- events ----------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_a_duplicate_event_is_ignored_even_after_a_restart(
    backend: Backend, language: str
) -> None:
    store = backend.open()
    payload = PAYLOADS[language]
    args = ("ev-1", "cart.abandoned", NOW, "cust-1", payload)
    assert await store.journeys.record_event(*args, received_at=NOW) is True
    assert await store.journeys.record_event(*args, received_at=NOW + 1) is False
    store.close()
    again = backend.open()
    assert await again.journeys.record_event(*args, received_at=NOW + 2) is False
    event = await again.journeys.event("ev-1")
    assert event is not None
    assert (event.type, event.customer_id, event.received_at) == ("cart.abandoned", "cust-1", NOW)
    assert event.payload == payload
    assert raw(again, "SELECT COUNT(*) FROM journey_events") == [(1,)]
    assert await again.journeys.event("ev-unknown") is None


async def test_a_customers_events_are_read_back_in_the_order_they_occurred(
    any_store: SqlStore,
) -> None:
    journeys = any_store.journeys
    await journeys.record_event("ev-2", "order.placed", NOW + 60, "cust-1", {"order": "A-1"})
    await journeys.record_event("ev-1", "cart.abandoned", NOW, "cust-1", PAYLOADS["ko"])
    await journeys.record_event("ev-3", "order.placed", NOW, "cust-2", {})
    assert [e.event_id for e in await journeys.events("cust-1")] == ["ev-1", "ev-2"]
    [placed] = await journeys.events("cust-1", since=NOW + 1, type="order.placed")
    assert placed.payload == {"order": "A-1"}
    assert await journeys.events("cust-1", type="customer.returned") == []


async def test_an_unknown_event_type_is_stored(any_store: SqlStore) -> None:
    assert await any_store.journeys.record_event("ev-9", "loyalty.birthday", NOW, "c", {})
    event = await any_store.journeys.event("ev-9")
    assert event is not None and event.type == "loyalty.birthday" and event.payload == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", "cart.abandoned", NOW, "c", {}), "event_id must be a non-empty string"),
        (("   ", "cart.abandoned", NOW, "c", {}), "event_id must be a non-empty string"),
        (("e" * 201, "cart.abandoned", NOW, "c", {}), "event_id is longer than 200"),
        (("e\x00", "cart.abandoned", NOW, "c", {}), "event_id contains a NUL"),
        (("e", "cart.abandoned", float("nan"), "c", {}), "occurred_at must be a finite"),
        (("e", "cart.abandoned", "어제", "c", {}), "occurred_at must be a finite"),
        (("e", "cart.abandoned", NOW, None, {}), "customer_id must be a non-empty"),
        (("e", "cart.abandoned", NOW, "c", ["not", "an", "object"]), "must be a JSON object"),
        (("e", "cart.abandoned", NOW, "c", {"when": {1, 2}}), "payload is not JSON"),
        (("e", "cart.abandoned", NOW, "c", {"n": float("inf")}), "payload is not JSON"),
        (
            ("e", "cart.abandoned", NOW, "c", {"big": "가" * MAX_PAYLOAD_BYTES}),
            "payload is larger than",
        ),
    ],
)
async def test_a_malformed_event_is_a_one_line_error_and_stores_nothing(
    any_store: SqlStore, args: tuple[Any, ...], message: str
) -> None:
    with pytest.raises(JourneyStoreError, match=message) as caught:
        await any_store.journeys.record_event(*args)
    assert "\n" not in str(caught.value)
    assert raw(any_store, "SELECT COUNT(*) FROM journey_events") == [(0,)]


# --- customers and identities ----------------------------------------------------------------


async def test_customers_are_upserted_and_identities_link_both_ways(any_store: SqlStore) -> None:
    journeys = any_store.journeys
    await journeys.upsert_customer(
        "cust-1", name="김민지", language="ko", time_zone="Asia/Seoul", tier="VIP", at=NOW
    )
    # A later event without a name or tier keeps them.
    await journeys.upsert_customer("cust-1", language="en", at=NOW + 1)
    await journeys.link("cust-1", "slack", "U1", at=NOW)
    await journeys.link("cust-1", "discord", "4242", at=NOW + 1)
    customer = await journeys.customer("cust-1")
    assert customer is not None
    assert (customer.name, customer.language, customer.time_zone, customer.tier) == (
        "김민지",
        "en",
        "Asia/Seoul",
        "VIP",
    )
    assert customer.updated_at == NOW + 1
    assert [(i.platform, i.user) for i in customer.identities] == [
        ("slack", "U1"),
        ("discord", "4242"),
    ]
    assert await journeys.customer_for("slack", "U1") == "cust-1"
    assert await journeys.customer_for("discord", "U1") is None
    assert await journeys.customer("nobody") is None
    with pytest.raises(JourneyStoreError, match="name is longer than 500"):
        await journeys.upsert_customer("cust-1", name="x" * 501)


async def test_relinking_moves_an_identity_and_clears_another_customers_mark(
    any_store: SqlStore,
) -> None:
    journeys = any_store.journeys
    await journeys.link("cust-1", "discord", "4242", at=NOW)
    assert await journeys.mark_undeliverable("discord", "4242", "50007", at=NOW + 1)
    await journeys.link("cust-1", "discord", "4242", at=NOW + 2)
    [same] = await journeys.identities("cust-1")
    assert (same.undeliverable_at, same.undeliverable_reason) == (NOW + 1, "50007")
    await journeys.link("cust-2", "discord", "4242", at=NOW + 3)
    assert await journeys.identities("cust-1") == []
    [moved] = await journeys.identities("cust-2")
    assert (moved.customer_id, moved.undeliverable_at) == ("cust-2", None)
    assert await journeys.unlink("cust-1", "discord", "4242") is False
    assert await journeys.unlink("cust-2", "discord", "4242") is True
    assert await journeys.customer_for("discord", "4242") is None
    assert await journeys.mark_undeliverable("discord", "4242", "50007") is False


# --- scheduling, exit, claims ----------------------------------------------------------------


async def test_a_dedupe_key_schedules_once(backend: Backend) -> None:
    store = backend.open()
    first = await schedule(store)
    assert first is not None
    assert await schedule(store, text=TEXTS["en"]) is None
    # Across a restart, and only for the same journey and customer.
    again = backend.open()
    assert await schedule(again) is None
    assert await schedule(again, "c-2") is not None
    assert await schedule(again, journey="review_request") is not None
    assert await schedule(again, customer="cust-2") is not None
    sent = await again.journeys.send(first)
    assert sent is not None
    assert (sent.state, sent.text, sent.due_at) == ("pending", TEXTS["ko"], NOW)
    assert raw(again, "SELECT COUNT(*) FROM journey_sends") == [(4,)]


async def test_an_exit_event_cancels_only_its_match_before_the_send(any_store: SqlStore) -> None:
    journeys = any_store.journeys
    cart1 = await schedule(any_store, "c-1")
    cart2 = await schedule(any_store, "c-2")
    other = await schedule(any_store, "c-1", customer="cust-2")
    assert await journeys.cancel_pending("cust-1", "c-1", journey="cart_reminder") == 1
    assert await journeys.cancel_pending("cust-1", "c-1") == 0  # nothing left to cancel
    due = await journeys.take_due(NOW, None)
    assert sorted(s.id for s in due) == sorted([cart2, other])
    cancelled = await journeys.send(cart1 or 0)
    assert cancelled is not None and (cancelled.state, cancelled.reason) == ("cancelled", "exit")


async def test_an_exit_while_a_send_is_decided_wins_and_nothing_is_queued(
    any_store: SqlStore,
) -> None:
    journeys = any_store.journeys
    await schedule(any_store)
    [claimed] = await journeys.take_due(NOW, None)
    assert (claimed.state, claimed.attempts) == ("sending", 1)
    assert await journeys.cancel_pending("cust-1", "c-1") == 1
    assert await journeys.finish(claimed.id, "sent", post=dm()) is False
    assert raw(any_store, "SELECT COUNT(*) FROM outbox") == [(0,)]
    assert await journeys.take_due(NOW + DAY, None) == []


async def test_a_send_is_not_taken_before_it_is_due(any_store: SqlStore) -> None:
    await schedule(any_store, due_at=NOW + HOUR)
    assert await any_store.journeys.take_due(NOW, None) == []
    assert len(await any_store.journeys.take_due(NOW + HOUR, None)) == 1


async def test_a_due_send_is_taken_once_by_two_replicas(backend: Backend) -> None:
    one, two = backend.open(), backend.open()
    now = time.time()  # heartbeats are the wall clock's
    await one.replicas.join("one", platforms=("slack",))
    await two.replicas.join("two", platforms=("slack",))
    ids = [await schedule(one, customer=f"cust-{n}", due_at=now - n) for n in range(12)]
    taken = await asyncio.gather(
        one.journeys.take_due(now, "one", limit=8), two.journeys.take_due(now, "two", limit=8)
    )
    got = [s.id for batch in taken for s in batch]
    assert sorted(got) == sorted(i for i in ids if i is not None)
    assert len(set(got)) == 12
    # Nothing is claimable again while both live and hold their leases.
    assert await one.journeys.take_due(now, "one") == []
    for store, batch in zip((one, two), taken, strict=True):
        for send in batch:
            assert await store.journeys.finish(send.id, "sent", sent_at=now, post=dm())
    assert raw(one, "SELECT COUNT(*) FROM outbox WHERE kind = 'dm'") == [(12,)]
    linked = raw(one, "SELECT COUNT(*) FROM journey_sends s JOIN outbox o ON o.id = s.outbox_id")
    assert linked == [(12,)]


async def test_one_send_per_customer_is_decided_at_a_time(backend: Backend) -> None:
    one, two = backend.open(), backend.open()
    now = time.time()
    await one.replicas.join("one", platforms=("slack",))
    await two.replicas.join("two", platforms=("slack",))
    first = await schedule(one, "c-1", due_at=now - 2)
    second = await schedule(one, "c-2", due_at=now - 1)
    other = await schedule(one, "c-1", customer="cust-2", due_at=now)
    assert [s.id for s in await one.journeys.take_due(now, "one")] == [first, other]
    assert await two.journeys.take_due(now, "two") == []  # cust-1's first is being decided
    assert await one.journeys.finish(first or 0, "sent", sent_at=now)
    assert [s.id for s in await two.journeys.take_due(now, "two")] == [second]


async def test_a_dead_replicas_claim_is_taken_over_and_posted_once(backend: Backend) -> None:
    one, two = backend.open(), backend.open()
    now = time.time()
    await one.replicas.join("one", platforms=("slack",))
    await two.replicas.join("two", platforms=("slack",))
    send_id = await schedule(one, due_at=now)
    [claimed] = await one.journeys.take_due(now, "one")
    assert claimed.claimed_by == "one"
    assert await two.journeys.take_due(now, "two") == []  # "one" is alive, its lease holds
    dead = now - DEAD_AFTER_SECONDS - 1
    raw(two, "UPDATE replicas SET heartbeat_at = ? WHERE id = 'one'", [dead])
    [taken] = await two.journeys.take_due(now, "two")
    assert (taken.id, taken.claimed_by, taken.attempts) == (send_id, "two", 2)
    assert await two.journeys.finish(taken.id, "sent", sent_at=now, post=dm()) is True
    # "one" wakes up and finishes too late: no second post.
    assert await one.journeys.finish(claimed.id, "sent", sent_at=now, post=dm()) is False
    assert await one.journeys.defer(claimed.id, now + HOUR, "quiet_hours") is False
    [item] = await one.outbox.take(["slack"], "one")
    assert (item.kind, item.target, item.text) == ("dm", "U1", TEXTS["ko"])
    done = await one.journeys.send(send_id or 0)
    assert done is not None and (done.state, done.sent_at, done.outbox_id) == ("sent", now, item.id)


async def test_a_crash_between_due_and_sent_sends_once_after_restart(backend: Backend) -> None:
    store = backend.open()
    await schedule(store, text=TEXTS["en"], language="en")
    [claimed] = await store.journeys.take_due(NOW, None)
    store.close()  # the process dies before deciding: nothing was posted
    restarted = backend.open()
    assert await restarted.journeys.take_due(NOW + SEND_LEASE_SECONDS - 1, None) == []
    [again] = await restarted.journeys.take_due(NOW + SEND_LEASE_SECONDS + 1, None)
    assert (again.id, again.attempts, again.text) == (claimed.id, 2, TEXTS["en"])
    assert await restarted.journeys.finish(again.id, "sent", post=dm(TEXTS["en"]))
    assert await restarted.journeys.take_due(NOW + DAY, None) == []
    assert raw(restarted, "SELECT COUNT(*) FROM outbox") == [(1,)]


async def test_a_send_that_crashes_every_claim_is_given_up(any_store: SqlStore) -> None:
    await schedule(any_store)
    at = NOW
    for _ in range(SEND_MAX_CLAIMS):
        assert len(await any_store.journeys.take_due(at, None)) == 1
        at += SEND_LEASE_SECONDS + 1
    assert await any_store.journeys.take_due(at, None) == []
    [stuck] = await any_store.journeys.sends("cust-1")
    assert (stuck.state, stuck.reason) == ("undeliverable", "stuck")


async def test_a_deferred_send_comes_back_when_due_and_counts_its_deferral(
    any_store: SqlStore,
) -> None:
    journeys = any_store.journeys
    await schedule(any_store)
    [claimed] = await journeys.take_due(NOW, None)
    morning = NOW + 9 * HOUR
    assert await journeys.defer(claimed.id, morning, "quiet_hours") is True
    assert await journeys.defer(claimed.id, morning, "quiet_hours") is False  # not claimed now
    assert await journeys.take_due(morning - 1, None) == []
    [back] = await journeys.take_due(morning, None)
    assert (back.id, back.attempts, back.deferrals) == (claimed.id, 1, 1)
    assert back.reason == "quiet_hours"
    with pytest.raises(JourneyStoreError, match="cannot finish as 'pending'"):
        await journeys.finish(back.id, "pending")  # type: ignore[arg-type]
    with pytest.raises(JourneyStoreError, match="only a sent send has a post"):
        await journeys.finish(back.id, "suppressed", "consent", post=dm())
    assert await journeys.finish(back.id, "suppressed", "consent") is True
    [stats] = await journeys.stats(NOW - DAY)
    assert (stats.journey, stats.scheduled, stats.sent, stats.deferred) == (
        "cart_reminder",
        1,
        0,
        1,
    )
    assert stats.suppressed == {"consent": 1}


async def test_a_refused_dm_marks_the_send_and_the_identity_undeliverable(
    any_store: SqlStore,
) -> None:
    journeys = any_store.journeys
    await journeys.link("cust-1", "discord", "4242", at=NOW)
    await schedule(any_store, platform="discord")
    [claimed] = await journeys.take_due(NOW, None)
    assert await journeys.finish(claimed.id, "sent", post=Post("discord", "dm", "4242", "hi"))
    assert await journeys.undeliverable(claimed.id, "discord 50007", at=NOW + 1) is True
    [identity] = await journeys.identities("cust-1")
    assert (identity.undeliverable_at, identity.undeliverable_reason) == (NOW + 1, "discord 50007")
    [stats] = await journeys.stats(NOW - DAY)
    assert (stats.sent, stats.undeliverable) == (0, 1)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"text": "가" * 20_001}, "text is longer than 20000"),
        ({"text": "Hello\x00"}, "text contains a NUL"),
        ({"due_at": float("inf")}, "due_at must be a finite"),
        ({"category": ""}, "category must be a non-empty"),
        ({"dedupe_key": None}, "dedupe_key must be a non-empty"),
        ({"journey": "j" * 201}, "journey is longer than 200"),
        ({"trigger_event_id": "e" * 201}, "trigger_event_id is longer than 200"),
    ],
)
async def test_a_malformed_send_is_a_one_line_error_and_schedules_nothing(
    any_store: SqlStore, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(JourneyStoreError, match=message):
        await schedule(any_store, **fields)
    with pytest.raises(JourneyStoreError, match="user must be a non-empty"):
        await any_store.journeys.link("cust-1", "slack", "")
    assert raw(any_store, "SELECT COUNT(*) FROM journey_sends") == [(0,)]


# --- caps and figures ------------------------------------------------------------------------


async def test_caps_count_what_was_sent_in_the_window(any_store: SqlStore) -> None:
    journeys = any_store.journeys
    for n, (journey, category) in enumerate(
        [
            ("cart_reminder", "marketing"),
            ("vip_offer", "marketing"),
            ("review_request", "review_request"),
            ("cart_reminder", "marketing"),
        ]
    ):
        await schedule(any_store, f"k-{n}", journey=journey, category=category, due_at=NOW + n)
    for n in range(4):  # one send of a customer at a time, earliest first
        [send] = await journeys.take_due(NOW + 10, None)
        assert send.dedupe_key == f"k-{n}"
        if n < 3:
            assert await journeys.finish(send.id, "sent", sent_at=send.due_at)
        else:
            assert await journeys.finish(send.id, "suppressed", "cap")
    count = journeys.count_sent
    assert await count("cust-1", since=NOW - DAY, category="marketing") == 2
    assert await count("cust-1", since=NOW + 1, category="marketing") == 1
    assert await count("cust-1", since=NOW - DAY, journey="cart_reminder") == 1
    assert await count("cust-1", since=NOW - DAY) == 3
    assert await count("cust-2", since=NOW - DAY) == 0
    figures = {s.journey: s for s in await journeys.stats(NOW - DAY)}
    assert sorted(figures) == ["cart_reminder", "review_request", "vip_offer"]
    cart = figures["cart_reminder"]
    assert (cart.scheduled, cart.sent, cart.pending, cart.suppressed) == (2, 1, 0, {"cap": 1})
    assert await journeys.stats(NOW) == []  # created an hour before NOW


# --- consent ---------------------------------------------------------------------------------


async def test_the_consent_ledger_keeps_history_and_the_latest_entry_wins(
    any_store: SqlStore,
) -> None:
    journeys = any_store.journeys
    assert await journeys.consent("cust-1", "marketing") is None
    await journeys.set_consent(
        "cust-1",
        "marketing",
        granted=True,
        night=True,
        source="webhook",
        evidence="signup form #881",
        at=NOW,
    )
    await journeys.set_consent(
        "cust-1", "marketing", granted=False, source="opt-out", evidence="수신거부", at=NOW + 5
    )
    await journeys.set_consent(
        "cust-1", "review_request", granted=False, source="opt-out", evidence="STOP", at=NOW + 1
    )
    # An older entry recorded later (a late webhook) does not override the opt-out.
    await journeys.set_consent("cust-1", "marketing", granted=True, source="webhook", at=NOW + 2)
    current = await journeys.consent("cust-1", "marketing")
    assert current is not None
    assert (current.granted, current.night, current.evidence) == (False, False, "수신거부")
    history = await journeys.consent_history("cust-1")
    assert [(c.category, c.granted, c.at) for c in history] == [
        ("marketing", True, NOW),
        ("review_request", False, NOW + 1),
        ("marketing", True, NOW + 2),
        ("marketing", False, NOW + 5),
    ]
    assert history[0].night is True and history[0].evidence == "signup form #881"
    # Two entries at the same moment: the one recorded last.
    await journeys.set_consent("cust-1", "marketing", granted=True, source="button", at=NOW + 5)
    latest = await journeys.consent("cust-1", "marketing")
    assert latest is not None and (latest.granted, latest.source) == (True, "button")
    with pytest.raises(JourneyStoreError, match="source must be a non-empty"):
        await journeys.set_consent("cust-1", "marketing", granted=True, source="")


# --- privacy ---------------------------------------------------------------------------------


async def fill(store: SqlStore, customer: str = "cust-1", user: str = "U1") -> None:
    """A customer with a profile, a link, an event, a sent DM still queued and consent."""
    journeys = store.journeys
    await journeys.upsert_customer(customer, name="김민지", language="ko", at=NOW)
    await journeys.link(customer, "slack", user, at=NOW)
    await journeys.record_event(f"ev-{customer}", "cart.abandoned", NOW, customer, PAYLOADS["ko"])
    await schedule(store, customer=customer)
    [send] = [s for s in await journeys.take_due(NOW, None) if s.customer_id == customer]
    await journeys.finish(send.id, "sent", post=dm(user=user))
    await journeys.set_consent(
        customer, "marketing", granted=True, source="webhook", evidence="가입 동의서 881", at=NOW
    )


async def test_forgetting_a_user_deletes_their_journey_rows_only(any_store: SqlStore) -> None:
    await fill(any_store, "cust-1", "U1")
    await fill(any_store, "cust-2", "U2")
    exported = await any_store.retention.export_user("U1")
    [mine] = exported["journeys"]
    assert mine["profile"]["name"] == "김민지"
    assert mine["events"][0]["payload"].startswith("{")
    assert "감귤" in mine["events"][0]["payload"]
    assert mine["sends"][0]["text"] == TEXTS["ko"]
    assert mine["consent"][0]["evidence"] == "가입 동의서 881"
    deleted = await any_store.retention.forget_user("U1")
    assert {k: v for k, v in deleted.items() if k.startswith("journey_")} == {
        "journey_events": 1,
        "journey_sends": 1,
        "journey_consent": 1,
        "journey_identities": 1,
        "journey_customers": 1,
    }
    assert await any_store.journeys.customer("cust-1") is None
    assert await any_store.journeys.consent_history("cust-1") == []
    assert raw(any_store, "SELECT target FROM outbox") == [("U2",)]
    assert (await any_store.retention.export_user("U1"))["journeys"] == []
    # The other customer is untouched; an unlinked user has no journey counts.
    assert await any_store.journeys.customer_for("slack", "U2") == "cust-2"
    assert "journey_events" not in await any_store.retention.forget_user("U-nobody")
    deleted = await any_store.retention.forget_customer("cust-2")
    assert deleted["journey_events"] == 1 and deleted["journey_customers"] == 1
    assert raw(any_store, "SELECT COUNT(*) FROM outbox") == [(0,)]


async def test_purge_deletes_old_events_and_decided_sends_but_not_pending_ones(
    any_store: SqlStore,
) -> None:
    journeys = any_store.journeys
    old = time.time() - 100 * DAY
    await journeys.record_event("ev-old", "order.placed", old, "cust-1", {}, received_at=old)
    await journeys.record_event("ev-new", "order.placed", NOW, "cust-1", {})
    await schedule(any_store, "decided", at=old)
    await schedule(any_store, "waiting", at=old, due_at=NOW + DAY)
    [decided] = await journeys.take_due(NOW, None)
    await journeys.finish(decided.id, "suppressed", "consent")
    deleted = await any_store.retention.purge(90 * DAY)
    assert (deleted["journey_events"], deleted["journey_sends"]) == (1, 1)
    assert await journeys.event("ev-old") is None and await journeys.event("ev-new") is not None
    assert [s.dedupe_key for s in await journeys.sends("cust-1")] == ["waiting"]
    assert "journey_events" not in await any_store.retention.purge(90 * DAY)


async def test_nothing_personal_is_stored_in_clear_with_a_key(backend: Backend) -> None:
    key = generate_key()
    store = backend.open(cipher_for(key))
    await fill(store)
    await store.journeys.record_event(
        "ev-en", "order.delivered", NOW, "cust-1", {"address": "221B Baker Street"}
    )
    stored = " ".join(
        str(value)
        for table, column in (
            ("journey_events", "payload"),
            ("journey_customers", "name"),
            ("journey_sends", "text"),
            ("journey_consent", "evidence"),
            ("outbox", "text"),
        )
        for (value,) in raw(store, f"SELECT {column} FROM {table}")
    )
    for secret in ["김민지", "감귤", "가입 동의서", "Baker Street", "광고"]:
        assert secret not in stored, secret
    if backend.name == "postgresql":  # every text column of every table
        columns = raw(
            store,
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND data_type = 'text'",
        )
        everything = " ".join(
            str(v) for t, c in columns for (v,) in raw(store, f'SELECT "{c}" FROM {t}') if v
        )
        for secret in ["김민지", "감귤", "가입 동의서", "Baker Street", "광고"]:
            assert secret not in everything, secret
    customer = await store.journeys.customer("cust-1")
    assert customer is not None and customer.name == "김민지"
    raw(store, "DELETE FROM outbox")  # the journey columns alone are checked at start
    store.close()
    with pytest.raises(StoreError, match="cannot be decrypted"):
        backend.open(cipher_for(generate_key()))
    store = backend.open(cipher_for(key))
    # A rotation reseals the journey columns too: the new key alone reads them.
    second = generate_key()
    assert await store.retention.reseal(cipher_for(second)) == 5
    store.close()
    rotated = backend.open(cipher_for(second))
    event = await rotated.journeys.event("ev-en")
    assert event is not None and event.payload == {"address": "221B Baker Street"}
    consent = await rotated.journeys.consent("cust-1", "marketing")
    assert consent is not None and consent.evidence == "가입 동의서 881"
