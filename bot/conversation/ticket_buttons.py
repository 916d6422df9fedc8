"""What the buttons of a handoff's ticket carry: its number and its random token (``12.9f0c…``).

A handoff's number is never given to another one (migration ``_m10_handoff_ids``), and the
token binds a button to one handoff even where a number was reused before that, or where a
value was made up: a click whose value does not name the handoff with its token is refused,
privately, and logged.
Handoffs recorded before tokens existed have none; their tickets carry the plain number, which
is accepted for them only. Both desks (Slack action values, Discord custom ids) use this form.
"""

from __future__ import annotations

import hmac
import logging

from bot.storage.interface import Store
from bot.storage.records import Handoff

log = logging.getLogger("ondo.tickets")

SEPARATOR = "."
STALE_BUTTON = (
    "This button does not belong to an open handoff any more (it is out of date, or not "
    "Ondo's); nothing changed. `/ondo list` shows the open ones."
)
"""What an agent is told, privately, when a button's value names no handoff of its own."""
_MAX_VALUE = 64


def button_value(handoff_id: int, token: str | None) -> str:
    """The value a ticket button carries: ``<number>.<token>`` (the plain number without a
    token, for handoffs recorded before tokens existed)."""
    return f"{handoff_id}{SEPARATOR}{token}" if token else str(handoff_id)


def handoff_value(handoff: Handoff) -> str:
    """:func:`button_value` of a stored handoff."""
    return button_value(handoff.id, handoff.token)


def parse_button_value(value: str | None) -> tuple[int, str | None] | None:
    """``(number, token)`` of a button value; ``None`` for anything that is not one."""
    if not value or len(value) > _MAX_VALUE:
        return None
    number, separator, token = value.partition(SEPARATOR)
    if not number.isdecimal() or not number.isascii() or (separator and not _is_token(token)):
        return None
    return int(number), token or None


def _is_token(token: str) -> bool:
    return bool(token) and token.isascii() and token.isalnum()


async def clicked_handoff(
    store: Store, value: str | None, *, user: str, what: str
) -> Handoff | None:
    """The handoff a clicked button's ``value`` names, if it exists and the value carries its
    token; ``None`` otherwise, with a warning naming ``user`` and the action ``what``."""
    parsed = parse_button_value(value)
    if parsed is None:
        log.warning("%s by %s refused: %r is not a ticket button's value", what, user, value)
        return None
    number, token = parsed
    handoff = await store.handoff_by_id(number)
    if handoff is None:
        log.warning("%s by %s refused: there is no handoff #%d", what, user, number)
        return None
    if not _same_token(handoff.token, token):
        log.warning(
            "%s by %s refused: the button does not carry the token of handoff #%d "
            "(a stale or made-up button)",
            what,
            user,
            number,
        )
        return None
    return handoff


def _same_token(stored: str | None, given: str | None) -> bool:
    if stored is None or given is None:
        return stored is None and given is None
    return hmac.compare_digest(stored.encode(), given.encode())
