"""Posting to Slack: the engine's :class:`bot.engine.Sender` for one thread."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.types import Reply

log = logging.getLogger("ondo.slack")


class SlackSender:
    """Posts replies into one Slack thread with ``chat.postMessage``; returns the posted ts."""

    def __init__(self, client: AsyncWebClient, channel: str, thread_ts: str) -> None:
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts

    async def send(self, reply: Reply) -> str | None:
        """Post ``reply`` in the thread; raises when Slack refuses it (after SDK retries)."""
        return await post(self.client, self.channel, reply.text, thread_ts=self.thread_ts)


async def post(
    client: AsyncWebClient, channel: str, text: str, *, thread_ts: str | None = None
) -> str | None:
    """``chat.postMessage`` with plain text; logs the channel on failure and re-raises."""
    try:
        response = await client.chat_postMessage(channel=channel, text=text, thread_ts=thread_ts)
    except SlackApiError as exc:
        log.error("chat.postMessage to %s failed: %s", channel, exc.response.get("error"))
        raise
    ts = response.get("ts")
    return str(ts) if ts else None
