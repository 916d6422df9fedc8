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

from adapters.discord.components import StaticButtons, button
from adapters.discord.events import PLATFORM, thread_of, thread_ref
from adapters.discord.inert import inert, mention
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
from bot.types import Language

log = logging.getLogger("ondo.discord")

TAKE = "take"
RESOLVE = "resolve"
SUGGEST = "suggest"
EDIT = "edit"
EDITED = "edited"
"""The edit modal's custom id action: its submission sends the edited text."""
REPLY_INPUT = "text"
TEXT_INPUT_LIMIT = 2000
"""The reply fits one Discord message."""
SUGGESTION_TITLE = "**Suggested reply** (Send delivers it to the customer as you):"
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


class TicketButtons(StaticButtons):
    """Take over (while nobody has taken the ticket) and Resolve."""

    def __init__(self, handoff_id: int, *, take: bool = True) -> None:
        take_over = button(
            custom_id(TAKE, handoff_id), label="Take over", style=discord.ButtonStyle.primary
        )
        resolve = button(
            custom_id(RESOLVE, handoff_id), label="Resolve", style=discord.ButtonStyle.success
        )
        super().__init__([take_over, resolve] if take else [resolve])


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

    def __init__(
        self, client: discord.Client, channel_id: int, *, agent_language: Language | None = None
    ) -> None:
        self.client = client
        self.channel_id = channel_id
        self.agent_language = agent_language

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
        thread that cannot be started now is started by the first post into it. The summary
        and the suggestion carry the customer's words (and a model's): they are posted inert."""
        context = context_line(
            ticket.id, ticket.reason, ticket.intent, ticket.emotion.label, ticket.language
        )
        head, *rest = summary_parts(inert(ticket.summary), context)
        channel = await self.channel()
        [message] = await post(
            channel,
            ticket_content(head, context),
            view=TicketButtons(ticket.id),
            suppress_embeds=True,
        )
        ref = thread_ref(message.id)
        try:
            await open_thread(channel, message.id, _thread_name(ticket.id, ticket.intent))
            for chunk in rest:
                await post(
                    channel_for(self.client, message.id, channel.guild.id),
                    chunk,
                    suppress_embeds=True,
                )
            if ticket.suggestion:
                await post(
                    channel_for(self.client, message.id, channel.guild.id),
                    suggestion_content(ticket.suggestion),
                    view=SuggestionButtons(ticket.id),
                    suppress_embeds=True,
                )
        except Exception as exc:
            log.warning(
                "ticket #%d posted without its full thread yet: %s", ticket.id, describe(exc)
            )
        return ref

    async def post_in_thread(self, thread_ref: str, text: str) -> None:
        """Post Ondo's own ``text`` (its markup intended) in the ticket thread
        ``thread_ref``; raises if Discord refuses."""
        await self._post_in_thread(thread_ref, text)

    async def relay(self, thread_ref: str, author: str | None, text: str) -> None:
        """Post a customer's ``text`` in the ticket thread, inert, after a mention of
        ``author`` (a Discord user id; nobody is pinged) or "Customer"."""
        who = (mention(author) if author else None) or "Customer"
        await self._post_in_thread(thread_ref, f"{who}: {inert(text)}", suppress_embeds=True)

    async def _post_in_thread(
        self, thread_ref: str, text: str, *, suppress_embeds: bool = False
    ) -> None:
        thread_id = thread_of(thread_ref)
        if thread_id is None:
            raise ValueError(f"{thread_ref!r} is not a Discord thread")
        channel = await self.channel()
        if self.client.get_channel(thread_id) is None:
            await open_thread(channel, thread_id, _thread_name(None, None))
        await post(
            channel_for(self.client, thread_id, channel.guild.id),
            text,
            suppress_embeds=suppress_embeds,
        )

    async def update_ticket(self, handoff: Handoff, status: str, *, resolvable: bool) -> None:
        """Rewrite the ticket message of ``handoff`` with ``status``, keeping only Resolve
        while it is open (``resolvable``) and no buttons after. Failures are logged."""
        message_id = thread_of(handoff.thread_ref or "")
        if message_id is None:
            return
        context = context_line(
            handoff.id, handoff.reason, handoff.intent, handoff.emotion, handoff.language
        )
        head = summary_parts(inert(handoff.summary), context)[0]
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


# --- the suggested reply ----------------------------------------------------------------


def parse_suggestion_id(value: str | None) -> tuple[str, int] | None:
    """``(action, handoff id)`` of a suggested reply's Send (``ondo:suggest:<id>``) or Edit
    (``ondo:edit:<id>``) button, or of its edit modal (``ondo:edited:<id>``)."""
    prefix, _, rest = (value or "").partition(":")
    action, _, number = rest.partition(":")
    if prefix != CUSTOM_ID_PREFIX or action not in (SUGGEST, EDIT, EDITED):
        return None
    return (action, int(number)) if number.isdecimal() else None


def quoted(text: str) -> str:
    """``text`` inert, as a Discord block quote (the ``>`` are Ondo's own markup)."""
    return "\n".join(f"> {inert(line)}" for line in text.splitlines())


def suggestion_content(text: str) -> str:
    """The suggestion message above its Send / Edit buttons."""
    return f"{SUGGESTION_TITLE}\n{quoted(text)}"


def sent_content(text: str, agent: str) -> str:
    """The suggestion message once sent: what reached the customer, and by whom."""
    status = f"-# Sent to the customer by <@{agent}>"
    body = quoted(text)
    room = MESSAGE_LIMIT - size(status) - 2
    if size(body) > room:
        body = body[: room - 1] + "…"
    return f"{body}\n{status}"


class SuggestionButtons(StaticButtons):
    """**Send** and **Edit** under a suggested reply."""

    def __init__(self, handoff_id: int) -> None:
        super().__init__(
            [
                button(
                    custom_id(SUGGEST, handoff_id),
                    label="Send",
                    style=discord.ButtonStyle.primary,
                ),
                button(custom_id(EDIT, handoff_id), label="Edit"),
            ]
        )


def edit_modal(handoff_id: int, draft: str) -> discord.ui.Modal:
    """The modal in which staff edit the suggested reply; submitting it sends the text."""
    modal = discord.ui.Modal(
        title=f"Reply to #{handoff_id}"[:45], custom_id=custom_id(EDITED, handoff_id)
    )
    modal.add_item(
        discord.ui.TextInput(
            label="Reply to the customer",
            style=discord.TextStyle.paragraph,
            custom_id=REPLY_INPUT,
            default=draft[:TEXT_INPUT_LIMIT],
            max_length=TEXT_INPUT_LIMIT,
        )
    )
    return modal


def submitted_text(data: object) -> str | None:
    """The reply typed into :func:`edit_modal`, from a modal submission's raw ``data``
    (text inputs come in action rows, or in labels on newer clients)."""
    if isinstance(data, dict):
        if data.get("custom_id") == REPLY_INPUT and isinstance(data.get("value"), str):
            return str(data["value"])
        children = [*(data.get("components") or []), data.get("component")]
        for child in children:
            found = submitted_text(child)
            if found is not None:
                return found
    elif isinstance(data, list):
        for child in data:
            found = submitted_text(child)
            if found is not None:
                return found
    return None
