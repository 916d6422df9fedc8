"""A journey DM the platform refuses for good (Discord 50007, Slack ``cannot_dm_bot``): the
send is recorded ``undeliverable``, not ``sent`` — so the figures do not count it as sent, a
frequency cap does not count a message the customer never got, and the next send goes to the
customer's other platform. Both backends, Korean and English."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest

from bot.conversation.courier import Courier
from bot.conversation.direct import MemoryDirect
from bot.conversation.engine import Engine
from bot.conversation.routing import Router
from bot.insights.journeys import compute
from bot.journeys.definitions import SAMPLE_JOURNEYS, load_journeys
from bot.journeys.events import parse_event
from bot.journeys.rules import QuietHours
from bot.journeys.service import JourneyService
from bot.storage.sql.journey_insights import journey_rows
from bot.storage.sql.store import SqlStore
from tests.backends import raw

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=ZoneInfo("Asia/Seoul")).timestamp()
HOUR = 3600.0
ITEMS = {"ko": "제주 감귤 5kg", "en": "Jeju tangerines 5 kg"}


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def cart(number: int, language: str, at: float) -> Any:
    return parse_event(
        {
            "event_id": f"ev-{number}",
            "type": "cart.abandoned",
            "occurred_at": at,
            "customer": {
                "customer_id": "cust-1",
                "name": "김민지" if language == "ko" else "Alex",
                "language": language,
                "time_zone": "Asia/Seoul",
                "identities": {"slack": "U1", "discord": "42"},
            },
            "payload": {"cart_id": f"cart-{number}", "items": [{"name": ITEMS[language]}]},
        }
    )


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_a_refused_dm_is_undeliverable_not_sent_and_the_next_goes_elsewhere(
    any_store: SqlStore, language: str
) -> None:
    clock = Clock()
    service = JourneyService(
        any_store,
        load_journeys(SAMPLE_JOURNEYS),
        shop_name="온도마켓",
        quiet_hours=QuietHours(),
        clock=clock,
    )
    router = Router(Engine(any_store, cast(Any, None), cast(Any, None), cast(Any, None)))
    slack, discord = MemoryDirect("slack"), MemoryDirect("discord")
    slack.refused["U1"] = "cannot_dm_bot"
    router.add_direct_messenger(slack)
    router.add_direct_messenger(discord)
    courier = Courier(router)
    await any_store.journeys.set_consent(
        "cust-1", "marketing", granted=True, source="test", evidence="form", at=NOW - HOUR
    )
    await service.ingest(cart(1, language, NOW))
    clock.now = NOW + HOUR + 1
    assert await service.run_due(None) == 1
    assert await courier.deliver_due() == 1  # refused: counts as delivered, never retried
    assert slack.sent == [] and discord.sent == []
    assert raw(any_store, "SELECT state, reason FROM journey_sends") == [
        ("undeliverable", "cannot_dm_bot")
    ]
    # A second cart the same day: the cart reminder's cap (1 a day) has not been used up by
    # a message the customer never got; it goes to Discord.
    await service.ingest(cart(2, language, NOW + 2 * HOUR))
    clock.now = NOW + 3 * HOUR + 1
    assert await service.run_due(None) == 1
    assert await courier.deliver_due() == 1
    [(user, text, _)] = discord.sent
    assert user == "42" and ITEMS[language] in text
    rows = await journey_rows(any_store, NOW - HOUR, clock.now)
    [figures] = compute(rows, since=NOW - HOUR, until=clock.now).journeys
    assert (figures.scheduled, figures.sent, figures.suppressed["undeliverable"]) == (2, 1, 1)
