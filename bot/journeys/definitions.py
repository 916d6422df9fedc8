"""Journeys from YAML (``ONDO_JOURNEYS``): which event starts one, on what conditions, after
which delay, what cancels it, and the message it sends in Korean and English.

A file is ``journeys: [...]`` and optionally ``caps:`` (per-category frequency caps that
replace the defaults of :data:`DEFAULT_CATEGORY_CAPS`)::

    journeys:
      - name: cart_reminder
        trigger: cart.abandoned
        conditions: {all: ["payload.total >= 30000", {field: customer.tier, op: exists}]}
        delay: 1h
        exit_on: [{type: order.placed, match: cart_id}]
        dedupe: "{payload.cart_id}"
        category: marketing
        caps: {per_customer: 1, per: 7d}
        templates:
          ko: "{customer.name|고객}님, 장바구니에 {payload.items[0].name}이(가) 남아 있어요."
          en: "{customer.name|Hi}, {payload.items[0].name} is still in your cart."

Every mistake is a :class:`JourneyError` naming the file, the journey and its line. A field
is a path into the event: ``customer.<customer_id|name|language|time_zone|tier>``,
``customer.identities.<platform>``, ``payload.<key>`` with ``.key`` and ``[n]`` steps, or
``type`` / ``event_id``. Placeholders are such paths in braces, with an optional fallback
after ``|`` (``{customer.name|고객}``); ``{{`` and ``}}`` are literal braces. A placeholder
only reads the event's values: there is no attribute access, no format spec, and a value is
inserted as one line of plain text (control characters removed, at most 200 characters).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias, get_args

import yaml

from bot.journeys.events import EVENT_TYPE, Event
from bot.types import Language

Category = Literal["transactional", "review_request", "marketing"]
CATEGORIES: tuple[Category, ...] = get_args(Category)
Op = Literal["==", "!=", "<", "<=", ">", ">=", "in", "not_in", "exists"]
OPS: tuple[Op, ...] = get_args(Op)
LANGUAGES: tuple[Language, ...] = ("ko", "en")

SAMPLE_JOURNEYS = Path(__file__).parent / "sample" / "ondo_market.yaml"
"""The bundled journeys of 온도마켓 (package data)."""

MAX_FILE = 1024 * 1024
MAX_DELAY = 365 * 86400.0
MAX_TEMPLATE = 2000
MAX_VALUE = 200
"""Characters of one placeholder's value in a message."""

_DAY = 86400.0
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": _DAY, "w": 7 * _DAY}
_DURATION = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?[smhdw])+")
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhdw])")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_KEY = r"[^\W\d][\w-]*"  # a letter (any script) or _, then letters, digits, _ and -
_STEP = re.compile(rf"\.({_KEY})|\[([0-9]{{1,4}})\]")
_CUSTOMER = frozenset({"customer_id", "name", "language", "time_zone", "tier"})
_SYMBOLIC = re.compile(r"\s*(?P<field>[^\s=!<>]+)\s*(?P<op>==|!=|<=|>=|<|>)\s*(?P<value>.*?)\s*")
_WORDY = re.compile(r"\s*(?P<field>\S+)\s+(?P<op>not_in|not in|in)\s+(?P<value>.+?)\s*")
_EXISTS = re.compile(r"\s*(?P<field>\S+)\s+exists\s*")

_JOURNEY_KEYS = frozenset(
    {
        "name",
        "trigger",
        "conditions",
        "delay",
        "exit_on",
        "dedupe",
        "category",
        "caps",
        "templates",
    }
)
_REQUIRED = ("name", "trigger", "category", "templates")
_FILE_KEYS = frozenset({"journeys", "caps"})
_CAP_KEYS = frozenset({"per_customer", "per"})
_EXIT_KEYS = frozenset({"type", "match"})
_LEAF_KEYS = frozenset({"field", "op", "value"})


class JourneyError(ValueError):
    """A journey file (or one journey's template at send time) that cannot be used; the
    message names the file, the journey and, where known, the line."""


Segment: TypeAlias = str | int


