"""The agents' ``/ondo`` slash command on Discord: ``hours``, ``duty``, ``assign``, ``reply``.

One global CHAT_INPUT command ``ondo`` (registered on connect, like **Mark as wrong**) with a
subcommand each; the options are plain strings and integers, read into the same words a
Slack ``/ondo`` carries, so :mod:`adapters.desk_commands` answers both desks alike:

* ``/ondo hours`` — the weekly hours, days off, open now or not;
* ``/ondo duty [state: on|off]`` — on or off duty, or who is on duty;
* ``/ondo assign ticket: <#> agent: @agent`` — the agent typed as a mention
  (``<@123>`` / ``<@!123>``);
* ``/ondo reply [name] [ticket]`` — used in a ticket thread it knows its ticket; alone it
  lists the saved replies.

Only staff in the agents' channel or its threads may use it (the adapter's rule); every
answer is ephemeral, and nothing posted pings anyone (``allowed_mentions`` none).
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, cast

import discord

from adapters.desk_commands import DeskCommands, ticket_number
from adapters.discord.desk import DiscordDesk, taken_status
from adapters.discord.events import PLATFORM, thread_ref
from adapters.discord.inert import inert, mention
from adapters.discord.sender import NO_MENTIONS, describe
from bot.conversation.routing import platform_of
from bot.desk.replies import UnknownReplyError
from bot.storage.records import Handoff

log = logging.getLogger("ondo.discord")

COMMAND = "ondo"
CHAT_INPUT, SUBCOMMAND, STRING, INTEGER = 1, 1, 3, 4
MENTION = re.compile(r"<@!?([0-9]{5,25})>")
STAFF_ONLY = "Only Ondo's support staff can do this."
NAMES_KEPT = 10_000
"""How many customers' display names are remembered (in memory only, never stored)."""
COMMAND_PAYLOAD: dict[str, Any] = {
    "name": COMMAND,
    "type": CHAT_INPUT,
    "description": "Agents: opening hours, duty, assigning tickets, saved replies",
    "contexts": [0],
    "options": [
        {"type": SUBCOMMAND, "name": "hours", "description": "Opening hours and days off"},
        {
            "type": SUBCOMMAND,
            "name": "duty",
            "description": "Go on or off duty (without a state: who is on duty)",
            "options": [{"type": STRING, "name": "state", "description": "on or off"}],
        },
        {
            "type": SUBCOMMAND,
            "name": "assign",
            "description": "Give a ticket to an agent",
            "options": [
                {
                    "type": INTEGER,
                    "name": "ticket",
                    "description": "The #id on the ticket",
                    "required": True,
                },
                {"type": STRING, "name": "agent", "description": "@agent", "required": True},
            ],
        },
        {
            "type": SUBCOMMAND,
            "name": "reply",
            "description": "Send a saved reply to the ticket's customer (no name: the list)",
            "options": [
                {"type": STRING, "name": "name", "description": "The saved reply's name"},
                {
                    "type": INTEGER,
                    "name": "ticket",
                    "description": "The #id on the ticket (outside its thread)",
                },
            ],
        },
    ],
}
"""``POST /applications/{id}/commands`` for ``/ondo``."""


def command_words(data: Mapping[str, Any]) -> list[str] | None:
    """The subcommand and its option values as words (``["assign", "3", "<@1…>"]``), from
    an application command's raw ``data``; ``None`` when it is not ``/ondo``."""
    if data.get("name") != COMMAND or int(data.get("type") or CHAT_INPUT) != CHAT_INPUT:
        return None
    options = data.get("options") or []
    sub = options[0] if options and isinstance(options[0], Mapping) else None
    if sub is None:
        return []
    order = {"duty": ("state",), "assign": ("ticket", "agent"), "reply": ("name", "ticket")}
    given = {
        str(o.get("name")): str(o.get("value")).strip()
        for o in sub.get("options") or []
        if isinstance(o, Mapping) and o.get("value") is not None
    }
    name = str(sub.get("name") or "")
    return [name, *(given[o] for o in order.get(name, ()) if given.get(o))]


