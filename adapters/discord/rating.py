"""👍 / 👎 buttons under Ondo's answers on Discord, by custom id (no view kept in memory).

Custom ids: ``ondo:rate:up:<reply id>`` and ``ondo:rate:down:<reply id>``, where the reply id
is the stored bot reply; :mod:`adapters.discord.review` handles the clicks, so buttons on
answers posted before a restart keep working.
"""

from __future__ import annotations

from adapters.discord.components import StaticButtons, button
from bot.types import Reply

RATE_PREFIX = "ondo:rate:"
UP = "up"
DOWN = "down"


def rate_custom_id(direction: str, reply_id: int) -> str:
    """``ondo:rate:<up|down>:<reply id>``."""
    return f"{RATE_PREFIX}{direction}:{reply_id}"


def parse_rate_custom_id(value: str | None) -> tuple[int, int] | None:
    """``(+1 or -1, reply id)`` of a rating button; ``None`` for any other custom id."""
    if not (value or "").startswith(RATE_PREFIX):
        return None
    direction, _, number = (value or "").removeprefix(RATE_PREFIX).partition(":")
    if direction not in (UP, DOWN) or not number.isdecimal():
        return None
    return (1 if direction == UP else -1), int(number)


class RatingButtons(StaticButtons):
    """👍 and 👎 for one answer."""

    def __init__(self, reply_id: int) -> None:
        super().__init__(
            button(rate_custom_id(direction, reply_id), emoji=emoji)
            for direction, emoji in ((UP, "👍"), (DOWN, "👎"))
        )


def rating_view(reply: Reply) -> RatingButtons | None:
    """The buttons for ``reply`` when the engine marked it rateable (an answer from the
    knowledge base, not a handoff notice or an "I'm not sure")."""
    reply_id = reply.raw.get("reply_id")
    if reply.raw.get("rateable") and isinstance(reply_id, int):
        return RatingButtons(reply_id)
    return None
