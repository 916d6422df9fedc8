"""Posting to Slack: the engine's :class:`bot.conversation.engine.Sender` for one thread."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.csat_buttons import csat_row
from adapters.slack.events import thread_of
from bot.conversation.engine import Sender
from bot.types import Reply

log = logging.getLogger("ondo.slack")

RATE_UP_ACTION = "ondo_rate_up"
RATE_DOWN_ACTION = "ondo_rate_down"
REPLY_EVENT = "ondo_reply"
"""Message metadata event type of a stored reply (payload: its ``reply_id``)."""
SECTION_LIMIT = 2900  # Slack caps a section's text at 3000 characters


HISTORY_PAGES = 2
"""Pages (of 100) of a DM's top level read for a message posted before a crash: a retry comes
within minutes, so the message is among the newest."""


class SlackSender:
    """Posts replies into one Slack thread with ``chat.postMessage``; returns the posted ts.
    ``thread_ts`` ``None``: the top level of a DM.

    A reply the engine marks as rateable (an answer from the knowledge base) is posted with
    👍 / 👎 buttons whose value is the stored reply's id; the desk's satisfaction question
    (``raw["csat"]``) with its five score buttons instead.
    """

    def __init__(self, client: AsyncWebClient, channel: str, thread_ts: str | None) -> None:
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts

    async def send(self, reply: Reply) -> str | None:
        """Post ``reply`` in the thread; raises when Slack refuses it (after SDK retries).

        A stored reply carries its id in the message metadata. When one is posted again
        after a crash (``raw["resent"]``), the thread is read first: if Slack already has it
        (the crash came after Slack took it, before Ondo noted it), it is not posted twice."""
        reply_id = reply.raw.get("reply_id")
        if not isinstance(reply_id, int):
            row = csat_row(reply)
            blocks = [*text_sections(reply.text), row] if row is not None else None
            return await post(
                self.client, self.channel, reply.text, thread_ts=self.thread_ts, blocks=blocks
            )
        if reply.raw.get("resent"):
            found = await self.posted_reply(reply_id)
            if found is not None:
                log.info("reply %d was already in Slack thread %s", reply_id, self.thread_ts)
                return found
        blocks = rating_blocks(reply.text, reply_id) if reply.raw.get("rateable") else None
        return await post(
            self.client,
            self.channel,
            reply.text,
            thread_ts=self.thread_ts,
            blocks=blocks,
            metadata={"event_type": REPLY_EVENT, "event_payload": {"reply_id": reply_id}},
        )

    async def posted_reply(self, reply_id: int) -> str | None:
        """The ts of the bot's message for stored reply ``reply_id`` in this thread, if Slack
        has one; ``None`` when it has none or the thread cannot be read (then posting is
        the safer mistake)."""
        return await posted_with(
            self.client, self.channel, self.thread_ts, REPLY_EVENT, "reply_id", reply_id
        )


async def posted_with(
    client: AsyncWebClient,
    channel: str,
    thread_ts: str | None,
    event_type: str,
    field: str,
    value: object,
) -> str | None:
    """The ts of a message in ``channel`` (the thread ``thread_ts``, or the newest
    :data:`HISTORY_PAGES` pages of the top level) whose metadata is ``event_type`` with
    ``field`` = ``value``; ``None`` when there is none or it cannot be read (then posting is
    the safer mistake)."""
    cursor: str | None = None
    try:
        for _ in range(10_000 if thread_ts is not None else HISTORY_PAGES):
            if thread_ts is not None:
                page = await client.conversations_replies(
                    channel=channel,
                    ts=thread_ts,
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            else:
                page = await client.conversations_history(
                    channel=channel, include_all_metadata=True, limit=100, cursor=cursor
                )
            for message in page.get("messages") or []:
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if metadata.get("event_type") == event_type and payload.get(field) == value:
                    return str(message.get("ts"))
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
    except SlackApiError as exc:
        log.warning(
            "could not read %s in %s to avoid a duplicate: %s",
            f"thread {thread_ts}" if thread_ts else "the messages",
            channel,
            exc.response.get("error"),
        )
    return None


class SlackCustomers:
    """Slack's :class:`bot.conversation.routing.CustomerSide`: a conversation key names its
    thread."""

    platform = "slack"

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    def sender_for(self, conversation_key: str) -> Sender | None:
        """The sender posting into the conversation's thread; ``None`` for other platforms."""
        target = thread_of(conversation_key)
        return SlackSender(self.client, *target) if target is not None else None


def text_sections(text: str) -> list[dict[str, Any]]:
    """``text`` as mrkdwn section blocks, split to stay under Slack's per-section limit."""
    chunks = [text[i : i + SECTION_LIMIT] for i in range(0, len(text), SECTION_LIMIT)] or [" "]
    return [{"type": "section", "text": {"type": "mrkdwn", "text": c}} for c in chunks]


def rating_blocks(text: str, reply_id: int) -> list[dict[str, Any]]:
    """Block Kit for a rateable answer: its text and the 👍 / 👎 buttons."""
    return [
        *text_sections(text),
        {
            "type": "actions",
            "block_id": "ondo_rating",
            "elements": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "text": {"type": "plain_text", "text": label, "emoji": True},
                    "value": str(reply_id),
                }
                for action_id, label in ((RATE_UP_ACTION, "👍"), (RATE_DOWN_ACTION, "👎"))
            ],
        },
    ]


async def post(
    client: AsyncWebClient,
    channel: str,
    text: str,
    *,
    thread_ts: str | None = None,
    blocks: list[dict[str, Any]] | None = None,
    metadata: dict[str, Any] | None = None,
    unfurl: bool = True,
) -> str | None:
    """``chat.postMessage`` (plain text, optionally with blocks and message metadata); logs
    the channel on failure and re-raises. ``unfurl=False`` for text carrying foreign links
    (the agents' desk): no link or media previews."""
    try:
        response = await client.chat_postMessage(
            channel=channel,
            text=text,
            thread_ts=thread_ts,
            blocks=blocks,
            metadata=metadata,
            unfurl_links=None if unfurl else False,
            unfurl_media=None if unfurl else False,
        )
    except SlackApiError as exc:
        log.error("chat.postMessage to %s failed: %s", channel, exc.response.get("error"))
        raise
    ts = response.get("ts")
    return str(ts) if ts else None
