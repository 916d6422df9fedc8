"""The agents' desk commands both desks share: ``/ondo hours``, ``duty``, ``assign``, ``reply``.

Slack (``adapters.slack.app``) and Discord (``adapters.discord.commands``) parse their own
command payloads and mentions, check that the caller is staff, and post; what the commands
mean lives here once: the texts answered to the agent (in the agents' language,
``ONDO_AGENT_LANGUAGE``, else English), the store calls (``store.desk``), and the saved reply
rendered in the *customer's* language and relayed with
:meth:`bot.conversation.routing.Router.agent_message` as that agent, so it is recorded and
delivered exactly like a typed reply (and, keyed by the command's id, sent once).

The desk files are read at each command (``desk.yaml``, ``replies.yaml`` at the top of the
first knowledge folder), so an edited file counts at once; a broken one is a one-line answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.conversation.facts import extract_facts
from bot.conversation.routing import AgentResult, Router, platform_of
from bot.desk.config import DeskConfigError, desk_config_for
from bot.desk.hours import BusinessHours, NeverOpenError
from bot.desk.replies import (
    SavedReplies,
    SavedRepliesError,
    UnknownReplyError,
    saved_replies_for,
)
from bot.storage.records import Handoff
from bot.types import Language
from knowledge.language import detect_language

log = logging.getLogger("ondo.desk")

FACT_MESSAGES = 50
"""How many of the customer's latest messages are searched for an order number."""

TEXTS: dict[str, dict[Language, str]] = {
    "open_now": {"ko": "지금은 상담 시간이에요.", "en": "The desk is open now."},
    "closed_now": {"ko": "지금은 상담 시간이 아니에요.", "en": "The desk is closed now."},
    "closed_until": {
        "ko": "지금은 상담 시간이 아니에요 (다음 상담: {when}).",
        "en": "The desk is closed now (open again {when}).",
    },
    "never_open": {
        "ko": "desk.yaml에 상담 시간이 하나도 없어요.",
        "en": "desk.yaml gives no opening hours at all.",
    },
    "broken_file": {"ko": "설정 파일 오류: {error}", "en": "Desk settings broken: {error}"},
    "duty_on": {"ko": "이제 근무 중이에요.", "en": "You are on duty now."},
    "duty_off": {"ko": "근무를 마쳤어요.", "en": "You are off duty now."},
    "duty_was_on": {"ko": "이미 근무 중이에요.", "en": "You were already on duty."},
    "duty_was_off": {"ko": "이미 근무 중이 아니에요.", "en": "You were already off duty."},
    "duty_list": {"ko": "근무 중: {agents}", "en": "On duty: {agents}"},
    "duty_nobody": {"ko": "근무 중인 상담원이 없어요.", "en": "Nobody is on duty."},
    "duty_usage": {
        "ko": "사용법: `/ondo duty on|off` (`/ondo duty`: 근무 중인 상담원).",
        "en": "Usage: `/ondo duty on|off` (`/ondo duty` shows who is on duty).",
    },
    "no_ticket": {"ko": "#{number} 상담 건이 없어요.", "en": "No handoff #{number}."},
    "ticket_closed": {
        "ko": "#{number} 상담 건은 이미 해결됐어요.",
        "en": "Handoff #{number} is resolved already.",
    },
    "assign_usage": {
        "ko": "사용법: `/ondo assign <#> @상담원` (티켓의 번호와 상담원 멘션).",
        "en": "Usage: `/ondo assign <#> @agent` (the ticket's number and a mention).",
    },
    "not_an_agent": {
        "ko": "{agent} 님은 상담원이 아니에요.",
        "en": "{agent} is not one of the agents.",
    },
    "assigned": {"ko": "#{number} 담당: {agent}", "en": "#{number} assigned to {agent}."},
    "assigned_line": {"ko": "담당: {agent} (지정: {by})", "en": "Assigned to {agent} by {by}"},
    "reply_usage": {
        "ko": "사용법: `/ondo reply <이름> <#>`; `/ondo reply`: 저장된 답변 목록.",
        "en": "Usage: `/ondo reply <name> <#>`; `/ondo reply` lists the saved replies.",
    },
    "reply_menu": {
        "ko": "저장된 답변 (`/ondo reply <이름>`):",
        "en": "Saved replies (`/ondo reply <name>`):",
    },
    "reply_none": {
        "ko": "저장된 답변이 없어요 (지식 베이스 폴더의 replies.yaml).",
        "en": "No saved replies (replies.yaml in the knowledge folder).",
    },
    "reply_unknown": {"ko": "`{name}` 답변이 없어요.", "en": "No saved reply `{name}`."},
    "did_you_mean": {"ko": " 혹시: {names}?", "en": " Did you mean {names}?"},
    "reply_where": {
        "ko": "티켓 스레드에서 쓰거나 번호를 붙여 주세요: `/ondo reply <이름> <#>`.",
        "en": "Use it in a ticket thread, or give the number: `/ondo reply <name> <#>`.",
    },
    "reply_sent": {
        "ko": "#{number}: `{name}` 답변을 고객에게 보냈어요.",
        "en": "#{number}: sent `{name}` to the customer.",
    },
    "reply_line": {
        "ko": "{agent} 님이 저장된 답변 `{name}`을 보냈어요:",
        "en": "{agent} sent the saved reply `{name}`:",
    },
    "reply_duplicate": {
        "ko": "#{number}: 이 명령은 이미 처리했어요.",
        "en": "#{number}: this command was handled already.",
    },
    "reply_not_sent": {
        "ko": "#{number}: 보내지 못했어요 (티켓 스레드를 확인해 주세요).",
        "en": "#{number}: not sent (see the ticket thread).",
    },
}
"""What the desk commands answer, per agents' language (``{…}`` are filled by the caller)."""


