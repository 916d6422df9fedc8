"""The Bolt ``AsyncApp`` for Ondo: listeners that translate, and :class:`SlackAdapter` doing it.

Listeners only hand the raw body to the adapter; the adapter turns it into a
:class:`bot.types.Message` (``events.parse_event``), calls the engine, and posts what the
engine decided: the reply in the customer's thread, the handoff ticket into the agents'
channel, relays both ways, the Take over / Resolve buttons (which then update the ticket), and
the customers' 👍 / 👎 ratings of answers.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from adapters.desk_commands import DeskCommands, ticket_number
from adapters.progress import CountsCompletions
from adapters.slack.csat import SlackCsat
from adapters.slack.desk import (
    RESOLVE_ACTION,
    SUGGEST_EDIT_ACTION,
    SUGGEST_MODAL,
    SUGGEST_SEND_ACTION,
    TAKE_ACTION,
    SlackDesk,
    edit_view,
    parse_submission,
    parse_thread_ref,
    sent_blocks,
    thread_ref,
    ticket_blocks,
)
from adapters.slack.dm import OPT_OUT_ACTION, SlackDirect, parse_opt_out_value
from adapters.slack.events import (
    PLATFORM,
    AgentMessage,
    CustomerMessage,
    is_dm,
    parse_event,
)
from adapters.slack.identity import LOOKUP_TIMEOUT_SECONDS, SlackStaff
from adapters.slack.inert import inert, mention
from adapters.slack.review import SlackReview
from adapters.slack.sender import (
    RATE_DOWN_ACTION,
    RATE_UP_ACTION,
    SlackCustomers,
    SlackSender,
    post,
)
from bot import texts
from bot.conversation.routing import Router, platform_of
from bot.conversation.suggestions import NOTES as SUGGEST_NOTES
from bot.conversation.suggestions import open_handoff_for, send_suggestion
from bot.conversation.ticket_buttons import STALE_BUTTON, clicked_handoff, handoff_value
from bot.corrections.loop import Corrections
from bot.desk.replies import UnknownReplyError
from bot.logs import quiet_slack_signature_dumps
from bot.settings import Settings
from bot.storage.records import Inbound
from bot.types import Language

log = logging.getLogger("ondo.slack")

SLACK_API_URL = "https://slack.com/api/"
AGENT_CACHE_SECONDS = 60.0
INBOUND = "ondo_received"
"""Bolt context key: the event as :meth:`SlackAdapter.receive` classified and recorded it."""
Received = AgentMessage | tuple[CustomerMessage, Inbound] | None
"""An event for Ondo: an agent's message, or a customer's with its record."""
AGENTS_ONLY = "Only members of the agents' channel can do this."
COMMAND = "/ondo"
COMMAND_HELP = (
    "Usage: `/ondo list` (open handoffs), `/ondo take <#>`, `/ondo resolve <#>`, "
    "`/ondo assign <#> @agent`, `/ondo reply <name> <#>` (`/ondo reply`: the saved replies) — "
    "the number is the #id on the ticket; `/ondo hours`, `/ondo duty on|off` (`/ondo duty`: "
    "who is on duty); `/ondo review` lists answers marked wrong."
)
TICKET_VERBS = ("list", "take", "resolve")
DESK_VERBS = ("hours", "duty", "assign", "reply")
MENTION = re.compile(r"<@([UW][A-Z0-9]{1,30})(?:\|[^>]*)?>")
"""A Slack user mention as a slash command's text carries it: ``<@U123>``, ``<@U123|name>``."""
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
RATING_THANKS = {
    "ko": "평가해 주셔서 감사합니다! 더 나은 답변을 드리는 데 참고하겠습니다.",
    "en": "Thanks for rating this answer! It helps us improve.",
}


def api_base_url(url: str | None) -> str:
    """The Web API base ending in ``/``; a bare ``http://host:port`` gets ``/api/``."""
    if not url:
        return SLACK_API_URL
    url = url.rstrip("/")
    if url.count("/") == 2:  # scheme://host[:port] with no path
        url += "/api"
    return url + "/"


