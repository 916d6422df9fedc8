"""Journey files: the bundled sample, conditions, delays, exits, dedupe keys, caps, templates in
Korean and English, and a clear load error (file, journey, line) for every mistake."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from bot.journeys.definitions import (
    DEFAULT_CATEGORY_CAPS,
    SAMPLE_JOURNEYS,
    Cap,
    JourneyError,
    Journeys,
    load_journeys,
    parse_delay,
    parse_journeys,
)
from bot.journeys.events import Event, parse_event

T0 = 1_796_646_600.0  # 2026-12-07 12:30 UTC


def _event(
    type: str = "cart.abandoned",
    event_id: str = "e1",
    at: float = T0,
    customer: dict[str, Any] | None = None,
    **payload: Any,
) -> Event:
    who = {"customer_id": "c-1", "name": "김민지", "tier": "VIP"} if customer is None else customer
    return parse_event(
        {"event_id": event_id, "type": type, "occurred_at": at, "customer": who, "payload": payload}
    )


def _load(body: str) -> Journeys:
    return parse_journeys(textwrap.dedent(body), "test.yaml")


ONE = """\
journeys:
  - name: j
    trigger: cart.abandoned
    category: marketing
    templates: {ko: "안녕하세요 {customer.name}", en: "Hi {customer.name}"}
"""


def _with(extra: str) -> str:
    return ONE + textwrap.indent(textwrap.dedent(extra), "    ")


# --- the sample ------------------------------------------------------------------------


def test_the_bundled_sample_loads() -> None:
    journeys = load_journeys(SAMPLE_JOURNEYS)
    names = [j.name for j in journeys]
    assert names == ["cart_reminder", "delivery_review", "vip_return_offer", "order_confirmation"]
    cart = journeys.get("cart_reminder")
    assert cart is not None
    assert cart.category == "marketing"
    assert cart.delay == 3600.0
    review = journeys.get("delivery_review")
    assert review is not None and review.category == "review_request" and review.delay == 86400
    confirm = journeys.get("order_confirmation")
    assert confirm is not None and confirm.category == "transactional" and confirm.delay == 0
    assert journeys.exit_types == frozenset({"order.placed", "order.returned"})


def test_sample_cart_reminder_end_to_end_values() -> None:
    journeys = load_journeys(SAMPLE_JOURNEYS)
    cart = journeys.get("cart_reminder")
    assert cart is not None
    abandoned = _event(cart_id="cart-9", items=[{"name": "머그컵"}])
    assert journeys.triggered_by(abandoned) == [cart]
    assert cart.due_at(abandoned) == T0 + 3600
    assert cart.dedupe_key(abandoned) == "cart_reminder:c-1:cart-9"
    ko = cart.render(abandoned, "ko")
    assert ko.startswith("김민지님, 장바구니에 담아 두신 머그컵")
    en = cart.render(abandoned, "en")
    assert en.startswith("Hi 김민지, the 머그컵 in your cart")
    placed = _event("order.placed", "e2", T0 + 600, cart_id="cart-9", order_id="o-1")
    other_cart = _event("order.placed", "e3", T0 + 600, cart_id="cart-1")
    assert cart.exits(abandoned, placed)
    assert not cart.exits(abandoned, other_cart)
    assert [j.name for j in journeys.triggered_by(placed)] == ["order_confirmation"]


def test_sample_vip_offer_needs_the_tier() -> None:
    journeys = load_journeys(SAMPLE_JOURNEYS)
    vip = journeys.get("vip_return_offer")
    assert vip is not None
    assert vip.matches(_event("customer.returned"))
    assert not vip.matches(_event("customer.returned", customer={"customer_id": "c-2"}))
    regular = {"customer_id": "c-3", "tier": "regular", "language": "en"}
    assert not vip.matches(_event("customer.returned", customer=regular))
    assert Cap(1, 7 * 86400.0, "journey") in vip.caps
    assert vip.render(_event("customer.returned", customer=regular), "en").startswith(
        "Welcome back, friend!"
    )


def test_an_unknown_event_type_starts_nothing() -> None:
    assert load_journeys(SAMPLE_JOURNEYS).triggered_by(_event("wishlist.added")) == []


def test_an_order_without_its_number_starts_nothing_rather_than_failing_later() -> None:
    journeys = load_journeys(SAMPLE_JOURNEYS)
    assert journeys.triggered_by(_event("order.placed")) == []
    assert journeys.triggered_by(_event("order.delivered", cart_id="c")) == []
    assert len(journeys.triggered_by(_event("order.delivered", order_id="o-1"))) == 1


# --- conditions --------------------------------------------------------------------------


COND = """\
    conditions:
      any:
        - {field: payload.total, op: ">=", value: 50000}
        - all:
            - "customer.tier in [VIP, Gold]"
            - "payload.coupon exists"
            - {field: customer.language, op: "!=", value: en}
        - "payload.items[1].name == 머그컵"