def say(key: str, language: Language, **values: object) -> str:
    """The text ``key`` in ``language`` with ``values`` filled in."""
    return TEXTS[key][language].format(**values)


def ticket_number(word: str) -> int | None:
    """The handoff id of ``#12`` / ``12``; ``None`` for anything else."""
    number = word.lstrip("#")
    return int(number) if number.isdecimal() and len(number) < 10 else None


@dataclass(frozen=True)
class Assigned:
    """What ``/ondo assign`` did: the caller's answer, and the line for the ticket thread
    (``None``: nothing changed, nothing to post there)."""

    note: str
    thread_line: str | None = None
    ticket: Handoff | None = None


@dataclass(frozen=True)
class Sent:
    """What ``/ondo reply`` did: the caller's answer, the rendered text (``None``: not sent)
    and the relay's result."""

    note: str
    text: str | None = None
    result: AgentResult | None = None


class DeskCommands:
    """The platform-neutral part of the desk commands for the desk on ``platform``."""

    def __init__(
        self,
        router: Router,
        platform: str,
        *,
        kb_paths: Sequence[Path],
        agent_language: Language | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.router = router
        self.store = router.engine.store
        self.platform = platform
        self.kb_paths = tuple(kb_paths)
        self.language: Language = agent_language or "en"
        self.clock = clock

    def say(self, key: str, **values: object) -> str:
        """The text ``key`` in the agents' language."""
        return say(key, self.language, **values)

    # --- /ondo hours ---------------------------------------------------------------------

    def hours(self) -> str:
        """The weekly hours, time zone, next days off, and whether the desk is open now."""
        try:
            hours = BusinessHours(desk_config_for(self.kb_paths))
        except DeskConfigError as exc:
            return self.say("broken_file", error=exc)
        now = self.clock()
        table = hours.describe(now, self.language)
        if hours.is_open(now):
            return f"{table}\n{self.say('open_now')}"
        try:
            when = hours.when_open_text(now, self.language)
        except NeverOpenError:
            return f"{table}\n{self.say('never_open')}"
        if when and self.language == "en" and not when.startswith(("today", "tomorrow")):
            when = f"on {when}"
        state = self.say("closed_until", when=when) if when else self.say("closed_now")
        return f"{table}\n{state}"

    # --- /ondo duty ----------------------------------------------------------------------

    async def duty(self, agent: str, words: Sequence[str], show: Callable[[str], str]) -> str:
        """``duty on|off`` for ``agent``; ``duty`` alone lists who is on duty (each shown
        with ``show``, the platform's mention)."""
        if not words:
            agents = await self.store.desk.on_duty(self.platform)
            if not agents:
                return self.say("duty_nobody")
            return self.say("duty_list", agents=", ".join(show(a.agent) for a in agents))
        choice = words[0].lower()
        if len(words) > 1 or choice not in ("on", "off"):
            return self.say("duty_usage")
        on = choice == "on"
        changed = await self.store.desk.set_duty(self.platform, agent, on, self.clock())
        log.info("%s agent %s %s duty", self.platform, agent, "on" if on else "off")
        if on:
            return self.say("duty_on" if changed else "duty_was_on")
        return self.say("duty_off" if changed else "duty_was_off")

    # --- /ondo assign --------------------------------------------------------------------

    async def ticket(self, number: int | None) -> tuple[Handoff | None, str | None]:
        """The open handoff ``#number``, or the one-line reason there is none."""
        handoff = await self.store.handoff_by_id(number) if number is not None else None
        if handoff is None or platform_of(handoff.thread_ref or "") != self.platform:
            return None, self.say("no_ticket", number=number if number is not None else "?")
        if handoff.resolved_at is not None:
            return None, self.say("ticket_closed", number=handoff.id)
        return handoff, None

    async def assign(
        self, number: int | None, agent: str, by: str, show: Callable[[str], str]
    ) -> Assigned:
        """Make ``agent`` (already checked to be one) the owner of ticket ``#number``."""
        ticket, problem = await self.ticket(number)
        if ticket is None:
            return Assigned(problem or "")
        if not await self.store.desk.assign(ticket.id, agent, self.clock()):
            return Assigned(self.say("ticket_closed", number=ticket.id))
        log.info("handoff #%d assigned to %s by %s", ticket.id, agent, by)
        return Assigned(
            self.say("assigned", number=ticket.id, agent=show(agent)),
            self.say("assigned_line", agent=show(agent), by=show(by)),
            ticket,
        )

    async def take(self, handoff_id: int, agent: str) -> None:
        """Taking a ticket over makes the taker its assignee (a failure is one log line: the
        take itself happened)."""
        try:
            await self.store.desk.assign(handoff_id, agent, self.clock())
        except Exception as exc:
            log.error("handoff #%d not assigned to its taker: %s", handoff_id, type(exc).__name__)

    # --- /ondo reply ---------------------------------------------------------------------

    def replies(self) -> SavedReplies | str:
        """The saved replies, or the one-line answer saying why there are none."""
        try:
            return saved_replies_for(self.kb_paths)
        except SavedRepliesError as exc:
            return self.say("broken_file", error=exc)

    def menu(self) -> str:
        """``/ondo reply`` alone: each saved reply's name and title."""
        replies = self.replies()
        if isinstance(replies, str):
            return replies
        if not replies.replies:
            return self.say("reply_none")
        lines = [f"• `{r.name}` — {r.title}" for r in replies.replies]
        return "\n".join([self.say("reply_menu"), *lines, self.say("reply_usage")])

    def unknown(self, error: UnknownReplyError) -> str:
        """The one line for a name no saved reply has, with the closest names."""
        note = self.say("reply_unknown", name=error.name.replace("`", "'"))
        if error.suggestions:
            names = ", ".join(f"`{n}`" for n in error.suggestions)
            note += self.say("did_you_mean", names=names)
        return note

    async def customer_language(self, key: str) -> Language:
        """The conversation's language, else the one its customer's messages are in."""
        conversation = await self.store.conversation(key, platform_of(key))
        if conversation.language in ("ko", "en"):
            return "ko" if conversation.language == "ko" else "en"
        messages = await self.store.customer_messages(key, FACT_MESSAGES)
        text = " ".join(m.text for m in messages)
        return "ko" if text and detect_language(text) == "ko" else "en"

    async def order_number(self, key: str) -> str | None:
        """The first order number the customer gave in this conversation, if any."""
        messages = await self.store.customer_messages(key, FACT_MESSAGES)
        found = extract_facts(m.text for m in messages).order_numbers
        return found[0] if found else None

    async def reply(
        self,
        ticket: Handoff,
        name: str,
        *,
        agent: str,
        agent_name: str | None,
        customer_name: str | None,
        event_id: str,
    ) -> Sent:
        """Render the saved reply ``name`` for ``ticket``'s customer and relay it as
        ``agent``; ``event_id`` (the command's own id) makes a repeated command a no-op."""
        replies = self.replies()
        if isinstance(replies, str):
            return Sent(replies)
        key = ticket.conversation_key
        try:
            replies.get(name)
        except UnknownReplyError as exc:
            return Sent(self.unknown(exc))
        text = replies.render(
            name,
            await self.customer_language(key),
            customer_name=customer_name,
            order_number=await self.order_number(key),
            agent_name=agent_name or agent,
        )
        result = await self.router.agent_message(
            platform=self.platform,
            event_id=event_id,
            thread_ref=ticket.thread_ref or "",
            agent=agent,
            text=text,
        )
        shown = replies.get(name).name
        if result == "relayed":
            log.info("saved reply %s sent on handoff #%d by %s", shown, ticket.id, agent)
            return Sent(self.say("reply_sent", number=ticket.id, name=shown), text, result)
        if result == "duplicate":
            return Sent(self.say("reply_duplicate", number=ticket.id), None, result)
        return Sent(self.say("reply_not_sent", number=ticket.id), None, result)
