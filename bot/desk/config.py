"""The help desk's settings: ``desk.yaml`` at the top of the knowledge folder.

Every field is optional; a missing file gives the defaults below (온도마켓's desk):

- ``timezone``: an IANA zone name (``Asia/Seoul``). All hours and dates are read in it.
- ``hours``: per weekday (``mon`` … ``sun``) one or more ranges, ``"09:00-12:00, 13:00-18:00"``.
  A day left out, ``closed``, empty or YAML's ``off``/``no`` is closed. A range may end at
  ``24:00``; one that ends before it starts (``22:00-02:00``) runs over midnight into the next
  day (that part belongs to the next calendar date: a day off there closes it). The week must
  have some open time: a desk that is never open is a configuration error. Default: Mon–Fri
  09:00-18:00.
- ``holidays``: a country code of the ``holidays`` library (``KR``, ``US``) whose public
  holidays are days off, or ``none``. Default ``KR``.
- ``days_off``: the company's own dates off, ``[2026-12-31, ...]``.
- ``sla``: per escalation reason ``first_response`` and ``resolution`` targets in BUSINESS time,
  written ``30m``, ``4h`` or ``1h30m`` (no days: a business day's length depends on the hours,
  so write ``18h`` for two 9-hour days). A reason left out keeps its default; angry and sensitive
  are the tightest by default (15m / 4h).
- ``assignment``: ``round_robin`` (default) or ``least_loaded``.
- ``stale``: ``remind_after`` and ``close_after`` in WALL-CLOCK time (``m``, ``h`` or ``d``),
  both counted from when a handoff started waiting for the customer: a customer's silence is
  not the desk's working time. Defaults 24h and 48h; ``close_after`` must be later.
- ``csat``: ``true`` (default) or ``false``: ask the customer for a 1–5 rating when resolved.

A broken file raises one :class:`DeskConfigError` whose single line names the file and the
line (YAML syntax) or the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib
import yaml

from bot.types import EscalationReason

__all__ = [
    "DEFAULT_SLA",
    "WEEKDAYS",
    "Assignment",
    "DeskConfig",
    "DeskConfigError",
    "Range",
    "SlaTarget",
    "StaleSettings",
    "load_desk_config",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""The ``hours`` keys, in :meth:`datetime.date.weekday` order."""

Assignment = Literal["round_robin", "least_loaded"]
Range = tuple[int, int]
"""Minutes from local midnight ``(start, end)``; ``end`` up to 1440; ``end < start`` runs over
midnight."""

MAX_FILE_BYTES = 256 * 1024
MAX_RANGES_PER_DAY = 24
MAX_DAYS_OFF = 1000
MAX_BUSINESS_SECONDS = 1000 * 3600
"""An SLA target longer than 1000 business hours is a typo, and would make searches long."""
MAX_WALL_SECONDS = 365 * 86400


class DeskConfigError(ValueError):
    """``desk.yaml`` cannot be used; the message is one line: ``file: field: problem``."""


@dataclass(frozen=True)
class SlaTarget:
    """Targets for one escalation reason, in seconds of business time."""

    first_response: int
    resolution: int


@dataclass(frozen=True)
class StaleSettings:
    """When a handoff waiting for the customer is reminded, then closed (wall-clock seconds
    from the start of the wait)."""

    remind_after: int = 24 * 3600
    close_after: int = 48 * 3600


DEFAULT_SLA: Mapping[EscalationReason, SlaTarget] = {
    "angry": SlaTarget(15 * 60, 4 * 3600),
    "sensitive": SlaTarget(15 * 60, 4 * 3600),
    "asked_for_human": SlaTarget(60 * 60, 8 * 3600),
    "no_answer": SlaTarget(2 * 3600, 16 * 3600),
}
_WORKDAY: tuple[Range, ...] = ((9 * 60, 18 * 60),)
DEFAULT_HOURS: tuple[tuple[Range, ...], ...] = (_WORKDAY,) * 5 + ((), ())


