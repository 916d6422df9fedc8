"""The agents' desk in a Slack channel: one ticket message (and its thread) per handoff."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.events import PLATFORM
from adapters.slack.inert import inert, mention
from adapters.slack.sender import post, text_sections
from bot.conversation.engine import HandoffTicket
from bot.conversation.ticket_buttons import button_value, parse_button_value
from bot.storage.records import Handoff
from bot.types import Language

log = logging.getLogger("ondo.slack")

TAKE_ACTION = "ondo_take"
RESOLVE_ACTION = "ondo_resolve"
SUGGEST_SEND_ACTION = "ondo_suggest_send"
SUGGEST_EDIT_ACTION = "ondo_suggest_edit"
SUGGEST_MODAL = "ondo_suggest_modal"
SUGGEST_BLOCK = "ondo_suggestion"
REPLY_INPUT_BLOCK = "ondo_reply"
REPLY_INPUT = "text"
MODAL_TEXT_LIMIT = 3000
"""Slack's limit for a plain-text input's value."""
TICKET_EVENT = "ondo_ticket"
"""Message metadata event type of a ticket (payload: its ``handoff_id`` and ``token``)."""
SUGGESTION_EVENT = "ondo_suggestion"
"""Message metadata event type of a ticket's suggested reply (payload: its ``handoff_id``)."""
SEARCH_LIMIT = 1000
"""How many of the agents' channel's latest messages are read for a ticket posted before."""


def thread_ref(channel: str, ts: str) -> str:
    """The router's name of the Slack thread ``ts`` in ``channel``."""
    return f"{PLATFORM}:{channel}:{ts}"


def parse_thread_ref(ref: str) -> tuple[str, str] | None:
    """``(channel, ts)`` of a Slack thread reference; ``None`` for another platform's."""
    platform, _, rest = ref.partition(":")
    channel, _, ts = rest.partition(":")
    return (channel, ts) if platform == PLATFORM and channel and ts else None


