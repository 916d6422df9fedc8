"""The satisfaction question's five buttons on Discord, by custom id (no view kept in memory).

A button's custom id is :func:`bot.desk.csat.button_value` itself (``csat:<handoff id>:<score>``);
:mod:`adapters.discord.csat` handles the clicks, so the buttons of a question asked before a
restart keep working.
"""

from __future__ import annotations

from adapters.discord.components import StaticButtons, button
from bot.desk.csat import SCORES, button_labels, button_value
from bot.types import Language, Reply


class CsatButtons(StaticButtons):
    """Scores 1 to 5 for one handoff, labelled in the customer's language."""

    def __init__(self, handoff_id: int, language: Language) -> None:
        super().__init__(
            button(button_value(handoff_id, score), label=label)
            for score, label in zip(SCORES, button_labels(language), strict=True)
        )


def csat_view(reply: Reply) -> CsatButtons | None:
    """The buttons for ``reply`` when it is the desk's rating question (``raw["csat"]``)."""
    handoff_id = reply.raw.get("csat")
    if isinstance(handoff_id, int) and not isinstance(handoff_id, bool) and handoff_id > 0:
        return CsatButtons(handoff_id, reply.language)
    return None