def handoff_channel_id(setting: str | None) -> str | None:
    """The Slack channel id of ``ONDO_HANDOFF_CHANNEL=slack:<id>``; ``None`` otherwise."""
    if setting and setting.startswith("slack:"):
        return setting.removeprefix("slack:") or None
    return None


def build_client(settings: Settings) -> AsyncWebClient:
    """The Web API client, with slack_sdk's retry handlers for 429, 5xx and lost connections."""
    return AsyncWebClient(
        token=settings.slack_bot_token,
        base_url=api_base_url(settings.slack_api_url),
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )


class SlackAdapter(CountsCompletions):
    """Translates Slack events, button clicks and ``/ondo`` commands into router calls."""

    review: SlackReview | None = None
    """The correction loop (``/ondo review``, 👎 -> review queue), set by :func:`build_app`."""

    def __init__(
        self,
        router: Router,
        client: AsyncWebClient,
        *,
        handoff_channel: str | None,
        staff: SlackStaff | None = None,
        kb_paths: Sequence[Path] = (),
        agent_language: Language | None = None,
    ) -> None:
        self.router = router
        self.engine = router.engine
        self.client = client
        self.handoff_channel = handoff_channel
        self.staff = staff or SlackStaff(client, ())
        self.desk_commands = DeskCommands(
            router, PLATFORM, kb_paths=kb_paths, agent_language=agent_language
        )
        self._agents: dict[str, float] = {}

    # --- events --------------------------------------------------------------------------

    async def receive(self, body: Mapping[str, Any], bot_user_id: str | None) -> Received:
        """Classify an event and record a customer's message before Slack gets its
        acknowledgement (Slack does not redeliver an acknowledged event, so a crash right after
        the ack would lose it); a failure here answers Slack with an error, and Slack retries.
        ``None``: nothing for Ondo (a channel message in a thread Ondo is not part of too)."""
        parsed = parse_event(body, bot_user_id=bot_user_id, handoff_channel=self.handoff_channel)
        if isinstance(parsed, AgentMessage):
            return parsed
        if not isinstance(parsed, CustomerMessage):
            return None
        key = parsed.message.conversation_key
        if not parsed.addressed and not await self.engine.store.has_conversation(key):
            return None
        legacy = parsed.thread_key
        if legacy is not None and await self.engine.store.has_conversation(legacy):
            # A DM thread from before DMs were keyed by channel: it goes on where it was.
            parsed = replace(parsed, message=replace(parsed.message, conversation_key=legacy))
        event = body["event"]
        role = await self.staff.role_of(body, event)
        item = replace(parsed, message=replace(parsed.message, role=role))
        return item, await self.router.record(item.message, self._is_agent_safely)

    async def on_event(self, received: Received) -> None:
        """Handle one ``message`` / ``app_mention`` event callback, as :meth:`receive`
        classified (and recorded) it before the acknowledgement."""
        try:
            if isinstance(received, AgentMessage):
                await self._agent(received)
            elif received is not None:
                await self._customer(*received)
        finally:
            await self._finished()

    async def _customer(self, item: CustomerMessage, inbound: Inbound) -> None:
        sender = SlackSender(self.client, item.channel, item.thread_ts)
        key = item.message.conversation_key
        try:
            before = (
                await self.engine.store.current_handoff(key) if inbound.role == "agent" else None
            )
            await self.router.customer_message(item.message, sender, inbound=inbound)
            if before is not None and before.agent is None:
                await self._show_taken(key, item.message.user)
        except Exception as exc:
            # Slack has its ack already and will not redeliver: the message stays recorded
            # unanswered, and the router's recovery sweep answers it once Slack takes posts.
            log.error(
                "answer in %s not posted yet (%s: %s); recovery will retry",
                item.channel,
                type(exc).__name__,
                exc,
            )

    async def _show_taken(self, key: str, agent: str) -> None:
        """The ticket shows who took it over by answering in the customer's thread."""
        handoff = await self.engine.store.current_handoff(key)
        target = parse_thread_ref(handoff.thread_ref or "") if handoff else None
        if handoff is None or handoff.agent != agent or target is None:
            return
        status = ticket_status(True, agent)
        blocks = ticket_blocks(None, handoff, handoff_value(handoff), status, resolvable=True)
        await self._edit_ticket(target[0], target[1], blocks, status)

    async def _agent(self, item: AgentMessage) -> None:
        if not await self._is_agent(item.user):
            log.warning(
                "message by %s in the agents' thread %s not relayed: not a member of the "
                "handoff channel",
                item.user,
                item.thread_ts,
            )
            return
        await self.router.agent_message(
            platform=PLATFORM,
            event_id=item.message_id,
            thread_ref=thread_ref(item.channel, item.thread_ts),
            agent=item.user,
            text=item.text,
        )

    # --- buttons -------------------------------------------------------------------------

    async def on_action(self, body: Mapping[str, Any]) -> None:
        """Handle a Take over / Resolve click from the agents' channel."""
        try:
            await self._action(body)
        finally:
            await self._finished()

    async def _action(self, body: Mapping[str, Any]) -> None:
        action = body["actions"][0]
        action_id, value = str(action["action_id"]), str(action.get("value", ""))
        user = str(body["user"]["id"])
        channel = str(body.get("channel", {}).get("id") or body["container"]["channel_id"])
        thread_ts = str(body.get("container", {}).get("message_ts") or "")
        if not await self._refuse_non_agent(user, channel, action_id):
            return
        key = await self._clicked_conversation(value, user, channel, action_id)
        if key is None:
            return
        taking = action_id == TAKE_ACTION
        moved, note = await (self._take(key, user) if taking else self._resolve(key, user))
        if moved:
            await self._update_ticket(body, value, ticket_status(taking, user), resolvable=taking)
        await post(self.client, channel, note, thread_ts=thread_ts or None)

    async def _clicked_conversation(
        self, value: str, user: str, channel: str, what: str
    ) -> str | None:
        """The conversation of the ticket button's ``value``
        (:mod:`bot.conversation.ticket_buttons`); ``None``, and the agent is told privately, when
        the value names no handoff with its token (stale or made up), or that handoff is resolved
        or no longer the conversation's current one."""
        clicked = await clicked_handoff(self.engine.store, value, user=user, what=what)
        if clicked is None:
            await self._tell(channel, user, STALE_BUTTON)
            return None
        handoff = await open_handoff_for(self.router, clicked.id)
        if handoff is None:
            log.info("%s by %s on the closed handoff #%s ignored", what, user, value)
            await self._tell(channel, user, SUGGEST_NOTES["ticket_closed"])
            return None
        return handoff.conversation_key

    async def _take(self, key: str, user: str) -> tuple[bool, str]:
        """Take the conversation; ``(moved, note for the agents)``."""
        moved = await self.router.take_over(key, user)
        if moved:
            handoff = await self.engine.store.current_handoff(key)
            if handoff is not None:
                await self.desk_commands.take(handoff.id, user)
        return moved, f"<@{user}> took this over." if moved else "Nothing is waiting for a person."

    async def _resolve(self, key: str, user: str) -> tuple[bool, str]:
        """Give it back to the bot (the customer is told); ``(moved, note for the agents)``."""
        moved = await self.router.resolve(key, user)
        return moved, (
            f"<@{user}> resolved this; the bot has the conversation again."
            if moved
            else "This conversation was already back with the bot."
        )

    async def _refuse_non_agent(self, user: str, channel: str, what: str) -> bool:
        """``True`` for a member of the handoff channel; anybody else gets an ephemeral no."""
        if await self._is_agent(user):
            return True
        log.warning("%s by %s refused: not a member of the handoff channel", what, user)
        try:
            await self.client.chat_postEphemeral(channel=channel, user=user, text=AGENTS_ONLY)
        except SlackApiError as exc:
            log.error("refusal to %s in %s failed: %s", user, channel, exc.response.get("error"))
        return False

    async def _update_ticket(
        self, body: Mapping[str, Any], value: str, status: str, *, resolvable: bool
    ) -> None:
        """``chat.update`` the clicked ticket: its status, and Resolve only while it is open."""
        channel = str(body.get("channel", {}).get("id") or body["container"]["channel_id"])
        ts = str(body.get("container", {}).get("message_ts") or "")
        if not ts:
            return
        ticket = await self.engine.store.handoff_by_thread(thread_ref(channel, ts))
        original = (body.get("message") or {}).get("blocks")
        blocks = ticket_blocks(original, ticket, value, status, resolvable=resolvable)
        await self._edit_ticket(channel, ts, blocks, status)

    async def _edit_ticket(
        self, channel: str, ts: str, blocks: list[dict[str, Any]], status: str
    ) -> None:
        try:
            await self.client.chat_update(channel=channel, ts=ts, text=status, blocks=blocks)
        except SlackApiError as exc:
            log.error(
                "chat.update of ticket %s:%s failed: %s", channel, ts, exc.response.get("error")
            )

    # --- suggested reply ---------------------------------------------------------------

    async def on_suggestion(self, body: Mapping[str, Any]) -> None:
        """Handle Send / Edit on a suggested reply in a ticket thread."""
        try:
            await self._suggestion(body)
        finally:
            await self._finished()

    async def _suggestion(self, body: Mapping[str, Any]) -> None:
        action = body["actions"][0]
        action_id, value = str(action["action_id"]), str(action.get("value", ""))
        user = str(body["user"]["id"])
        channel = str(body.get("channel", {}).get("id") or body["container"]["channel_id"])
        ts = str(body.get("container", {}).get("message_ts") or "")
        if not await self._refuse_non_agent(user, channel, action_id):
            return
        clicked = await clicked_handoff(self.engine.store, value, user=user, what=action_id)
        if clicked is None:
            await self._tell(channel, user, STALE_BUTTON)
            return
        if action_id == SUGGEST_SEND_ACTION:
            await self._send_suggestion(clicked.id, user, channel, ts)
            return
        if await open_handoff_for(self.router, clicked.id) is None:
            await self._tell(channel, user, SUGGEST_NOTES["closed"])
            return
        draft = await self.engine.store.suggestion_of(clicked.id) or ""
        try:
            await self.client.views_open(
                trigger_id=str(body.get("trigger_id") or ""),
                view=edit_view(clicked.id, draft, channel, ts, clicked.token),
            )
        except SlackApiError as exc:
            log.error("editor for handoff #%s not opened: %s", value, exc.response.get("error"))

    async def on_view_submission(self, body: Mapping[str, Any]) -> None:
        """Handle the submitted editor of a suggested reply: send the edited text."""
        try:
            submitted = parse_submission(body.get("view"))
            user = str((body.get("user") or {}).get("id") or "")
            if submitted is None:
                return
            value, channel, ts, text = submitted
            if not await self._refuse_non_agent(user, channel, SUGGEST_MODAL):
                return
            store = self.engine.store
            clicked = await clicked_handoff(store, value, user=user, what=SUGGEST_MODAL)
            if clicked is None:
                await self._tell(channel, user, STALE_BUTTON)
                return
            await self._send_suggestion(clicked.id, user, channel, ts, text=text)
        finally:
            await self._finished()

    async def _send_suggestion(
        self, handoff_id: int, user: str, channel: str, ts: str, *, text: str | None = None
    ) -> None:
        """Send (once per handoff); on success the suggestion shows what was sent, and a
        ticket nobody had taken shows who has it now. Otherwise the agent is told why not."""
        sent = await send_suggestion(
            self.router, platform=PLATFORM, handoff_id=handoff_id, agent=user, text=text
        )
        if sent.result != "relayed":
            if sent.result in SUGGEST_NOTES:
                await self._tell(channel, user, SUGGEST_NOTES[sent.result])
            return
        status = f"Sent to the customer by <@{user}>"
        if ts:
            await self._edit_ticket(channel, ts, sent_blocks(sent.text, status), status)
        target = parse_thread_ref(sent.handoff.thread_ref or "") if sent.handoff else None
        if sent.handoff is not None and sent.handoff.agent is None and target is not None:
            fresh = await self.engine.store.handoff_by_id(handoff_id)
            taken = ticket_status(True, user)
            value = handoff_value(fresh) if fresh is not None else str(handoff_id)
            blocks = ticket_blocks(None, fresh, value, taken, resolvable=True)
            await self._edit_ticket(target[0], target[1], blocks, taken)

    # --- /ondo ---------------------------------------------------------------------------

    async def on_command(self, body: Mapping[str, Any]) -> None:
        """Handle ``/ondo list | take <#> | resolve <#> | hours | duty | assign | reply |
        help`` from an agent."""
        try:
            await self._command(body)
        finally:
            await self._finished()

    async def _command(self, body: Mapping[str, Any]) -> None:
        user, channel = str(body.get("user_id", "")), str(body.get("channel_id", ""))
        words = str(body.get("text") or "").split()
        verb = words[0].lower() if words else "help"
        if verb == "review" and self.review is not None:
            await self.review.command(body, words[1:])
            return
        known = verb in TICKET_VERBS or verb in DESK_VERBS
        if not known or not await self._refuse_non_agent(user, channel, f"/ondo {verb}"):
            if not known:
                await self._tell(channel, user, COMMAND_HELP)
            return
        if verb in DESK_VERBS:
            await self._desk_command(verb, words[1:], body, user, channel)
            return
        if verb == "list":
            await self._tell(channel, user, await self._open_tickets())
            return
        number = words[1].lstrip("#") if len(words) > 1 else ""
        ticket = await self.engine.store.handoff_by_id(int(number)) if number.isdigit() else None
        if ticket is None:
            await self._tell(channel, user, f"No handoff #{number or '?'}. {COMMAND_HELP}")
            return
        key, taking = ticket.conversation_key, verb == "take"
        moved, note = await (self._take(key, user) if taking else self._resolve(key, user))
        await self._tell(channel, user, f"#{ticket.id}: {note}")
        target = parse_thread_ref(ticket.thread_ref or "")
        if moved and target is not None:
            await post(self.client, target[0], note, thread_ts=target[1])
            fresh = await self.engine.store.handoff_by_id(ticket.id)
            status = ticket_status(taking, user)
            value = handoff_value(fresh or ticket)
            blocks = ticket_blocks(None, fresh, value, status, resolvable=taking)
            await self._edit_ticket(target[0], target[1], blocks, status)

    async def _desk_command(
        self, verb: str, words: list[str], body: Mapping[str, Any], user: str, channel: str
    ) -> None:
        desk = self.desk_commands
        if verb == "hours":
            await self._tell(channel, user, desk.hours())
        elif verb == "duty":
            await self._tell(channel, user, await desk.duty(user, words, _shown))
        elif verb == "assign":
            await self._assign(words, user, channel)
        else:
            await self._reply(words, body, user, channel)

    async def _assign(self, words: list[str], user: str, channel: str) -> None:
        """``/ondo assign <#> @agent``: the ticket's thread says so, the caller is told."""
        desk = self.desk_commands
        number = ticket_number(words[0]) if words else None
        found = MENTION.fullmatch(words[1]) if len(words) == 2 else None
        if number is None or found is None:
            await self._tell(channel, user, desk.say("assign_usage"))
            return
        agent = found.group(1)
        if not await self._is_agent(agent):
            await self._tell(channel, user, desk.say("not_an_agent", agent=_shown(agent)))
            return
        done = await desk.assign(number, agent, user, _shown)
        await self._tell(channel, user, done.note)
        target = parse_thread_ref(done.ticket.thread_ref or "") if done.ticket else None
        if done.thread_line is not None and target is not None:
            await post(self.client, target[0], done.thread_line, thread_ts=target[1])

    async def _reply(
        self, words: list[str], body: Mapping[str, Any], user: str, channel: str
    ) -> None:
        """``/ondo reply <name> <#>`` (a slash command knows its channel, not its thread, so
        the ticket's number is needed); ``/ondo reply`` alone lists the saved replies."""
        desk = self.desk_commands
        if not words:
            await self._tell(channel, user, desk.menu())
            return
        replies = desk.replies()
        if isinstance(replies, str):
            await self._tell(channel, user, replies)
            return
        try:
            name = replies.get(words[0]).name
        except UnknownReplyError as exc:
            await self._tell(channel, user, desk.unknown(exc))
            return
        number = ticket_number(words[1]) if len(words) == 2 else None
        if number is None:
            await self._tell(channel, user, desk.say("reply_where"))
            return
        ticket, problem = await desk.ticket(number)
        if ticket is None:
            await self._tell(channel, user, problem or "")
            return
        owner = await self.engine.store.conversation_owner(ticket.conversation_key)
        customer = None
        if owner and platform_of(ticket.conversation_key) == PLATFORM:
            # A Slack display name is the customer's to choose: inert wherever it is posted.
            customer = await self._display_name(owner)
        sent = await desk.reply(
            ticket,
            name,
            agent=user,
            agent_name=inert(agent) if (agent := await self._display_name(user)) else None,
            customer_name=inert(customer) if customer else None,
            event_id=f"ondo-reply:{body.get('trigger_id') or secrets.token_hex(8)}",
        )
        await self._tell(channel, user, sent.note)
        target = parse_thread_ref(ticket.thread_ref or "")
        if sent.result == "relayed" and ticket.agent is None and target is not None:
            # Answering took the ticket over: it shows who has it, as after a suggestion.
            fresh = await self.engine.store.handoff_by_id(ticket.id)
            taken = ticket_status(True, user)
            blocks = ticket_blocks(
                None, fresh, handoff_value(fresh or ticket), taken, resolvable=True
            )
            await self._edit_ticket(target[0], target[1], blocks, taken)
        if sent.text is not None and target is not None:
            line = desk.say("reply_line", agent=_shown(user), name=name)
            quoted = "\n".join(f"> {inert(part)}" for part in sent.text.splitlines())
            await post(
                self.client, target[0], f"{line}\n{quoted}", thread_ts=target[1], unfurl=False
            )

    async def _display_name(self, user: str) -> str | None:
        """What Slack shows as ``user``'s name (``None`` when Slack cannot say in time)."""
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT_SECONDS):
                answer = await self.client.users_info(user=user)
        except Exception as exc:
            log.warning("name of %s not found (%s)", user, type(exc).__name__)
            return None
        found = answer.get("user")
        if not isinstance(found, Mapping):
            return None
        profile = found.get("profile") or {}
        for name in (profile.get("display_name"), profile.get("real_name"), found.get("name")):
            if isinstance(name, str) and name.strip():
                return name.strip()
        return None

    async def _open_tickets(self) -> str:
        tickets = await self.engine.store.open_handoffs()
        if not tickets:
            return "No open handoffs."
        lines = [
            f"#{t.id} · {t.reason} · {t.intent or 'other'} · "
            + (f"taken by <@{t.agent}>" if t.agent else "waiting")
            for t in tickets
        ]
        return "Open handoffs:\n" + "\n".join(lines)

    async def _tell(self, channel: str, user: str, text: str) -> None:
        try:
            await self.client.chat_postEphemeral(channel=channel, user=user, text=text)
        except SlackApiError as exc:
            log.error(
                "/ondo answer to %s in %s failed: %s", user, channel, exc.response.get("error")
            )

    # --- opt-out button under a journey DM ---------------------------------------------

    async def on_opt_out(self, body: Mapping[str, Any]) -> None:
        """Handle a click on the opt-out button under a journey DM."""
        try:
            await self._opt_out(body)
        finally:
            await self._finished()

    async def _opt_out(self, body: Mapping[str, Any]) -> None:
        action = body["actions"][0]
        user = str((body.get("user") or {}).get("id") or "")
        container = body.get("container") or {}
        channel = str((body.get("channel") or {}).get("id") or container.get("channel_id") or "")
        parsed = parse_opt_out_value(str(action.get("value", "")))
        if parsed is None or not is_dm(channel):
            log.warning("opt-out click by %s in %s refused: not a DM's button", user, channel)
            return
        category, language, recipient = parsed
        # The value is ours, but only its recipient may act on it: nobody opts out another.
        if user != recipient:
            log.warning("opt-out click in %s refused: %s is not the recipient", channel, user)
            await self._tell(channel, user, OPT_OUT_NOTES["not_yours"][language])
            return
        hook = self.router.opt_out_click
        confirmation = None
        try:
            if hook is not None:
                confirmation = await hook(PLATFORM, user, category, language)
        except Exception as exc:
            log.error("opt-out of %s by %s failed: %s", category, user, type(exc).__name__)
        if confirmation is None:
            await self._tell(channel, user, OPT_OUT_NOTES["unknown"][language])
            return
        log.info("%s opted out of %s with the DM's button", user, category)
        await self._tell(channel, user, confirmation)
        await self._drop_opt_out_button(channel, body.get("message"))

    async def _drop_opt_out_button(self, channel: str, message: object) -> None:
        """Take the used opt-out button off the DM (its text stays as it was). A failure is
        one warning: the opt-out is recorded, and a second click only confirms it again."""
        if not isinstance(message, Mapping) or not isinstance(message.get("ts"), str):
            return
        blocks = message.get("blocks")
        if not isinstance(blocks, list):
            return
        kept = [b for b in blocks if not _is_opt_out_row(b)]
        if len(kept) == len(blocks):
            return
        try:
            await self.client.chat_update(
                channel=channel, ts=message["ts"], text=str(message.get("text") or ""), blocks=kept
            )
        except SlackApiError as exc:
            log.warning(
                "opt-out button left on the DM in %s: %s", channel, exc.response.get("error")
            )

    # --- ratings ----------------------------------------------------------------------

    async def on_rating(self, body: Mapping[str, Any]) -> None:
        """Handle a customer's 👍 / 👎 click on an answer."""
        try:
            await self._rating(body)
        finally:
            await self._finished()

    async def _rating(self, body: Mapping[str, Any]) -> None:
        action = body["actions"][0]
        rating = 1 if action["action_id"] == RATE_UP_ACTION else -1
        user = str(body["user"]["id"])
        value = str(action.get("value", ""))
        if not value.isdigit():
            log.warning(
                "rating %+d by %s refused: %r is not a rateable answer", rating, user, value
            )
            return
        language: Language = (
            "ko" if await self.engine.store.reply_language(int(value)) == "ko" else "en"
        )
        asker = await Corrections(self.engine.store).asker_of(int(value))
        if asker is None:
            log.warning(
                "rating %+d by %s refused: %r is not a rateable answer", rating, user, value
            )
            return
        # Only the customer who asked rates an answer: in a channel anyone sees the buttons.
        if asker != user:
            log.warning("rating %+d of answer %s by %s refused: not the asker", rating, value, user)
            await self._tell_rater(body, user, texts.text("rating.not_yours", language))
            return
        entry_id = await self.engine.store.rate(int(value), user, rating)
        if entry_id is None:
            log.warning(
                "rating %+d by %s refused: %r is not a rateable answer", rating, user, value
            )
            return
        log.info("answer %s (entry %s) rated %+d by %s", value, entry_id, rating, user)
        if rating < 0 and self.review is not None:
            await self.review.thumbs_down(int(value))
        await self._tell_rater(body, user, RATING_THANKS[language])

    async def _tell_rater(self, body: Mapping[str, Any], user: str, message: str) -> None:
        container = body.get("container") or {}
        channel = str((body.get("channel") or {}).get("id") or container.get("channel_id"))
        try:
            await self.client.chat_postEphemeral(
                channel=channel,
                user=user,
                text=message,
                thread_ts=container.get("thread_ts") or None,
            )
        except SlackApiError as exc:
            log.error("answer to a rating in %s failed: %s", channel, exc.response.get("error"))

    async def _is_agent(self, user: str) -> bool:
        """Whether ``user`` is a member of the handoff channel (a yes is trusted for a minute,
        so a busy thread does not cost a ``conversations.members`` call per message)."""
        if self.handoff_channel is None:
            return False
        if time.monotonic() - self._agents.get(user, -AGENT_CACHE_SECONDS) < AGENT_CACHE_SECONDS:
            return True
        if await self._is_member(user):
            self._agents[user] = time.monotonic()
            return True
        self._agents.pop(user, None)
        return False

    async def _is_agent_safely(self, user: str) -> bool:
        """:meth:`_is_agent` for someone writing in another person's thread, before Slack has
        its acknowledgement: bounded, and a failure says "not an agent"."""
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT_SECONDS):
                return await self._is_agent(user)
        except Exception as exc:
            log.warning("membership of %s not checked (%s): a third party", user, exc)
            return False

    async def _is_member(self, user: str) -> bool:
        assert self.handoff_channel is not None
        cursor: str | None = None
        while True:
            page = await self.client.conversations_members(
                channel=self.handoff_channel, cursor=cursor, limit=1000
            )
            if user in (page.get("members") or []):
                return True
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                return False