class SlackDesk:
    """A :class:`bot.conversation.routing.AgentDesk` in the Slack channel ``channel``."""

    platform = PLATFORM

    def __init__(
        self, client: AsyncWebClient, channel: str, *, agent_language: Language | None = None
    ) -> None:
        self.client = client
        self.channel = channel
        self.agent_language = agent_language

    async def open_ticket(self, ticket: HandoffTicket) -> str | None:
        """Post the ticket with Take over / Resolve; its thread is where agents answer, and
        where the suggested reply goes with Send / Edit. The summary and the suggestion
        carry the customer's words (and a model's): they are posted inert.

        The ticket carries its handoff in the message metadata. On a repeated attempt the
        channel is read first: a ticket Slack took just before a crash (before Ondo noted its
        thread) is adopted, and only its missing suggested reply is posted."""
        found = await self.posted_ticket(ticket) if ticket.attempt > 1 else None
        if found is not None:
            log.info("ticket #%d was already in Slack channel %s", ticket.id, self.channel)
            ts: str | None = found
        else:
            ts = await post(
                self.client,
                self.channel,
                inert(ticket.summary.splitlines()[0]) if ticket.summary else "Handoff",
                blocks=handoff_blocks(ticket),
                metadata={
                    "event_type": TICKET_EVENT,
                    "event_payload": {"handoff_id": ticket.id, "token": ticket.token or ""},
                },
                unfurl=False,
            )
        if not ts:
            return None
        if ticket.suggestion and (found is None or not await self._has_suggestion(ticket, ts)):
            try:
                await post(
                    self.client,
                    self.channel,
                    SUGGESTION_TITLE,
                    thread_ts=ts,
                    blocks=suggestion_blocks(ticket.id, ticket.suggestion, ticket.token),
                    metadata={
                        "event_type": SUGGESTION_EVENT,
                        "event_payload": {"handoff_id": ticket.id},
                    },
                    unfurl=False,
                )
            except Exception as exc:  # the ticket is posted; agents can still type a reply
                log.warning("suggested reply of ticket #%d not posted: %s", ticket.id, exc)
        return thread_ref(self.channel, ts)

    async def posted_ticket(self, ticket: HandoffTicket) -> str | None:
        """The ts of Ondo's ticket for ``ticket`` among the channel's latest messages, if Slack
        has it; ``None`` when it has none or the channel cannot be read (then posting is the
        safer mistake: a second ticket, rather than none)."""

        def page(cursor: str | None) -> Awaitable[Any]:
            return self.client.conversations_history(
                channel=self.channel, include_all_metadata=True, limit=200, cursor=cursor
            )

        def mine(payload: dict[str, Any]) -> bool:
            return payload.get("handoff_id") == ticket.id and (payload.get("token") or None) == (
                ticket.token or None
            )

        return await _find(page, TICKET_EVENT, mine, f"channel {self.channel}")

    async def _has_suggestion(self, ticket: HandoffTicket, ts: str) -> bool:
        def page(cursor: str | None) -> Awaitable[Any]:
            return self.client.conversations_replies(
                channel=self.channel, ts=ts, include_all_metadata=True, limit=200, cursor=cursor
            )

        def mine(payload: dict[str, Any]) -> bool:
            return payload.get("handoff_id") == ticket.id

        where = f"the thread of ticket #{ticket.id}"
        return await _find(page, SUGGESTION_EVENT, mine, where) is not None

    def mention(self, agent_id: str) -> str:
        """A mention of agent ``agent_id`` in a desk post."""
        return f"<@{agent_id}>"

    async def notify(self, agent_id: str, text: str) -> None:
        """DM agent ``agent_id`` Ondo's ``text`` (a new ticket is theirs): ``conversations.open``
        then ``chat.postMessage``. A failure is one warning, never raised: the ticket's line
        in the thread names the owner all the same."""
        try:
            opened = await self.client.conversations_open(users=agent_id)
            channel = opened.get("channel") or {}
            channel_id = channel.get("id") if isinstance(channel, dict) else None
            if not isinstance(channel_id, str) or not channel_id:
                raise ConnectionError("conversations.open answered without a channel id")
            await self.client.chat_postMessage(
                channel=channel_id, text=text, unfurl_links=False, unfurl_media=False
            )
        except SlackApiError as exc:
            log.warning("notification to %s not sent: %s", agent_id, exc.response.get("error"))
        except Exception as exc:
            log.warning("notification to %s not sent: %s", agent_id, type(exc).__name__)

    async def post_in_thread(self, ref: str, text: str) -> None:
        """Post Ondo's own ``text`` (its markup intended) in the ticket's thread."""
        target = parse_thread_ref(ref)
        if target is None:
            raise ValueError(f"{ref!r} is not a Slack thread")
        await post(self.client, target[0], text, thread_ts=target[1])

    async def relay(self, ref: str, author: str | None, text: str) -> None:
        """Post a customer's ``text`` in the ticket's thread, inert, after a mention of
        ``author`` (a Slack user id) or "Customer"."""
        target = parse_thread_ref(ref)
        if target is None:
            raise ValueError(f"{ref!r} is not a Slack thread")
        who = (mention(author) if author else None) or "Customer"
        await post(
            self.client, target[0], f"{who}: {inert(text)}", thread_ts=target[1], unfurl=False
        )


async def _find(
    page: Callable[[str | None], Awaitable[Any]],
    event_type: str,
    matches: Callable[[dict[str, Any]], bool],
    where: str,
) -> str | None:
    """The ts of the first message in ``page``'s pages (at most :data:`SEARCH_LIMIT`
    messages) with metadata of ``event_type`` whose payload ``matches``."""
    cursor: str | None = None
    read = 0
    try:
        while read < SEARCH_LIMIT:
            answer = await page(cursor)
            messages = answer.get("messages") or []
            read += len(messages) or SEARCH_LIMIT
            for message in messages:
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload")
                if (
                    metadata.get("event_type") == event_type
                    and isinstance(payload, dict)
                    and matches(payload)
                ):
                    return str(message.get("ts"))
            cursor = (answer.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
    except SlackApiError as exc:
        log.warning("could not read %s to avoid a duplicate: %s", where, exc.response.get("error"))
    return None


def handoff_blocks(ticket: HandoffTicket) -> list[dict[str, Any]]:
    """Block Kit for the agents' channel: the summary (inert) and the Take over / Resolve
    buttons (their value: :func:`bot.conversation.ticket_buttons.button_value`). The context line's
    values are the engine's own labels, escaped all the same."""
    value = button_value(ticket.id, ticket.token)
    return [
        *text_sections(inert(ticket.summary)),
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": inert(
                        f"#{ticket.id} · {ticket.reason} · {ticket.intent} · "
                        f"{ticket.emotion.label} · {ticket.language} · "
                    )
                    + f"<!date^{int(time.time())}"
                    "^{time}|now>",
                }
            ],
        },
        {
            "type": "actions",
            "block_id": "ondo_handoff",
            "elements": [
                {
                    "type": "button",
                    "action_id": TAKE_ACTION,
                    "text": {"type": "plain_text", "text": "Take over"},
                    "style": "primary",
                    "value": value,
                },
                {
                    "type": "button",
                    "action_id": RESOLVE_ACTION,
                    "text": {"type": "plain_text", "text": "Resolve"},
                    "value": value,
                },
            ],
        },
    ]