@dataclass(frozen=True, slots=True)
class FieldPath:
    """A path into an event (``payload.items[0].name``): its text and its steps."""

    text: str
    steps: tuple[Segment, ...]

    def resolve(self, event: Event) -> tuple[bool, Any]:
        """``(True, value)`` if the event has this field, else ``(False, None)``."""
        root, rest = self.steps[0], self.steps[1:]
        value: Any
        if root == "customer":
            key = rest[0]
            if key == "identities":
                platform = str(rest[1])
                ids = event.customer.identities
                return (platform in ids, ids.get(platform))
            value = getattr(event.customer, str(key))
            return (value is not None, value)
        if root == "payload":
            value = event.payload
            for step in rest:
                if isinstance(step, int):
                    if not isinstance(value, list) or step >= len(value):
                        return (False, None)
                elif not isinstance(value, Mapping) or step not in value:
                    return (False, None)
                value = value[step]
            return (True, value)
        return (True, getattr(event, str(root)))


@dataclass(frozen=True, slots=True)
class Leaf:
    """One comparison: ``field op value``."""

    field: FieldPath
    op: Op
    value: Any

    def holds(self, event: Event) -> bool:
        """Whether the event satisfies it. A missing or null field makes ``==``, ``<``,
        ``<=``, ``>``, ``>=`` and ``in`` false and ``!=`` and ``not_in`` true; values of
        different kinds (text against a number) are never ordered."""
        found, actual = self.field.resolve(event)
        present = found and actual is not None
        if self.op == "exists":
            return present is bool(self.value)
        if not present:
            return self.op in ("!=", "not_in")
        if self.op == "==":
            return _equal(actual, self.value)
        if self.op == "!=":
            return not _equal(actual, self.value)
        if self.op in ("in", "not_in"):
            inside = any(_equal(actual, v) for v in self.value)
            return inside if self.op == "in" else not inside
        return _ordered(actual, self.op, self.value)


@dataclass(frozen=True, slots=True)
class Group:
    """``all:`` or ``any:`` of conditions (leaves or groups)."""

    kind: Literal["all", "any"]
    items: tuple[Condition, ...]

    def holds(self, event: Event) -> bool:
        """Whether all (or any) of its conditions hold; an empty ``all`` holds."""
        results = (item.holds(event) for item in self.items)
        return all(results) if self.kind == "all" else any(results)


Condition: TypeAlias = Leaf | Group


@dataclass(frozen=True, slots=True)
class Placeholder:
    """``{path}`` or ``{path|fallback}`` inside a template."""

    path: FieldPath
    fallback: str | None


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template: literal text and placeholders, in order."""

    text: str
    parts: tuple[str | Placeholder, ...]

    def render(self, event: Event, where: str) -> str:
        """The text with each placeholder replaced by the event's value (plain text)."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            found, value = part.path.resolve(event)
            if not found or value is None or value == "":
                if part.fallback is None:
                    raise JourneyError(
                        f"{where}: the event {event.event_id!r} has no {part.path.text} "
                        f"(add a fallback: {{{part.path.text}|...}})"
                    )
                out.append(part.fallback)
            elif isinstance(value, bool) or not isinstance(value, str | int | float):
                raise JourneyError(
                    f"{where}: {part.path.text} of the event {event.event_id!r} is not text "
                    "or a number"
                )
            elif isinstance(value, float) and value.is_integer():
                out.append(str(int(value)))  # 50000.0 from a JSON number reads 50000
            else:
                out.append(plain(str(value)))
        return "".join(out)


@dataclass(frozen=True, slots=True)
class Cap:
    """At most ``limit`` sends to one customer in ``window`` seconds, counting the sends of
    this journey (``scope="journey"``) or of its whole category (``scope="category"``)."""

    limit: int
    window: float
    scope: Literal["journey", "category"]


DEFAULT_CATEGORY_CAPS: Mapping[Category, Cap] = {
    "marketing": Cap(2, 7 * _DAY, "category"),
    "review_request": Cap(1, 7 * _DAY, "category"),
}
"""Per customer and category, over all journeys of the category: at most two marketing
messages and one review request a week; transactional messages are not capped."""


@dataclass(frozen=True, slots=True)
class Exit:
    """A later event of ``type`` for the same customer cancels the pending send; with
    ``match``, only if that payload field equals the trigger's."""

    type: str
    match: FieldPath | None


