"""The handoff state machine: every allowed transition, every forbidden one, and who speaks."""

from __future__ import annotations

from typing import get_args

import pytest

from bot.conversation.handoff import Event, InvalidTransition, bot_speaks, next_state, sources
from bot.types import State

STATES: tuple[State, ...] = get_args(State)
EVENTS: tuple[Event, ...] = get_args(Event)

ALLOWED: dict[tuple[State, Event], State] = {
    ("bot", "escalate"): "waiting_human",
    ("bot", "customer_message"): "bot",
    ("bot", "close"): "closed",
    ("waiting_human", "take"): "human",
    ("waiting_human", "agent_reply"): "human",
    ("waiting_human", "customer_message"): "waiting_human",
    ("waiting_human", "resolve"): "bot",
    ("waiting_human", "close"): "closed",
    ("human", "take"): "human",
    ("human", "agent_reply"): "human",
    ("human", "customer_message"): "human",
    ("human", "resolve"): "bot",
    ("human", "close"): "closed",
    ("closed", "customer_message"): "bot",
    ("closed", "close"): "closed",
}
FORBIDDEN = [(s, e) for s in STATES for e in EVENTS if (s, e) not in ALLOWED]


def test_tables_cover_every_pair() -> None:
    assert len(STATES) == 4
    assert len(EVENTS) == 6
    assert len(ALLOWED) + len(FORBIDDEN) == 24
    assert len(FORBIDDEN) == 9


@pytest.mark.parametrize(("state", "event", "after"), [(s, e, a) for (s, e), a in ALLOWED.items()])
def test_allowed_transition(state: State, event: Event, after: State) -> None:
    assert next_state(state, event) == after


@pytest.mark.parametrize(("state", "event"), FORBIDDEN)
def test_forbidden_transition_raises(state: State, event: Event) -> None:
    with pytest.raises(InvalidTransition) as caught:
        next_state(state, event)
    message = str(caught.value)
    assert event.replace("_", " ") in message
    assert repr(state) in message


def test_forbidden_examples() -> None:
    # An agent cannot pick up a conversation nobody escalated, nor a closed one.
    for state, event in [("bot", "take"), ("closed", "agent_reply"), ("bot", "resolve")]:
        with pytest.raises(InvalidTransition):
            next_state(state, event)  # type: ignore[arg-type]
    assert issubclass(InvalidTransition, ValueError)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ("escalate", ("bot",)),
        ("take", ("waiting_human", "human")),
        ("agent_reply", ("waiting_human", "human")),
        ("resolve", ("waiting_human", "human")),
        ("close", ("bot", "waiting_human", "human", "closed")),
        ("customer_message", ("bot", "waiting_human", "human", "closed")),
    ],
)
def test_sources(event: Event, expected: tuple[State, ...]) -> None:
    assert sorted(sources(event)) == sorted(expected)
    for state in sources(event):
        next_state(state, event)  # every source really allows the event


@pytest.mark.parametrize(
    ("state", "speaks"),
    [("bot", True), ("closed", True), ("waiting_human", False), ("human", False)],
)
def test_bot_speaks(state: State, speaks: bool) -> None:
    assert bot_speaks(state) is speaks


def test_full_handoff_round_trip() -> None:
    state: State = "bot"
    for event in ("escalate", "customer_message", "agent_reply", "agent_reply", "resolve"):
        state = next_state(state, event)  # type: ignore[arg-type]
    assert state == "bot"
    assert next_state(next_state("human", "close"), "customer_message") == "bot"
