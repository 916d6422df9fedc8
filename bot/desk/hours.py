"""When people are at work: the desk's weekly hours and days off, as instants.

Instants are epoch seconds (float). Each calendar date in the desk's time zone has its open
ranges (the weekday's, none on a day off); a range's ends are converted from local wall time
with :mod:`zoneinfo`, so a day across a DST change is as long as it really is. Every search is
bounded: no open time within :data:`HORIZON_DAYS` days raises :class:`NeverOpenError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays as holidays_lib

from bot.desk.config import WEEKDAYS, DeskConfig, Range
from bot.types import Language

__all__ = ["HORIZON_DAYS", "BusinessHours", "NeverOpenError"]

HORIZON_DAYS = 400
"""The furthest any search looks for open time (past a year of days off and holidays)."""
DAYS_OFF_AHEAD = 30
"""How far ahead ``/ondo hours`` lists the days off."""

_KO_WEEKDAYS = "월화수목금토일"
_EN_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_HOLIDAY_LANGUAGES = {"ko": "ko", "en": "en_US"}


class NeverOpenError(ValueError):
    """No open time within :data:`HORIZON_DAYS` days of the instant searched from."""


class BusinessHours:
    """The desk's open time, from a :class:`DeskConfig`."""

    def __init__(self, config: DeskConfig) -> None:
        self.config = config
        self.zone = ZoneInfo(config.timezone)
        self._week = _split_week(config.hours)
        self._holidays: dict[str, holidays_lib.HolidayBase] = {}

    # -- days -------------------------------------------------------------------------------

    def day_off_name(self, day: date, language: Language) -> str | None:
        """Why ``day`` is off (a holiday's name in ``language``, or the company's day off), or
        ``None`` when it is not a day off."""
        if self.config.holidays is not None:
            name = self._holiday_calendar(language).get(day)
            if name is not None:
                return str(name)
        if day in self.config.days_off:
            return "회사 휴무일" if language == "ko" else "Company day off"
        return None

    def _holiday_calendar(self, language: Language) -> holidays_lib.HolidayBase:
        calendar = self._holidays.get(language)
        if calendar is None:
            assert self.config.holidays is not None
            wanted = _HOLIDAY_LANGUAGES[language]
            supported = holidays_lib.country_holidays(self.config.holidays).supported_languages
            calendar = holidays_lib.country_holidays(
                self.config.holidays, language=wanted if wanted in supported else None
            )
            self._holidays[language] = calendar
        return calendar

    def is_day_off(self, day: date) -> bool:
        """Whether ``day`` (a local date) is a holiday or a company day off."""
        if day in self.config.days_off:
            return True
        return self.config.holidays is not None and day in self._holiday_calendar("ko")

    def _ranges(self, day: date) -> Iterator[tuple[float, float]]:
        if self.is_day_off(day):
            return
        for start, end in self._week[day.weekday()]:
            yield self._instant(day, start), self._instant(day, end)

    def _instant(self, day: date, minute: int) -> float:
        if minute >= 24 * 60:
            day, minute = day + timedelta(days=1), minute - 24 * 60
        local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.zone)
        return local.timestamp()

    def _local_date(self, t: float) -> date:
        return datetime.fromtimestamp(t, self.zone).date()

    def _from(self, t: float) -> Iterator[tuple[float, float]]:
        """Open ranges ending after ``t``, in order; raises :class:`NeverOpenError` after
        :data:`HORIZON_DAYS` days without any."""
        day = self._local_date(t) - timedelta(days=1)
        empty = 0
        while True:
            found = False
            for start, end in self._ranges(day):
                if end > t:
                    found = True
                    yield start, end
            empty = 0 if found else empty + 1
            if empty > HORIZON_DAYS:
                raise NeverOpenError(f"no open hours within {HORIZON_DAYS} days")
            day += timedelta(days=1)

    # -- instants ---------------------------------------------------------------------------

    def is_open(self, t: float) -> bool:
        """Whether the desk is open at ``t``."""
        day = self._local_date(t)
        return any(
            start <= t < end
            for d in (day - timedelta(days=1), day)
            for start, end in self._ranges(d)
        )

    def next_open(self, t: float) -> float:
        """``t`` itself when open, else the next instant the desk opens."""
        for start, _end in self._from(t):
            return max(start, t)
        raise NeverOpenError(f"no open hours within {HORIZON_DAYS} days")  # pragma: no cover

    def add_business(self, t: float, seconds: float) -> float:
        """The instant when ``seconds`` of open time have passed since ``t`` (``t`` for 0).

        Ends exactly at a closing time rather than at the next opening."""
        remaining = seconds
        if remaining <= 0:
            return t
        for start, end in self._from(t):
            start = max(start, t)
            if remaining <= end - start:
                return start + remaining
            remaining -= end - start
        raise NeverOpenError(f"no open hours within {HORIZON_DAYS} days")  # pragma: no cover

    def business_seconds(self, a: float, b: float) -> float:
        """Open time between ``a`` and ``b`` (0 when ``b`` is not after ``a``)."""
        total = 0.0
        if b <= a:
            return total
        try:
            for start, end in self._from(a):
                if start >= b:
                    break
                total += min(end, b) - max(start, a)
        except NeverOpenError:
            pass
        return total

    # -- words ------------------------------------------------------------------------------

    def when_open_text(self, t: float, language: Language) -> str | None:
        """``None`` when open at ``t``; else the next opening in words relative to ``t`` in the
        desk's time zone: "내일 오전 9시 이후", "tomorrow after 9 AM",
        "12월 28일(월) 오전 9시 이후"."""
        opens = self.next_open(t)
        if opens <= t:
            return None
        when = datetime.fromtimestamp(opens, self.zone)
        days = (when.date() - self._local_date(t)).days
        clock = _clock(when, language)
        if language == "ko":
            day = (
                "오늘"
                if days == 0
                else "내일"
                if days == 1
                else _date_text(when.date(), "ko", days)
            )
            return f"{day} {clock} 이후"
        day = (
            "today"
            if days == 0
            else "tomorrow"
            if days == 1
            else _date_text(when.date(), "en", days)
        )
        return f"{day} after {clock}"

    def handoff_notice(self, t: float, language: Language) -> str | None:
        """The honest sentence for a customer handed off at ``t`` outside hours (``None`` when
        open): "지금은 상담 시간이 아니에요. 내일 오전 9시 이후 상담원이 답변드릴게요."."""
        try:
            when = self.when_open_text(t, language)
        except NeverOpenError:
            if language == "ko":
                return "지금은 상담 시간이 아니에요. 상담원이 확인하는 대로 답변드릴게요."
            return "Our team is offline right now; a person will reply as soon as they can."
        if when is None:
            return None
        if language == "ko":
            return f"지금은 상담 시간이 아니에요. {when} 상담원이 답변드릴게요."
        on = "" if when.startswith(("today", "tomorrow")) else "on "
        return f"Our team is offline right now; a person will reply {on}{when}."

    def describe(self, t: float, language: Language) -> str:
        """The ``/ondo hours`` text: the weekly table, the time zone, and the days off in the
        :data:`DAYS_OFF_AHEAD` days from ``t``."""
        ko = language == "ko"
        lines = [
            f"상담 시간 ({self.config.timezone})"
            if ko
            else f"Opening hours ({self.config.timezone})"
        ]
        for index, ranges in enumerate(self.config.hours):
            label = _KO_WEEKDAYS[index] if ko else _EN_WEEKDAYS[index]
            shown = ", ".join(_range_text(r) for r in ranges) or ("휴무" if ko else "closed")
            lines.append(f"{label} {shown}")
        today = self._local_date(t)
        off = [
            (day, name)
            for day in (today + timedelta(days=n) for n in range(DAYS_OFF_AHEAD + 1))
            if (name := self.day_off_name(day, language)) is not None
        ]
        if off:
            lines.append(
                f"다가오는 휴무일 ({DAYS_OFF_AHEAD}일 이내)"
                if ko
                else f"Days off in the next {DAYS_OFF_AHEAD} days"
            )
            for day, name in off:
                shown_day = _date_text(day, language, 0)
                lines.append(f"- {shown_day} {name}" if ko else f"- {shown_day}: {name}")
        else:
            lines.append(
                f"{DAYS_OFF_AHEAD}일 이내 휴무일 없음"
                if ko
                else f"No days off in the next {DAYS_OFF_AHEAD} days"
            )
        return "\n".join(lines)