@dataclass(frozen=True)
class DeskConfig:
    """The desk's settings (see the module for each field's meaning and default)."""

    timezone: str = "Asia/Seoul"
    hours: tuple[tuple[Range, ...], ...] = DEFAULT_HOURS
    holidays: str | None = "KR"
    days_off: frozenset[date] = frozenset()
    sla: Mapping[EscalationReason, SlaTarget] = field(
        default_factory=lambda: dict(DEFAULT_SLA), hash=False
    )
    assignment: Assignment = "round_robin"
    stale: StaleSettings = StaleSettings()
    csat: bool = True
    source: Path | None = None
    """The file the settings came from (``None``: the defaults)."""

    @property
    def zone(self) -> ZoneInfo:
        """The desk's time zone."""
        return ZoneInfo(self.timezone)


_TOP_KEYS = frozenset(
    {"timezone", "hours", "holidays", "days_off", "sla", "assignment", "stale", "csat"}
)
_TIME = r"(\d{1,2}):(\d{2})"
_RANGE = re.compile(rf"^{_TIME}\s*-\s*{_TIME}$")
_BUSINESS = re.compile(r"^(?:(\d+)h)?\s*(?:(\d+)m)?$")
_WALL = re.compile(r"^(\d+)\s*([mhd])$")
_WALL_UNITS = {"m": 60, "h": 3600, "d": 86400}


DESK_FILE = "desk.yaml"


def find_desk_file(kb_paths: Iterable[Path]) -> Path | None:
    """The ``desk.yaml`` at the top of the first knowledge folder that has one (any letter
    case, as the knowledge loader skips it), else None."""
    for folder in kb_paths:
        if not folder.is_dir():
            continue
        for child in sorted(folder.iterdir()):
            if child.name.lower() == DESK_FILE and child.is_file():
                return child
    return None


def desk_config_for(kb_paths: Iterable[Path]) -> DeskConfig:
    """The desk settings of the knowledge folders ``kb_paths`` (the defaults without a file)."""
    return load_desk_config(find_desk_file(kb_paths))


