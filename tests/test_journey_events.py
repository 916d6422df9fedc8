"""The event envelope: valid events in Korean and English, and every malformed one refused with
a one-line error that names the field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.journeys.events import (
    MAX_BODY,
    CustomerRef,
    Event,
    EventError,
    iter_event_lines,
    parse_event,
    parse_event_lines,
)


def _raw(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "event_id": "evt-1",
        "type": "cart.abandoned",
        "occurred_at": "2026-12-07T21:30:00+09:00",
        "customer": {
            "customer_id": "c-42",
            "name": "김민지",
            "language": "ko-KR",
            "time_zone": "Asia/Seoul",
            "tier": "VIP",
            "identities": {"slack": "U123", "discord": "4567"},
        },
        "payload": {"cart_id": "cart-9", "items": [{"name": "머그컵", "price": 12000}]},
    }
    raw.update(overrides)
    return raw


def _customer(**overrides: Any) -> dict[str, Any]:
    customer = dict(_raw()["customer"])
    customer.update(overrides)
    return customer


def test_a_korean_event_from_bytes() -> None:
    event = parse_event(json.dumps(_raw(), ensure_ascii=False).encode())
    assert event.event_id == "evt-1"
    assert event.type == "cart.abandoned"
    assert event.occurred_at == 1796646600.0  # 12:30 UTC
    assert event.customer == CustomerRef(
        "c-42", "김민지", "ko", "Asia/Seoul", "VIP", {"slack": "U123", "discord": "4567"}
    )
    assert event.payload["items"] == [{"name": "머그컵", "price": 12000}]


def test_an_english_event_with_epoch_seconds_and_only_the_required_fields() -> None:
    event = parse_event(
        {
            "event_id": "e2",
            "type": "order.placed",
            "occurred_at": 1796646600,
            "customer": {"customer_id": "c-7", "language": "English"},
        }
    )
    assert event.occurred_at == 1796646600.0
    assert event.customer.language == "en"
    assert event.customer.identities == {}
    assert event.payload == {}


def test_z_suffix_and_the_round_trip() -> None:
    event = parse_event(json.dumps(_raw(occurred_at="2026-12-07T12:30:00Z")))
    assert event.occurred_at == 1796646600.0
    assert parse_event(event.to_json()) == event
    assert isinstance(event, Event)


@pytest.mark.parametrize(
    ("value", "language"), [("KO", "ko"), ("ko_KR", "ko"), ("korean", "ko"), ("en-US", "en")]
)
def test_language_is_normalised(value: str, language: str) -> None:
    assert parse_event(_raw(customer=_customer(language=value))).customer.language == language


def test_platform_names_are_lower_cased() -> None:
    customer = _customer(identities={" Slack ": "U1", "DISCORD": "42"})
    assert parse_event(_raw(customer=customer)).customer.identities == {
        "slack": "U1",
        "discord": "42",
    }


def test_an_escaped_lone_surrogate_in_the_body_is_refused() -> None:
    body = json.dumps(_raw(payload={"note": "x"})).replace('"x"', '"\\ud83d"')
    with pytest.raises(EventError, match=r"payload\.note: holds"):
        parse_event(body.encode())


def test_a_mapping_payload_is_copied() -> None:
    raw = _raw()
    event = parse_event(raw)
    raw["payload"]["items"][0]["name"] = "changed"
    assert event.payload["items"] == [{"name": "머그컵", "price": 12000}]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (_raw(event_id=None), "event_id:"),
        ({k: v for k, v in _raw().items() if k != "type"}, "type: required"),
        ({k: v for k, v in _raw().items() if k != "customer"}, "customer: required"),
        (_raw(event_id=""), "event_id: empty"),
        (_raw(event_id="x" * 201), "event_id: 201 characters"),
        (_raw(event_id=7), "event_id: expected text"),
        (_raw(type="Cart Abandoned"), "type:"),
        (_raw(type="x" * 65), "type:"),
        (_raw(occurred_at="2026-12-07T21:30:00"), "occurred_at: '2026-12-07T21:30:00' has no"),
        (_raw(occurred_at="yesterday"), "occurred_at:"),
        (_raw(occurred_at=True), "occurred_at: expected"),
        (_raw(occurred_at=1796646600000), "occurred_at:"),
        (_raw(occurred_at=None), "occurred_at:"),
        (_raw(occurred_at=10**400), "occurred_at: not a time"),
        (_raw(event_id="e1\nforged log line"), "event_id: holds a control character"),
        (_raw(customer=_customer(tier="VIP\t")), "customer.tier: holds a control"),
        (_raw(ocurred_at="2026-12-07T21:30:00Z"), "ocurred_at: unknown field"),
        (_raw(customer="c-42"), "customer: expected an object"),
        (_raw(customer=_customer(customer_id=None)), "customer.customer_id:"),
        (_raw(customer=_customer(time_zone="Mars/Olympus")), "customer.time_zone:"),
        (_raw(customer=_customer(time_zone="../../etc/passwd")), "customer.time_zone:"),
        (_raw(customer=_customer(language="ja")), "customer.language: 'ja'"),
        (_raw(customer=_customer(identities=["U1"])), "customer.identities: expected"),
        (_raw(customer=_customer(identities={"Slack!": "U1"})), "customer.identities:"),
        (_raw(customer=_customer(identities={"slack": 5})), "customer.identities.slack:"),
        (_raw(customer=_customer(name="김\x00민지")), "customer.name: holds a NUL"),
        (_raw(customer=_customer(email="a@b.c")), "customer.email: unknown field"),
        (_raw(payload=[1, 2]), "payload: expected an object"),
        (_raw(payload={"note": "\ud800"}), "payload.note: holds a NUL character or a lone"),
        (_raw(customer=_customer(name="\udfff")), "customer.name: holds"),
        (_raw(payload={"note": "a\x00b"}), "payload.note: holds a NUL"),
        (_raw(payload={"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}), "nested"),
        (_raw(payload={"items": list(range(2001))}), "payload: more than 2000 values"),
        (_raw(payload={"x": float("nan")}), "body: not JSON values"),
    ],
)
def test_malformed_events_name_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(EventError) as caught:
        parse_event(raw)
    message = str(caught.value)
    assert field in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "body: empty"),
        (b"   ", "body: empty"),
        (b"\xff\xfe", "body: not UTF-8"),
        (b"{not json", "body: not valid JSON"),
        (b"[1, 2]", "body: expected a JSON object"),
        (b'"text"', "body: expected a JSON object"),
        (b'{"event_id": "a", "event_id": "b"}', "appears twice"),
        (b'{"x": NaN}', "NaN is not a JSON number"),
        (b"[" * 100_00 + b"]" * 100_00, "body:"),
        (b'{"n": ' + b"9" * 5000 + b"}", "body: not valid JSON"),
        (b"x" * (MAX_BODY + 1), f"more than the limit of {MAX_BODY}"),
    ],
)
def test_malformed_bodies(body: bytes, message: str) -> None:
    with pytest.raises(EventError, match=message.replace("(", r"\(")):
        parse_event(body)


def test_the_body_limit_counts_utf8_bytes_of_text_too() -> None:
    raw = _raw(payload={"note": "가" * 22_000})  # 66 000 bytes in UTF-8
    with pytest.raises(EventError, match="more than the limit"):
        parse_event(json.dumps(raw, ensure_ascii=False))
    with pytest.raises(EventError, match="more than the limit"):
        parse_event(raw)


def test_not_a_body_at_all() -> None:
    with pytest.raises(EventError, match="expected JSON text or an object"):
        parse_event(42)  # type: ignore[arg-type]


def test_json_lines_batch_keeps_good_lines_and_numbers_the_bad() -> None:
    good = json.dumps(_raw(), ensure_ascii=False)
    english = json.dumps(_raw(event_id="evt-2", customer=_customer(language="en")))
    text = "\ufeff" + good + "\n\n{broken\n" + english + "\n" + json.dumps(_raw(type="")) + "\n"
    results = parse_event_lines(text)
    assert len(results) == 4
    assert isinstance(results[0], Event)
    assert isinstance(results[1], EventError)
    assert str(results[1]).startswith("line 3: body: not valid JSON")
    assert isinstance(results[2], Event)
    assert results[2].customer.language == "en"
    assert isinstance(results[3], EventError)
    assert str(results[3]).startswith("line 5: type:")


def test_an_empty_batch_is_empty() -> None:
    assert parse_event_lines("") == []
    assert parse_event_lines("\n  \n") == []


def test_lines_are_read_one_at_a_time_from_a_file(tmp_path: Any) -> None:
    path = tmp_path / "events.jsonl"
    lines = [json.dumps(_raw(event_id=f"e{n}"), ensure_ascii=False) for n in range(3)]
    path.write_text("\r\n".join([*lines, "", "{}"]) + "\r\n", encoding="utf-8")
    with open(path, encoding="utf-8") as handle:
        results = list(iter_event_lines(handle))
    assert [r.event_id for r in results if isinstance(r, Event)] == ["e0", "e1", "e2"]
    assert isinstance(results[-1], EventError)
    assert str(results[-1]).startswith("line 5: event_id: required")


def test_too_many_lines_is_an_error_of_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.journeys.events as events

    monkeypatch.setattr(events, "MAX_LINES", 2)
    line = json.dumps(_raw())
    with pytest.raises(EventError, match="more than 2 events"):
        parse_event_lines("\n".join([line] * 3))
