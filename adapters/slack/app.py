"""The Bolt ``AsyncApp`` for Ondo: listeners that translate, and :class:`SlackAdapter` doing it.

Listeners only hand the raw body to the adapter; the adapter turns it into a
:class:`bot.types.Message` (``events.parse_event``), calls the engine, and posts what the
engine decided: the reply in the customer's thread, the handoff ticket into the agents'
channel, relays both ways, the Take over / Resolve buttons (which then update the ticket), and
the customers' 👍 / 👎 ratings of answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.events import (
    PLATFORM,
    AgentMessage,
    CustomerMessage,
    parse_event,
    thread_of,
)
from adapters.slack.sender import (
    RATE_DOWN_ACTION,
    RATE_UP_ACTION,
    SlackSender,
    post,
    text_sections,
)
from bot.engine import Engine, HandoffTicket
from bot.handoff import InvalidTransition
from bot.settings import Settings
from bot.store import Handoff
from bot.types import Message

log = logging.getLogger("ondo.slack")

TAKE_ACTION = "ondo_take"
RESOLVE_ACTION = "ondo_resolve"
SLACK_API_URL = "https://slack.com/api/"
RATING_THANKS = {
    "ko": "평가해 주셔서 감사합니다! 더 나은 답변을 드리는 데 참고하겠습니다.",
    "en": "Thanks for rating this answer! It helps us improve.",
}


def api_base_url(url: str | None) -> str:
    """The Web API base ending in ``/``; a bare ``http://host:port`` gets ``/api/``."""
    if not url:
        return SLACK_API_URL
    url = url.rstrip("/")
    if url.count("/") == 2:  # scheme://host[:port] with no path
        url += "/api"
    return url + "/"


def handoff_channel_id(setting: str | None) -> str | None:
    """The Slack channel id of ``ONDO_HANDOFF_CHANNEL=slack:<id>``; ``None`` otherwise."""
    if setting and setting.startswith("slack:"):
        return setting.removeprefix("slack:") or None
    return None


def build_client(settings: Settings) -> AsyncWebClient:
    """The Web API client, with slack_sdk's retry handlers for 429, 5xx and lost connections."""
    return AsyncWebClient(
        token=settings.slack_bot_token,
        base_url=api_base_url(settings.slack_api_url),
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )


