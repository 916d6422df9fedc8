"""The agents' desk in a Discord channel: one ticket message, with its thread, per handoff.

The ticket is the head of the summary, a context line ``#<id> · reason · intent · emotion ·
language`` and the **Take over** / **Resolve** buttons; the thread started on it (which has
the ticket message's id) gets the rest of a long summary, the relayed customer messages and
the notes. The buttons' custom ids carry the handoff's button value (``ondo:take:<id>.<token>``,
``ondo:resolve:<id>.<token>``, see :mod:`bot.conversation.ticket_buttons`); clicks are handled from
the raw interaction, not by a view kept in memory, so buttons on tickets posted before a restart
keep working. A ticket is posted with a nonce, and a repeated attempt reads the channel first, so a
ticket Discord took just before a crash is adopted rather than posted twice.
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
from bot.conversation.engine import HandoffTicket
from bot.conversation.ticket_buttons import button_value, parse_button_value
from bot.storage.records import Handoff
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
SEARCH_LIMIT = 500
"""How many of the agents' channel's latest messages are read for a ticket posted before."""


def custom_id(action: str, handoff_id: int, token: str | None = None) -> str:
    """The custom id of a ticket button: ``ondo:<action>:<button value>``."""
    return f"{CUSTOM_ID_PREFIX}:{action}:{button_value(handoff_id, token)}"


def _parse(value: str | None, actions: tuple[str, ...]) -> tuple[str, str] | None:
    prefix, _, rest = (value or "").partition(":")
    action, _, handoff = rest.partition(":")
    if prefix != CUSTOM_ID_PREFIX or action not in actions or parse_button_value(handoff) is None:
        return None
    return action, handoff


def parse_custom_id(value: str | None) -> tuple[str, str] | None:
    """``(action, button value)`` of one of Ondo's ticket buttons; ``None`` for anything
    else. Whether the value names a handoff with its token is
    :func:`bot.conversation.ticket_buttons.clicked_handoff`'s to check."""
    return _parse(value, (TAKE, RESOLVE))


def nonce(handoff_id: int) -> str:
    """The nonce a ticket is posted with (Discord allows 25 characters)."""
    return f"ondot{handoff_id}"


