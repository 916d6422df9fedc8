"""The agents' desk in a Slack channel: one ticket message (and its thread) per handoff."""

from __future__ import annotations

import time
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.events import PLATFORM
from adapters.slack.sender import post, text_sections
from bot.engine import HandoffTicket
from bot.store import Handoff

TAKE_ACTION = "ondo_take"
RESOLVE_ACTION = "ondo_resolve"


def thread_ref(channel: str, ts: str) -> str:
    """The router's name of the Slack thread ``ts`` in ``channel``."""
    return f"{PLATFORM}:{channel}:{ts}"


def parse_thread_ref(ref: str) -> tuple[str, str] | None:
    """``(channel, ts)`` of a Slack thread reference; ``None`` for another platform's."""
    platform, _, rest = ref.partition(":")
    channel, _, ts = rest.partition(":")
    return (channel, ts) if platform == PLATFORM and channel and ts else None


class SlackDesk:
    """A :class:`bot.routing.AgentDesk` in the Slack channel ``channel``."""

    platform = PLATFORM

    def __init__(self, client: AsyncWebClient, channel: str) -> None:
        self.client = client
        self.channel = channel

    async def open_ticket(self, ticket: HandoffTicket) -> str | None:
        """Post the ticket with Take over / Resolve; its thread is where agents answer."""
        ts = await post(
            self.client,
            self.channel,
            ticket.summary.splitlines()[0] if ticket.summary else "Handoff",
            blocks=handoff_blocks(ticket),
        )
        return thread_ref(self.channel, ts) if ts else None

    async def post_in_thread(self, ref: str, text: str) -> None:
        """Post ``text`` in the ticket's thread."""
        target = parse_thread_ref(ref)
        if target is None:
            raise ValueError(f"{ref!r} is not a Slack thread")
        await post(self.client, target[0], text, thread_ts=target[1])


def handoff_blocks(ticket: HandoffTicket) -> list[dict[str, Any]]:
    """Block Kit for the agents' channel: the summary and the Take over / Resolve buttons."""
    return [
        *text_sections(ticket.summary),
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"#{ticket.id} · {ticket.reason} · {ticket.intent} · "
                    f"{ticket.emotion.label} · {ticket.language} · <!date^{int(time.time())}"
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
                    "value": ticket.conversation_key,
                },
                {
                    "type": "button",
                    "action_id": RESOLVE_ACTION,
                    "text": {"type": "plain_text", "text": "Resolve"},
                    "value": ticket.conversation_key,
                },
            ],
        },
    ]


def ticket_blocks(
    original: Any, ticket: Handoff | None, key: str, status: str, *, resolvable: bool
) -> list[dict[str, Any]]:
    """The ticket after a click: its content without the old buttons, the status, and the
    Resolve button while it is still open. Without the clicked message's blocks, the content
    is rebuilt from the stored handoff."""
    if isinstance(original, list) and original:
        blocks = [b for b in original if isinstance(b, dict) and b.get("type") != "actions"]
    elif ticket is not None:
        blocks = [
            *text_sections(ticket.summary),
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"#{ticket.id} · {ticket.reason}"}],
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
                        "value": key,
                    }
                ],
            }
        )
    return blocks
