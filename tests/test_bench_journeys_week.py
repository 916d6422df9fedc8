"""The simulated week of journey events (``bench/journeys_week.py``): a small run through the
real service and store prints its tables with every invariant at 0, and the invariants are
counted from the posted DMs (a duplicate, an unlabelled Korean advert, a night send and a send
without consent are each found)."""

from __future__ import annotations

import random
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest

from bench import journeys_week as week
from bench.journeys_week import INVARIANTS, Customer, Dm
from bot.journeys.rules import AD_PREFIX, OPT_OUT_LINE
from bot.types import Language


def test_a_small_week_prints_its_tables_and_every_invariant_is_zero(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert week.main(["--customers", "30", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Journeys week · SQLite · seed 3 · 30 customers")
    for journey in ("cart_reminder", "delivery_review", "order_confirmation", "vip_return_offer"):
        assert f"| Journeys week · SQLite · {journey} (" in out
    for name in INVARIANTS:
        assert f"| Journeys week · SQLite · invariants | {name} | 0 |" in out
    assert "| sent |" in out and "| suppressed: consent |" in out and "| conversions |" in out


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
    assert set(week.invariants(_sim(customer, clean), 0).values()) == {0}
    bad = [
        *clean,
        Dm(noon + 600, "slack", "U1", advert, language),
        Dm(night, "slack", "U1", review[language], language),
        Dm(noon - 7200, "slack", "U1", advert + " ", language),
        Dm(noon, "slack", "U1", advert.replace(AD_PREFIX[language] + " ", ""), language),
    ]
    found = week.invariants(_sim(customer, bad), 2)
    assert found["duplicate sends"] == 1
    assert found["marketing sent without consent"] == 1  # before the consent was given
    assert found["non-transactional DMs in the customer's quiet hours"] == 1  # the review
    assert found['Korean marketing without "(광고)" and the opt-out line'] == (
        1 if language == "ko" else 0
    )
    assert found["deferrals never resolved"] == 2
