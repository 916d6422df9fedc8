"""The real Bolt app served on loopback against the fake Slack: reusable across test files."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.async_app import AsyncApp

from adapters.slack import SlackAdapter, build_app
from bot.app import Runtime
from bot.conversation.routing import Router
from bot.conversation.ticket_buttons import parse_button_value
from bot.serve import slack_web_app
from tests.fakes.slack_api import (
    BOT_TOKEN,
    Call,
    FakeSlack,
    interactive_body,
    signed_request_headers,
)

SECRET = "fake-signing-secret"
AGENTS = "C0AGENTS"
AGENT = "U0AGENT"


def slack_settings(
    fake: FakeSlack, handoff_channel: str | None = f"slack:{AGENTS}"
) -> dict[str, Any]:
    """Settings overrides for a runtime that talks to ``fake``."""
    return {
        "handoff_channel": handoff_channel,
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SECRET,
        "slack_api_url": fake.api_url,
    }


@dataclass
class Slack:
    """The running app, the fake platform and a few helpers that read like a chat."""

    fake: FakeSlack
    runtime: Runtime
    router: Router
    app: AsyncApp
    adapter: SlackAdapter
    url: str
    session: aiohttp.ClientSession

    async def deliver(
        self, event: dict[str, Any], *, event_id: str | None = None, retry: int = 0
    ) -> int:
        body = json.dumps(self.fake.event_callback(event, event_id=event_id)).encode()
        headers = signed_request_headers(body, SECRET)
        if retry:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        return await self.post_signed(body, headers)

    async def click(self, action_id: str, value: str, user: str, message_ts: str) -> int:
        payload = self.fake.block_actions_payload(
            action_id, value, user=user, channel=AGENTS, message_ts=message_ts
        )
        body = interactive_body(payload)
        return await self.post_signed(body, signed_request_headers(body, SECRET))

    async def submit_view(self, view: dict[str, Any], text: str, user: str = AGENT) -> int:
        """``user`` submits the suggested reply's editor ``view`` (as ``views.open`` got it)
        with ``text`` typed in."""
        values = {"ondo_reply": {"text": text}}
        body = interactive_body(self.fake.view_submission_payload(view, values, user=user))
        return await self.post_signed(body, signed_request_headers(body, SECRET))

    async def command(self, text: str, user: str = AGENT, channel: str = AGENTS) -> int:
        """Send ``/ondo <text>`` as ``user`` and wait until it is handled."""
        before = self.adapter.completed
        body = self.fake.slash_command_body("/ondo", text, user=user, channel=channel)
        status = await self.post_signed(body, signed_request_headers(body, SECRET))
        await self.adapter.wait_completed(before + 1)
        return status

    async def post_signed(self, body: bytes, headers: dict[str, str]) -> int:
        async with self.session.post(f"{self.url}/slack/events", data=body, headers=headers) as r:
            return r.status

    def posts(self, channel: str | None = None) -> list[Call]:
        return [
            c
            for c in self.fake.calls_to("chat.postMessage")
            if channel is None or c.params["channel"] == channel
        ]

    def tickets(self) -> list[Call]:
        """Tickets posted in the agents' channel (not the posts in their threads)."""
        return [c for c in self.posts(AGENTS) if not c.params.get("thread_ts")]

    async def post_no(self, n: int, channel: str | None = None) -> Call:
        """Wait for the ``n``-th post (to ``channel``, if given) and return it."""
        while len(self.posts(channel)) < n:
            await self.fake.wait_for("chat.postMessage", len(self.posts()) + 1, timeout=10)
        return self.posts(channel)[n - 1]

    async def conversation_of(self, value: str) -> str:
        """The conversation key of the handoff a ticket button's value names."""
        parsed = parse_button_value(value)
        assert parsed is not None, value
        handoff = await self.runtime.store.handoff_by_id(parsed[0])
        assert handoff is not None
        return handoff.conversation_key

    async def state(self, key: str) -> str:
        return (await self.runtime.store.conversation(key, "slack")).state


@contextlib.asynccontextmanager
async def running_slack(
    fake: FakeSlack, runtime: Runtime, router: Router | None = None
) -> AsyncIterator[Slack]:
    """Serve the Bolt app for ``runtime`` on a free loopback port, registered with ``router``."""
    router = router or Router(runtime.engine, handoff_channel=runtime.settings.handoff_channel)
    app, adapter = build_app(router, runtime.settings)
    runner = web.AppRunner(
        slack_web_app(app, runtime.settings.slack_signing_secret), shutdown_timeout=0.5
    )
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        async with aiohttp.ClientSession() as session:
            yield Slack(fake, runtime, router, app, adapter, f"http://{host}:{port}", session)
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def fake_slack() -> AsyncIterator[FakeSlack]:
    """A started fake Slack whose agents' channel has the agent and the bot as members."""
    server = FakeSlack()
    await server.start()
    server.set_members(AGENTS, [AGENT, server.bot_user_id])
    try:
        yield server
    finally:
        await server.stop()


DM = "D0DM"
"""The default customer's DM channel."""


def dm(fake: FakeSlack, text: str, **extra: Any) -> dict[str, Any]:
    """A DM event from the default customer (at the top level, or in a thread with
    ``thread_ts``: the same conversation either way)."""
    return fake.message_event(text, channel=DM, channel_type="im", **extra)


def customer_dm(fake: FakeSlack, n: int, text: str, **extra: Any) -> dict[str, Any]:
    """A DM event from customer ``n`` in their own DM: a Slack DM is one conversation, so
    separate conversations need separate customers."""
    return fake.message_event(
        text, user=f"U0CUST{n:04d}", channel=f"D0CUST{n:04d}", channel_type="im", **extra
    )


def dm_conversation(fake: FakeSlack, channel: str = DM) -> str:
    """The conversation key of the DM ``channel``: every message in it, threaded or not."""
    return f"slack:{fake.team_id}:{channel}"
