"""The event envelope a shop sends (``POST /v1/events``, ``ondo journey send``), validated
strictly: every mistake is one :class:`EventError` whose message names the field.

An event is ``{"event_id", "type", "occurred_at", "customer": {...}, "payload": {...}}``.
Nothing unknown is accepted (a typo such as ``"ocurred_at"`` is an error, not a silently
missing time), strings never hold NUL, and the body, the payload's nesting and its number of
values are bounded, so a hostile body costs little to refuse.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeAlias
from zoneinfo import available_timezones

from bot.types import Language

JSON: TypeAlias = "bool | int | float | str | list[JSON] | dict[str, JSON] | None"

MAX_BODY = 64 * 1024
"""Bytes of one event's JSON (UTF-8)."""
MAX_DEPTH = 8
"""Nesting of containers inside ``payload`` (``{"items": [{"name": ...}]}`` is depth 2)."""
MAX_VALUES = 2000
"""Values (containers, keys' values, list items) inside ``payload``."""
MAX_EVENT_ID = 200
MAX_TEXT = 200
"""Characters of a customer's id, name, tier and platform user ids."""
MAX_LINES = 100_000
"""Events in one JSON-lines batch."""

EVENT_TYPE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_PLATFORM = re.compile(r"[a-z][a-z0-9_]{0,31}")
# NUL and lone surrogates (JSON's "\ud800"): no database stores them, no platform shows them.
_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")
# Ids, names and tiers are one line: they go into logs, keys and the CLI's tables.
_CONTROL = re.compile("[\x01-\x1f\x7f-\x9f]")
# 2000-01-01 .. 2100-01-01: an epoch in milliseconds or a zero is a mistake, not a time.
_EARLIEST, _LATEST = 946_684_800.0, 4_102_444_800.0

_FIELDS = frozenset({"event_id", "type", "occurred_at", "customer", "payload"})
_CUSTOMER_FIELDS = frozenset({"customer_id", "name", "language", "time_zone", "tier", "identities"})
_LANGUAGES: dict[str, Language] = {
    "ko": "ko",
    "kor": "ko",
    "korean": "ko",
    "한국어": "ko",
    "en": "en",
    "eng": "en",
    "english": "en",
    "영어": "en",
}


class EventError(ValueError):
    """An event that cannot be accepted; the message is one line that names the field."""


