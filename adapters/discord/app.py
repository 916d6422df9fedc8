"""The Discord client for Ondo: gateway events in, router calls out (discord.py).

:class:`DiscordAdapter` turns each message into a :class:`bot.types.Message`
(``events.classify``) for :meth:`bot.conversation.routing.Router.customer_message`, staff messages
in ticket threads into :meth:`~bot.conversation.routing.Router.agent_message`, and Take over /
Resolve clicks into :meth:`~bot.conversation.routing.Router.take_over` /
:meth:`~bot.conversation.routing.Router.resolve`. :func:`run_discord` runs it until asked to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import discord

from adapters.desk_commands import DeskCommands
from adapters.discord.backfill import catch_up, plan
from adapters.discord.commands import DiscordCommands
from adapters.discord.config import DiscordConfig, DiscordConfigError
from adapters.discord.csat import DiscordCsat
from adapters.discord.desk import (
    EDIT,
    EDITED,
    TAKE,
    DiscordDesk,
    edit_modal,
    parse_custom_id,
    parse_suggestion_id,
    resolved_status,
    sent_content,
    submitted_text,
    taken_status,
)
from adapters.discord.dm import OPT_OUT_PREFIX, DiscordDirect, parse_opt_out_id
from adapters.discord.endpoints import discord_endpoints
from adapters.discord.events import (
    PLATFORM,
    AgentMessage,
    CustomerMessage,
    classify,
    from_a_person,
    looks_unreadable,
    thread_ref,
)
from adapters.discord.review import DiscordReview
from adapters.discord.sender import NO_MENTIONS, DiscordCustomers, DiscordSender, describe
from adapters.discord.staff import StaffPolicy
from adapters.progress import CountsCompletions
from bot.conversation.routing import Router
from bot.conversation.suggestions import NOTES as SUGGEST_NOTES
from bot.conversation.suggestions import open_handoff_for, send_suggestion
from bot.conversation.ticket_buttons import STALE_BUTTON, clicked_handoff
from bot.settings import Settings
from bot.storage.records import Handoff
from bot.types import Language

log = logging.getLogger("ondo.discord")

CLOSE_TIMEOUT = 10.0
STAFF_ONLY = "Only Ondo's support staff can do this."
NOTES = {
    "taken": "<@{agent}> took this over.",
    "nothing_waiting": "Nothing is waiting for a person.",
    "resolved": "<@{agent}> resolved this; the bot has the conversation again.",
    "already_back": "This conversation was already back with the bot.",
}
OPT_OUT_NOTES: dict[str, dict[Language, str]] = {
    "not_yours": {
        "ko": "이 버튼은 메시지를 받으신 분만 누를 수 있어요.",
        "en": "Only the person this message was sent to can use this button.",
    },
    "unknown": {
        "ko": "수신거부를 처리하지 못했어요. '수신거부'라고 답장해 주세요.",
        "en": "We couldn't process this. Please reply 'unsubscribe' instead.",
    },
}
"""What a refused or failed opt-out click is told (ephemeral, in the DM's language)."""
MISSING_INTENT = (
    "Discord sends Ondo empty messages: the Message Content intent is missing. Enable it in "
    "the Discord Developer Portal (your application > Bot > Privileged Gateway Intents > "
    "Message Content Intent); until then Ondo only reads DMs and messages that @mention it."
)


def build_client(
    *,
    message_content: bool = True,
    guild_ready_timeout: float = 2.0,
    shards: tuple[tuple[int, ...], int] | None = None,
) -> discord.AutoShardedClient:
    """The discord.py client Ondo runs: auto-sharded (big servers shard on the same code),
    with the guilds, guild messages, DMs and Message Content intents, and no mentions allowed
    by default."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.dm_messages = True
    intents.message_content = message_content
    if shards is not None:
        ids, count = shards
        return discord.AutoShardedClient(
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=guild_ready_timeout,
            shard_ids=list(ids),
            shard_count=count,
        )
    return discord.AutoShardedClient(
        intents=intents,
        allowed_mentions=discord.AllowedMentions.none(),
        guild_ready_timeout=guild_ready_timeout,
    )


class DiscordAdapter(CountsCompletions):
    """Translates one client's Discord events into router calls.

    Registers Discord's customers and direct messages with the router (and the agents' desk,
    when ``ONDO_HANDOFF_CHANNEL`` is ``discord:<channel id>``) once connected.
    """

    def __init__(
        self,
        router: Router,
        client: discord.Client,
        config: DiscordConfig,
        *,
        agent_language: Language | None = None,
        admins: frozenset[str] = frozenset(),
        kb_paths: Sequence[Path] = (),
    ) -> None:
        self.router = router
        self.engine = router.engine
        self.client = client
        self.config = config
        self.staff = StaffPolicy(config.staff_role)
        self.customers = DiscordCustomers(client)
        self.direct = DiscordDirect(client)
        self.desk = (
            DiscordDesk(client, config.staff_channel, agent_language=agent_language)
            if config.staff_channel
            else None
        )
        self.review = DiscordReview(
            self.engine,
            client,
            staff=self.staff,
            staff_channel=config.staff_channel,
            admins=admins,
        )
        self.desk_commands = DeskCommands(
            router, PLATFORM, kb_paths=kb_paths, agent_language=agent_language
        )
        self.commands = DiscordCommands(
            client, self.desk_commands, desk=self.desk, may_act=self._may_act
        )
        self.csat = DiscordCsat(router, client, finished=self._finished)
        self.unhandled = 0
        """Exceptions that escaped an event handler (logged; tests expect none)."""
        self._ready: asyncio.Event | None = None
        self._registered = False
        self._catching_up: asyncio.Task[int] | None = None
        self._warned_unreadable = False  # one adapter per process: warned once per process
        for handler in (self.on_ready, self.on_message, self.on_interaction, self.on_error):
            client.event(handler)

    # --- lifecycle -----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, *, ready: asyncio.Event | None = None) -> None:
        """Connect and serve until ``stop`` is set, then close the connection.

        Raises :class:`DiscordConfigError` when Discord rejects the token or the Message
        Content intent, and ``RuntimeError`` when the connection ends on its own.
        """
        if self.desk is not None and self.router.desk_platform != PLATFORM:
            raise DiscordConfigError(
                f"the router's handoff channel is {self.router.handoff_channel!r}, not "
                f"discord:{self.config.staff_channel}"
            )
        self._ready = ready
        async with contextlib.AsyncExitStack() as held:
            await self._hold_shards(held)
            await self._serve(stop)

    async def _hold_shards(self, held: contextlib.AsyncExitStack) -> None:
        """Take each configured shard's lock in the shared database before connecting, so no
        shard runs in two replicas: a replica asking for a shard another holds waits for it
        (and takes over when that one stops or dies)."""
        if self.config.shards is None:
            return
        ids, count = self.config.shards
        store = self.router.engine.store
        for shard in ids:
            name = f"discord-shard-{shard}-of-{count}"
            lock = await store.exclusive(name, wait=False)
            if lock is None:
                log.warning("Discord shard %d/%d is run by another replica; waiting", shard, count)
                lock = await store.exclusive(name, wait=True)
                assert lock is not None
            await held.enter_async_context(lock)
            log.info("Discord shard %d/%d held here", shard, count)
        await store.replicas.heartbeat(shards=f"{','.join(map(str, ids))}/{count}")

    async def _serve(self, stop: asyncio.Event) -> None:
        async with self.client:
            connection = asyncio.create_task(self.client.start(self.config.token))
            stopping = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait({connection, stopping}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopping.cancel()
                await self.client.close()
                await asyncio.wait({connection}, timeout=CLOSE_TIMEOUT)
            _raise_for(connection, stopped=stop.is_set())

    async def on_ready(self) -> None:
        """Connected (again): register with the router once, then tell ``ready``."""
        if not self._registered:
            self.router.add_customer_side(self.customers)
            self.router.add_direct_messenger(self.direct)
            if self.desk is not None:
                self.router.set_desk(self.desk)
                await self._check_desk()
            await self.review.register_commands()
            await self.commands.register()
            self._registered = True
        user = self.client.user
        log.info(
            "Discord connected as %s (%s), %d server(s)",
            user,
            user.id if user else "?",
            len(self.client.guilds),
        )
        # A fresh session (not a resume): read what was missed while no process listened.
        self._catching_up = asyncio.create_task(self.catch_up())
        if self._ready is not None:
            self._ready.set()

    async def catch_up(self) -> int:
        """Handle customers' messages the gateway will not replay to this new session (see
        :mod:`adapters.discord.backfill`); returns how many messages were read."""
        try:
            catch = await plan(self.engine.store, sorted(self.config.support_channels))
            if catch is None:
                return 0
            read = await catch_up(self.client, catch, self.on_message)
        except Exception:
            log.exception("catching up on missed Discord messages failed")
            return 0
        log.info("caught up on %d Discord message(s) in %d channel(s)", read, len(catch.channels))
        return read

    async def _check_desk(self) -> None:
        assert self.desk is not None
        try:
            await self.desk.channel()
        except Exception as exc:
            log.error("the agents' Discord channel cannot be used: %s", describe(exc))

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        """Log an exception that escaped a handler (discord.py would only print it)."""
        self.unhandled += 1
        log.exception("unhandled error in Discord event %s", event_method)

    # --- messages ------------------------------------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        """Handle one new message (edits arrive as ``on_message_edit`` and are ignored)."""
        me = self.client.user
        if me is None or message.author.id == me.id:
            return  # Ondo's own posts come back through the gateway
        try:
            await self._message(message, me.id)
        finally:
            await self._finished()

    async def _message(self, message: discord.Message, me: int) -> None:
        if not from_a_person(message, me):
            return
        guild = message.guild
        my_role = guild.self_role.id if guild is not None and guild.self_role else None
        if looks_unreadable(message, me, my_role):
            self._warn_unreadable(message)
            return
        channel = await self._channel_of(message)
        if channel is None:
            return
        item = classify(
            message,
            channel,
            me=me,
            my_role=my_role,
            support_channels=self.config.support_channels,
            staff_channel=self.config.staff_channel,
        )
        if isinstance(item, CustomerMessage):
            await self._customer(item, message.author)
        elif isinstance(item, AgentMessage) and isinstance(channel, discord.Thread):
            await self._agent(item, message.author, channel)

    async def _channel_of(self, message: discord.Message) -> discord.abc.MessageableChannel | None:
        channel = message.channel
        if not isinstance(channel, discord.PartialMessageable) or message.guild is None:
            return channel
        # A thread discord.py has not cached (archived until this message): ask for it.
        try:
            fetched = await self.client.fetch_channel(channel.id)
        except discord.HTTPException as exc:
            log.warning("message %s in unknown channel %s: %s", message.id, channel.id, exc)
            return None
        if isinstance(fetched, discord.TextChannel | discord.Thread):
            return fetched
        return None

    def _warn_unreadable(self, message: discord.Message) -> None:
        if self._warned_unreadable:
            log.debug("message %s in channel %s unreadable", message.id, message.channel.id)
            return
        self._warned_unreadable = True
        log.warning(
            "%s (first seen: message %s in channel %s)",
            MISSING_INTENT,
            message.id,
            message.channel.id,
        )

    async def _customer(self, item: CustomerMessage, author: discord.User | discord.Member) -> None:
        key = item.message.conversation_key
        if not item.addressed and not await self.engine.store.has_conversation(key):
            return  # a thread Ondo takes no part in
        sender = DiscordSender(self.client, item.target, thread_name=item.thread_name)
        is_staff = self.is_staff(author)
        message = replace(item.message, role="staff" if is_staff else "customer")
        if not is_staff:
            self.commands.remember(author)

        async def is_agent(_user: str) -> bool:
            return is_staff  # staff in a customer's thread are agents

        try:
            inbound = await self.router.record(message, is_agent)
            before = await self.engine.store.current_handoff(key) if is_staff else None
            await self.router.customer_message(message, sender, inbound=inbound)
            if inbound.role == "agent" and before is not None and before.agent is None:
                await self._show_taken(key, str(author.id))
        except Exception as exc:
            # The gateway does not redeliver: the message stays recorded unanswered, and the
            # router's recovery sweep answers it once Discord takes posts again.
            log.error(
                "answer in %s (Discord channel %s) not posted yet (%s); recovery will retry",
                key,
                item.target.channel_id,
                describe(exc),
            )

    async def _show_taken(self, key: str, agent: str) -> None:
        """The ticket shows who took it over by answering in the customer's thread."""
        handoff = await self.engine.store.current_handoff(key)
        if self.desk is not None and handoff is not None and handoff.agent == agent:
            await self.desk.update_ticket(handoff, taken_status(agent), resolvable=True)

    def is_staff(self, author: discord.User | discord.Member) -> bool:
        """Whether ``author`` is staff (:class:`StaffPolicy`: the staff role, or else the
        moderation permissions in the agents' channel). In a DM Discord sends no member, and
        Ondo does not guess one from a cache it cannot keep current (no members intent): a
        DM is always a customer's."""
        if not isinstance(author, discord.Member):
            return False
        desk = self.config.staff_channel
        channel = author.guild.get_channel(desk) if desk is not None else None
        try:
            permissions = channel.permissions_for(author) if channel else discord.Permissions.none()
        except discord.ClientException:
            permissions = discord.Permissions.none()
        return self.staff.allows(author, permissions)

    async def _agent(
        self, item: AgentMessage, author: discord.User | discord.Member, thread: discord.Thread
    ) -> None:
        ref = thread_ref(item.thread_id)
        ticket = await self.engine.store.handoff_by_thread(ref)
        if ticket is None:
            return  # staff talking in a thread that is no ticket
        if not self.staff.allows(author, _permissions(thread, author)):
            log.warning(
                "message by %s in ticket thread %s (#%d) not relayed: %s",
                author.id,
                item.thread_id,
                ticket.id,
                self.staff.rule,
            )
            return
        if not item.text:
            return
        result = await self.router.agent_message(
            platform=PLATFORM,
            event_id=str(item.message_id),
            thread_ref=ref,
            agent=str(author.id),
            text=item.text,
        )
        if result == "relayed" and ticket.agent is None and self.desk is not None:
            # Answering takes the ticket over: the ticket shows it, as after the button.
            await self.desk.update_ticket(ticket, taken_status(str(author.id)), resolvable=True)

    # --- buttons -------------------------------------------------------------------------

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Handle a click on a ticket's Take over / Resolve button, a satisfaction button,
        ``/ondo`` and the other interactions of :mod:`.review` and the suggested reply (others
        are ignored)."""
        if await self.csat.handle(interaction):
            return
        if await self._command_interaction(interaction):
            return
        if await self._suggestion_interaction(interaction):
            return
        if await self._correction_interaction(interaction):
            return
        if interaction.type is not discord.InteractionType.component:
            return
        if (interaction.custom_id or "").startswith(OPT_OUT_PREFIX):
            try:
                opt_out = parse_opt_out_id(interaction.custom_id)
                if opt_out is None:
                    log.warning(
                        "opt-out click by %s refused: not a button Ondo posts", interaction.user.id
                    )
                else:
                    await self._opt_out(interaction, *opt_out)
            finally:
                await self._finished()
            return
        parsed = parse_custom_id(interaction.custom_id)
        if parsed is None:
            return
        try:
            await self._button(interaction, *parsed)
        finally:
            await self._finished()

    async def _button(self, interaction: discord.Interaction, action: str, value: str) -> None:
        user = interaction.user
        if not self._may_act(interaction):
            log.warning(
                "%s on ticket %s by %s in channel %s refused: %s",
                action,
                value,
                user.id,
                interaction.channel_id,
                self.staff.rule,
            )
            await interaction.response.send_message(STAFF_ONLY, ephemeral=True)
            return
        store = self.engine.store
        ticket = await clicked_handoff(store, value, user=str(user.id), what=action)
        if ticket is None:
            await self._answer(interaction, STALE_BUTTON)
            return
        handoff_id = ticket.id
        try:
            await interaction.response.defer()  # the ticket is edited below, by message id
        except discord.HTTPException as exc:
            log.warning("click on ticket #%d not acknowledged: %s", handoff_id, describe(exc))
        agent = str(user.id)
        if await open_handoff_for(self.router, handoff_id) is None:
            # Resolved, or the conversation has a newer handoff this click must not touch.
            log.info("%s by %s on the closed handoff #%d ignored", action, user.id, handoff_id)
            await self._note(ticket, SUGGEST_NOTES["ticket_closed"])
            return
        if action == TAKE:
            moved = ticket.resolved_at is None and await self.router.take_over(
                ticket.conversation_key, agent
            )
            if moved:
                await self.desk_commands.take(handoff_id, agent)
            note = NOTES["taken" if moved else "nothing_waiting"]
            status = taken_status(agent)
        else:
            moved = await self.router.resolve(ticket.conversation_key, agent)
            note = NOTES["resolved" if moved else "already_back"]
            status = resolved_status(agent)
        if moved and self.desk is not None:
            await self.desk.update_ticket(ticket, status, resolvable=action == TAKE)
        await self._note(ticket, note.format(agent=agent))

    # --- opt-out button under a journey DM ---------------------------------------------

    async def _opt_out(
        self, interaction: discord.Interaction, category: str, language: Language, recipient: int
    ) -> None:
        """The opt-out button: only the DM's recipient, in that DM, opts out of its category;
        the answer is ephemeral, in the DM's language."""
        user = interaction.user.id
        if interaction.guild_id is not None or user != recipient:
            log.warning(
                "opt-out click in channel %s refused: %s is not the recipient",
                interaction.channel_id,
                user,
            )
            await self._answer(interaction, OPT_OUT_NOTES["not_yours"][language])
            return
        hook = self.router.opt_out_click
        confirmation = None
        try:
            if hook is not None:
                confirmation = await hook(PLATFORM, str(user), category, language)
        except Exception as exc:
            log.error("opt-out of %s by %s failed: %s", category, user, type(exc).__name__)
        if confirmation is None:
            await self._answer(interaction, OPT_OUT_NOTES["unknown"][language])
            return
        log.info("%s opted out of %s with the DM's button", user, category)
        await self._answer(interaction, confirmation)
        # The used button comes off the DM (its text stays); failing, a second click only
        # confirms again.
        if interaction.message is not None:
            try:
                await interaction.message.edit(view=None)
            except discord.HTTPException as exc:
                log.warning("opt-out button left on the DM: %s", describe(exc))

    # --- /ondo ---------------------------------------------------------------------------

    async def _command_interaction(self, interaction: discord.Interaction) -> bool:
        """``/ondo hours | duty | assign | reply`` (:mod:`.commands`); ``False`` otherwise."""
        handled = await self.commands.handle(interaction)
        if handled:
            await self._finished()
        return handled

    # --- corrections ---------------------------------------------------------------------

    async def _correction_interaction(self, interaction: discord.Interaction) -> bool:
        """Mark as wrong, its modal, 👍 / 👎 and the review buttons (:mod:`.review`);
        ``False`` for any other interaction."""
        handled = await self.review.handle(interaction)
        if handled:
            await self._finished()
        return handled

    # --- suggested reply ---------------------------------------------------------------

    async def _suggestion_interaction(self, interaction: discord.Interaction) -> bool:
        """Handle Send / Edit on a suggested reply, or its submitted edit modal; ``False``
        for any other interaction."""
        kinds = (discord.InteractionType.component, discord.InteractionType.modal_submit)
        parsed = parse_suggestion_id(interaction.custom_id) if interaction.type in kinds else None
        if parsed is None:
            return False
        try:
            await self._suggestion(interaction, *parsed)
        finally:
            await self._finished()
        return True

    async def _suggestion(self, interaction: discord.Interaction, action: str, value: str) -> None:
        user = interaction.user
        if not self._may_act(interaction):
            log.warning(
                "%s of the suggested reply of %s by %s refused: %s",
                action,
                value,
                user.id,
                self.staff.rule,
            )
            await self._answer(interaction, STAFF_ONLY)
            return
        store = self.engine.store
        clicked = await clicked_handoff(store, value, user=str(user.id), what=action)
        if clicked is None:
            await self._answer(interaction, STALE_BUTTON)
            return
        handoff_id = clicked.id
        if action == EDIT:
            if await open_handoff_for(self.router, handoff_id) is None:
                await self._answer(interaction, SUGGEST_NOTES["closed"])
                return
            draft = await store.suggestion_of(handoff_id) or ""
            modal = edit_modal(handoff_id, draft, clicked.token)
            try:
                await interaction.response.send_modal(modal)
            except discord.HTTPException as exc:
                log.warning("editor for #%d not opened: %s", handoff_id, describe(exc))
            modal.stop()  # its submission is handled here by custom id, not by discord.py
            return
        text = submitted_text(interaction.data) if action == EDITED else None
        agent = str(user.id)
        sent = await send_suggestion(
            self.router, platform=PLATFORM, handoff_id=handoff_id, agent=agent, text=text
        )
        if sent.result != "relayed":
            note = SUGGEST_NOTES.get(sent.result)
            if note is not None:
                await self._answer(interaction, note)
            else:  # the router noted why in the ticket thread
                await self._acknowledge(interaction)
            return
        try:
            # One answer both acknowledges the click and shows what was sent, without buttons.
            await interaction.response.edit_message(
                content=sent_content(sent.text, agent), view=None, allowed_mentions=NO_MENTIONS
            )
        except discord.HTTPException as exc:
            log.warning("suggestion of #%d not marked sent: %s", handoff_id, describe(exc))
        if sent.handoff is not None and sent.handoff.agent is None and self.desk is not None:
            await self.desk.update_ticket(sent.handoff, taken_status(agent), resolvable=True)

    async def _answer(self, interaction: discord.Interaction, text: str) -> None:
        try:
            await interaction.response.send_message(text, ephemeral=True)
        except discord.HTTPException as exc:
            log.warning("answer to an interaction failed: %s", describe(exc))

    async def _acknowledge(self, interaction: discord.Interaction) -> None:
        try:
            await interaction.response.defer()
        except discord.HTTPException as exc:
            log.warning("interaction not acknowledged: %s", describe(exc))

    def _may_act(self, interaction: discord.Interaction) -> bool:
        staff_channel = self.config.staff_channel
        channel = interaction.channel
        in_desk = staff_channel is not None and (
            interaction.channel_id == staff_channel
            or (isinstance(channel, discord.Thread) and channel.parent_id == staff_channel)
        )
        return in_desk and self.staff.allows(interaction.user, interaction.permissions)

    async def _note(self, ticket: Handoff, text: str) -> None:
        if self.desk is None or not ticket.thread_ref:
            return
        try:
            await self.desk.post_in_thread(ticket.thread_ref, text)
        except Exception as exc:
            log.error("note on ticket #%d failed: %s", ticket.id, describe(exc))