def _shown(user: str) -> str:
    """``<@user>`` for a Slack user id, else the text made inert."""
    return mention(user) or inert(user)


def ticket_status(taken: bool, user: str) -> str:
    """The status line a ticket shows after Take over / Resolve."""
    return f"{'Taken' if taken else 'Resolved'} by <@{user}>"


def build_app(
    router: Router, settings: Settings, client: AsyncWebClient | None = None
) -> tuple[AsyncApp, SlackAdapter]:
    """The Bolt app with Ondo's listeners, and the adapter behind them. Registers Slack's
    customers and direct messages (journey DMs) with ``router``, and the agents' desk when
    the handoff channel is in Slack."""
    client = client or build_client(settings)
    channel = handoff_channel_id(settings.handoff_channel)
    router.add_customer_side(SlackCustomers(client))
    router.add_direct_messenger(SlackDirect(client))
    if channel is not None:
        router.set_desk(SlackDesk(client, channel, agent_language=settings.agent_language))
    staff = SlackStaff(client, settings.slack_staff_channels)
    adapter = SlackAdapter(
        router,
        client,
        handoff_channel=channel,
        staff=staff,
        kb_paths=settings.kb_paths,
        agent_language=settings.agent_language,
    )
    quiet_slack_signature_dumps()  # a refused request's body holds a customer's message
    app = AsyncApp(
        client=client,
        signing_secret=settings.slack_signing_secret or "",
        logger=logging.getLogger("ondo.slack.bolt"),
    )

    async def record_first(
        body: dict[str, Any], context: AsyncBoltContext, next: Callable[[], Awaitable[None]]
    ) -> None:
        # Middleware runs before Bolt acknowledges an event; listeners run after.
        if body.get("type") == "event_callback":
            context[INBOUND] = await adapter.receive(body, context.bot_user_id)
        await next()

    async def on_event(context: AsyncBoltContext) -> None:
        await adapter.on_event(context.get(INBOUND))

    app.middleware(record_first)

    async def on_action(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await adapter.on_action(body)

    async def on_rating(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await adapter.on_rating(body)

    async def on_command(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await adapter.on_command(body)

    async def on_suggestion(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await adapter.on_suggestion(body)

    async def on_view_submission(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await adapter.on_view_submission(body)

    async def on_opt_out(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await adapter.on_opt_out(body)

    app.event("message")(on_event)
    app.event("app_mention")(on_event)
    app.action(TAKE_ACTION)(on_action)
    app.action(RESOLVE_ACTION)(on_action)
    app.action(RATE_UP_ACTION)(on_rating)
    app.action(RATE_DOWN_ACTION)(on_rating)
    app.command(COMMAND)(on_command)
    app.action(SUGGEST_SEND_ACTION)(on_suggestion)
    app.action(SUGGEST_EDIT_ACTION)(on_suggestion)
    app.view(SUGGEST_MODAL)(on_view_submission)
    app.action(OPT_OUT_ACTION)(on_opt_out)
    adapter.review = SlackReview(
        router.engine,
        client,
        handoff_channel=channel,
        admins=settings.admins,
        is_agent=adapter._is_agent,
        finished=adapter._finished,
    )
    adapter.review.register(app)
    SlackCsat(router, client, finished=adapter._finished).register(app)
    return app, adapter


def _is_opt_out_row(block: object) -> bool:
    """Whether ``block`` is the actions row of a journey DM's opt-out button."""
    if not isinstance(block, Mapping) or block.get("type") != "actions":
        return False
    elements = block.get("elements")
    return isinstance(elements, list) and any(
        isinstance(e, Mapping) and e.get("action_id") == OPT_OUT_ACTION for e in elements
    )
