"""SLA policy (bot/desk/sla.py): targets per reason, due instants in business time, the 80 %
and breach reminder points, and the measured times for reports."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.desk.config import DEFAULT_SLA, SlaTarget, load_desk_config
from bot.desk.hours import BusinessHours
from bot.desk.sla import (
    Due,
    breached,
    due,
    first_response_seconds,
    reminder_at,
    reminder_due,
    resolution_seconds,
    targets,
)
from knowledge.loader import SAMPLE_DIR

SEOUL = ZoneInfo("Asia/Seoul")
H = 3600


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> float:
    return datetime(y, m, d, hh, mm, tzinfo=SEOUL).timestamp()


@pytest.fixture(scope="module")
def market() -> BusinessHours:
    return BusinessHours(load_desk_config(SAMPLE_DIR / "desk.yaml"))


def test_targets_angry_and_sensitive_are_tighter() -> None:
    assert targets("angry") == (15 * 60, 4 * H)
    assert targets("sensitive") == (15 * 60, 4 * H)
    assert targets("asked_for_human") == (H, 8 * H)
    assert targets("no_answer") == (2 * H, 16 * H)
    for tight in ("angry", "sensitive"):
        for loose in ("asked_for_human", "no_answer"):
            assert targets(tight)[0] < targets(loose)[0]
            assert targets(tight)[1] < targets(loose)[1]
    custom = {**DEFAULT_SLA, "angry": SlaTarget(600, 3 * H)}
    assert targets("angry", custom) == (600, 3 * H)


def test_due_in_business_time(market: BusinessHours) -> None:
    # Angry at Mon 17:00: first response 17:15; resolution 1h Mon + 3h Tue → Tue 12:00.
    assert due(at(2026, 12, 7, 17), "angry", market) == Due(
        at(2026, 12, 7, 17, 15), at(2026, 12, 8, 12)
    )
    # Out of hours (Thu 12-24 evening, Christmas Friday): the clock starts Mon 12-28 09:00.
    assert due(at(2026, 12, 24, 20), "asked_for_human", market) == Due(
        at(2026, 12, 28, 10), at(2026, 12, 28, 17)
    )
    # A desk's own targets.
    config = replace(market.config, sla={**DEFAULT_SLA, "no_answer": SlaTarget(30 * 60, H)})
    custom = BusinessHours(config)
    assert due(at(2026, 12, 7, 10), "no_answer", custom) == Due(
        at(2026, 12, 7, 10, 30), at(2026, 12, 7, 11)
    )
    assert due(at(2026, 12, 7, 10), "no_answer", market, config.sla).resolution_at == at(
        2026, 12, 7, 11
    )


def test_reminder_points_within_a_day(market: BusinessHours) -> None:
    created = at(2026, 12, 7, 10)
    due_at = at(2026, 12, 7, 15)  # 5 business hours → 80 % at 14:00
    assert reminder_at(created, due_at, market) == at(2026, 12, 7, 14)
    assert reminder_due(at(2026, 12, 7, 14) - 1, created, due_at, market) is None
    assert reminder_due(at(2026, 12, 7, 14), created, due_at, market) == "80"
    assert reminder_due(due_at - 1, created, due_at, market) == "80"
    assert reminder_due(due_at, created, due_at, market) == "breach"
    assert reminder_due(due_at + 86400, created, due_at, market) == "breach"


def test_the_80_percent_point_counts_business_time_across_nights_and_holidays(
    market: BusinessHours,
) -> None:
    # Created Wed 09-23 13:00 before Chuseok, resolution 16h → 5h Wed, 9h Mon 09-28, 2h Tue.
    created = at(2026, 9, 23, 13)
    due_at = due(created, "no_answer", market).resolution_at
    assert due_at == at(2026, 9, 29, 11)
    # 80 % of 16h = 12h48m → 5h Wed + 7h48m Mon → Mon 16:48.
    assert reminder_at(created, due_at, market) == at(2026, 9, 28, 16, 48)
    assert reminder_due(at(2026, 9, 26, 12), created, due_at, market) is None  # 추석 다음날
    assert reminder_due(at(2026, 9, 28, 16, 48), created, due_at, market) == "80"
    assert reminder_due(at(2026, 9, 29, 11), created, due_at, market) == "breach"


def test_created_out_of_hours(market: BusinessHours) -> None:
    created = at(2026, 12, 5, 3)  # Saturday night
    first = due(created, "angry", market).first_response_at
    assert first == at(2026, 12, 7, 9, 15)
    assert reminder_at(created, first, market) == at(2026, 12, 7, 9, 12)
    assert reminder_due(at(2026, 12, 7, 8), created, first, market) is None


def test_a_due_at_creation_is_reached_at_once(market: BusinessHours) -> None:
    t = at(2026, 12, 7, 12)
    assert reminder_at(t, t, market) == t
    assert reminder_due(t, t, t, market) == "breach"


def test_the_caller_posts_each_point_once_even_after_a_restart(market: BusinessHours) -> None:
    """The reminders a caller with a (handoff, point) row would post, ticking every 5 minutes
    from creation, with a restart (a new sent-set read back from the store) in between."""
    created = at(2026, 12, 7, 10)
    due_at = at(2026, 12, 7, 15)
    stored: set[str] = set()
    posted: list[tuple[str, float]] = []
    now = created
    while now <= due_at + 2 * H:
        if now == at(2026, 12, 7, 14, 30):
            stored = set(stored)  # the restart: only what was stored survives
        point = reminder_due(now, created, due_at, market)
        if point is not None and point not in stored:
            stored.add(point)
            posted.append((point, now))
        now += 300
    assert posted == [("80", at(2026, 12, 7, 14)), ("breach", due_at)]
    # A caller down through both points posts only the breach.
    assert reminder_due(due_at + H, created, due_at, market) == "breach"


def test_breached() -> None:
    assert not breached(100.0, 100.0, now=500.0)
    assert breached(101.0, 100.0, now=0.0)
    assert not breached(None, 100.0, now=99.0)
    assert breached(None, 100.0, now=101.0)


def test_measured_times_are_business_seconds(market: BusinessHours) -> None:
    created = at(2026, 12, 4, 17, 30)  # Friday
    assert first_response_seconds(created, at(2026, 12, 7, 9, 10), market) == 40 * 60
    assert resolution_seconds(created, at(2026, 12, 8, 10), market) == 30 * 60 + 9 * H + H
    assert first_response_seconds(created, created - 10, market) == 0