def _permissions(
    thread: discord.Thread, user: discord.User | discord.Member
) -> discord.Permissions:
    if not isinstance(user, discord.Member):
        return discord.Permissions.none()
    try:
        return thread.permissions_for(user)
    except discord.ClientException:  # the parent channel is not cached
        return discord.Permissions.none()


def _raise_for(connection: asyncio.Task[None], *, stopped: bool) -> None:
    """Turn how the connection ended into the error :func:`run_discord` raises, if any."""
    if not connection.done():
        connection.cancel()
        return
    error = None if connection.cancelled() else connection.exception()
    if isinstance(error, discord.LoginFailure):
        raise DiscordConfigError(f"Discord rejected DISCORD_TOKEN: {error}") from error
    if isinstance(error, discord.PrivilegedIntentsRequired):
        raise DiscordConfigError(MISSING_INTENT) from error
    if error is not None:
        raise error
    if not stopped:
        raise RuntimeError("the Discord connection closed on its own")


async def run_discord(
    router: Router,
    settings: Settings,
    stop: asyncio.Event,
    *,
    ready: asyncio.Event | None = None,
) -> None:
    """Serve Discord for ``router`` until ``stop`` is set; ``ready`` is set once connected.

    Validates the settings first (:class:`DiscordConfigError` names what is missing), points
    discord.py at ``DISCORD_API_BASE`` / ``DISCORD_GATEWAY_URL`` when set
    (:class:`adapters.discord.endpoints.DiscordEndpointsMoved` if discord.py moved them),
    then registers Discord's customers (and the agents' desk) with ``router`` and runs.
    """
    config = DiscordConfig.from_settings(settings)
    with discord_endpoints(config.api_base, config.gateway_url):
        adapter = DiscordAdapter(
            router,
            build_client(shards=config.shards),
            config,
            agent_language=settings.agent_language,
            admins=settings.admins,
            kb_paths=settings.kb_paths,
        )
        await adapter.run(stop, ready=ready)
