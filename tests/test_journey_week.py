"""A simulated week of 온도마켓's events through the bundled journeys and the send rules, on a
controllable clock with an in-memory schedule (no storage): every invariant of issue 17 that
the pure core decides holds for every send — no duplicate, no exit ignored, no marketing
without consent, nothing non-transactional sent in the customer's night without consent,
every deferral ends in a send or a suppression."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.journeys.definitions import SAMPLE_JOURNEYS, Journey, load_journeys
from bot.journeys.events import Event, EventError, parse_event_lines
from bot.journeys.rules import (
    LEGAL_NIGHT,
    QuietHours,
    SendContext,
    compose_message,
    customer_zone,
    decide,
)

START = 1_796_569_200.0  # 2026-12-07 00:00 Asia/Seoul
WEEK = 7 * 86400.0
TICK = 300.0


@dataclass
class Pending:
    journey: Journey
    trigger: Event
    due: float


def _customers(rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for n in range(60):
        out.append(
            {
                "customer_id": f"c-{n}",
                "name": rng.choice(["김민지", "이서준", "Alex", "Sam", None]),
                "language": rng.choice(["ko", "ko", "en"]),
                "time_zone": rng.choice(["Asia/Seoul", "Asia/Seoul", "America/New_York", None]),
                "tier": rng.choice(["VIP", "regular", None]),
                "identities": {"slack": f"U{n}"} if n % 2 else {"discord": str(1000 + n)},
            }
        )
    return out


def _stream(rng: random.Random) -> str:
    """A week of events as JSON lines, with resent duplicates, unknown types and junk."""
    customers = _customers(rng)
    lines: list[str] = []
    serial = 0

    def emit(kind: str, at: float, who: dict[str, Any], **payload: Any) -> None:
        nonlocal serial
        serial += 1
        raw = {
            "event_id": f"e{serial}",
            "type": kind,
            "occurred_at": at,
            "customer": {k: v for k, v in who.items() if v is not None},
            "payload": payload,
        }
        lines.append(json.dumps(raw, ensure_ascii=False))
        if rng.random() < 0.1:
            lines.append(lines[-1])  # the shop resends it

    for _ in range(400):
        who = rng.choice(customers)
        at = START + rng.random() * (WEEK - 86400)
        cart = f"cart-{rng.randrange(10**6)}"
        roll = rng.random()
        if roll < 0.4:
            emit("cart.abandoned", at, who, cart_id=cart, items=[{"name": "머그컵"}])
            if rng.random() < 0.5:
                order = f"o-{rng.randrange(10**6)}"
                emit("order.placed", at + rng.random() * 7200, who, cart_id=cart, order_id=order)
        elif roll < 0.7:
            order = f"o-{rng.randrange(10**6)}"
            emit("order.placed", at, who, cart_id=cart, order_id=order)
            emit("order.delivered", at + 2 * 86400, who, order_id=order)
        elif roll < 0.9:
            emit("customer.returned", at, who, visit_id=f"v-{rng.randrange(10**6)}")
        else:
            emit("wishlist.added", at, who, item="텀블러")
    lines.append('{"event_id": "bad", "type": "order.placed"}')
    lines.append("not json at all")
    return "\n".join(lines)


def test_a_simulated_week() -> None:
    rng = random.Random(17)
    journeys = load_journeys(SAMPLE_JOURNEYS)
    parsed = parse_event_lines(_stream(rng))
    errors = [p for p in parsed if isinstance(p, EventError)]
    events = sorted((p for p in parsed if isinstance(p, Event)), key=lambda e: e.occurred_at)
    assert len(errors) == 2

    ids = sorted({e.customer.customer_id for e in events})  # sorted: no hash order
    consent = {c: rng.random() < 0.6 for c in ids}
    night = {c: rng.random() < 0.2 for c in consent}
    opted_out_at = {c: START + 3 * 86400 for c in ids[:5]}  # "수신거부" mid-week
    angry_at = {c: START + 4 * 86400 for c in ids[5:8]}

    seen: set[str] = set()
    keys: set[str] = set()
    pending: list[Pending] = []
    sent: list[tuple[Pending, float, str]] = []
    sent_at: dict[tuple[str, str], list[float]] = {}
    figures: Counter[str] = Counter()
    queue = list(events)
    now = START
    while now < START + WEEK + 4 * 86400:  # the last deliveries' review requests too
        while queue and queue[0].occurred_at <= now:
            event = queue.pop(0)
            if event.event_id in seen:
                figures["duplicate events"] += 1
                continue
            seen.add(event.event_id)
            for p in [p for p in pending if p.journey.exits(p.trigger, event)]:
                pending.remove(p)
                figures["exited"] += 1
            for journey in journeys.triggered_by(event):
                key = journey.dedupe_key(event)
                if key in keys:
                    figures["deduplicated"] += 1
                    continue
                keys.add(key)
                pending.append(Pending(journey, event, journey.due_at(event)))
                figures["scheduled"] += 1
        for p in [p for p in pending if p.due <= now]:
            who = p.trigger.customer.customer_id
            category = p.journey.category
            marketing_ok = consent[who] and not (who in opted_out_at and now >= opted_out_at[who])
            context = SendContext.for_journey(
                p.journey,
                now,
                consent={"marketing": marketing_ok},
                night_consent=night[who],
                last_anger_at=angry_at.get(who),
                journey_sends=sent_at.get((who, p.journey.name), []),
                category_sends=sent_at.get((who, category), []),
                time_zone=p.trigger.customer.time_zone,
            )
            decision = decide(context)
            if decision.action == "defer":
                assert decision.until is not None and decision.until > now
                p.due = decision.until
                figures["deferred (quiet_hours)"] += 1
                continue
            pending.remove(p)
            if decision.action == "suppress":
                figures[f"suppressed ({decision.reason})"] += 1
                continue
            language = p.trigger.customer.language or "ko"
            text = compose_message(p.journey, p.trigger, language, "온도마켓")
            sent.append((p, now, text))
            for scope in (p.journey.name, category):
                sent_at.setdefault((who, scope), []).append(now)
            figures[f"sent ({category})"] += 1
        now += TICK

    assert not pending, "every send ends sent or suppressed"
    sent_keys = [p.journey.dedupe_key(p.trigger) for p, _, _ in sent]
    assert len(sent_keys) == len(set(sent_keys)), "no duplicate sends"
    for p, at, text in sent:
        who = p.trigger.customer.customer_id
        local = datetime.fromtimestamp(at, customer_zone(p.trigger.customer.time_zone)).time()
        if p.journey.category == "marketing":
            assert consent[who] and not (who in opted_out_at and at >= opted_out_at[who])
            assert night[who] or not LEGAL_NIGHT.contains(local)
            assert text.startswith("(광고) 온도마켓") or text.startswith("(Ad) 온도마켓")
        elif p.journey.category == "review_request":
            assert not QuietHours().contains(local)
        if p.journey.name == "cart_reminder":
            cart = p.trigger.payload["cart_id"]
            assert not any(
                e.type == "order.placed"
                and e.payload.get("cart_id") == cart
                and p.trigger.occurred_at <= e.occurred_at <= at
                for e in events
            ), "a cart reminder after the order of its cart"
    assert figures["duplicate events"] > 0
    assert figures["exited"] > 0
    assert figures["deferred (quiet_hours)"] > 0
    assert figures["suppressed (consent)"] > 0
    assert figures["suppressed (cap)"] > 0
    assert figures["suppressed (anger)"] > 0
    assert figures["sent (marketing)"] > 0
    assert figures["sent (review_request)"] > 0
    assert figures["sent (transactional)"] > 0