def load_desk_config(path: Path | None) -> DeskConfig:
    """The settings in ``path``; the defaults when ``path`` is ``None`` or does not exist.

    Raises :class:`DeskConfigError` (one line) for anything unusable.
    """
    if path is None or not path.exists():
        return DeskConfig()
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DeskConfigError(f"{name}: file: cannot be read ({error.strerror})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise DeskConfigError(f"{name}: file: larger than {MAX_FILE_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DeskConfigError(f"{name}: file: not UTF-8 (byte {error.start})") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}" if mark is not None else "file"
        problem = " ".join(str(error.problem or error.context or "invalid YAML").split())
        raise DeskConfigError(f"{name}: {where}: {problem}") from None
    except (yaml.YAMLError, ValueError, TypeError, RecursionError):
        raise DeskConfigError(f"{name}: file: invalid YAML") from None
    if data is None:
        return DeskConfig(source=path)
    try:
        return _parse(data, path)
    except _FieldError as error:
        raise DeskConfigError(f"{name}: {error.field}: {error.problem}") from None


class _Loader(yaml.SafeLoader):
    """YAML's safe loader with dates left as text: a bad one (2026-02-30) is then refused by
    its field instead of failing the whole parse."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _FieldError(Exception):
    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"{field_name}: {problem}")
        self.field = field_name
        self.problem = problem


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _FieldError(where, f"must be a mapping, not {_kind(value)}")
    for key in value:
        if not isinstance(key, str):
            raise _FieldError(where, f"keys must be words, not {_kind(key)}")
    return value


def _kind(value: object) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false"
    return {
        "str": "text",
        "int": "a number",
        "float": "a number",
        "list": "a list",
        "dict": "a mapping",
        "date": "a date",
        "datetime": "a date and time",
    }.get(type(value).__name__, type(value).__name__)


def _unknown(data: Mapping[str, Any], allowed: frozenset[str], where: str | None) -> None:
    for key in data:
        if key not in allowed:
            shown = f"{where}.{key}" if where else key
            raise _FieldError(shown, f"unknown setting (known: {', '.join(sorted(allowed))})")


def _parse(data: object, path: Path) -> DeskConfig:
    top = _mapping(data, "file")
    _unknown(top, _TOP_KEYS, None)
    defaults = DeskConfig()
    return DeskConfig(
        timezone=_timezone(top["timezone"]) if "timezone" in top else defaults.timezone,
        hours=_hours(top["hours"]) if "hours" in top else defaults.hours,
        holidays=_holidays(top["holidays"]) if "holidays" in top else defaults.holidays,
        days_off=_days_off(top["days_off"]) if "days_off" in top else defaults.days_off,
        sla=_sla(top["sla"]) if "sla" in top else defaults.sla,
        assignment=_assignment(top["assignment"]) if "assignment" in top else "round_robin",
        stale=_stale(top["stale"]) if "stale" in top else defaults.stale,
        csat=_csat(top["csat"]) if "csat" in top else defaults.csat,
        source=path,
    )


def _timezone(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _FieldError(
            "timezone", f"must be a time zone name like Asia/Seoul, not {_kind(value)}"
        )
    name = value.strip()
    try:
        if len(name) > 64:
            raise ValueError(name)
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _FieldError("timezone", f"unknown time zone {name[:64]!r}") from None
    return name


def _hours(value: object) -> tuple[tuple[Range, ...], ...]:
    days = _mapping(value, "hours")
    _unknown(days, frozenset(WEEKDAYS), "hours")
    week = tuple(_day(days.get(day), f"hours.{day}") for day in WEEKDAYS)
    if not any(week):
        raise _FieldError("hours", "no open hours in the whole week")
    return week


def _day(value: object, where: str) -> tuple[Range, ...]:
    if value is None or value is False:
        return ()
    if not isinstance(value, str):
        raise _FieldError(where, f'must be ranges like "09:00-18:00" or closed, not {_kind(value)}')
    text = value.strip()
    if text.lower() in ("", "closed"):
        return ()
    parts = text.split(",")
    if len(parts) > MAX_RANGES_PER_DAY:
        raise _FieldError(where, f"more than {MAX_RANGES_PER_DAY} ranges")
    return tuple(_range(part.strip(), where) for part in parts)


def _range(text: str, where: str) -> Range:
    match = _RANGE.match(text)
    if match is None:
        raise _FieldError(where, f"{text[:40]!r} is not a range like 09:00-18:00")
    sh, sm, eh, em = (int(g) for g in match.groups())
    start, end = _minute(sh, sm, text, where), _minute(eh, em, text, where)
    if start == 24 * 60:
        raise _FieldError(where, f"{text!r} starts at 24:00 (write 00:00)")
    if start == end:
        raise _FieldError(where, f"{text!r} is empty")
    return (start, end)


def _minute(hour: int, minute: int, text: str, where: str) -> int:
    if minute > 59 or hour > 24 or (hour == 24 and minute != 0):
        raise _FieldError(where, f"{text!r} has a time past 24:00")
    return hour * 60 + minute


def _holidays(value: object) -> str | None:
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    if not isinstance(value, str):
        # YAML reads an unquoted NO (Norway) as false.
        raise _FieldError(
            "holidays", f'must be a country code like KR (quoted: "NO") or none, not {_kind(value)}'
        )
    code = value.strip().upper()
    if code not in holidays_lib.list_supported_countries():
        raise _FieldError("holidays", f"no public holidays known for {code[:16]!r}")
    return code


def _days_off(value: object) -> frozenset[date]:
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        raise _FieldError(
            "days_off", f"must be a list of dates like 2026-12-31, not {_kind(value)}"
        )
    if len(value) > MAX_DAYS_OFF:
        raise _FieldError("days_off", f"more than {MAX_DAYS_OFF} dates")
    days: set[date] = set()
    for index, item in enumerate(value):
        days.add(_date(item, f"days_off[{index}]"))
    return frozenset(days)


def _date(item: object, where: str) -> date:
    if isinstance(item, str):
        try:
            return date.fromisoformat(item.strip())
        except ValueError:
            pass
    shown = repr(item)[:40] if isinstance(item, str) else _kind(item)
    raise _FieldError(where, f"{shown} is not a date like 2026-12-31")


def _sla(value: object) -> dict[EscalationReason, SlaTarget]:
    reasons = _mapping(value, "sla")
    _unknown(reasons, frozenset(get_args(EscalationReason)), "sla")
    result = dict(DEFAULT_SLA)
    for reason, default in DEFAULT_SLA.items():
        if reason not in reasons:
            continue
        where = f"sla.{reason}"
        targets = _mapping(reasons[reason], where)
        _unknown(targets, frozenset({"first_response", "resolution"}), where)
        first = (
            _business(targets["first_response"], f"{where}.first_response")
            if "first_response" in targets
            else default.first_response
        )
        resolution = (
            _business(targets["resolution"], f"{where}.resolution")
            if "resolution" in targets
            else default.resolution
        )
        if first > resolution:
            raise _FieldError(where, "first_response is later than resolution")
        result[reason] = SlaTarget(first, resolution)
    return result


def _business(value: object, where: str) -> int:
    text = value.strip() if isinstance(value, str) else ""
    match = _BUSINESS.match(text) if text else None
    if match is None:
        hint = " (days depend on the hours: write hours, e.g. 18h)" if text.endswith("d") else ""
        shown = repr(text[:20]) if isinstance(value, str) else _kind(value)
        raise _FieldError(where, f"{shown} is not a business duration like 30m, 4h or 1h30m{hint}")
    hours, minutes = (int(g) if g else 0 for g in match.groups())
    seconds = hours * 3600 + minutes * 60
    if seconds <= 0:
        raise _FieldError(where, "must be longer than 0")
    if seconds > MAX_BUSINESS_SECONDS:
        raise _FieldError(where, f"longer than {MAX_BUSINESS_SECONDS // 3600}h")
    return seconds


def _wall(value: object, where: str) -> int:
    text = value.strip() if isinstance(value, str) else ""
    match = _WALL.match(text)
    if match is None:
        shown = repr(text[:20]) if isinstance(value, str) else _kind(value)
        raise _FieldError(where, f"{shown} is not a duration like 30m, 24h or 2d")
    seconds = int(match.group(1)) * _WALL_UNITS[match.group(2)]
    if seconds <= 0:
        raise _FieldError(where, "must be longer than 0")
    if seconds > MAX_WALL_SECONDS:
        raise _FieldError(where, "longer than a year")
    return seconds


def _assignment(value: object) -> Assignment:
    if value == "round_robin":
        return "round_robin"
    if value == "least_loaded":
        return "least_loaded"
    shown = repr(value)[:40] if isinstance(value, str) else _kind(value)
    raise _FieldError("assignment", f"{shown} is not round_robin or least_loaded")


def _stale(value: object) -> StaleSettings:
    settings = _mapping(value, "stale")
    _unknown(settings, frozenset({"remind_after", "close_after"}), "stale")
    default = StaleSettings()
    remind = (
        _wall(settings["remind_after"], "stale.remind_after")
        if "remind_after" in settings
        else default.remind_after
    )
    close = (
        _wall(settings["close_after"], "stale.close_after")
        if "close_after" in settings
        else default.close_after
    )
    if close <= remind:
        raise _FieldError("stale", "close_after must be later than remind_after")
    return StaleSettings(remind, close)


def _csat(value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise _FieldError("csat", f"must be true or false, not {_kind(value)}")