class DiscordCommands:
    """Registers and answers ``/ondo`` for one client."""

    def __init__(
        self,
        client: discord.Client,
        desk_commands: DeskCommands,
        *,
        desk: DiscordDesk | None,
        may_act: Callable[[discord.Interaction], bool],
    ) -> None:
        self.client = client
        self.commands = desk_commands
        self.desk = desk
        self.may_act = may_act
        self._names: OrderedDict[str, str] = OrderedDict()

    def remember(self, author: discord.abc.User) -> None:
        """Keep the name Discord showed for a customer who wrote, for ``{customer_name}``
        (discord.py keeps no users without the members intent)."""
        key = str(author.id)
        self._names[key] = author.display_name
        self._names.move_to_end(key)
        while len(self._names) > NAMES_KEPT:
            self._names.popitem(last=False)

    async def register(self) -> None:
        """Create (or update) the ``/ondo`` command; a failure is logged."""
        application_id = self.client.application_id
        if application_id is None:
            return
        try:
            await self.client.http.upsert_global_command(application_id, cast(Any, COMMAND_PAYLOAD))
        except discord.HTTPException as exc:
            log.error("the /ondo command could not be registered: %s", describe(exc))

    async def handle(self, interaction: discord.Interaction) -> bool:
        """Answer ``/ondo``; ``False`` for any other interaction."""
        if interaction.type is not discord.InteractionType.application_command:
            return False
        words = command_words(dict(interaction.data or {}))
        if words is None:
            return False
        user = str(interaction.user.id)
        verb = words[0] if words else ""
        if not self.may_act(interaction):
            log.warning("/ondo %s by %s refused: not staff in the agents' channel", verb, user)
            await _tell(interaction, STAFF_ONLY)
            return True
        desk = self.commands
        if verb == "hours":
            await _tell(interaction, desk.hours())
        elif verb == "duty":
            await _tell(interaction, await desk.duty(user, words[1:], _shown))
        elif verb == "assign":
            await self._assign(interaction, words[1:], user)
        elif verb == "reply":
            await self._reply(interaction, words[1:], user)
        else:
            await _tell(interaction, desk.say("assign_usage"))
        return True

    async def _assign(self, interaction: discord.Interaction, words: list[str], user: str) -> None:
        desk = self.commands
        number = ticket_number(words[0]) if words else None
        found = MENTION.fullmatch(words[1]) if len(words) == 2 else None
        if number is None or found is None:
            await _tell(interaction, desk.say("assign_usage"))
            return
        done = await desk.assign(number, found.group(1), user, _shown)
        await _tell(interaction, done.note)
        if done.thread_line is not None and done.ticket is not None:
            await self._note(done.ticket, done.thread_line)

    async def _reply(self, interaction: discord.Interaction, words: list[str], user: str) -> None:
        desk = self.commands
        if not words:
            await _tell(interaction, desk.menu())
            return
        replies = desk.replies()
        if isinstance(replies, str):
            await _tell(interaction, replies)
            return
        try:
            name = replies.get(words[0]).name
        except UnknownReplyError as exc:
            await _tell(interaction, desk.unknown(exc))
            return
        ticket, problem = await self._ticket_of(interaction, words[1] if len(words) > 1 else None)
        if ticket is None:
            await _tell(interaction, problem)
            return
        # Names are their owners' to choose: inert in the customer's thread and the agents'.
        customer = self._customer_name(ticket, await self._owner(ticket))
        sent = await desk.reply(
            ticket,
            name,
            agent=user,
            agent_name=inert(interaction.user.display_name),
            customer_name=customer and inert(customer),
            event_id=f"ondo-reply:{interaction.id}",
        )
        await _tell(interaction, sent.note)
        if sent.result == "relayed" and ticket.agent is None and self.desk is not None:
            # Answering takes the ticket over: the ticket shows it, as after a typed answer.
            await self.desk.update_ticket(ticket, taken_status(user), resolvable=True)
        if sent.text is not None:
            line = desk.say("reply_line", agent=_shown(user), name=name)
            quoted = "\n".join(f"> {part}" for part in sent.text.splitlines())
            await self._note(ticket, f"{line}\n{quoted}")

    async def _ticket_of(
        self, interaction: discord.Interaction, number: str | None
    ) -> tuple[Handoff | None, str]:
        """The ticket named by ``number``, else the one whose thread the command is used in."""
        desk = self.commands
        if number is None:
            channel = interaction.channel
            here = (
                await desk.store.handoff_by_thread(thread_ref(channel.id))
                if isinstance(channel, discord.Thread)
                else None
            )
            if here is None:
                return None, desk.say("reply_where")
            number = str(here.id)
        ticket, problem = await desk.ticket(ticket_number(number))
        return ticket, problem or ""

    async def _owner(self, ticket: Handoff) -> str | None:
        return await self.commands.store.conversation_owner(ticket.conversation_key)

    def _customer_name(self, ticket: Handoff, owner: str | None) -> str | None:
        """The name Discord shows for the ticket's customer, if Ondo has seen them."""
        if owner is None or not owner.isdecimal():
            return None
        if platform_of(ticket.conversation_key) != PLATFORM:
            return None
        if owner in self._names:
            return self._names[owner]
        person = self.client.get_user(int(owner))
        return person.display_name if person is not None else None

    async def _note(self, ticket: Handoff, text: str) -> None:
        if self.desk is None or not ticket.thread_ref:
            return
        try:
            await self.desk.post_in_thread(ticket.thread_ref, text)
        except Exception as exc:
            log.error("note on ticket #%d failed: %s", ticket.id, describe(exc))


def _shown(user: str) -> str:
    """``<@user>`` for a Discord user id (pings nobody: no mentions allowed), else inert."""
    return mention(user) or inert(user)


async def _tell(interaction: discord.Interaction, text: str) -> None:
    try:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException as exc:
        log.warning("private answer to /ondo failed: %s", describe(exc))
