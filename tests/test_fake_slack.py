"""The fake Slack platform against the real slack_sdk / slack-bolt clients, over loopback."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp, AsyncSay
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_async_handlers
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import (
    APP_TOKEN,
    BOT_TOKEN,
    FakeSlack,
    interactive_body,
    signed_request_headers,
)

SIGNING_SECRET: str = "fake-signing-secret"


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = FakeSlack()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url)


@pytest_asyncio.fixture
async def bolt_url(fake: FakeSlack) -> AsyncIterator[str]:
    """A real AsyncApp served by slack-bolt's own aiohttp app on port 0; yields its events URL."""
    app = AsyncApp(
        client=AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url),
        signing_secret=SIGNING_SECRET,
    )

    @app.event("app_mention")
    async def on_mention(event: dict[str, Any], say: AsyncSay) -> None:
        await say(text=f"echo: {event['text']}", thread_ts=event["ts"])

    runner = web.AppRunner(app.web_app(path="/slack/events"), shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}/slack/events"
    await runner.cleanup()


async def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as resp,
    ):
        return resp.status


# ---- Web API


async def test_auth_test_answers_configured_ids(fake: FakeSlack, client: AsyncWebClient) -> None:
    resp = await client.auth_test()
    assert resp["ok"] is True
    assert (resp["team_id"], resp["user_id"], resp["bot_id"]) == (
        fake.team_id,
        fake.bot_user_id,
        fake.bot_id,
    )
    assert {"url", "team", "user"} <= set(resp.data)  # type: ignore[arg-type]
    [call] = fake.calls
    assert call.method == "auth.test"
    assert call.token == BOT_TOKEN