@dataclass(frozen=True, slots=True)
class Journey:
    """One journey, validated; built by :func:`load_journeys`."""

    name: str
    trigger: str
    category: Category
    templates: Mapping[Language, Template]
    conditions: Condition | None = None
    delay: float = 0.0
    exit_on: tuple[Exit, ...] = ()
    dedupe: Template | None = None
    caps: tuple[Cap, ...] = ()
    source: str = "<journeys>"
    line: int = 0

    @property
    def where(self) -> str:
        """``file: journey 'name' (line N)``, the prefix of this journey's errors."""
        return _where(self.source, self.name, self.line)

    def matches(self, event: Event) -> bool:
        """Whether ``event`` starts this journey: its type is the trigger and the
        conditions hold."""
        if event.type != self.trigger:
            return False
        return self.conditions is None or self.conditions.holds(event)

    def due_at(self, event: Event) -> float:
        """When the send is due: the event's time plus the delay (epoch seconds). It may lie
        in the past for an event that arrives late; the caller decides what is too late."""
        return event.occurred_at + self.delay

    def dedupe_key(self, event: Event) -> str:
        """The key that makes a second trigger a duplicate: ``journey:customer:value`` of
        the ``dedupe`` template (the event id without one), so it is per journey and per
        customer."""
        value = self.dedupe.render(event, self.where) if self.dedupe else event.event_id
        return f"{self.name}:{event.customer.customer_id}:{value}"

    def exits(self, trigger_event: Event, later_event: Event) -> bool:
        """Whether ``later_event`` cancels the send that ``trigger_event`` scheduled: an
        ``exit_on`` type, the same customer, not earlier than the trigger, and (with
        ``match``) the same value of the payload field in both."""
        if later_event.event_id == trigger_event.event_id:
            return False
        if later_event.customer.customer_id != trigger_event.customer.customer_id:
            return False
        if later_event.occurred_at < trigger_event.occurred_at:
            return False
        for rule in self.exit_on:
            if rule.type != later_event.type:
                continue
            if rule.match is None:
                return True
            found, value = rule.match.resolve(trigger_event)
            found_later, later = rule.match.resolve(later_event)
            if found and found_later and value is not None and _equal(value, later):
                return True
        return False

    def render(self, event: Event, language: Language) -> str:
        """The journey's message for ``event`` in ``language`` (no legal prefix: see
        :func:`bot.journeys.rules.compose_message`)."""
        template = self.templates.get(language)
        if template is None:
            raise JourneyError(f"{self.where}: no template in {language!r}")
        return template.render(event, self.where)


@dataclass(frozen=True, slots=True)
class Journeys:
    """The journeys of one file, in file order."""

    journeys: tuple[Journey, ...]
    source: str = "<journeys>"
    category_caps: Mapping[Category, Cap] = field(
        default_factory=lambda: dict(DEFAULT_CATEGORY_CAPS)
    )

    def __iter__(self) -> Iterator[Journey]:
        return iter(self.journeys)

    def __len__(self) -> int:
        return len(self.journeys)

    def get(self, name: str) -> Journey | None:
        """The journey called ``name``, if any."""
        return next((j for j in self.journeys if j.name == name), None)

    def triggered_by(self, event: Event) -> list[Journey]:
        """The journeys ``event`` starts (none for an event type no journey uses)."""
        return [j for j in self.journeys if j.matches(event)]

    @property
    def exit_types(self) -> frozenset[str]:
        """Every event type that can cancel a pending send."""
        return frozenset(rule.type for j in self.journeys for rule in j.exit_on)


# --- loading -----------------------------------------------------------------------------


def load_journeys(path: str | Path) -> Journeys:
    """Read and validate a journey file. Raises :class:`JourneyError` for any mistake."""
    source = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE + 1)
    except OSError as exc:
        raise JourneyError(f"{source}: cannot read ({exc.strerror or exc})") from None
    if len(data) > MAX_FILE:
        raise JourneyError(f"{source}: larger than {MAX_FILE} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JourneyError(f"{source}: not UTF-8 (byte {exc.start})") from None
    return parse_journeys(text, source)


def parse_journeys(text: str, source: str = "<journeys>") -> Journeys:
    """Validate journeys from YAML text; ``source`` names it in errors."""
    raw = _yaml(text, source)
    if not isinstance(raw, Mapping) or "journeys" not in raw:
        raise JourneyError(f"{source}: expected a mapping with a 'journeys:' list")
    _only(raw, _FILE_KEYS, source, "the file")
    caps = _category_caps(raw.get("caps"), source)
    items = raw["journeys"]
    if not isinstance(items, list) or not items:
        raise JourneyError(f"{source}: 'journeys' must be a non-empty list")
    journeys: list[Journey] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items, start=1):
        journey = _journey(item, index, source, caps)
        if journey.name in seen:
            raise JourneyError(
                f"{journey.where}: duplicate name (first at line {seen[journey.name]})"
            )
        seen[journey.name] = journey.line
        journeys.append(journey)
    return Journeys(tuple(journeys), source, caps)


