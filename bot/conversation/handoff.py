"""The handoff state machine, shared by every adapter.

``bot`` -> ``waiting_human`` (escalated) -> ``human`` (an agent answered or took over)
-> ``bot`` (resolved, context cleared) or ``closed``. A customer writing into a closed
conversation reopens it with the bot.
"""

from __future__ import annotations

from typing import Literal

from bot.types import State

Event = Literal["escalate", "take", "agent_reply", "resolve", "close", "customer_message"]

_TRANSITIONS: dict[tuple[State, Event], State] = {
    ("bot", "escalate"): "waiting_human",
    ("bot", "customer_message"): "bot",
    ("waiting_human", "take"): "human",
    ("waiting_human", "agent_reply"): "human",
    ("waiting_human", "customer_message"): "waiting_human",
    ("waiting_human", "resolve"): "bot",
    ("human", "take"): "human",
    ("human", "agent_reply"): "human",
    ("human", "customer_message"): "human",
    ("human", "resolve"): "bot",
    ("bot", "close"): "closed",
    ("waiting_human", "close"): "closed",
    ("human", "close"): "closed",
    ("closed", "customer_message"): "bot",
    ("closed", "close"): "closed",
}


class InvalidTransition(ValueError):
    """An event that the conversation's current state does not allow."""


def next_state(state: State, event: Event) -> State:
    """The state after ``event`` in ``state``; raises :class:`InvalidTransition` otherwise."""
    try:
        return _TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTransition(f"cannot {event.replace('_', ' ')} in state {state!r}") from None


def sources(event: Event) -> tuple[State, ...]:
    """States from which ``event`` is allowed (for compare-and-set updates)."""
    return tuple(s for (s, e) in _TRANSITIONS if e == event)


def bot_speaks(state: State) -> bool:
    """Whether the bot may answer the customer in ``state`` (never over a person)."""
    return state in ("bot", "closed")