class TicketButtons(StaticButtons):
    """Take over (while nobody has taken the ticket) and Resolve."""

    def __init__(self, handoff_id: int, token: str | None = None, *, take: bool = True) -> None:
        take_over = button(
            custom_id(TAKE, handoff_id, token),
            label="Take over",
            style=discord.ButtonStyle.primary,
        )
        resolve = button(
            custom_id(RESOLVE, handoff_id, token),
            label="Resolve",
            style=discord.ButtonStyle.success,
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
    """A :class:`bot.conversation.routing.AgentDesk` in the Discord text channel ``channel_id``."""

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
        and the suggestion carry the customer's words (and a model's): they are posted inert.

        On a repeated attempt, a ticket already in the channel is adopted: its thread gets
        only what it lacks (nothing, once Ondo has posted in it)."""
        context = context_line(
            ticket.id, ticket.reason, ticket.intent, ticket.emotion.label, ticket.language
        )
        head, *rest = summary_parts(inert(ticket.summary), context)
        channel = await self.channel()
        found = await self.posted_ticket(channel, ticket) if ticket.attempt > 1 else None
        if found is not None:
            log.info("ticket #%d was already in Discord channel %s", ticket.id, channel.id)
            message_id = found
        else:
            [message] = await post(
                channel,
                ticket_content(head, context),
                view=TicketButtons(ticket.id, ticket.token),
                nonce=nonce(ticket.id),
                suppress_embeds=True,
            )
            message_id = message.id
        ref = thread_ref(message_id)
        try:
            await open_thread(channel, message_id, _thread_name(ticket.id, ticket.intent))
            thread = channel_for(self.client, message_id, channel.guild.id)
            if found is not None and await self._posted_in(thread):
                return ref
            for chunk in rest:
                await post(thread, chunk, suppress_embeds=True)
            if ticket.suggestion:
                await post(
                    thread,
                    suggestion_content(ticket.suggestion),
                    view=SuggestionButtons(ticket.id, ticket.token),
                    suppress_embeds=True,
                )
        except Exception as exc:
            log.warning(
                "ticket #%d posted without its full thread yet: %s", ticket.id, describe(exc)
            )
        return ref

    async def posted_ticket(
        self, channel: discord.TextChannel, ticket: HandoffTicket
    ) -> int | None:
        """The id of Ondo's ticket message for ``ticket`` among the channel's latest
        messages (found by its Resolve button's custom id); ``None`` when there is none or
        the channel cannot be read (then posting is the safer mistake)."""
        me = self.client.user
        wanted = custom_id(RESOLVE, ticket.id, ticket.token)
        try:
            async for message in channel.history(limit=SEARCH_LIMIT):
                if me is not None and message.author.id == me.id and wanted in _custom_ids(message):
                    return message.id
        except discord.HTTPException as exc:
            log.warning(
                "could not read Discord channel %s to avoid a duplicate ticket: %s",
                channel.id,
                describe(exc),
            )
        return None

    async def _posted_in(self, thread: discord.abc.Messageable) -> bool:
        """Whether Ondo has posted anything in ``thread`` (``True`` if it cannot tell)."""
        me = self.client.user
        try:
            async for message in thread.history(limit=20):
                if me is not None and message.author.id == me.id:
                    return True
        except discord.HTTPException:
            return True
        return False

    def mention(self, agent_id: str) -> str:
        """A mention of agent ``agent_id`` in a desk post."""
        return f"<@{agent_id}>"

    async def notify(self, agent_id: str, text: str) -> None:
        """DM agent ``agent_id`` (a snowflake) Ondo's ``text`` (a new ticket is theirs). A
        failure is one warning, never raised: the ticket's line in the thread names the owner
        all the same."""
        try:
            if not (agent_id.isascii() and agent_id.isdecimal()) or len(agent_id) > 25:
                raise ValueError("not a Discord user id")
            channel = await self.client.create_dm(discord.Object(int(agent_id)))
            await channel.send(text, allowed_mentions=NO_MENTIONS)
        except Exception as exc:
            log.warning("notification to %s not sent: %s", agent_id, describe(exc))

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
        view = TicketButtons(handoff.id, handoff.token, take=False) if resolvable else None
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


def _custom_ids(message: discord.Message) -> set[str]:
    ids: set[str] = set()
    for row in message.components:
        for child in getattr(row, "children", ()):
            value = getattr(child, "custom_id", None)
            if isinstance(value, str):
                ids.add(value)
    return ids


def _thread_name(handoff_id: int | None, intent: str | None) -> str:
    if handoff_id is None:
        return "Handoff"
    return f"Handoff #{handoff_id} · {intent or 'other'}"


# --- the suggested reply ----------------------------------------------------------------


def parse_suggestion_id(value: str | None) -> tuple[str, str] | None:
    """``(action, button value)`` of a suggested reply's Send (``ondo:suggest:<value>``) or
    Edit (``ondo:edit:<value>``) button, or of its edit modal (``ondo:edited:<value>``)."""
    return _parse(value, (SUGGEST, EDIT, EDITED))


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

    def __init__(self, handoff_id: int, token: str | None = None) -> None:
        super().__init__(
            [
                button(
                    custom_id(SUGGEST, handoff_id, token),
                    label="Send",
                    style=discord.ButtonStyle.primary,
                ),
                button(custom_id(EDIT, handoff_id, token), label="Edit"),
            ]
        )


def edit_modal(handoff_id: int, draft: str, token: str | None = None) -> discord.ui.Modal:
    """The modal in which staff edit the suggested reply; submitting it sends the text."""
    modal = discord.ui.Modal(
        title=f"Reply to #{handoff_id}"[:45], custom_id=custom_id(EDITED, handoff_id, token)
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