"""


@pytest.mark.parametrize(
    ("payload", "customer", "expected"),
    [
        ({"total": 50000}, {}, True),
        ({"total": 49999.5}, {}, False),
        ({"total": "50000"}, {}, False),  # text is never ordered against a number
        ({"total": True}, {}, False),
        ({"coupon": "X"}, {"tier": "Gold"}, True),
        ({"coupon": "X"}, {"tier": "Gold", "language": "en"}, False),
        ({"coupon": None}, {"tier": "VIP"}, False),
        ({}, {"tier": "VIP"}, False),
        ({"items": [{"name": "a"}, {"name": "머그컵"}]}, {}, True),
        ({"items": [{"name": "머그컵"}]}, {}, False),
        ({"items": "머그컵"}, {}, False),
    ],
)
def test_nested_conditions(
    payload: dict[str, Any], customer: dict[str, Any], expected: bool
) -> None:
    journey = next(iter(_load(ONE + COND)))
    who = {"customer_id": "c-1", **customer}
    assert journey.matches(_event(customer=who, **payload)) is expected


def test_missing_fields_make_not_equal_true() -> None:
    journeys = _load(_with('conditions: ["customer.tier != VIP", "customer.tier not_in [Gold]"]'))
    journey = next(iter(journeys))
    assert journey.matches(_event(customer={"customer_id": "c"}))
    assert not journey.matches(_event(customer={"customer_id": "c", "tier": "VIP"}))
    assert not journey.matches(_event("order.placed", customer={"customer_id": "c"}))


def test_short_form_values_are_typed() -> None:
    journey = next(iter(_load(_with('conditions: ["payload.n > 2", "payload.ok == true"]'))))
    assert journey.matches(_event(n=3, ok=True))
    assert not journey.matches(_event(n=3, ok=1))
    assert not journey.matches(_event(n=2, ok=True))


# --- delays, exits, dedupe ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0), (0, 0), ("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400), ("1h30m", 5400)],
)
def test_delays(text: Any, seconds: float) -> None:
    assert parse_delay(text) == seconds


@pytest.mark.parametrize("text", ["2x", "-1h", "1", "", "h", "400d", True, None, [1], "1 h 2"])
def test_bad_delays(text: Any) -> None:
    with pytest.raises(JourneyError, match="delay"):
        parse_delay(text)


def test_exit_needs_same_customer_same_value_and_not_earlier() -> None:
    journey = next(iter(_load(_with("exit_on: [{type: order.placed, match: cart_id}]"))))
    trigger = _event(cart_id="c9")
    assert journey.exits(trigger, _event("order.placed", "e2", T0 + 1, cart_id="c9"))
    assert not journey.exits(trigger, _event("order.placed", "e2", T0 - 1, cart_id="c9"))
    assert not journey.exits(trigger, _event("order.shipped", "e2", T0 + 1, cart_id="c9"))
    other = {"customer_id": "c-2"}
    assert not journey.exits(trigger, _event("order.placed", "e2", T0 + 1, other, cart_id="c9"))
    assert not journey.exits(trigger, _event("order.placed", "e2", T0 + 1))
    assert not journey.exits(_event(), _event("order.placed", "e2", T0 + 1))


def test_exit_without_match_is_any_such_event_of_the_customer() -> None:
    journey = next(iter(_load(_with("exit_on: [order.placed]"))))
    assert journey.exits(_event(), _event("order.placed", "e2", T0 + 5))


def test_dedupe_key_defaults_to_the_event_id_and_renders_templates() -> None:
    plain = next(iter(_load(ONE)))
    assert plain.dedupe_key(_event()) == "j:c-1:e1"
    keyed = next(iter(_load(_with('dedupe: "{payload.cart_id}-{customer.tier}"'))))
    assert keyed.dedupe_key(_event(cart_id="x")) == "j:c-1:x-VIP"
    with pytest.raises(JourneyError, match=r"has no payload\.cart_id"):
        keyed.dedupe_key(_event())


# --- templates ---------------------------------------------------------------------------


def test_placeholder_values_are_plain_text_and_fallbacks_apply() -> None:
    journey = next(
        iter(
            _load(
                """\
                journeys:
                  - name: t
                    trigger: order.placed
                    category: transactional
                    templates:
                      ko: "{{주문}} {payload.order_id} {customer.name|고객}님 {payload.total}원"
                      en: "{{order}} {payload.order_id} for {customer.name|you}"
                """
            )
        )
    )
    event = _event(
        "order.placed", customer={"customer_id": "c"}, order_id="A\n1\x07\u202e", total=5.0
    )
    assert journey.render(event, "ko") == "{주문} A 1 고객님 5원"
    assert journey.render(event, "en") == "{order} A 1 for you"
    long = _event("order.placed", order_id="가" * 500)
    assert len(journey.render(long, "en")) < 260
    with pytest.raises(JourneyError, match=r"has no payload\.order_id"):
        journey.render(_event("order.placed"), "ko")
    with pytest.raises(JourneyError, match="is not text or a number"):
        journey.render(_event("order.placed", order_id={"a": 1}), "en")


def test_attribute_access_and_format_specs_are_not_placeholders() -> None:
    for bad in ("{customer.__class__}", "{payload.x!r}", "{payload.x:>10}", "{event.secret}"):
        with pytest.raises(JourneyError, match=r"test\.yaml: journey 'j'"):
            _load(ONE.replace("Hi {customer.name}", bad))


# --- load errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_with("colour: red"), "journey 'j' (line 2): unknown key 'colour' in a journey at line 6"),
        (_with('conditions: ["payload.total ~= 5"]'), "is not 'field op value'"),
        (_with("conditions: [{field: payload.total, op: like, value: 5}]"), "unknown op 'like'"),
        (_with("conditions: [{field: payload.total, op: '>'}]"), "needs a 'value'"),
        (_with("conditions: [{field: payload.total, op: in, value: 5}]"), "needs a list"),
        (_with("conditions: [{field: payload.total, op: '<', value: [1]}]"), "number or text"),
        (_with("conditions: [{field: customer.email, op: exists}]"), "not a customer field"),
        (_with("conditions: [{field: order.total, op: exists}]"), "must start with customer."),
        (_with("conditions: [{field: payload, op: exists}]"), "names no payload field"),
        (_with("conditions: [{all: [], any: []}]"), "must be alone"),
        (_with("conditions: 5"), "a condition must be"),
        (_with("delay: 2x"), "delay '2x' is not a duration"),
        (_with("category: promo"), "appears twice"),
        (ONE.replace("marketing", "promo"), "unknown category 'promo'"),
        (ONE.replace('ko: "안녕하세요 {customer.name}", ', ""), "missing the ko template"),
        (ONE.replace(', en: "Hi {customer.name}"', ""), "missing the en template"),
        (ONE.replace("en:", "ja:"), "unknown template language 'ja'"),
        (ONE.replace("Hi {customer.name}", "Hi {customer.name"), "never closed"),
        (ONE.replace("Hi {customer.name}", "Hi }"), "without"),
        (ONE.replace("Hi {customer.name}", ""), "must be non-empty"),
        (ONE + ONE.replace("journeys:\n", ""), "journey 'j' (line 6): duplicate name (first"),
        (ONE.replace("name: j", "name: 'a b'"), "'name' must be"),
        (ONE.replace("    trigger: cart.abandoned\n", ""), "'trigger' is required"),
        (ONE.replace("cart.abandoned", "Cart Abandoned"), "is not an event type"),
        (_with("exit_on: [{type: Order, match: cart_id}]"), "exit_on type 'Order'"),
        (_with("exit_on: {type: order.placed}"), "exit_on must be a list"),
        (_with("exit_on: [{type: order.placed, match: 'a b'}]"), "is not a field path"),
        (_with("caps: {per_customer: 0, per: 7d}"), "per_customer must be"),
        (_with("caps: {per_customer: 1}"), "caps.per"),
        (_with("caps: {per_customer: 1, per: 0}"), "longer than 0"),
        (_with("caps: {per_customer: 1, per: 1d, every: 2}"), "unknown key 'every'"),
        ("caps: {promo: {per_customer: 1, per: 1d}}\n" + ONE, "caps: unknown category"),
        ("journeys: []", "non-empty list"),
        ("- a\n- b", "a 'journeys:' list"),
        ("", "a 'journeys:' list"),
        ("journeys: [1]", "journey #1 is not a mapping"),
        ("journeys:\n  - name: x\n\tbad", "not valid YAML"),
        ("journeys: &a [*a]", "aliases"),
        ("version: 2\n" + ONE, "unknown key 'version' in the file"),
        ("journeys: !!python/object:os.system {}", "not valid YAML"),
    ],
)
def test_load_errors_name_file_journey_and_line(body: str, message: str) -> None:
    with pytest.raises(JourneyError) as caught:
        parse_journeys(body, "test.yaml")
    text = str(caught.value)
    assert text.startswith("test.yaml")
    assert message in text
    assert "\n" not in text


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(JourneyError, match="cannot read"):
        load_journeys(tmp_path / "missing.yaml")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(JourneyError, match="not UTF-8"):
        load_journeys(binary)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (1024 * 1024 + 1))
    with pytest.raises(JourneyError, match="larger than"):
        load_journeys(big)
    good = tmp_path / "good.yaml"
    good.write_text(ONE, encoding="utf-8")
    assert len(load_journeys(good)) == 1


def test_category_caps_default_and_override() -> None:
    journey = next(iter(_load(ONE)))
    assert journey.caps == (DEFAULT_CATEGORY_CAPS["marketing"],)
    custom = _load(
        "caps:\n  marketing: {per_customer: 5, per: 30d}\n"
        + _with("caps: {per_customer: 1, per: 1d}")
    )
    assert next(iter(custom)).caps == (
        Cap(1, 86400.0, "journey"),
        Cap(5, 30 * 86400.0, "category"),
    )


def test_payload_keys_in_any_script() -> None:
    journey = next(iter(_load(_with('conditions: ["payload.상품명 == 머그컵"]'))))
    assert journey.matches(_event(**{"상품명": "머그컵"}))
    assert not journey.matches(_event(**{"상품명": "텀블러"}))