def _split_week(hours: tuple[tuple[Range, ...], ...]) -> tuple[tuple[Range, ...], ...]:
    """Per weekday the merged ranges within that date: an overnight range's tail moves to the
    next weekday, overlaps are joined."""
    days: list[list[Range]] = [[] for _ in WEEKDAYS]
    for index, ranges in enumerate(hours):
        for start, end in ranges:
            if end > start:
                days[index].append((start, end))
            else:
                days[index].append((start, 24 * 60))
                if end > 0:
                    days[(index + 1) % 7].append((0, end))
    return tuple(_merge(day) for day in days)


def _merge(ranges: list[Range]) -> tuple[Range, ...]:
    merged: list[Range] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def _clock(when: datetime, language: Language) -> str:
    hour, minute = when.hour, when.minute
    if language == "ko":
        text = f"{'오전' if hour < 12 else '오후'} {hour if hour <= 12 else hour - 12}시"
        return f"{text} {minute}분" if minute else text
    twelve = hour % 12 or 12
    suffix = "AM" if hour < 12 else "PM"
    return f"{twelve}:{minute:02d} {suffix}" if minute else f"{twelve} {suffix}"


def _date_text(day: date, language: Language, days_away: int) -> str:
    """ "12월 28일(월)" / "Mon, Dec 28", with the year when it is more than half a year off."""
    with_year = days_away > 180
    if language == "ko":
        year = f"{day.year}년 " if with_year else ""
        return f"{year}{day.month}월 {day.day}일({_KO_WEEKDAYS[day.weekday()]})"
    year = f", {day.year}" if with_year else ""
    return f"{_EN_WEEKDAYS[day.weekday()]}, {_EN_MONTHS[day.month - 1]} {day.day}{year}"


def _range_text(r: Range) -> str:
    start, end = r
    return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"
