"""Journey DMs on Discord: the :class:`bot.conversation.direct.DirectMessenger` of the adapter.

``create_dm`` opens (or finds cached) the DM channel with the user (``POST
/users/@me/channels``), then the text is posted there like every post (split at 2,000
characters, no mentions allowed). discord.py waits out 429s itself. A journey's text carries
the shop's placeholder values unescaped, so it is made inert: shown as written.
"""

from __future__ import annotations

import discord

from adapters.discord.events import PLATFORM, dm_key
from adapters.discord.inert import inert
from adapters.discord.sender import describe, post
from bot.conversation.direct import Posted, Undeliverable
from bot.types import Language

REFUSALS = frozenset({50007, 10013})
"""Discord error codes meaning the user can never be messaged: 50007 "Cannot send messages to
this user" (DMs closed, no shared server, blocked), 10013 "Unknown User"."""
OPEN_REFUSALS = REFUSALS | {50035}
"""Opening the DM also refuses a recipient id Discord does not accept (50035)."""


class DiscordDirect:
    """Posts direct messages to Discord users with the adapter's client."""

    platform = PLATFORM

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    async def send_dm(self, user: str, text: str, language: Language) -> Posted:
        """Post ``text`` (inert) in the DM with ``user`` (a snowflake); the first posted
        message's id and the DM channel's conversation key (every message in a Discord DM is
        one conversation, :func:`adapters.discord.events.dm_key`).
        Raises :class:`Undeliverable` for a user Discord refuses."""
        if not (user.isascii() and user.isdecimal()) or len(user) > 25:
            raise Undeliverable("not a Discord user id")
        try:
            channel = await self.client.create_dm(discord.Object(int(user)))
        except discord.HTTPException as exc:
            if exc.code in OPEN_REFUSALS:
                raise Undeliverable(describe(exc)) from None
            raise
        try:
            sent = await post(channel, inert(text))
        except discord.HTTPException as exc:
            if exc.code in REFUSALS:
                raise Undeliverable(describe(exc)) from None
            raise
        return Posted(str(sent[0].id) if sent else "", dm_key(channel.id))
