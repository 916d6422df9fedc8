"""Journeys end to end, with every real part between the shop and the customer: a signed event
in through ``POST /v1/events`` (aiohttp on port 0), the journey service on the sample journeys
and a SQLite store, the DM delivered by the real slack-bolt / slack_sdk adapter to the fake
Slack, the customer's "수신거부" / "stop" in that DM honoured, and the next reminder suppressed
for consent. The clock is the test's: an hour passes without sleeping."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.conversation.courier import Courier
from bot.conversation.routing import Router
from bot.journeys.definitions import SAMPLE_JOURNEYS, load_journeys
from bot.journeys.rules import QuietHours
from bot.journeys.service import JourneyService
from bot.journeys.signing import sign
from bot.journeys.webhook import EVENTS_PATH, events_routes
from tests.fakes.slack_api import interactive_body, signed_request_headers
from tests.slack_harness import SECRET as SLACK_SECRET
from tests.slack_harness import fake_slack, running_slack, slack_settings
from tests.test_journey_dm_platforms import dm_posts, modelless_runtime

SECRET = "whsec-test-0123456789abcdef"
SEOUL = dt.timezone(dt.timedelta(hours=9))
ABANDONED = dt.datetime(2026, 12, 7, 14, 0, tzinfo=SEOUL)  # 14:00 in Seoul: no quiet hours
NAMES = {"ko": "김민지", "en": "Minji Kim"}
ITEMS = {"ko": "제주 감귤 5kg", "en": "Jeju tangerines 5 kg"}
OPT_OUT = {"ko": "수신거부", "en": "stop"}
CONFIRMED = {"ko": "수신거부가 처리", "en": "unsubscribed"}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def event(number: int, kind: str, language: str, **payload: Any) -> dict[str, Any]:
    return {
        "event_id": f"evt-{language}-{number}",
        "type": kind,
        "occurred_at": ABANDONED.isoformat(),
        "customer": {
            "customer_id": f"C-{language}",
            "name": NAMES[language],
            "language": language,
            "time_zone": "Asia/Seoul",
            "identities": {"slack": "U0MINJI"},
        },
        "payload": payload,
    }


async def post(server: TestServer, clock: Clock, body: dict[str, Any]) -> tuple[int, Any]:
    raw = json.dumps(body, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", **sign(SECRET, raw, clock())}
    async with (
        aiohttp.ClientSession() as session,
        session.post(server.make_url(EVENTS_PATH), data=raw, headers=headers) as answer,
    ):
        return answer.status, await answer.json()


@pytest.mark.parametrize("by", ["reply", "button"])
@pytest.mark.parametrize("language", ["ko", "en"])
async def test_an_event_becomes_a_dm_and_an_opt_out_in_the_dm_stops_the_next(
    tmp_path: Path, language: str, by: str
) -> None:
    clock = Clock(ABANDONED.timestamp() + 60)
    async with fake_slack() as fake:
        with modelless_runtime(tmp_path, **slack_settings(fake, handoff_channel=None)) as rt:
            store = rt.store
            service = JourneyService(
                store,
                load_journeys(SAMPLE_JOURNEYS),
                shop_name="온도마켓",
                quiet_hours=QuietHours.parse("21:00-08:00"),
                clock=clock,
            )
            router = Router(rt.engine)
            router.opt_out = service.opt_out
            router.opt_out_click = service.opt_out_category
            app = web.Application()
            events_routes(app, secret=SECRET, sink=service, clock=clock)
            async with TestServer(app, port=0) as server, running_slack(fake, rt, router) as slack:
                fake.add_user("U0MINJI", name="minji", locale="ko-KR")
                consent = event(
                    1,
                    "consent.updated",
                    language,
                    category="marketing",
                    granted=True,
                    evidence="signup form",
                )
                assert (await post(server, clock, consent))[0] == 202
                cart = event(
                    2,
                    "cart.abandoned",
                    language,
                    cart_id="cart-1",
                    items=[{"name": ITEMS[language]}],
                )
                assert await post(server, clock, cart) == (
                    202,
                    {"event_id": cart["event_id"], "duplicate": False},
                )
                # The shop retries the delivery: accepted, nothing scheduled twice.
                status, answer = await post(server, clock, cart)
                assert status == 202 and answer["duplicate"] is True
                # Not before the journey's hour has passed; then one DM, advertised as such.
                courier = Courier(router)
                assert await service.run_due(None) == 0
                clock.now = ABANDONED.timestamp() + 3600 + 5
                assert await service.run_due(None) == 1
                assert await courier.deliver_due() == 1
                [dm] = dm_posts(fake)
                assert ITEMS[language].split()[0] in dm["text"] and "온도마켓" in dm["text"]
                assert dm["text"].startswith("(광고)" if language == "ko" else "(Ad)")
                # A marketing DM: its opt-out button, labelled in the customer's language.
                [button] = [
                    e for b in dm["blocks"] if b["type"] == "actions" for e in b["elements"]
                ]
                assert button["text"]["text"] == ("수신거부" if language == "ko" else "Unsubscribe")
                # The customer opts out in the DM: confirmed once, in their language.
                channel = fake.dm_channels["U0MINJI"]
                before = slack.adapter.completed
                if by == "reply":
                    reply = fake.message_event(
                        OPT_OUT[language], user="U0MINJI", channel=channel, channel_type="im"
                    )
                    assert await slack.deliver(reply) == 200
                    await slack.adapter.wait_completed(before + 1)
                    confirmation = dm_posts(fake)[1]
                else:
                    click = fake.block_actions_payload(
                        button["action_id"],
                        button["value"],
                        user="U0MINJI",
                        channel=channel,
                        message_ts=fake.calls_to("chat.postMessage")[0].response["ts"],
                    )
                    body = interactive_body(click)
                    headers = signed_request_headers(body, SLACK_SECRET)
                    assert await slack.post_signed(body, headers) == 200
                    await slack.adapter.wait_completed(before + 1)
                    [confirmation] = [c.params for c in fake.calls_to("chat.postEphemeral")]
                    assert confirmation["user"] == "U0MINJI"
                assert CONFIRMED[language] in confirmation["text"]
                current = await store.journeys.consent(f"C-{language}", "marketing")
                assert current is not None and not current.granted and current.source == by
                # The next abandoned cart is scheduled but not sent: no consent any more.
                later = event(3, "cart.abandoned", language, cart_id="cart-2")
                assert (await post(server, clock, later))[0] == 202
                clock.now += 2 * 3600
                assert await service.run_due(None) == 1
                assert await courier.deliver_due() == 0
                assert len(dm_posts(fake)) == (2 if by == "reply" else 1)
                [stats] = [s for s in await store.journeys.stats(0) if s.journey == "cart_reminder"]
                assert stats.sent == 1
                assert dict(stats.suppressed).get("consent") == 1