class SlackAdapter:
    """Translates Slack events and button clicks into engine calls, and outcomes into posts."""

    def __init__(
        self, engine: Engine, client: AsyncWebClient, *, handoff_channel: str | None
    ) -> None:
        self.engine = engine
        self.client = client
        self.handoff_channel = handoff_channel
        self.completed = 0
        """How many events and clicks reached a listener and finished (tests wait on it)."""
        self._done = asyncio.Condition()

    # --- events --------------------------------------------------------------------------

    async def on_event(self, body: Mapping[str, Any], bot_user_id: str | None) -> None:
        """Handle one ``message`` / ``app_mention`` event callback."""
        try:
            parsed = parse_event(
                body, bot_user_id=bot_user_id, handoff_channel=self.handoff_channel
            )
            if isinstance(parsed, CustomerMessage):
                await self._customer(parsed)
            elif isinstance(parsed, AgentMessage):
                await self._agent(parsed)
        finally:
            await self._finished()

    async def _customer(self, item: CustomerMessage) -> None:
        key = item.message.conversation_key
        if not item.addressed and not await self.engine.store.has_conversation(key):
            return  # a channel message in a thread Ondo is not part of
        sender = SlackSender(self.client, item.channel, item.thread_ts)
        outcome = await self.engine.handle(item.message, sender)
        if outcome.handoff is not None:
            await self._open_handoff(outcome.handoff)
        elif outcome.action == "relayed" and outcome.relay_text is not None:
            await self._relay_to_agents(key, item.message.user, outcome.relay_text)

    async def _open_handoff(self, ticket: HandoffTicket) -> None:
        if self.handoff_channel is None:
            log.warning(
                "conversation %s handed over, but no Slack handoff channel is set",
                ticket.conversation_key,
            )
            return
        ts = await self._post_blocks(self.handoff_channel, ticket)
        if ts:
            await self.engine.store.update_handoff(
                ticket.id, thread_ref=f"{self.handoff_channel}:{ts}"
            )

    async def _post_blocks(self, channel: str, ticket: HandoffTicket) -> str | None:
        response = await self.client.chat_postMessage(
            channel=channel,
            text=ticket.summary.splitlines()[0] if ticket.summary else "Handoff",
            blocks=handoff_blocks(ticket),
        )
        ts = response.get("ts")
        return str(ts) if ts else None

    async def _relay_to_agents(self, key: str, user: str, text: str) -> None:
        ticket = await self.engine.store.current_handoff(key)
        if ticket is None or not ticket.thread_ref:
            log.warning("message in %s relayed, but its handoff has no Slack thread", key)
            return
        channel, _, thread_ts = ticket.thread_ref.partition(":")
        await post(
            self.client, channel, f"<@{user}>: {text or '(empty message)'}", thread_ts=thread_ts
        )

    async def _agent(self, item: AgentMessage) -> None:
        ticket = await self.engine.store.handoff_by_thread(f"{item.channel}:{item.thread_ts}")
        if ticket is None:
            return
        # Record the agent's Slack message once, so a retried delivery is not relayed twice.
        seen = await self.engine.store.record_inbound(
            Message(
                platform=PLATFORM,
                conversation_key=f"slack-agents:{item.channel}:{item.thread_ts}",
                user=item.user,
                text=item.text,
                timestamp=float(item.ts),
                message_id=item.message_id,
            ),
            role="agent",
        )
        if not seen.process:
            return
        key = ticket.conversation_key
        target = thread_of(key)
        try:
            if target is None:
                raise InvalidTransition(f"{key} is not a Slack conversation")
            reply = await self.engine.agent_message(key, item.user, item.text)
            await post(self.client, target[0], reply.text, thread_ts=target[1])
        except InvalidTransition:
            await post(
                self.client,
                item.channel,
                "This conversation is not handed over any more; nothing was sent.",
                thread_ts=item.thread_ts,
            )
        await self.engine.store.mark_handled(seen.id)

    # --- buttons -------------------------------------------------------------------------

    async def on_action(self, body: Mapping[str, Any]) -> None:
        """Handle a Take over / Resolve click from the agents' channel."""
        try:
            await self._action(body)
        finally:
            await self._finished()

    async def _action(self, body: Mapping[str, Any]) -> None:
        action = body["actions"][0]
        action_id, key = str(action["action_id"]), str(action.get("value", ""))
        user = str(body["user"]["id"])
        channel = str(body.get("channel", {}).get("id") or body["container"]["channel_id"])
        thread_ts = str(body.get("container", {}).get("message_ts") or "")
        if not await self._is_agent(user):
            log.warning("%s by %s refused: not a member of the handoff channel", action_id, user)
            await self.client.chat_postEphemeral(
                channel=channel,
                user=user,
                text="Only members of the agents' channel can use these buttons.",
            )
            return
        if action_id == TAKE_ACTION:
            moved = await self.engine.take_over(key, user)
            note = f"<@{user}> took this over." if moved else "Nothing is waiting for a person."
            if moved:
                await self._update_ticket(body, key, f"Taken by <@{user}>", resolvable=True)
        else:
            notice = await self.engine.resolve(key, user)
            target = thread_of(key)
            if notice is not None and target is not None:
                await post(self.client, target[0], notice.text, thread_ts=target[1])
            note = (
                f"<@{user}> resolved this; the bot has the conversation again."
                if notice is not None
                else "This conversation was already back with the bot."
            )
            if notice is not None:
                await self._update_ticket(body, key, f"Resolved by <@{user}>", resolvable=False)
        await post(self.client, channel, note, thread_ts=thread_ts or None)

    async def _update_ticket(
        self, body: Mapping[str, Any], key: str, status: str, *, resolvable: bool
    ) -> None:
        """``chat.update`` the clicked ticket: its status, and Resolve only while it is open."""
        channel = str(body.get("channel", {}).get("id") or body["container"]["channel_id"])
        ts = str(body.get("container", {}).get("message_ts") or "")
        if not ts:
            return
        ticket = await self.engine.store.handoff_by_thread(f"{channel}:{ts}")
        original = (body.get("message") or {}).get("blocks")
        blocks = ticket_blocks(original, ticket, key, status, resolvable=resolvable)
        try:
            await self.client.chat_update(channel=channel, ts=ts, text=status, blocks=blocks)
        except SlackApiError as exc:
            log.error(
                "chat.update of ticket %s:%s failed: %s", channel, ts, exc.response.get("error")
            )

    async def on_rating(self, body: Mapping[str, Any]) -> None:
        """Handle a customer's 👍 / 👎 click on an answer."""
        try:
            await self._rating(body)
        finally:
            await self._finished()

    async def _rating(self, body: Mapping[str, Any]) -> None:
        action = body["actions"][0]
        rating = 1 if action["action_id"] == RATE_UP_ACTION else -1
        user = str(body["user"]["id"])
        value = str(action.get("value", ""))
        entry_id = None
        if value.isdigit():
            entry_id = await self.engine.store.rate(int(value), user, rating)
        if entry_id is None:
            log.warning(
                "rating %+d by %s refused: %r is not a rateable answer", rating, user, value
            )
            return
        log.info("answer %s (entry %s) rated %+d by %s", value, entry_id, rating, user)
        language = await self.engine.store.reply_language(int(value))
        container = body.get("container") or {}
        channel = str((body.get("channel") or {}).get("id") or container.get("channel_id"))
        try:
            await self.client.chat_postEphemeral(
                channel=channel,
                user=user,
                text=RATING_THANKS["ko" if language == "ko" else "en"],
                thread_ts=container.get("thread_ts") or None,
            )
        except SlackApiError as exc:
            log.error("thanks for a rating in %s failed: %s", channel, exc.response.get("error"))

    async def _is_agent(self, user: str) -> bool:
        if self.handoff_channel is None:
            return False
        cursor: str | None = None
        while True:
            page = await self.client.conversations_members(
                channel=self.handoff_channel, cursor=cursor, limit=1000
            )
            if user in (page.get("members") or []):
                return True
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                return False

    # --- for tests and health checks -----------------------------------------------------

    async def _finished(self) -> None:
        async with self._done:
            self.completed += 1
            self._done.notify_all()

    async def wait_completed(self, count: int, timeout: float = 10.0) -> None:
        """Wait until ``count`` events/clicks have been fully handled."""
        async with asyncio.timeout(timeout), self._done:
            await self._done.wait_for(lambda: self.completed >= count)


