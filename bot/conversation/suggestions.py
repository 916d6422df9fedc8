"""Sending the suggested reply: the draft (:mod:`bot.conversation.drafting`) an agent sends to the
customer with one click, or edits first.

:func:`send_suggestion` sends a draft (or the agent's edit of it) through
:meth:`bot.conversation.routing.Router.agent_message`, so sending behaves exactly like an agent's
message in the ticket thread: it takes the conversation over, is deduplicated, and a
failure to deliver is reported in the thread. One suggestion per handoff is sent at most once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from bot.conversation.routing import Router
from bot.storage.records import Handoff

log = logging.getLogger("ondo.suggest")

SendResult = Literal[
    "relayed", "duplicate", "refused", "undelivered", "closed", "no_suggestion", "not_a_ticket"
]

NOTES: Mapping[str, str] = {
    "duplicate": "The suggested reply was already sent; nothing was sent again.",
    "closed": (
        "This handoff is closed (resolved, or the conversation has a newer one); nothing was sent."
    ),
    "no_suggestion": "This handoff has no suggested reply; nothing was sent.",
    "ticket_closed": (
        "This handoff is closed (resolved, or the conversation has a newer one); nothing changed."
    ),
    "not_a_ticket": "This is not an open handoff; nothing was sent.",
}
"""What the agent is told after a Send (``refused`` / ``undelivered`` are noted by the
router in the ticket thread)."""


def event_id(handoff_id: int) -> str:
    """The event under which a handoff's suggestion is sent: once per handoff, whether by
    Send or by an edited submission, however often either is clicked or redelivered."""
    return f"suggestion:{handoff_id}"


async def open_handoff_for(router: Router, handoff_id: int) -> Handoff | None:
    """Handoff ``handoff_id`` if it is the open, current handoff of its conversation."""
    store = router.engine.store
    handoff = await store.handoff_by_id(handoff_id)
    if handoff is None or handoff.resolved_at is not None:
        return None
    current = await store.current_handoff(handoff.conversation_key)
    return handoff if current is not None and current.id == handoff.id else None


@dataclass(frozen=True)
class Sent:
    """What became of a Send: the result, the handoff as it was before, the text sent."""

    result: SendResult
    handoff: Handoff | None = None
    text: str = ""


async def send_suggestion(
    router: Router, *, platform: str, handoff_id: int, agent: str, text: str | None = None
) -> Sent:
    """Send handoff ``handoff_id``'s suggested reply (or ``text``, the agent's edit of it) to
    the customer as ``agent``; refused (``closed``) unless it is the conversation's open
    handoff. See the module docstring."""
    store = router.engine.store
    handoff = await store.handoff_by_id(handoff_id)
    if handoff is None or not handoff.thread_ref:
        return Sent("not_a_ticket", handoff)
    if await open_handoff_for(router, handoff_id) is None:
        log.info("suggestion of the closed handoff #%d not sent (by %s)", handoff_id, agent)
        return Sent("closed", handoff)
    body = (text if text is not None else await store.suggestion_of(handoff_id) or "").strip()
    if not body:
        return Sent("no_suggestion", handoff)
    result = await router.agent_message(
        platform=platform,
        event_id=event_id(handoff_id),
        thread_ref=handoff.thread_ref,
        agent=agent,
        text=body,
    )
    if result == "relayed":
        log.info("suggested reply of handoff #%d sent by %s", handoff_id, agent)
    return Sent(result, handoff, body)
