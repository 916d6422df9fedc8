"""Fuzzing (hypothesis) the journeys' pure core: random bytes, JSON, YAML, headers and Unicode
text may only ever give the module's own one-line error, never another exception."""

from __future__ import annotations

import json
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.journeys.definitions import SAMPLE_JOURNEYS, JourneyError, load_journeys, parse_journeys
from bot.journeys.events import Event, EventError, parse_event, parse_event_lines
from bot.journeys.optout import opt_out_request
from bot.journeys.rules import compose_message
from bot.journeys.signing import SignatureError, verify

NASTY = ["", "\x00", "\ud800", "\u202e", "ㅋ" * 300, "{customer.name}", "%s {0}", "수신거부\n그만"]
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.sampled_from(NASTY),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
FIELDS = ["event_id", "type", "occurred_at", "customer", "payload", "extra"]
SAMPLE = load_journeys(SAMPLE_JOURNEYS)


def _one_line(error: Exception) -> None:
    assert str(error) and "\n" not in str(error)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200),
        st.dictionaries(st.sampled_from(FIELDS), values),
    )
)
def test_any_body_is_an_event_or_an_event_error(raw: Any) -> None:
    try:
        parse_event(raw)
    except EventError as error:
        _one_line(error)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.one_of(st.text(max_size=80), st.sampled_from(NASTY)), max_size=6))
def test_any_batch_is_events_and_errors(lines: list[str]) -> None:
    for result in parse_event_lines("\n".join(lines)):
        assert isinstance(result, Event | EventError)


KEYS = ["name", "trigger", "conditions", "delay", "exit_on", "dedupe", "category", "caps"]


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.one_of(
        st.text(max_size=300),
        st.lists(st.dictionaries(st.sampled_from(KEYS), values), min_size=1, max_size=3).map(
            lambda journeys: yaml.safe_dump({"journeys": journeys}, allow_unicode=True)
        ),
    )
)
def test_any_journey_file_loads_or_is_a_journey_error(text: str) -> None:
    try:
        parse_journeys(text, "fuzz.yaml")
    except JourneyError as error:
        _one_line(error)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.sampled_from(["cart.abandoned", "order.placed", "order.delivered", "customer.returned"]),
    st.dictionaries(st.sampled_from(["cart_id", "order_id", "items", "visit_id"]), values),
    st.sampled_from(["VIP", "regular", None]),
)
def test_the_sample_journeys_render_any_payload_or_say_why(
    kind: str, payload: dict[str, Any], tier: str | None
) -> None:
    raw = {
        "event_id": "e",
        "type": kind,
        "occurred_at": 1.8e9,
        "customer": {"customer_id": "c", "tier": tier},
        "payload": payload,
    }
    try:
        event = parse_event(json.loads(json.dumps(raw)) if _jsonable(raw) else raw)
    except EventError:
        return
    for journey in SAMPLE.triggered_by(event):
        for language in ("ko", "en"):
            try:
                text = compose_message(journey, event, language, "온도마켓")
                journey.dedupe_key(event)
            except JourneyError as error:
                _one_line(error)
            else:
                assert "\x00" not in text


def _jsonable(raw: Any) -> bool:
    try:
        json.dumps(raw, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.dictionaries(
        st.sampled_from(["X-Ondo-Timestamp", "x-ondo-signature", "X-Ondo-Signature", "other"]),
        st.one_of(st.text(max_size=80), st.sampled_from(["v1=" + "a" * 64, "1796646600"])),
    ),
    st.floats(),
)
def test_any_headers_verify_or_give_a_reason(headers: dict[str, str], now: float) -> None:
    try:
        verify("secret", headers, b"{}", now)
    except SignatureError as error:
        _one_line(error)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.one_of(
        st.text(max_size=120),
        st.text(
            alphabet="수신거부그만보내지마세요받을래문자광고 stopunsub?!.하면안알림꺼주",
            max_size=40,
        ),
        st.sampled_from(NASTY),
    ),
    st.sampled_from(["ko", "en", None]),
)
def test_any_text_is_an_opt_out_or_not(text: str, language: Any) -> None:
    assert isinstance(opt_out_request(text, language), bool)
