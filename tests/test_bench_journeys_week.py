"""The simulated week of journey events (``bench/journeys_week.py``): a small run through the
real service and store prints one table (the journeys, their total and a naive baseline on the
same events) with every invariant at 0; the invariants are counted from the posted DMs (a
duplicate, an unlabelled Korean advert, a night send and a send without consent are each
found), and the baseline's breaches from the event deliveries."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest

from bench import journeys_week as week
from bench.journeys_week import INVARIANTS, Customer, Dm
from bot.journeys.definitions import SAMPLE_JOURNEYS, load_journeys
from bot.journeys.events import parse_event
from bot.journeys.rules import AD_PREFIX, OPT_OUT_LINE
from bot.types import Language


def test_a_small_week_prints_one_table_with_its_baseline_and_every_invariant_is_zero(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert week.main(["--customers", "30", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Journeys week · SQLite · seed 3 · 30 customers")
    tables = [line for line in out.splitlines() if line.startswith("| figure |")]
    assert len(tables) == 1, "one table"
    [head] = tables
    assert "Ondo (shipped fusion)" not in out and "lexical only" not in out
    for journey in ("cart_reminder", "delivery_review", "order_confirmation", "vip_return_offer"):
        assert f" {journey} (" in head
    assert "| total | naive baseline: total (per journey) | target |" in head
    for name in INVARIANTS:
        assert f"| invariant: {name} | 0 | 0 | 0 | 0 | 0 |" in out
    for figure in ("sent (DMs posted)", "suppressed: consent", "conversions", "reviews"):
        assert f"| {figure} |" in out
    rows = {line.split(" | ")[0][2:]: line.split(" | ") for line in out.splitlines()}
    # The baseline sends more than the product and breaks the rules the product keeps.
    assert int(rows["sent (DMs posted)"][6].split()[0]) > int(rows["sent (DMs posted)"][5])
    night = rows["invariant: non-transactional DMs in the customer's quiet hours"]
    assert int(night[6].split()[0]) > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--customers", "0"], "--customers"),
        (["--db", "mysql://x"], "postgresql://"),
        (["--step", "0.1"], "--step"),
    ],
)
def test_bad_arguments_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        week.main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err.strip().splitlines()[-1]


def _sim(customer: Customer, dms: list[Dm]) -> Any:
    by_user = {(p, u): customer for p, u in customer.identities.items()}
    return cast(Any, SimpleNamespace(dms=dms, by_user=by_user, redelivery_schedules=0))


@pytest.mark.parametrize("language", ["ko", "en"])
def test_the_invariants_are_counted_from_the_posted_dms(language: Language) -> None:
    rng = random.Random(0)
    [customer] = week.make_customers(rng, 1)
    customer.identities, customer.language, customer.zone = {"slack": "U1"}, language, None
    noon = datetime(2026, 12, 8, 12, 0, tzinfo=week.SEOUL).timestamp()
    night = datetime(2026, 12, 8, 23, 0, tzinfo=week.SEOUL).timestamp()
    customer.consent.append((noon - 3600, True, False))
    advert = {
        "ko": f"(광고) 온도마켓\n고객님, 장바구니에 담아 두신 감귤이(가) 아직 기다리고 있어요.\n\n"
        f"{OPT_OUT_LINE['ko']}",
        "en": "(Ad) 온도마켓\nHi, the jam in your cart is still waiting for you.\n\n"
        f"{OPT_OUT_LINE['en']}",
    }[language]
    review = {"ko": "주문하신 상품은 잘 받으셨나요?", "en": "did your order arrive safely?"}
    order = {"ko": "주문이 접수되었어요 (o-1)", "en": "We received your order o-1"}
    clean = [
        Dm(noon, "slack", "U1", advert, language),
        Dm(night, "slack", "U1", order[language], language),
    ]
    assert (
        sum(sum(c.values()) for c in week.invariants(_sim(customer, clean), Counter()).values())
        == 0
    )
    bad = [
        *clean,
        Dm(noon + 600, "slack", "U1", advert, language),
        Dm(night, "slack", "U1", review[language], language),
        Dm(noon - 7200, "slack", "U1", advert + " ", language),
        Dm(noon, "slack", "U1", advert.replace(AD_PREFIX[language] + " ", ""), language),
    ]
    found = week.invariants(_sim(customer, bad), Counter(delivery_review=2))
    assert found["duplicate sends"] == {"cart_reminder": 1}
    # before the consent was given
    assert found["marketing sent without consent"] == {"cart_reminder": 1}
    assert found["non-transactional DMs in the customer's quiet hours"] == {"delivery_review": 1}
    assert sum(found['Korean marketing without "(광고)" and the opt-out line'].values()) == (
        1 if language == "ko" else 0
    )
    assert found["deferrals never resolved"] == {"delivery_review": 2}


def test_the_naive_baseline_counts_what_the_send_rules_prevent() -> None:
    rng = random.Random(0)
    [customer] = week.make_customers(rng, 1)
    customer.identities, customer.language, customer.zone = {"slack": "U1"}, "ko", None
    customer.tier = None
    noon = datetime(2026, 12, 8, 12, 0, tzinfo=week.SEOUL).timestamp()
    evening = datetime(2026, 12, 8, 20, 30, tzinfo=week.SEOUL).timestamp()
    customer.consent.append((noon - 3600, True, False))

    def event(event_id: str, kind: str, at: float, **payload: Any) -> Any:
        body = {"event_id": event_id, "type": kind, "occurred_at": at}
        return parse_event({**body, "customer": customer.ref(), "payload": payload})

    cart = event("ev-1", "cart.abandoned", noon, cart_id="c1", items=[{"name": "잼"}])
    order = event("ev-2", "order.placed", noon + 600, cart_id="c1", order_id="o1")
    late = event("ev-3", "cart.abandoned", evening, cart_id="c2", items=[{"name": "쌀"}])
    stream = [(noon, cart), (noon + 600, order), (noon + 1200, order), (evening, late)]
    sim = SimpleNamespace(
        stream=stream,
        customers={customer.customer_id: customer},
        messengers={"slack": SimpleNamespace(refused={})},
        journeys=load_journeys(SAMPLE_JOURNEYS),
    )
    found = week.baseline(cast(Any, sim))
    # Two carts reminded an hour later, two order confirmations (one per delivery).
    assert found.sent == {"cart_reminder": 2, "order_confirmation": 2}
    assert found.violations["duplicate sends"] == {"order_confirmation": 1}
    assert found.violations["redeliveries that scheduled a send"] == {"order_confirmation": 1}
    # The first cart was ordered (delivered 10 minutes in) before its reminder was due.
    assert found.violations["sends after an exit delivered before them"] == {"cart_reminder": 1}
    # The second reminder falls at 21:30, in quiet hours, without night consent.
    assert found.violations["non-transactional DMs in the customer's quiet hours"] == {
        "cart_reminder": 1
    }
    assert found.violations["marketing sent without consent"] == Counter()
    customer.consent.append((evening, False, False))
    again = week.baseline(cast(Any, sim))
    assert again.violations["marketing sent without consent"] == {"cart_reminder": 1}
