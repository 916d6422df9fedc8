"""Who owns a new ticket: the assignment policy, pure (it runs inside the store's transaction,
:meth:`bot.storage.interface.DeskRecords.assign_next`).

- ``round_robin``: the on-duty agent whose last assignment is the oldest; agents never
  assigned come first, then ties go by agent id, so the order is total and deterministic.
- ``least_loaded``: the agent with the fewest open tickets; ties by round robin.

Only the desk platform's on-duty agents are offered (the store's query), so an agent who goes
off duty stops getting tickets at once and keeps those they own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.desk.config import Assignment
from bot.storage.desk_records import DutyAgent

Pick = Callable[[Sequence[DutyAgent]], str | None]


def _turn(agent: DutyAgent) -> tuple[bool, float, str]:
    """Round-robin order: never assigned first, then the oldest assignment, then by id."""
    last = agent.last_assigned_at
    return (last is not None, last or 0.0, agent.agent)


def round_robin(agents: Sequence[DutyAgent]) -> str | None:
    """The agent whose turn it is, or ``None`` when nobody is on duty."""
    return min(agents, key=_turn).agent if agents else None


def least_loaded(agents: Sequence[DutyAgent]) -> str | None:
    """The agent with the fewest open tickets (ties by round robin), or ``None``."""
    return min(agents, key=lambda a: (a.load, *_turn(a))).agent if agents else None


def policy(mode: Assignment) -> Pick:
    """The pick function of assignment ``mode``."""
    return least_loaded if mode == "least_loaded" else round_robin