@dataclass(frozen=True, slots=True)
class CustomerRef:
    """Who an event is about: the shop's own customer id and what the shop knows of them.

    ``identities`` maps a platform (``"slack"``, ``"discord"``) to the customer's user id
    there: where a journey's message can be delivered."""

    customer_id: str
    name: str | None = None
    language: Language | None = None
    time_zone: str | None = None
    tier: str | None = None
    identities: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Event:
    """One validated event; ``occurred_at`` is epoch seconds (UTC)."""

    event_id: str
    type: str
    occurred_at: float
    customer: CustomerRef
    payload: Mapping[str, JSON] = field(default_factory=dict)

    def to_dict(self) -> dict[str, JSON]:
        """The event as JSON values, which :func:`parse_event` reads back to an equal event."""
        customer: dict[str, JSON] = {"customer_id": self.customer.customer_id}
        for key in ("name", "language", "time_zone", "tier"):
            value = getattr(self.customer, key)
            if value is not None:
                customer[key] = value
        if self.customer.identities:
            customer["identities"] = dict(self.customer.identities)
        return {
            "event_id": self.event_id,
            "type": self.type,
            "occurred_at": self.occurred_at,
            "customer": customer,
            "payload": dict(self.payload),
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as compact JSON text (non-ASCII kept as is)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


def parse_event(raw: bytes | str | Mapping[str, Any]) -> Event:
    """Validate one event from its JSON body (bytes or text) or an already decoded mapping.

    Raises :class:`EventError` naming the first field that is wrong."""
    if isinstance(raw, bytes | bytearray):
        if len(raw) > MAX_BODY:
            raise EventError(f"body: {len(raw)} bytes, more than the limit of {MAX_BODY}")
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EventError(f"body: not UTF-8 (byte {exc.start})") from None
        return parse_event(text)
    if isinstance(raw, str):
        size = len(raw.encode("utf-8", "surrogatepass"))
        if size > MAX_BODY:
            raise EventError(f"body: {size} bytes, more than the limit of {MAX_BODY}")
        return _from_mapping(_decode(raw.removeprefix("\ufeff")))
    if isinstance(raw, Mapping):
        try:
            text = json.dumps(raw, ensure_ascii=False, allow_nan=False)
            size = len(text.encode("utf-8", "surrogatepass"))
        except (TypeError, ValueError, RecursionError) as exc:
            raise EventError(f"body: not JSON values ({_one_line(exc)})") from None
        if size > MAX_BODY:
            raise EventError(f"body: {size} bytes, more than the limit of {MAX_BODY}")
        return _from_mapping(raw)
    raise EventError(f"body: expected JSON text or an object, not {type(raw).__name__}")


def parse_event_lines(text: str) -> list[Event | EventError]:
    """Each non-blank line of a JSON-lines batch as an event or the error of that line
    (its message begins ``line N:``). Too many lines is an error of the whole batch."""
    return list(iter_event_lines(text.splitlines()))


def iter_event_lines(lines: Iterable[str]) -> Iterator[Event | EventError]:
    """:func:`parse_event_lines` over lines read one at a time (a file object), so a large
    batch is never held in memory whole."""
    count = 0
    for number, line in enumerate(lines, start=1):
        if number == 1:
            line = line.removeprefix("\ufeff")
        if not line.strip():
            continue
        count += 1
        if count > MAX_LINES:
            raise EventError(f"batch: more than {MAX_LINES} events; split the file")
        try:
            yield parse_event(line.rstrip("\r\n"))
        except EventError as exc:
            yield EventError(f"line {number}: {exc}")


# --- decoding --------------------------------------------------------------------------


def _decode(text: str) -> Any:
    if not text.strip():
        raise EventError("body: empty")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except EventError:
        raise
    except RecursionError:
        raise EventError("body: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, or an integer of thousands of digits
        raise EventError(f"body: not valid JSON ({_one_line(exc)})") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise EventError(f"body: the key {key!r} appears twice in one object")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise EventError(f"body: {name} is not a JSON number")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


# --- the fields ------------------------------------------------------------------------


def _from_mapping(raw: Any) -> Event:
    if not isinstance(raw, Mapping):
        raise EventError(f"body: expected a JSON object, not {_kind(raw)}")
    _only(raw, _FIELDS, "")
    for name in ("event_id", "type", "occurred_at", "customer"):
        if name not in raw:
            raise EventError(f"{name}: required")
    event_id = _text(raw["event_id"], "event_id", MAX_EVENT_ID)
    kind = _text(raw["type"], "type", 64)
    if not EVENT_TYPE.fullmatch(kind):
        raise EventError(f"type: {kind!r} is not an event type (lower case, digits, '.', '_', '-')")
    payload = raw.get("payload", {})
    if not isinstance(payload, Mapping):
        raise EventError(f"payload: expected an object, not {_kind(payload)}")
    _check_payload(payload)
    return Event(
        event_id=event_id,
        type=kind,
        occurred_at=parse_time(raw["occurred_at"], "occurred_at"),
        customer=_customer(raw["customer"]),
        payload=copy.deepcopy(dict(payload)),
    )


def parse_time(value: Any, name: str = "occurred_at") -> float:
    """Epoch seconds from ISO-8601 text with an offset (``2026-12-07T21:30:00+09:00``,
    ``...Z``) or an epoch number; a time without an offset is ambiguous and refused."""
    if isinstance(value, bool):
        raise EventError(f"{name}: expected ISO-8601 text or epoch seconds, not a boolean")
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:
            raise EventError(f"{name}: not a time between 2000 and 2100") from None
    elif isinstance(value, str):
        if len(value) > 64 or _FORBIDDEN.search(value):
            raise EventError(f"{name}: not an ISO-8601 time")
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            raise EventError(f"{name}: {value[:64]!r} is not an ISO-8601 time") from None
        if when.tzinfo is None or when.utcoffset() is None:
            raise EventError(f"{name}: {value!r} has no UTC offset (add Z or +09:00)")
        seconds = when.timestamp()
    else:
        raise EventError(f"{name}: expected ISO-8601 text or epoch seconds, not {_kind(value)}")
    if not math.isfinite(seconds) or not _EARLIEST <= seconds < _LATEST:
        raise EventError(f"{name}: {value!r} is not a time between 2000 and 2100")
    return seconds


def _customer(raw: Any) -> CustomerRef:
    if not isinstance(raw, Mapping):
        raise EventError(f"customer: expected an object, not {_kind(raw)}")
    _only(raw, _CUSTOMER_FIELDS, "customer.")
    if "customer_id" not in raw:
        raise EventError("customer.customer_id: required")
    zone = _optional_text(raw.get("time_zone"), "customer.time_zone", 64)
    if zone is not None and zone not in _zones():
        raise EventError(f"customer.time_zone: {zone!r} is not an IANA time zone")
    identities = raw.get("identities", {})
    if identities is None:
        identities = {}
    if not isinstance(identities, Mapping):
        raise EventError(f"customer.identities: expected an object, not {_kind(identities)}")
    linked: dict[str, str] = {}
    for key, user in identities.items():
        platform = key.strip().lower() if isinstance(key, str) else key
        if not isinstance(platform, str) or not _PLATFORM.fullmatch(platform):
            raise EventError(f"customer.identities: {str(key)[:40]!r} is not a platform name")
        linked[platform] = _text(user, f"customer.identities.{platform}", MAX_TEXT)
    return CustomerRef(
        customer_id=_text(raw["customer_id"], "customer.customer_id", MAX_TEXT),
        name=_optional_text(raw.get("name"), "customer.name", MAX_TEXT),
        language=_language(raw.get("language")),
        time_zone=zone,
        tier=_optional_text(raw.get("tier"), "customer.tier", MAX_TEXT),
        identities=linked,
    )


def _language(value: Any) -> Language | None:
    """``ko``/``en`` from a tag (``ko-KR``, ``en_US``, ``EN``) or a name (``Korean``)."""
    text = _optional_text(value, "customer.language", 35)
    if text is None:
        return None
    key = text.strip().lower().replace("_", "-")
    found = _LANGUAGES.get(key) or _LANGUAGES.get(key.split("-", 1)[0])
    if found is None:
        raise EventError(f"customer.language: {text!r} is not supported (ko or en)")
    return found


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    # Membership in the installed tz database, not a file lookup of the client's string.
    return frozenset(available_timezones()) | {"UTC"}


def _only(raw: Mapping[Any, Any], allowed: frozenset[str], prefix: str) -> None:
    for key in raw:
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            raise EventError(f"{prefix}{str(key)[:64]}: unknown field (expected {known})")


def _text(value: Any, name: str, limit: int) -> str:
    if not isinstance(value, str):
        raise EventError(f"{name}: expected text, not {_kind(value)}")
    if not value.strip():
        raise EventError(f"{name}: empty")
    if len(value) > limit:
        raise EventError(f"{name}: {len(value)} characters, more than {limit}")
    if _FORBIDDEN.search(value):
        raise EventError(f"{name}: holds a NUL character or a lone surrogate")
    if _CONTROL.search(value):
        raise EventError(f"{name}: holds a control character (a line break, a tab …)")
    return value


def _optional_text(value: Any, name: str, limit: int) -> str | None:
    if value is None or value == "":
        return None
    return _text(value, name, limit)


def _check_payload(payload: Mapping[Any, Any]) -> None:
    for count, (path, depth, value) in enumerate(_walk(payload, "payload", 0), start=1):
        if count > MAX_VALUES:
            raise EventError(f"payload: more than {MAX_VALUES} values")
        if depth > MAX_DEPTH:
            raise EventError(f"{path}: nested deeper than {MAX_DEPTH}")
        if isinstance(value, str) and _FORBIDDEN.search(value):
            raise EventError(f"{path}: holds a NUL character or a lone surrogate")
        if isinstance(value, float) and not math.isfinite(value):
            raise EventError(f"{path}: not a finite number")
        if not isinstance(value, str | int | float | list | dict | type(None)):
            raise EventError(f"{path}: {_kind(value)} is not a JSON value")


def _walk(value: Any, path: str, depth: int) -> Iterator[tuple[str, int, Any]]:
    yield path, depth, value
    if depth > MAX_DEPTH:
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EventError(f"{path}: the key {key!r} is not text")
            if _FORBIDDEN.search(key):
                raise EventError(f"{path}: a key holds a NUL character or a lone surrogate")
            yield from _walk(item, f"{path}.{key[:40]}", depth + 1)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]", depth + 1)


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "a boolean"}
    if value is None:
        return "null"
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__
