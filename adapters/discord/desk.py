"""The agents' desk in a Discord channel: one ticket message, with its thread, per handoff.

The ticket is the head of the summary, a context line ``#<id> · reason · intent · emotion ·
language`` and the **Take over** / **Resolve** buttons; the thread started on it (which has
the ticket message's id) gets the rest of a long summary, the relayed customer messages and
the notes. The buttons' custom ids carry the handoff id (``ondo:take:<id>``,
``ondo:resolve:<id>``); clicks are handled from the raw interaction, not by a view kept in
memory, so buttons on tickets posted before a restart keep working.
"""

from __future__ import annotations

import logging

import discord

from adapters.discord.events import PLATFORM, thread_of, thread_ref
from adapters.discord.sender import (
    NO_MENTIONS,
    channel_for,
    describe,
    open_thread,
    post,
)
from adapters.discord.split import MESSAGE_LIMIT, size, split_message
from bot.engine import HandoffTicket
from bot.store import Handoff

log = logging.getLogger("ondo.discord")

TAKE = "take"
RESOLVE = "resolve"
CUSTOM_ID_PREFIX = "ondo"
STATUS_ROOM = 120
"""Characters kept free in the ticket message for the status line added on a click."""


def custom_id(action: str, handoff_id: int) -> str:
    """The custom id of a ticket button: ``ondo:<take|resolve>:<handoff id>``."""
    return f"{CUSTOM_ID_PREFIX}:{action}:{handoff_id}"


def parse_custom_id(value: str | None) -> tuple[str, int] | None:
    """``(action, handoff id)`` of one of Ondo's ticket buttons; ``None`` for anything else."""
    prefix, _, rest = (value or "").partition(":")
    action, _, number = rest.partition(":")
    if prefix != CUSTOM_ID_PREFIX or action not in (TAKE, RESOLVE) or not number.isdecimal():
        return None
    return action, int(number)


class TicketButtons(discord.ui.View):
    """Take over (while nobody has taken the ticket) and Resolve, as message components.

    Only the layout: clicks reach :meth:`adapters.discord.app.DiscordAdapter.on_interaction`
    by custom id, so discord.py must not keep this view in memory waiting for them.
    """

    def __init__(self, handoff_id: int, *, take: bool = True) -> None:
        super().__init__(timeout=None)
        if take:
            self.add_item(
                discord.ui.Button(
                    label="Take over",
                    style=discord.ButtonStyle.primary,
                    custom_id=custom_id(TAKE, handoff_id),
                )
            )
        self.add_item(
            discord.ui.Button(
                label="Resolve",
                style=discord.ButtonStyle.success,
                custom_id=custom_id(RESOLVE, handoff_id),
            )
        )

    def is_dispatchable(self) -> bool:
        """Never: see the class docstring."""
        return False


def context_line(
    handoff_id: int, reason: str, intent: str | None, emotion: str | None, language: str | None
) -> str:
    """``#<id> · reason · intent · emotion · language`` (as Discord's small subtext)."""
    return (
        f"-# #{handoff_id} · {reason} · {intent or 'other'} · {emotion or 'neutral'} · "
        f"{language or '?'}"
    )


def summary_parts(summary: str, context: str) -> list[str]:
    """The summary in messages: the first fits in the ticket beside the context line and a
    status line; the others go into the ticket's thread."""
    return split_message(summary, MESSAGE_LIMIT - size(context) - STATUS_ROOM - 2) or ["Handoff"]


def ticket_content(head: str, context: str, status: str | None = None) -> str:
    """The ticket message's text."""
    return "\n".join([head, context, *([status] if status else [])])


def taken_status(agent: str) -> str:
    """The ticket's status line once ``agent`` (a user id) has taken it."""
    return f"Taken by <@{agent}>"


def resolved_status(agent: str) -> str:
    """The ticket's status line once ``agent`` (a user id) has resolved it."""
    return f"Resolved by <@{agent}>"


class DiscordDesk:
    """A :class:`bot.routing.AgentDesk` in the Discord text channel ``channel_id``."""

    platform = PLATFORM

    def __init__(self, client: discord.Client, channel_id: int) -> None:
        self.client = client
        self.channel_id = channel_id

    async def channel(self) -> discord.TextChannel:
        """The agents' channel; raises when Ondo cannot see it or it is not a text channel."""
        channel = self.client.get_channel(self.channel_id)
        if channel is None:
            channel = await self.client.fetch_channel(self.channel_id)
        if not isinstance(channel, discord.TextChannel):
            raise TypeError(
                f"ONDO_HANDOFF_CHANNEL=discord:{self.channel_id} is a {type(channel).__name__}, "
                "not a text channel"
            )
        return channel

    async def open_ticket(self, ticket: HandoffTicket) -> str | None:
        """Post the ticket with its buttons and start its thread; returns ``discord:<thread
        id>``. Raises when the ticket itself cannot be posted (the router retries later); a
        thread that cannot be started now is started by the first post into it."""
        context = context_line(
            ticket.id, ticket.reason, ticket.intent, ticket.emotion.label, ticket.language
        )
        head, *rest = summary_parts(ticket.summary, context)
        channel = await self.channel()
        [message] = await post(
            channel, ticket_content(head, context), view=TicketButtons(ticket.id)
        )
        ref = thread_ref(message.id)
        try:
            await open_thread(channel, message.id, _thread_name(ticket.id, ticket.intent))
            for chunk in rest:
                await post(channel_for(self.client, message.id, channel.guild.id), chunk)
        except Exception as exc:
            log.warning(
                "ticket #%d posted without its full thread yet: %s", ticket.id, describe(exc)
            )
        return ref

    async def post_in_thread(self, thread_ref: str, text: str) -> None:
        """Post ``text`` in the ticket thread ``thread_ref``; raises if Discord refuses."""
        thread_id = thread_of(thread_ref)
        if thread_id is None:
            raise ValueError(f"{thread_ref!r} is not a Discord thread")
        channel = await self.channel()
        if self.client.get_channel(thread_id) is None:
            await open_thread(channel, thread_id, _thread_name(None, None))
        await post(channel_for(self.client, thread_id, channel.guild.id), text)

    async def update_ticket(self, handoff: Handoff, status: str, *, resolvable: bool) -> None:
        """Rewrite the ticket message of ``handoff`` with ``status``, keeping only Resolve
        while it is open (``resolvable``) and no buttons after. Failures are logged."""
        message_id = thread_of(handoff.thread_ref or "")
        if message_id is None:
            return
        context = context_line(
            handoff.id, handoff.reason, handoff.intent, handoff.emotion, handoff.language
        )
        head = summary_parts(handoff.summary, context)[0]
        view = TicketButtons(handoff.id, take=False) if resolvable else None
        try:
            channel = await self.channel()
            await channel.get_partial_message(message_id).edit(
                content=ticket_content(head, context, status),
                view=view,
                allowed_mentions=NO_MENTIONS,
            )
        except Exception as exc:
            log.error(
                "ticket #%d in Discord channel %s not updated: %s",
                handoff.id,
                self.channel_id,
                describe(exc),
            )


def _thread_name(handoff_id: int | None, intent: str | None) -> str:
    if handoff_id is None:
        return "Handoff"
    return f"Handoff #{handoff_id} · {intent or 'other'}"