def handoff_blocks(ticket: HandoffTicket) -> list[dict[str, Any]]:
    """Block Kit for the agents' channel: the summary and the Take over / Resolve buttons."""
    return [
        *text_sections(ticket.summary),
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"#{ticket.id} · {ticket.reason} · {ticket.intent} · "
                    f"{ticket.emotion.label} · {ticket.language} · <!date^{int(time.time())}"
                    "^{time}|now>",
                }
            ],
        },
        {
            "type": "actions",
            "block_id": "ondo_handoff",
            "elements": [
                {
                    "type": "button",
                    "action_id": TAKE_ACTION,
                    "text": {"type": "plain_text", "text": "Take over"},
                    "style": "primary",
                    "value": ticket.conversation_key,
                },
                {
                    "type": "button",
                    "action_id": RESOLVE_ACTION,
                    "text": {"type": "plain_text", "text": "Resolve"},
                    "value": ticket.conversation_key,
                },
            ],
        },
    ]


def ticket_blocks(
    original: Any, ticket: Handoff | None, key: str, status: str, *, resolvable: bool
) -> list[dict[str, Any]]:
    """The ticket after a click: its content without the old buttons, the status, and the
    Resolve button while it is still open. Without the clicked message's blocks, the content
    is rebuilt from the stored handoff."""
    if isinstance(original, list) and original:
        blocks = [b for b in original if isinstance(b, dict) and b.get("type") != "actions"]
    elif ticket is not None:
        blocks = [
            *text_sections(ticket.summary),
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"#{ticket.id} · {ticket.reason}"}],
            },
        ]
    else:
        blocks = []
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": status}]})
    if resolvable:
        blocks.append(
            {
                "type": "actions",
                "block_id": "ondo_handoff",
                "elements": [
                    {
                        "type": "button",
                        "action_id": RESOLVE_ACTION,
                        "text": {"type": "plain_text", "text": "Resolve"},
                        "value": key,
                    }
                ],
            }
        )
    return blocks


def build_app(
    engine: Engine, settings: Settings, client: AsyncWebClient | None = None
) -> tuple[AsyncApp, SlackAdapter]:
    """The Bolt app with Ondo's listeners, and the adapter behind them."""
    client = client or build_client(settings)
    adapter = SlackAdapter(
        engine, client, handoff_channel=handoff_channel_id(settings.handoff_channel)
    )
    app = AsyncApp(
        client=client,
        signing_secret=settings.slack_signing_secret or "",
        logger=logging.getLogger("ondo.slack.bolt"),
    )

    async def on_event(body: dict[str, Any], context: AsyncBoltContext) -> None:
        await adapter.on_event(body, context.bot_user_id)

    async def on_action(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await adapter.on_action(body)

    async def on_rating(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await adapter.on_rating(body)

    app.event("message")(on_event)
    app.event("app_mention")(on_event)
    app.action(TAKE_ACTION)(on_action)
    app.action(RESOLVE_ACTION)(on_action)
    app.action(RATE_UP_ACTION)(on_rating)
    app.action(RATE_DOWN_ACTION)(on_rating)
    return app, adapter
