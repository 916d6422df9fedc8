"""The rules of a send over plain values: consent, handoff, anger, caps, quiet hours across
midnight in Asia/Seoul and America/New_York (DST days included), and the Korean law's message
form for marketing."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.journeys.definitions import SAMPLE_JOURNEYS, Cap, JourneyError, load_journeys
from bot.journeys.events import parse_event
from bot.journeys.rules import (
    ANGER_WINDOW,
    REASONS,
    Decision,
    QuietHours,
    SendContext,
    compose_message,
    decide,
)

SEOUL = ZoneInfo("Asia/Seoul")
NEW_YORK = ZoneInfo("America/New_York")
DAY = 86400.0


def at(zone: ZoneInfo, *parts: int, fold: int = 0) -> float:
    return datetime(*parts, tzinfo=zone, fold=fold).timestamp()  # type: ignore[misc]


NOON = at(SEOUL, 2026, 12, 7, 12, 0)


def ctx(**overrides: Any) -> SendContext:
    base = SendContext(
        now=NOON,
        category="marketing",
        consent={"marketing": True},
        time_zone="Asia/Seoul",
    )
    return replace(base, **overrides)


def test_reasons_are_exactly_the_six() -> None:
    assert REASONS == ("consent", "quiet_hours", "cap", "handoff", "anger", "undeliverable")


def test_a_plain_daytime_marketing_send_goes() -> None:
    assert decide(ctx()) == Decision.send()


# --- quiet hours -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "until"),
    [
        ((2026, 12, 7, 21, 0), (2026, 12, 8, 8, 0)),
        ((2026, 12, 7, 22, 30), (2026, 12, 8, 8, 0)),
        ((2026, 12, 7, 23, 59, 59), (2026, 12, 8, 8, 0)),
        ((2026, 12, 8, 0, 0), (2026, 12, 8, 8, 0)),
        ((2026, 12, 8, 7, 59, 59), (2026, 12, 8, 8, 0)),
        ((2026, 12, 31, 23, 0), (2027, 1, 1, 8, 0)),
    ],
)
def test_quiet_hours_in_seoul_defer_across_midnight(
    local: tuple[int, ...], until: tuple[int, ...]
) -> None:
    for category in ("marketing", "review_request"):
        decision = decide(ctx(now=at(SEOUL, *local), category=category))
        assert decision == Decision.defer(at(SEOUL, *until)), category
        assert decision.reason == "quiet_hours"


@pytest.mark.parametrize("local", [(2026, 12, 7, 8, 0), (2026, 12, 7, 20, 59, 59)])
def test_the_edges_of_the_day_are_allowed(local: tuple[int, ...]) -> None:
    assert decide(ctx(now=at(SEOUL, *local))) == Decision.send()


def test_the_deferred_send_goes_when_it_is_due_again() -> None:
    first = decide(ctx(now=at(SEOUL, 2026, 12, 7, 23, 0)))
    assert first.action == "defer" and first.until is not None
    assert decide(ctx(now=first.until)) == Decision.send()


def test_new_york_an_ordinary_night() -> None:
    ny = {"time_zone": "America/New_York"}
    decision = decide(ctx(now=at(NEW_YORK, 2026, 12, 7, 22, 15), **ny))
    assert decision.until == at(NEW_YORK, 2026, 12, 8, 8, 0)
    assert decision.until == datetime(2026, 12, 8, 13, 0, tzinfo=ZoneInfo("UTC")).timestamp()
    # Noon in Seoul is 22:00 in New York: the customer's zone decides, not the shop's.
    assert decide(ctx(now=NOON, **ny)).action == "defer"


def test_new_york_spring_forward_is_08_00_local_eight_real_hours_later() -> None:
    now = at(NEW_YORK, 2026, 3, 7, 23, 0)  # EST; clocks jump 02:00 -> 03:00 on March 8
    decision = decide(ctx(now=now, time_zone="America/New_York"))
    assert decision.until is not None
    assert decision.until - now == 8 * 3600  # nine wall-clock hours, eight real ones
    local = datetime.fromtimestamp(decision.until, NEW_YORK)
    assert (local.hour, local.minute) == (8, 0)
    assert local.utcoffset().total_seconds() == -4 * 3600  # type: ignore[union-attr]


def test_new_york_fall_back_is_08_00_local_eleven_real_hours_later() -> None:
    now = at(NEW_YORK, 2026, 10, 31, 22, 0)  # EDT; clocks go 02:00 -> 01:00 on November 1
    decision = decide(ctx(now=now, time_zone="America/New_York"))
    assert decision.until is not None
    assert decision.until - now == 11 * 3600
    local = datetime.fromtimestamp(decision.until, NEW_YORK)
    assert (local.hour, local.minute) == (8, 0)
    assert local.utcoffset().total_seconds() == -5 * 3600  # type: ignore[union-attr]
    # Either 01:30 of that night (EDT, then EST again) waits for the same 08:00.
    for fold in (0, 1):
        again = decide(
            ctx(now=at(NEW_YORK, 2026, 11, 1, 1, 30, fold=fold), time_zone="America/New_York")
        )
        assert again.until == decision.until


def test_an_end_inside_the_dst_gap_moves_past_the_gap() -> None:
    # 02:30 does not exist in New York on 2026-03-08: the window ends at 03:30 EDT, 07:30 UTC.
    gap = QuietHours(time(21, 0), time(2, 30))
    now = at(NEW_YORK, 2026, 3, 8, 1, 0)
    review = ctx(now=now, category="review_request", time_zone="America/New_York", quiet_hours=gap)
    utc = ZoneInfo("UTC")
    assert decide(review) == Decision.defer(datetime(2026, 3, 8, 7, 30, tzinfo=utc).timestamp())


def test_an_unknown_zone_is_seoul() -> None:
    now = at(SEOUL, 2026, 12, 7, 23, 0)
    expected = Decision.defer(at(SEOUL, 2026, 12, 8, 8, 0))
    assert decide(ctx(now=now, time_zone=None)) == expected
    assert decide(ctx(now=now, time_zone="Not/AZone")) == expected


def test_marketing_at_night_needs_the_separate_night_consent() -> None:
    night = at(SEOUL, 2026, 12, 7, 23, 0)
    assert decide(ctx(now=night, night_consent=True)) == Decision.send()
    assert decide(ctx(now=night, night_consent=False)).action == "defer"
    # Night consent is a marketing matter: a review request still waits for the morning.
    review = ctx(now=night, category="review_request", night_consent=True)
    assert decide(review).action == "defer"


def test_narrower_quiet_hours_do_not_narrow_the_law_for_marketing() -> None:
    short = QuietHours(time(23, 0), time(7, 0))
    evening = at(SEOUL, 2026, 12, 7, 21, 30)
    assert decide(ctx(now=evening, quiet_hours=short)) == Decision.defer(
        at(SEOUL, 2026, 12, 8, 8, 0)
    )
    review = ctx(now=evening, quiet_hours=short, category="review_request")
    assert decide(review) == Decision.send()
    late = ctx(now=at(SEOUL, 2026, 12, 7, 23, 30), quiet_hours=short, category="review_request")
    assert decide(late) == Decision.defer(at(SEOUL, 2026, 12, 8, 7, 0))


def test_wider_quiet_hours_apply() -> None:
    wide = QuietHours(time(20, 0), time(9, 0))
    assert decide(ctx(now=at(SEOUL, 2026, 12, 8, 8, 30), quiet_hours=wide)) == Decision.defer(
        at(SEOUL, 2026, 12, 8, 9, 0)
    )
    none = QuietHours(time(0, 0), time(0, 0))
    review = ctx(now=at(SEOUL, 2026, 12, 7, 23, 0), category="review_request", quiet_hours=none)
    assert decide(review) == Decision.send()


def test_quiet_hours_from_a_setting() -> None:
    assert QuietHours.parse("22:00-07:30") == QuietHours(time(22, 0), time(7, 30))
    assert QuietHours.parse(" 21:00 - 08:00 ") == QuietHours()
    for bad in ("21-8", "21:00", "25:00-08:00", "", "a-b"):
        with pytest.raises(ValueError, match="expected HH:MM-HH:MM"):
            QuietHours.parse(bad)


def test_transactional_messages_keep_no_quiet_hours() -> None:
    night = ctx(now=at(SEOUL, 2026, 12, 7, 23, 0), category="transactional", consent={})
    assert decide(night) == Decision.send()


# --- consent -----------------------------------------------------------------------------


def test_marketing_needs_prior_consent() -> None:
    assert decide(ctx(consent={})) == Decision.suppress("consent")
    assert decide(ctx(consent={"marketing": None})) == Decision.suppress("consent")
    assert decide(ctx(consent={"marketing": False})) == Decision.suppress("consent")
    assert decide(ctx(consent={"review_request": True})) == Decision.suppress("consent")


def test_review_requests_and_transactional_go_unless_opted_out() -> None:
    for category in ("review_request", "transactional"):
        assert decide(ctx(category=category, consent={})) == Decision.send()
        opted_out = ctx(category=category, consent={category: False})
        assert decide(opted_out) == Decision.suppress("consent")


def test_an_opt_out_between_scheduling_and_sending_is_honoured() -> None:
    scheduled = ctx()
    assert decide(scheduled) == Decision.send()
    assert decide(replace(scheduled, consent={"marketing": False})) == Decision.suppress("consent")


def test_no_consent_at_night_is_a_suppression_not_a_deferral() -> None:
    assert decide(ctx(now=at(SEOUL, 2026, 12, 7, 23, 0), consent={})) == Decision.suppress(
        "consent"
    )


# --- handoff, anger, caps, undeliverable -------------------------------------------------


def test_no_send_while_a_person_has_the_conversation() -> None:
    for category in ("marketing", "review_request", "transactional"):
        assert decide(ctx(category=category, handoff_open=True)) == Decision.suppress("handoff")
        assert decide(ctx(category=category, human_active=True)) == Decision.suppress("handoff")


def test_anger_in_the_last_three_days() -> None:
    assert decide(ctx(last_anger_at=NOON - 2 * DAY)) == Decision.suppress("anger")
    assert decide(ctx(last_anger_at=NOON - ANGER_WINDOW + 1)) == Decision.suppress("anger")
    assert decide(ctx(last_anger_at=NOON - ANGER_WINDOW - 1)) == Decision.send()
    # Another replica's clock may be ahead: anger "in the future" is recent too.
    assert decide(ctx(last_anger_at=NOON + 30)) == Decision.suppress("anger")
    transactional = ctx(category="transactional", last_anger_at=NOON - 60)
    assert decide(transactional) == Decision.send()


def test_caps_per_journey_and_per_category() -> None:
    weekly = Cap(1, 7 * DAY, "journey")
    assert decide(ctx(caps=[weekly], journey_sends=[NOON - 6 * DAY])) == Decision.suppress("cap")
    assert decide(ctx(caps=[weekly], journey_sends=[NOON - 8 * DAY])) == Decision.send()
    assert decide(ctx(caps=[weekly], category_sends=[NOON - DAY])) == Decision.send()
    assert decide(ctx(caps=[weekly], journey_sends=[NOON + 5])) == Decision.suppress("cap")
    category = Cap(2, 7 * DAY, "category")
    one = [NOON - DAY]
    assert decide(ctx(caps=[weekly, category], category_sends=one)) == Decision.send()
    two = [NOON - DAY, NOON - 2 * DAY]
    assert decide(ctx(caps=[weekly, category], category_sends=two)) == Decision.suppress("cap")


def test_a_context_for_a_journey_takes_its_category_and_caps() -> None:
    vip = load_journeys(SAMPLE_JOURNEYS).get("vip_return_offer")
    assert vip is not None
    context = SendContext.for_journey(
        vip, NOON, consent={"marketing": True}, journey_sends=[NOON - DAY]
    )
    assert context.category == "marketing" and context.caps == vip.caps
    assert decide(context) == Decision.suppress("cap")


def test_undeliverable_comes_first() -> None:
    worst = ctx(deliverable=False, consent={}, handoff_open=True, last_anger_at=NOON)
    assert decide(worst) == Decision.suppress("undeliverable")


# --- the message ---------------------------------------------------------------------------


def _event(language: str, **payload: Any) -> Any:
    return parse_event(
        {
            "event_id": "e1",
            "type": "cart.abandoned",
            "occurred_at": NOON,
            "customer": {"customer_id": "c-1", "name": "김민지", "language": language},
            "payload": payload,
        }
    )


def test_marketing_messages_carry_the_ad_prefix_sender_and_free_opt_out() -> None:
    journeys = load_journeys(SAMPLE_JOURNEYS)
    cart = journeys.get("cart_reminder")
    assert cart is not None
    event = _event("ko", cart_id="c9", items=[{"name": "머그컵"}])
    ko = compose_message(cart, event, "ko", "온도마켓")
    lines = ko.splitlines()
    assert lines[0] == "(광고) 온도마켓"
    assert lines[1].startswith("김민지님, 장바구니에")
    assert lines[-1] == "수신거부: '수신거부'라고 답장해 주세요 (무료)"
    en = compose_message(cart, event, "en", "Ondo Market\n@everyone", contact="02-123-4567")
    lines = en.splitlines()
    assert lines[0] == "(Ad) Ondo Market @everyone (contact: 02-123-4567)"
    assert lines[-1] == "To unsubscribe, reply STOP (free)."
    twice = replace(
        cart,
        templates={
            **cart.templates,
            "ko": replace(cart.templates["ko"], parts=("(광고) 안녕하세요",)),
        },
    )
    assert compose_message(twice, event, "ko", "온도마켓").splitlines()[:2] == [
        "(광고) 온도마켓",
        "안녕하세요",
    ]
    with pytest.raises(JourneyError, match="needs the shop's name"):
        compose_message(cart, event, "ko", " \n ")


def test_other_categories_are_the_template_alone() -> None:
    journeys = load_journeys(SAMPLE_JOURNEYS)
    confirm = journeys.get("order_confirmation")
    review = journeys.get("delivery_review")
    assert confirm is not None and review is not None
    event = _event("en", order_id="A-1")
    text = compose_message(confirm, event, "en", "Ondo Market")
    assert text == confirm.render(event, "en")
    assert "(Ad)" not in text and "STOP" not in text
    ko = compose_message(review, event, "ko", "온도마켓")
    assert "(광고)" not in ko and "주문번호 A-1" in ko