async def test_post_message_returns_increasing_ts_and_is_recorded(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    first = await client.chat_postMessage(channel="C1", text="안녕하세요")
    second = await client.chat_postMessage(channel="C1", text="hello", thread_ts=first["ts"])
    assert first["channel"] == "C1"
    assert float(second["ts"]) > float(first["ts"])
    assert second["message"]["thread_ts"] == first["ts"]
    calls = await fake.wait_for("chat.postMessage", count=2)
    assert [c.params["text"] for c in calls] == ["안녕하세요", "hello"]
    assert calls[0].headers["Authorization"] == f"Bearer {BOT_TOKEN}"


async def test_form_bodies_and_other_builtins(fake: FakeSlack, client: AsyncWebClient) -> None:
    form = await client.api_call("chat.postMessage", data={"channel": "C2", "text": "form"})
    assert fake.calls[-1].params == {"channel": "C2", "text": "form"}
    updated = await client.chat_update(channel="C2", ts=form["ts"], text="edited")
    assert updated["message"]["text"] == "edited"
    assert (await client.chat_postEphemeral(channel="C2", user="U1", text="psst"))["message_ts"]

    fake.set_members("C2", ["U1", fake.bot_user_id])
    assert (await client.conversations_members(channel="C2"))["members"] == ["U1", "U0FAKEBOT"]
    fake.add_user("U1", name="minji", locale="ko-KR")
    assert (await client.users_info(user="U1"))["user"]["locale"] == "ko-KR"
    assert fake.calls[-1].http_method == "GET"
    assert (await client.reactions_add(channel="C2", timestamp=form["ts"], name="eyes"))["ok"]
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Ondo"}, "blocks": []}
    opened = await client.views_open(trigger_id="1.2.abc", view=view)
    assert opened["view"]["type"] == "modal" and opened["view"]["id"].startswith("V")
    submitted = fake.view_submission_payload(opened["view"], {"b": {"a": "수정"}}, user="U1")
    assert submitted["type"] == "view_submission" and submitted["user"]["id"] == "U1"
    assert submitted["view"]["id"] == opened["view"]["id"]
    assert submitted["view"]["state"]["values"]["b"]["a"]["value"] == "수정"

    with pytest.raises(SlackApiError) as unknown:
        await client.api_call("no.such.method")
    assert unknown.value.response["error"] == "unknown_method"
    with pytest.raises(SlackApiError) as missing:
        await client.users_info(user="U404")
    assert missing.value.response["error"] == "user_not_found"


async def test_rate_limit_is_retried_by_sdk_handler(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def record_sleep(seconds: float) -> None:
        slept.append(seconds)
        await real_sleep(0)

    # The handler waits Retry-After + jitter; record the wait instead of spending it.
    monkeypatch.setattr(builtin_async_handlers, "asyncio", SimpleNamespace(sleep=record_sleep))
    fake.fail_next("chat.postMessage", status=429, retry_after=1)
    client = AsyncWebClient(
        token=BOT_TOKEN,
        base_url=fake.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    resp = await client.chat_postMessage(channel="C1", text="again")
    assert resp["ok"] is True
    first, second = fake.calls_to("chat.postMessage")
    assert (first.status, first.response["error"]) == (429, "ratelimited")
    assert second.status == 200 and second.params["text"] == "again"
    assert len(slept) == 1 and 1 <= slept[0] < 2


async def test_scripted_error_raises_slack_api_error(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.fail_next("chat.postMessage", error="channel_not_found")
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel="C404", text="lost")
    assert caught.value.response["error"] == "channel_not_found"
    assert (await client.chat_postMessage(channel="C1", text="next one works"))["ok"]


# ---- Events API through a real slack-bolt AsyncApp


async def test_signed_app_mention_reaches_listener_and_reply_is_posted(
    fake: FakeSlack, bolt_url: str
) -> None:
    event = fake.app_mention_event("도와주세요", user="U0CUSTOMER", channel="C0SUPPORT")
    body = json.dumps(fake.event_callback(event, event_id="Ev0001")).encode()
    assert await _post(bolt_url, body, signed_request_headers(body, SIGNING_SECRET)) == 200

    [reply] = await fake.wait_for("chat.postMessage")
    assert reply.params["channel"] == "C0SUPPORT"
    assert reply.params["text"] == f"echo: <@{fake.bot_user_id}> 도와주세요"
    assert reply.params["thread_ts"] == event["ts"]
    assert fake.calls[0].method == "auth.test"


async def test_badly_signed_request_is_rejected(fake: FakeSlack, bolt_url: str) -> None:
    body = json.dumps(fake.event_callback(fake.app_mention_event("hi"))).encode()
    wrong = signed_request_headers(body, "not-the-secret")
    assert await _post(bolt_url, body, wrong) == 401
    stale = signed_request_headers(body, SIGNING_SECRET, timestamp=1_000_000_000)
    assert await _post(bolt_url, body, stale) == 401
    assert fake.calls == []


async def test_message_shortcut_opens_a_modal_whose_submission_reaches_bolt(
    fake: FakeSlack,
) -> None:
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url)
    app = AsyncApp(client=client, signing_secret=SIGNING_SECRET)
    submitted: list[dict[str, Any]] = []

    @app.shortcut("mark")
    async def on_shortcut(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        view = {"type": "modal", "callback_id": "fix", "private_metadata": body["message_ts"]}
        await client.views_open(trigger_id=body["trigger_id"], view=view)

    @app.view("fix")
    async def on_submit(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        submitted.append(body)

    runner = web.AppRunner(app.web_app(path="/slack/events"), shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    url = f"http://{host}:{port}/slack/events"
    try:
        posted = await client.chat_postMessage(channel="C1", text="an answer")
        message = fake.messages[("C1", posted["ts"])]
        payload = fake.message_action_payload("mark", message, channel="C1", user="U0AGENT")
        assert payload["message"]["text"] == "an answer" and payload["trigger_id"]
        body = interactive_body(payload)
        assert await _post(url, body, signed_request_headers(body, SIGNING_SECRET)) == 200
        [opened] = await fake.wait_for("views.open")
        view = opened.response["view"]
        assert view["private_metadata"] == posted["ts"]
        submission = fake.view_submission_payload(view, {"b": {"a": "the right answer"}})
        body = interactive_body(submission)
        assert await _post(url, body, signed_request_headers(body, SIGNING_SECRET)) == 200
        [got] = submitted
        assert got["view"]["state"]["values"]["b"]["a"]["value"] == "the right answer"
        assert got["user"]["id"] == "U0AGENT"
    finally:
        await runner.cleanup()


# ---- Socket Mode


async def test_socket_mode_client_receives_and_acks_envelope(fake: FakeSlack) -> None:
    received: list[SocketModeRequest] = []

    async def on_request(client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        received.append(req)
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))

    client = SocketModeClient(
        app_token=APP_TOKEN,
        web_client=AsyncWebClient(base_url=fake.api_url),
        logger=logging.getLogger("test.socket_mode"),
    )
    client.socket_mode_request_listeners.append(on_request)
    try:
        await client.connect()
        [opened] = fake.calls_to("apps.connections.open")
        assert opened.token == APP_TOKEN
        payload = fake.event_callback(fake.message_event("배송 언제 와요?"), event_id="Ev0002")
        envelope_id = await fake.send_envelope(payload, retry_attempt=1, retry_reason="timeout")
        ack = await fake.wait_for_ack(envelope_id)
    finally:
        await client.close()
    assert ack == {"envelope_id": envelope_id}
    [req] = received
    assert req.type == "events_api" and req.retry_attempt == 1
    assert req.payload["event"]["text"] == "배송 언제 와요?"
    assert fake.connections == 1


async def test_bolt_socket_mode_handler_acks_and_replies(fake: FakeSlack) -> None:
    app = AsyncApp(client=AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url))

    @app.event("message")
    async def on_message(event: dict[str, Any], say: AsyncSay) -> None:
        await say(text=f"got: {event['text']}")

    handler = AsyncSocketModeHandler(app, app_token=APP_TOKEN)
    try:
        await handler.connect_async()
        payload = fake.event_callback(fake.message_event("환불해 주세요", channel="D0DM"))
        envelope_id = await fake.send_envelope(payload)
        await fake.wait_for_ack(envelope_id)
        [reply] = await fake.wait_for("chat.postMessage")
    finally:
        await handler.close_async()
    assert reply.params["channel"] == "D0DM"
    assert reply.params["text"] == "got: 환불해 주세요"
    assert fake.sent_envelopes[0]["retry_attempt"] == 0