def ticket_blocks(
    original: Any, ticket: Handoff | None, value: str, status: str, *, resolvable: bool
) -> list[dict[str, Any]]:
    """The ticket after a click: its content without the old buttons, the status, and the
    Resolve button (carrying ``value``, the handoff's button value) while it is still open.
    Without the clicked message's blocks, the content is rebuilt from the stored handoff."""
    if isinstance(original, list) and original:
        blocks = [b for b in original if isinstance(b, dict) and b.get("type") != "actions"]
    elif ticket is not None:
        blocks = [
            *text_sections(inert(ticket.summary)),
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": inert(f"#{ticket.id} · {ticket.reason}")}],
            },
        ]
    else:
        blocks = []
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": status}]})
    if resolvable:
        blocks.append(
            {
                "type": "actions",
                "block_id": "ondo_handoff",
                "elements": [
                    {
                        "type": "button",
                        "action_id": RESOLVE_ACTION,
                        "text": {"type": "plain_text", "text": "Resolve"},
                        "value": value,
                    }
                ],
            }
        )
    return blocks


SUGGESTION_TITLE = "Suggested reply (Send delivers it to the customer as you):"


def suggestion_blocks(handoff_id: int, text: str, token: str | None = None) -> list[dict[str, Any]]:
    """The suggested reply in the ticket thread, quoted and inert, with **Send** and **Edit**
    (their value: the handoff's button value)."""
    value = button_value(handoff_id, token)
    quoted = _quoted(text)
    return [
        *text_sections(f"*{SUGGESTION_TITLE}*\n{quoted}"),
        {
            "type": "actions",
            "block_id": SUGGEST_BLOCK,
            "elements": [
                {
                    "type": "button",
                    "action_id": SUGGEST_SEND_ACTION,
                    "text": {"type": "plain_text", "text": "Send"},
                    "style": "primary",
                    "value": value,
                },
                {
                    "type": "button",
                    "action_id": SUGGEST_EDIT_ACTION,
                    "text": {"type": "plain_text", "text": "Edit"},
                    "value": value,
                },
            ],
        },
    ]


def sent_blocks(text: str, status: str) -> list[dict[str, Any]]:
    """The suggestion message once sent: the text that reached the customer (inert), and
    ``status``."""
    return [
        *text_sections(_quoted(text)),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": status}]},
    ]


def _quoted(text: str) -> str:
    """``text`` inert, as a mrkdwn block quote (the ``>`` are Ondo's own markup)."""
    return "\n".join(f"> {inert(line)}" if line else ">" for line in text.splitlines())


def edit_view(
    handoff_id: int, text: str, channel: str, message_ts: str, token: str | None = None
) -> dict[str, Any]:
    """The modal in which an agent edits the suggested reply before sending it; the handoff
    and where the suggestion message is travel in ``private_metadata``
    (``<button value>:<channel>:<ts>``)."""
    return {
        "type": "modal",
        "callback_id": SUGGEST_MODAL,
        "private_metadata": f"{button_value(handoff_id, token)}:{channel}:{message_ts}",
        "title": {"type": "plain_text", "text": f"Reply to #{handoff_id}"[:24]},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": REPLY_INPUT_BLOCK,
                "label": {"type": "plain_text", "text": "Reply to the customer"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": REPLY_INPUT,
                    "multiline": True,
                    "max_length": MODAL_TEXT_LIMIT,
                    "initial_value": text[:MODAL_TEXT_LIMIT],
                },
            }
        ],
    }


def parse_submission(view: Any) -> tuple[str, str, str, str] | None:
    """``(handoff's button value, channel, suggestion message ts, text)`` of a submitted edit
    modal; ``None`` when the view is not one of Ondo's."""
    if not isinstance(view, dict) or view.get("callback_id") != SUGGEST_MODAL:
        return None
    value, _, where = str(view.get("private_metadata") or "").partition(":")
    channel, _, ts = where.partition(":")
    values = ((view.get("state") or {}).get("values") or {}).get(REPLY_INPUT_BLOCK) or {}
    text = (values.get(REPLY_INPUT) or {}).get("value")
    if parse_button_value(value) is None or not isinstance(text, str):
        return None
    return value, channel, ts, text
