"""Journey DMs on Discord: the :class:`bot.conversation.direct.DirectMessenger` of the adapter.

``create_dm`` opens (or finds cached) the DM channel with the user (``POST
/users/@me/channels``), then the text is posted there like every post (split at 2,000
characters, no mentions allowed). discord.py waits out 429s itself. A journey's text carries
the shop's placeholder values unescaped, so it is made inert: shown as written.

At most once: each part is posted with the nonce ``dm<outbox row id>-<part>`` and
``enforce_nonce``, so Discord itself returns the message already posted when the same post
comes again within a few minutes. A retry after longer (a crash between the post and the
delivered mark, found after the outbox lease) first reads the DM's newest messages
(:data:`HISTORY_LIMIT`) for the bot's message with the same first part posted after the row
was queued, and returns that one.

A marketing message or review request gets an opt-out button whose custom id
(:func:`opt_out_custom_id`, persistent: handled by id after a restart) names the category,
the DM's language and the recipient; nothing secret: the click counts only from that user.
"""

from __future__ import annotations

import datetime

import discord

from adapters.discord.components import StaticButtons, button
from adapters.discord.events import PLATFORM, dm_key
from adapters.discord.inert import inert
from adapters.discord.sender import describe, post
from adapters.discord.split import split_message
from bot.conversation.direct import (
    OPT_OUT_CATEGORIES,
    OPT_OUT_LABELS,
    DirectMessage,
    Posted,
    Undeliverable,
)
from bot.types import Language

REFUSALS = frozenset({50007, 10013})
"""Discord error codes meaning the user can never be messaged: 50007 "Cannot send messages to
this user" (DMs closed, no shared server, blocked), 10013 "Unknown User"."""
OPEN_REFUSALS = REFUSALS | {50035}
"""Opening the DM also refuses a recipient id Discord does not accept (50035)."""
HISTORY_LIMIT = 20
"""The DM's newest messages read on a retry for one posted before a crash."""
OPT_OUT_PREFIX = "ondo:optout:"


def opt_out_custom_id(category: str, language: Language, user: str) -> str:
    """``ondo:optout:<category>:<language>:<recipient id>`` (under Discord's 100 characters)."""
    return f"{OPT_OUT_PREFIX}{category}:{language}:{user}"


def parse_opt_out_id(value: str | None) -> tuple[str, Language, int] | None:
    """``(category, language, recipient id)`` of an opt-out button; ``None`` for any other
    custom id, or a garbled one."""
    if not (value or "").startswith(OPT_OUT_PREFIX):
        return None
    parts = (value or "").removeprefix(OPT_OUT_PREFIX).split(":")
    if len(parts) != 3:
        return None
    category, language, user = parts
    if category not in OPT_OUT_CATEGORIES or not (user.isascii() and user.isdecimal()):
        return None
    if len(user) > 25:
        return None
    if language == "ko":
        return category, "ko", int(user)
    if language == "en":
        return category, "en", int(user)
    return None


class OptOutButton(StaticButtons):
    """The opt-out button under one journey DM."""

    def __init__(self, category: str, language: Language, user: str) -> None:
        super().__init__(
            [
                button(
                    opt_out_custom_id(category, language, user),
                    label=OPT_OUT_LABELS[language],
                    style=discord.ButtonStyle.secondary,
                )
            ]
        )


class DiscordDirect:
    """Posts direct messages to Discord users with the adapter's client."""

    platform = PLATFORM

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    async def send_dm(self, message: DirectMessage) -> Posted:
        """Post the text (inert) in the DM with the user (a snowflake), the opt-out button on
        its last part when it has a category; the first posted message's id and the DM
        channel's conversation key (every message in a Discord DM is one conversation,
        :func:`adapters.discord.events.dm_key`). On a retry, the DM already posted is
        returned instead. Raises :class:`Undeliverable` for a user Discord refuses."""
        user = message.user
        if not (user.isascii() and user.isdecimal()) or len(user) > 25:
            raise Undeliverable("not a Discord user id")
        try:
            channel = await self.client.create_dm(discord.Object(int(user)))
        except discord.HTTPException as exc:
            if exc.code in OPEN_REFUSALS:
                raise Undeliverable(describe(exc)) from None
            raise
        text = inert(message.text)
        if message.retry:
            found = await self._posted(channel, text, message.queued_at)
            if found is not None:
                return Posted(str(found), dm_key(channel.id))
        view = OptOutButton(message.opt_out, message.language, user) if message.opt_out else None
        nonce = f"dm{message.token}" if message.token is not None else None
        try:
            sent = await post(channel, text, view=view, nonce=nonce)
        except discord.HTTPException as exc:
            if exc.code in REFUSALS:
                raise Undeliverable(describe(exc)) from None
            raise
        return Posted(str(sent[0].id) if sent else "", dm_key(channel.id))

    async def _posted(
        self, channel: discord.DMChannel, text: str, queued_at: float | None
    ) -> int | None:
        """The id of the bot's message in ``channel`` starting the DM ``text`` and posted
        after ``queued_at``, among the newest :data:`HISTORY_LIMIT`; ``None`` when there is
        none or the DM cannot be read (then posting is the safer mistake)."""
        first = (split_message(text) or [""])[0]
        me = self.client.user
        after = (
            datetime.datetime.fromtimestamp(queued_at - 1.0, datetime.UTC) if queued_at else None
        )
        try:
            async for earlier in channel.history(limit=HISTORY_LIMIT):
                if after is not None and earlier.created_at < after:
                    break  # newest first: the rest is older still
                if me is not None and earlier.author.id == me.id and earlier.content == first:
                    return earlier.id
        except discord.HTTPException:
            return None
        return None
