"""The satisfaction question's five buttons on Slack (Block Kit only; the clicks are
:mod:`adapters.slack.csat`'s).

Each button has its own action id (``ondo_csat_<score>``: Slack wants them unique in a block)
and the value :func:`bot.desk.csat.button_value` (``csat:<handoff id>:<score>``), which is all a
click is judged by.
"""

from __future__ import annotations

import re
from typing import Any, Final

from bot.desk.csat import SCORES, button_labels, button_value
from bot.types import Reply

CSAT_BLOCK: Final = "ondo_csat"
CSAT_ACTION_PREFIX: Final = "ondo_csat_"
CSAT_ACTIONS: Final = re.compile(rf"{CSAT_ACTION_PREFIX}[1-5]")
"""The action ids of the five buttons (Bolt matches a pattern with ``re.search``)."""


def csat_handoff(reply: Reply) -> int | None:
    """The handoff a reply asks the customer to rate (``raw["csat"]``), or ``None``."""
    handoff_id = reply.raw.get("csat")
    if isinstance(handoff_id, int) and not isinstance(handoff_id, bool) and handoff_id > 0:
        return handoff_id
    return None


def csat_row(reply: Reply) -> dict[str, Any] | None:
    """The actions block with the five buttons, score 1 first, for a rating question;
    ``None`` for any other reply."""
    handoff_id = csat_handoff(reply)
    if handoff_id is None:
        return None
    labels = button_labels(reply.language)
    return {
        "type": "actions",
        "block_id": CSAT_BLOCK,
        "elements": [
            {
                "type": "button",
                "action_id": f"{CSAT_ACTION_PREFIX}{score}",
                "text": {"type": "plain_text", "text": label, "emoji": True},
                "value": button_value(handoff_id, score),
            }
            for score, label in zip(SCORES, labels, strict=True)
        ],
    }
