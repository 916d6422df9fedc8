"""Business hours (bot/desk/hours.py): exact instants in Asia/Seoul (holidays, Chuseok and an
alternative holiday, across midnight) and America/New_York (across DST changes), the customer's
notice and /ondo hours in Korean and English, and bounded searches when never open."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.desk.config import DeskConfig, load_desk_config
from bot.desk.hours import BusinessHours, NeverOpenError
from knowledge.loader import SAMPLE_DIR

SEOUL = ZoneInfo("Asia/Seoul")
NEW_YORK = ZoneInfo("America/New_York")
H = 3600


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0, zone: ZoneInfo = SEOUL) -> float:
    return datetime(y, m, d, hh, mm, tzinfo=zone).timestamp()


@pytest.fixture(scope="module")
def market() -> BusinessHours:
    """온도마켓: weekdays 09:00-18:00 Asia/Seoul, KR holidays, 2026-12-31 off."""
    return BusinessHours(load_desk_config(SAMPLE_DIR / "desk.yaml"))


def desk(tmp_path: Path, text: str) -> BusinessHours:
    path = tmp_path / "desk.yaml"
    path.write_text(text, encoding="utf-8")
    return BusinessHours(load_desk_config(path))


def test_open_and_closed_at_the_edges(market: BusinessHours) -> None:
    assert market.is_open(at(2026, 12, 7, 9))  # Monday
    assert not market.is_open(at(2026, 12, 7, 9) - 1)
    assert market.is_open(at(2026, 12, 7, 18) - 1)
    assert not market.is_open(at(2026, 12, 7, 18))
    assert not market.is_open(at(2026, 12, 5, 12))  # Saturday
    assert not market.is_open(at(2026, 12, 25, 12))  # 기독탄신일
    assert not market.is_open(at(2026, 12, 31, 12))  # the company's day off


def test_next_open(market: BusinessHours) -> None:
    noon = at(2026, 12, 7, 12)
    assert market.next_open(noon) == noon
    assert market.next_open(at(2026, 12, 7, 18)) == at(2026, 12, 8, 9)
    assert market.next_open(at(2026, 12, 4, 19)) == at(2026, 12, 7, 9)  # Fri → Mon
    assert market.next_open(at(2026, 12, 24, 19)) == at(2026, 12, 28, 9)  # past Christmas
    assert market.next_open(at(2026, 12, 30, 18)) == at(2027, 1, 4, 9)  # 12-31, 1-1 off


def test_chuseok_and_the_alternative_holiday(market: BusinessHours) -> None:
    # Chuseok 2026: Thu 09-24 .. Sat 09-26; Wed 17:00 + 2h → 1h Wed, 1h Mon 09-28.
    assert market.add_business(at(2026, 9, 23, 17), 2 * H) == at(2026, 9, 28, 10)
    assert market.business_seconds(at(2026, 9, 23, 9), at(2026, 9, 28, 18)) == 18 * H
    # 개천절 Sat 10-03 → 대체 휴일 Mon 10-05.
    assert not market.is_open(at(2026, 10, 5, 10))
    assert market.add_business(at(2026, 10, 2, 17, 30), H) == at(2026, 10, 6, 9, 30)


def test_add_business(market: BusinessHours) -> None:
    monday = at(2026, 12, 7, 10)
    assert market.add_business(monday, 0) == monday
    assert market.add_business(monday, 30 * 60) == at(2026, 12, 7, 10, 30)
    assert market.add_business(monday, 8 * H) == at(2026, 12, 7, 18)  # at closing, not after
    assert market.add_business(monday, 8 * H + 1) == at(2026, 12, 8, 9) + 1
    assert market.add_business(at(2026, 12, 5, 3), 15 * 60) == at(2026, 12, 7, 9, 15)
    assert market.add_business(monday, 16 * H) == at(2026, 12, 8, 17)  # 8h Mon, 8h Tue


def test_business_seconds(market: BusinessHours) -> None:
    assert market.business_seconds(at(2026, 12, 7, 10), at(2026, 12, 7, 9)) == 0
    assert market.business_seconds(at(2026, 12, 4, 17), at(2026, 12, 7, 10)) == 2 * H
    assert market.business_seconds(at(2026, 12, 5), at(2026, 12, 6, 23)) == 0
    # a whole year of 2026 from 2026-01-01: 9h per open weekday
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(365)]
    open_days = sum(1 for d in days if d.weekday() < 5 and not market.is_day_off(d))
    assert market.business_seconds(at(2026, 1, 1), at(2027, 1, 1)) == open_days * 9 * H


def test_across_midnight(tmp_path: Path) -> None:
    night = desk(
        tmp_path,
        'timezone: Asia/Seoul\nholidays: KR\nhours: {mon: "22:00-02:00", tue: "09:00-10:00"}\n',
    )
    assert night.is_open(at(2026, 12, 7, 23))  # Mon
    assert night.is_open(at(2026, 12, 8, 1, 59))  # Tue, the night's tail
    assert not night.is_open(at(2026, 12, 8, 2))
    assert night.add_business(at(2026, 12, 7, 23), 2 * H) == at(2026, 12, 8, 1)
    assert night.add_business(at(2026, 12, 7, 23), 3.5 * H) == at(2026, 12, 8, 9, 30)
    assert night.business_seconds(at(2026, 12, 7, 20), at(2026, 12, 8, 12)) == 5 * H
    # The tail belongs to the next calendar date: Chuseok 2027 (Tue 09-14 .. Thu 09-16)
    # closes Monday night's tail and Tuesday.
    assert night.is_open(at(2027, 9, 13, 23))
    assert not night.is_open(at(2027, 9, 14, 1))
    assert night.next_open(at(2027, 9, 14, 0)) == at(2027, 9, 20, 22)
    assert night.when_open_text(at(2026, 12, 7, 12), "ko") == "오늘 오후 10시 이후"
    assert night.when_open_text(at(2026, 12, 8, 3), "en") == "today after 9 AM"


def test_a_day_to_24_00_joins_the_next(tmp_path: Path) -> None:
    weekend = desk(tmp_path, "holidays: none\nhours: {fri: 00:00-24:00, sat: 00:00-24:00}\n")
    assert weekend.business_seconds(at(2026, 12, 4), at(2026, 12, 6)) == 48 * H
    assert weekend.add_business(at(2026, 12, 4, 12), 24 * H) == at(2026, 12, 5, 12)
    assert weekend.is_open(at(2026, 12, 5))


def test_dst_in_new_york(tmp_path: Path) -> None:
    always = desk(
        tmp_path,
        "timezone: America/New_York\nholidays: none\nhours: {"
        + ", ".join(f"{d}: 00:00-24:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
        + "}\n",
    )
    # 2026-03-08 has 23 hours, 2026-11-01 has 25.
    assert (
        always.business_seconds(at(2026, 3, 8, zone=NEW_YORK), at(2026, 3, 9, zone=NEW_YORK))
        == 23 * H
    )
    assert (
        always.business_seconds(at(2026, 11, 1, zone=NEW_YORK), at(2026, 11, 2, zone=NEW_YORK))
        == 25 * H
    )
    assert always.add_business(at(2026, 3, 8, zone=NEW_YORK), 23 * H) == at(
        2026, 3, 9, zone=NEW_YORK
    )


def test_dst_office_hours_in_new_york(tmp_path: Path) -> None:
    office = desk(
        tmp_path,
        'timezone: America/New_York\nholidays: US\nhours: {mon: "09:00-17:00", '
        'fri: "09:00-17:00", sat: "22:00-04:00"}\n',
    )
    # Fri 16:00 EST + 1h → Fri 17:00; + 2h → 1h Friday, 1h Sat night (EST) before the change.
    assert office.add_business(at(2026, 3, 6, 16, zone=NEW_YORK), H) == at(
        2026, 3, 6, 17, zone=NEW_YORK
    )
    assert office.add_business(at(2026, 3, 6, 16, zone=NEW_YORK), 2 * H) == at(
        2026, 3, 7, 23, zone=NEW_YORK
    )
    # Sat 22:00 EST to Sun 04:00 EDT is 5 real hours (02:00-03:00 does not exist).
    night = office.business_seconds(
        at(2026, 3, 7, 20, zone=NEW_YORK), at(2026, 3, 8, 12, zone=NEW_YORK)
    )
    assert night == 5 * H
    assert office.add_business(at(2026, 3, 7, 22, zone=NEW_YORK), 6 * H) == at(
        2026, 3, 9, 10, zone=NEW_YORK
    )
    assert office.when_open_text(at(2026, 3, 8, 5, zone=NEW_YORK), "en") == "tomorrow after 9 AM"
    # US holiday: Mon 2026-09-07 Labor Day.
    assert office.next_open(at(2026, 9, 7, 8, zone=NEW_YORK)) == at(2026, 9, 11, 9, zone=NEW_YORK)


def test_when_open_text(market: BusinessHours, tmp_path: Path) -> None:
    assert market.when_open_text(at(2026, 12, 7, 12), "ko") is None
    assert market.when_open_text(at(2026, 12, 7, 7, 30), "ko") == "오늘 오전 9시 이후"
    assert market.when_open_text(at(2026, 12, 7, 7, 30), "en") == "today after 9 AM"
    assert market.when_open_text(at(2026, 12, 7, 19), "ko") == "내일 오전 9시 이후"
    assert market.when_open_text(at(2026, 12, 7, 19), "en") == "tomorrow after 9 AM"
    assert market.when_open_text(at(2026, 12, 24, 19), "ko") == "12월 28일(월) 오전 9시 이후"
    assert market.when_open_text(at(2026, 12, 24, 19), "en") == "Mon, Dec 28 after 9 AM"
    lunch = desk(
        tmp_path, 'hours: {mon: "09:30-12:00, 14:00-18:00", tue: "12:00-13:00, 00:00-01:00"}\n'
    )
    assert lunch.when_open_text(at(2026, 12, 7, 12, 30), "ko") == "오늘 오후 2시 이후"
    assert lunch.when_open_text(at(2026, 12, 7, 12, 30), "en") == "today after 2 PM"
    assert lunch.when_open_text(at(2026, 12, 7, 8), "ko") == "오늘 오전 9시 30분 이후"
    assert lunch.when_open_text(at(2026, 12, 7, 8), "en") == "today after 9:30 AM"
    assert lunch.when_open_text(at(2026, 12, 7, 19), "ko") == "내일 오전 0시 이후"
    assert lunch.when_open_text(at(2026, 12, 7, 19), "en") == "tomorrow after 12 AM"
    assert lunch.when_open_text(at(2026, 12, 8, 2), "ko") == "오늘 오후 12시 이후"
    assert lunch.when_open_text(at(2026, 12, 8, 2), "en") == "today after 12 PM"


def test_a_far_opening_names_its_year(market: BusinessHours) -> None:
    config = replace(
        market.config,
        days_off=frozenset(date(2026, 12, 1) + timedelta(days=n) for n in range(200)),
    )
    far = BusinessHours(config)
    assert far.when_open_text(at(2026, 11, 30, 19), "ko") == "2027년 6월 21일(월) 오전 9시 이후"
    assert far.when_open_text(at(2026, 11, 30, 19), "en") == "Mon, Jun 21, 2027 after 9 AM"


def test_handoff_notice(market: BusinessHours) -> None:
    assert market.handoff_notice(at(2026, 12, 7, 12), "ko") is None
    assert market.handoff_notice(at(2026, 12, 7, 19), "ko") == (
        "지금은 상담 시간이 아니에요. 내일 오전 9시 이후 상담원이 답변드릴게요."
    )
    assert market.handoff_notice(at(2026, 12, 7, 19), "en") == (
        "Our team is offline right now; a person will reply tomorrow after 9 AM."
    )
    assert market.handoff_notice(at(2026, 12, 24, 19), "en") == (
        "Our team is offline right now; a person will reply on Mon, Dec 28 after 9 AM."
    )


def test_never_open_is_bounded() -> None:
    never = BusinessHours(DeskConfig(hours=((),) * 7, holidays=None))
    t = at(2026, 12, 7, 12)
    assert not never.is_open(t)
    with pytest.raises(NeverOpenError):
        never.next_open(t)
    with pytest.raises(NeverOpenError):
        never.add_business(t, 60)
    assert never.business_seconds(t, t + 3 * 365 * 86400) == 0
    assert never.handoff_notice(t, "ko") == (
        "지금은 상담 시간이 아니에요. 상담원이 확인하는 대로 답변드릴게요."
    )
    assert never.handoff_notice(t, "en") == (
        "Our team is offline right now; a person will reply as soon as they can."
    )
    # A year and more of company days off before the only open day: still bounded.
    off = frozenset(date(2026, 12, 7) + timedelta(days=n) for n in range(1000))
    sleepy = BusinessHours(DeskConfig(days_off=off, holidays=None))
    with pytest.raises(NeverOpenError):
        sleepy.next_open(t)


def test_describe(market: BusinessHours) -> None:
    t = at(2026, 12, 24, 19)
    assert market.describe(t, "ko") == "\n".join(
        [
            "상담 시간 (Asia/Seoul)",
            "월 09:00-18:00",
            "화 09:00-18:00",
            "수 09:00-18:00",
            "목 09:00-18:00",
            "금 09:00-18:00",
            "토 휴무",
            "일 휴무",
            "다가오는 휴무일 (30일 이내)",
            "- 12월 25일(금) 기독탄신일",
            "- 12월 31일(목) 회사 휴무일",
            "- 1월 1일(금) 신정연휴",
        ]
    )
    assert market.describe(at(2026, 9, 20), "en").splitlines()[-7:] == [
        "Days off in the next 30 days",
        "- Thu, Sep 24: The day preceding Chuseok",
        "- Fri, Sep 25: Chuseok",
        "- Sat, Sep 26: The second day of Chuseok",
        "- Sat, Oct 3: National Foundation Day",
        "- Mon, Oct 5: Alternative holiday for National Foundation Day",
        "- Fri, Oct 9: Hangul Day",
    ]


def test_describe_overnight_and_no_days_off(tmp_path: Path) -> None:
    night = desk(
        tmp_path, 'holidays: none\nhours: {mon: "22:00-02:00", tue: "09:00-12:00, 13:00-18:00"}\n'
    )
    assert night.describe(at(2026, 12, 7), "en") == "\n".join(
        [
            "Opening hours (Asia/Seoul)",
            "Mon 22:00-02:00",
            "Tue 09:00-12:00, 13:00-18:00",
            "Wed closed",
            "Thu closed",
            "Fri closed",
            "Sat closed",
            "Sun closed",
            "No days off in the next 30 days",
        ]
    )
    assert night.describe(at(2026, 12, 7), "ko").splitlines()[-1] == "30일 이내 휴무일 없음"
