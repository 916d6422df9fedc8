"""Posting to Discord: the engine's :class:`bot.conversation.engine.Sender` for one conversation.

Every post is split at Discord's 2,000-character limit and sent with no allowed mentions, so
text relayed from customers or agents can never ping ``@everyone``, ``@here``, users or roles.
Failures (after discord.py's own retries of 429 and 5xx) are logged with the channel id and
raised, so the engine releases the message for :meth:`bot.conversation.routing.Router.recover`.
"""

from __future__ import annotations

import logging
from typing import Any, Final, Literal

import discord

from adapters.discord.csat_buttons import csat_view
from adapters.discord.events import PLATFORM, Target, target_of
from adapters.discord.rating import rating_view
from adapters.discord.split import split_message
from bot.conversation.engine import Sender
from bot.types import Language, Reply

log = logging.getLogger("ondo.discord")

NO_MENTIONS = discord.AllowedMentions.none()
THREAD_ARCHIVE_MINUTES: Final[Literal[10080]] = 10080
"""A week: a ticket or conversation thread stays listed while people may come back to it."""
DEFAULT_THREAD_NAMES: dict[Language, str] = {"ko": "온도 상담", "en": "Ondo support"}

# Discord's answers when a thread cannot be started on a message because it has one already,
# the message is gone (the conversation is in a thread that started without one), or the
# channel has no message threads. In each case posting into the thread id is what is left.
_NO_NEW_THREAD = frozenset({160004, 10008, 50024})

Channel = discord.TextChannel | discord.Thread | discord.DMChannel | discord.PartialMessageable


def describe(exc: BaseException) -> str:
    """A short reason for a log line."""
    if isinstance(exc, discord.HTTPException):
        return f"HTTP {exc.status} {exc.text or exc.response.reason} (code {exc.code})"
    return f"{type(exc).__name__}: {exc}"


def channel_for(client: discord.Client, channel_id: int, guild_id: int | None = None) -> Channel:
    """The cached channel ``channel_id``, or a partial one that can still be posted to."""
    channel = client.get_channel(channel_id)
    if isinstance(channel, discord.TextChannel | discord.Thread | discord.DMChannel):
        return channel
    return client.get_partial_messageable(channel_id, guild_id=guild_id)


async def post(
    channel: Channel,
    text: str,
    *,
    view: discord.ui.View | None = None,
    nonce: str | None = None,
    suppress_embeds: bool = False,
) -> list[discord.Message]:
    """Post ``text`` in as many messages as it needs (``view`` goes on the last); logs the
    channel id and re-raises when Discord refuses. ``suppress_embeds`` for text carrying
    foreign links (the agents' desk), which must not unfold into previews.

    With ``nonce``, each part is sent with ``<nonce>-<part>`` and ``enforce_nonce``: posting the
    same text again within Discord's few minutes returns the parts already posted instead of
    duplicating them (a reply re-sent after a crash that came right after posting)."""
    chunks = split_message(text)
    sent: list[discord.Message] = []
    for number, chunk in enumerate(chunks, 1):
        extra: dict[str, Any] = {"nonce": f"{nonce}-{number}"} if nonce else {}
        if suppress_embeds:
            extra["suppress_embeds"] = True
        try:
            if view is not None and number == len(chunks):
                message = await channel.send(
                    chunk, allowed_mentions=NO_MENTIONS, view=view, **extra
                )
            else:
                message = await channel.send(chunk, allowed_mentions=NO_MENTIONS, **extra)
        except Exception as exc:
            log.error("post to Discord channel %s failed: %s", channel.id, describe(exc))
            raise
        sent.append(message)
    return sent


async def open_thread(parent: Channel, message_id: int, name: str) -> None:
    """Start a thread on message ``message_id`` of ``parent`` (the thread gets the message's
    id); nothing happens when the thread already exists."""
    if not isinstance(parent, discord.TextChannel | discord.PartialMessageable):
        return
    try:
        await parent.get_partial_message(message_id).create_thread(
            name=name, auto_archive_duration=THREAD_ARCHIVE_MINUTES
        )
    except discord.HTTPException as exc:
        if exc.code in _NO_NEW_THREAD:
            return
        log.error(
            "thread on message %s in Discord channel %s could not be opened: %s",
            message_id,
            parent.id,
            describe(exc),
        )
        raise


class DiscordSender:
    """Posts replies into one conversation: its thread (opened on the customer's message when
    missing) or its DM channel. Returns the id of the first message posted."""

    def __init__(
        self, client: discord.Client, target: Target, *, thread_name: str | None = None
    ) -> None:
        self.client = client
        self.target = target
        self.thread_name = thread_name

    async def send(self, reply: Reply) -> str | None:
        """Post ``reply`` (an answer with 👍 / 👎, the desk's rating question with its score
        buttons); raises when Discord refuses it."""
        target = self.target
        if target.parent_id is not None and self.client.get_channel(target.channel_id) is None:
            parent = channel_for(self.client, target.parent_id, target.guild_id)
            name = self.thread_name or DEFAULT_THREAD_NAMES[reply.language]
            await open_thread(parent, target.channel_id, name)
        channel = channel_for(self.client, target.channel_id, target.guild_id)
        reply_id = reply.raw.get("reply_id")
        nonce = f"ondo{reply_id}" if isinstance(reply_id, int) else None
        view: discord.ui.View | None = rating_view(reply)
        if view is None:
            view = csat_view(reply)  # the desk's rating question: five score buttons
        sent = await post(channel, reply.text, nonce=nonce, view=view)
        return str(sent[0].id) if sent else None


class DiscordCustomers:
    """Discord's :class:`bot.conversation.routing.CustomerSide`: a conversation key names its
    thread or DM."""

    platform = PLATFORM

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    def sender_for(self, conversation_key: str) -> Sender | None:
        """The sender posting into the conversation; ``None`` for other platforms' keys."""
        target = target_of(conversation_key)
        return DiscordSender(self.client, target) if target is not None else None