class _Located(dict[Any, Any]):
    """A YAML mapping that remembers its line and each key's."""

    line: int = 0
    key_lines: dict[Any, int]


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, with line numbers on mappings, duplicate keys refused and no
    aliases (so a small file cannot expand into a huge one)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("aliases (*name) are not supported")
        return super().compose_node(parent, index)


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> _Located:
    loader.flatten_mapping(node)
    out = _Located()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise yaml.YAMLError(f"a key that is not text (line {line})")
        if key in out:
            raise yaml.YAMLError(f"the key {key!r} appears twice (line {line})")
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = line
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise JourneyError(f"{source}: not valid YAML{line}: {exc.problem}") from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise JourneyError(f"{source}: not valid YAML: {_one_line(exc)}") from None


def _journey(raw: Any, index: int, source: str, caps: Mapping[Category, Cap]) -> Journey:
    line = getattr(raw, "line", 0)
    if not isinstance(raw, Mapping):
        raise JourneyError(f"{source}: journey #{index} is not a mapping")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        shown = f"#{index}" if name is None else repr(name)
        raise JourneyError(
            f"{_where(source, shown, line)}: 'name' must be letters, digits, '_', '.', '-'"
        )
    where = _where(source, name, line)
    _only(raw, _JOURNEY_KEYS, where, "a journey")
    for key in _REQUIRED:
        if key not in raw:
            raise JourneyError(f"{where}: '{key}' is required")
    trigger = raw["trigger"]
    if not isinstance(trigger, str) or not EVENT_TYPE.fullmatch(trigger):
        raise JourneyError(f"{where}: trigger {trigger!r} is not an event type")
    category = raw["category"]
    if category not in CATEGORIES:
        raise JourneyError(
            f"{where}: unknown category {category!r} (expected {', '.join(CATEGORIES)})"
        )
    own = () if raw.get("caps") is None else (_cap(raw["caps"], "journey", where),)
    shared = (caps[category],) if category in caps else ()
    return Journey(
        name=name,
        trigger=trigger,
        category=category,
        templates=_templates(raw["templates"], where),
        conditions=_conditions(raw.get("conditions"), where),
        delay=parse_delay(raw.get("delay", 0), where),
        exit_on=_exits(raw.get("exit_on"), where),
        dedupe=None if raw.get("dedupe") is None else _template(raw["dedupe"], where, "dedupe"),
        caps=own + shared,
        source=source,
        line=line,
    )


def _where(source: str, name: str, line: int) -> str:
    shown = name if name.startswith("#") else repr(name)
    return f"{source}: journey {shown}" + (f" (line {line})" if line else "")


def _only(raw: Mapping[Any, Any], allowed: frozenset[str], where: str, what: str) -> None:
    for key in raw:
        if key not in allowed:
            line = getattr(raw, "key_lines", {}).get(key, 0)
            at = f" at line {line}" if line else ""
            raise JourneyError(
                f"{where}: unknown key {key!r} in {what}{at} "
                f"(expected {', '.join(sorted(allowed))})"
            )


def parse_delay(value: Any, where: str = "delay") -> float:
    """Seconds from ``0``, ``90s``, ``30m``, ``2h``, ``1d``, ``1w`` or ``1h30m``."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
        return 0.0
    text = value.strip().lower() if isinstance(value, str) else None
    if text == "0":
        return 0.0
    if text is None or not _DURATION.fullmatch(text):
        raise JourneyError(f"{where}: delay {value!r} is not a duration (like 30m, 2h, 1d or 0)")
    seconds = sum(float(n) * _UNITS[unit] for n, unit in _DURATION_PART.findall(text))
    if not math.isfinite(seconds) or seconds > MAX_DELAY:
        raise JourneyError(f"{where}: delay {value!r} is longer than 365 days")
    return seconds


def _cap(raw: Any, scope: Literal["journey", "category"], where: str) -> Cap:
    if not isinstance(raw, Mapping):
        raise JourneyError(f"{where}: caps must be a mapping like {{per_customer: 1, per: 7d}}")
    _only(raw, _CAP_KEYS, where, "caps")
    limit = raw.get("per_customer")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise JourneyError(f"{where}: caps.per_customer must be a whole number >= 1")
    if "per" not in raw:
        raise JourneyError(f"{where}: caps.per (the window, like 7d) is required")
    window = parse_delay(raw["per"], where)
    if window <= 0:
        raise JourneyError(f"{where}: caps.per must be longer than 0")
    return Cap(limit, window, scope)


def _category_caps(raw: Any, source: str) -> dict[Category, Cap]:
    caps: dict[Category, Cap] = dict(DEFAULT_CATEGORY_CAPS)
    if raw is None:
        return caps
    if not isinstance(raw, Mapping):
        raise JourneyError(f"{source}: 'caps' must map a category to {{per_customer, per}}")
    for category, value in raw.items():
        if category not in CATEGORIES:
            raise JourneyError(
                f"{source}: caps: unknown category {category!r} (expected {', '.join(CATEGORIES)})"
            )
        caps[category] = _cap(value, "category", f"{source}: caps.{category}")
    return caps


def _exits(raw: Any, where: str) -> tuple[Exit, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise JourneyError(f"{where}: exit_on must be a list of {{type, match}}")
    out: list[Exit] = []
    for item in raw:
        if isinstance(item, str):
            item = {"type": item}
        if not isinstance(item, Mapping):
            raise JourneyError(f"{where}: an exit_on entry must be {{type: ..., match: ...}}")
        _only(item, _EXIT_KEYS, where, "exit_on")
        kind = item.get("type")
        if not isinstance(kind, str) or not EVENT_TYPE.fullmatch(kind):
            raise JourneyError(f"{where}: exit_on type {kind!r} is not an event type")
        match = item.get("match")
        path = None
        if match is not None:
            if not isinstance(match, str):
                raise JourneyError(f"{where}: exit_on match must be a payload field name")
            text = match if match.startswith(("payload.", "customer.")) else f"payload.{match}"
            path = parse_path(text, where)
        out.append(Exit(kind, path))
    return tuple(out)


def parse_path(text: str, where: str = "field") -> FieldPath:
    """A :class:`FieldPath` from ``customer.tier``, ``payload.items[0].name``, ``type``."""
    if not isinstance(text, str) or not text:
        raise JourneyError(f"{where}: a field must be text like payload.total")
    if text in ("type", "event_id"):
        return FieldPath(text, (text,))
    root = text.partition(".")[0]
    steps: list[Segment] = [root]
    pos = len(root)
    while pos < len(text):
        m = _STEP.match(text, pos)
        if m is None:
            raise JourneyError(
                f"{where}: {text!r} is not a field path (like payload.items[0].name)"
            )
        steps.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if root == "customer":
        ok = (len(steps) == 2 and steps[1] in _CUSTOMER) or (
            len(steps) == 3 and steps[1] == "identities" and isinstance(steps[2], str)
        )
        if not ok:
            raise JourneyError(
                f"{where}: {text!r} is not a customer field (customer_id, name, language, "
                "time_zone, tier, identities.<platform>)"
            )
    elif root == "payload":
        if len(steps) < 2:
            raise JourneyError(f"{where}: {text!r} names no payload field (payload.<key>)")
    else:
        raise JourneyError(
            f"{where}: {text!r} must start with customer. or payload. (or be type, event_id)"
        )
    return FieldPath(text, tuple(steps))


def _conditions(raw: Any, where: str) -> Condition | None:
    if raw is None:
        return None
    if isinstance(raw, list):
        return Group("all", tuple(_condition(item, where) for item in raw))
    return _condition(raw, where)


def _condition(raw: Any, where: str) -> Condition:
    if isinstance(raw, str):
        return _short(raw, where)
    if not isinstance(raw, Mapping):
        raise JourneyError(
            f"{where}: a condition must be a mapping or text like 'customer.tier == VIP'"
        )
    if set(raw) in ({"all"}, {"any"}):
        kind: Literal["all", "any"] = "all" if "all" in raw else "any"
        items = raw[kind]
        if not isinstance(items, list):
            raise JourneyError(f"{where}: '{kind}' must hold a list of conditions")
        return Group(kind, tuple(_condition(item, where) for item in items))
    if "all" in raw or "any" in raw:
        raise JourneyError(f"{where}: 'all'/'any' must be alone in their mapping")
    _only(raw, _LEAF_KEYS, where, "a condition")
    if "field" not in raw or "op" not in raw:
        raise JourneyError(f"{where}: a condition needs 'field' and 'op'")
    if raw["op"] != "exists" and "value" not in raw:
        raise JourneyError(f"{where}: the condition on {raw['field']!r} needs a 'value'")
    return _leaf(raw["field"], raw["op"], raw.get("value", True), where)


def _short(text: str, where: str) -> Leaf:
    m = _EXISTS.fullmatch(text)
    if m:
        return _leaf(m["field"], "exists", True, where)
    m = _WORDY.fullmatch(text) or _SYMBOLIC.fullmatch(text)
    if m is None or not m["value"]:
        raise JourneyError(
            f"{where}: condition {text!r} is not 'field op value' (ops: {', '.join(OPS)})"
        )
    try:
        value = yaml.load(m["value"], Loader=_Loader)  # a SafeLoader subclass
    except yaml.YAMLError:
        value = m["value"]
    return _leaf(m["field"], m["op"].replace(" ", "_"), value, where)


def _leaf(path: Any, op: Any, value: Any, where: str) -> Leaf:
    if op not in OPS:
        raise JourneyError(f"{where}: unknown op {op!r} (expected {', '.join(OPS)})")
    target = parse_path(path, where)
    if op == "exists":
        if not isinstance(value, bool):
            raise JourneyError(f"{where}: 'exists' takes true or false, not {value!r}")
    elif op in ("in", "not_in"):
        if not isinstance(value, list) or not all(_scalar(v) for v in value):
            raise JourneyError(f"{where}: '{op}' on {target.text} needs a list of values")
        value = tuple(value)
    elif op in ("<", "<=", ">", ">="):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise JourneyError(f"{where}: '{op}' on {target.text} needs a number or text")
    elif not _scalar(value):
        raise JourneyError(f"{where}: '{op}' on {target.text} needs a single value")
    return Leaf(target, op, value)


def _templates(raw: Any, where: str) -> dict[Language, Template]:
    if not isinstance(raw, Mapping):
        raise JourneyError(f"{where}: templates must map ko and en to text")
    for key in raw:
        if key not in LANGUAGES:
            raise JourneyError(f"{where}: unknown template language {key!r} (expected ko, en)")
    out: dict[Language, Template] = {}
    for language in LANGUAGES:
        if language not in raw:
            raise JourneyError(f"{where}: missing the {language} template")
        out[language] = _template(raw[language], where, f"templates.{language}")
    return out


def _template(raw: Any, where: str, what: str) -> Template:
    if not isinstance(raw, str) or not raw.strip():
        raise JourneyError(f"{where}: {what} must be non-empty text")
    if len(raw) > MAX_TEMPLATE or "\x00" in raw:
        raise JourneyError(f"{where}: {what} is longer than {MAX_TEMPLATE} characters")
    parts: list[str | Placeholder] = []
    literal: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if raw.startswith("{{", i) or raw.startswith("}}", i):
            literal.append(ch)
            i += 2
        elif ch == "}":
            raise JourneyError(f"{where}: {what} has a '}}' without '{{' (write }}}} for one)")
        elif ch == "{":
            end = raw.find("}", i)
            if end < 0:
                raise JourneyError(f"{where}: {what} has a '{{' that is never closed")
            inner = raw[i + 1 : end]
            path, bar, fallback = inner.partition("|")
            if "{" in path:
                raise JourneyError(f"{where}: {what} has a '{{' inside a placeholder")
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(
                Placeholder(parse_path(path.strip(), f"{where}: {what}"), fallback if bar else None)
            )
            i = end + 1
        else:
            literal.append(ch)
            i += 1
    if literal:
        parts.append("".join(literal))
    return Template(raw, tuple(parts))


# --- values ------------------------------------------------------------------------------


def plain(value: str, limit: int = MAX_VALUE) -> str:
    """``value`` as one line of plain text: control and format characters removed, runs of
    white space made one space, at most ``limit`` characters."""
    cleaned = "".join(
        " " if ch.isspace() else ch
        for ch in value
        if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )
    text = " ".join(cleaned.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(a: Any, b: Any) -> bool:
    if _number(a) and _number(b):
        return bool(a == b)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return type(a) is type(b) and bool(a == b)


def _ordered(a: Any, op: str, b: Any) -> bool:
    if not ((_number(a) and _number(b)) or (isinstance(a, str) and isinstance(b, str))):
        return False
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]
