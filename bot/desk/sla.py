"""SLA policy: targets per escalation reason, due instants in business time, which reminder
point has been reached, and the measured times for reports. Pure: instants are passed in.

A handoff gets two reminders per target kind (first response, resolution): at 80 % of the
business time from its creation to the due instant, and at the breach. :func:`reminder_due`
names the furthest point reached, so a caller that keeps one stored row per
(handoff, kind, point) posts each at most once, and one that was down past both posts only
the breach, never a burst.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from bot.desk.config import DEFAULT_SLA, SlaTarget
from bot.desk.hours import BusinessHours
from bot.types import EscalationReason

__all__ = [
    "REMINDER_SHARE",
    "Due",
    "Reminder",
    "breached",
    "due",
    "first_response_seconds",
    "reminder_at",
    "reminder_due",
    "resolution_seconds",
    "targets",
]

Reminder = Literal["80", "breach"]
REMINDER_SHARE = 0.8
"""The share of the business time to the due instant after which the first reminder is due."""


@dataclass(frozen=True)
class Due:
    """When a handoff's first response and its resolution are due (epoch seconds)."""

    first_response_at: float
    resolution_at: float


def targets(
    reason: EscalationReason, sla: Mapping[EscalationReason, SlaTarget] = DEFAULT_SLA
) -> tuple[int, int]:
    """``(first_response_seconds, resolution_seconds)`` of business time for ``reason``."""
    target = sla.get(reason, DEFAULT_SLA[reason])
    return target.first_response, target.resolution


def due(
    created_at: float,
    reason: EscalationReason,
    hours: BusinessHours,
    sla: Mapping[EscalationReason, SlaTarget] | None = None,
) -> Due:
    """The due instants of a handoff created at ``created_at`` (the desk's targets by
    default). A handoff created outside hours starts its clock at the next opening."""
    first, resolution = targets(reason, hours.config.sla if sla is None else sla)
    return Due(hours.add_business(created_at, first), hours.add_business(created_at, resolution))


def reminder_at(created_at: float, due_at: float, hours: BusinessHours) -> float:
    """The instant of the 80 % reminder: that share of the business time from creation to
    ``due_at`` (the due instant itself when there is none)."""
    total = hours.business_seconds(created_at, due_at)
    if total <= 0:
        return due_at
    return min(hours.add_business(created_at, total * REMINDER_SHARE), due_at)


def reminder_due(
    now: float, created_at: float, due_at: float, hours: BusinessHours
) -> Reminder | None:
    """The furthest reminder point reached at ``now``: ``"breach"`` at or after ``due_at``,
    ``"80"`` at or after :func:`reminder_at`, else ``None``. The caller skips it once done
    (and stops asking once the target is met)."""
    if now >= due_at:
        return "breach"
    if now >= reminder_at(created_at, due_at, hours):
        return "80"
    return None


def breached(done_at: float | None, due_at: float, now: float) -> bool:
    """Whether a target was missed: done after ``due_at``, or not done and ``now`` is past it."""
    return (done_at if done_at is not None else now) > due_at


def first_response_seconds(
    created_at: float, first_response_at: float, hours: BusinessHours
) -> float:
    """Business seconds from a handoff's creation to the first person's reply (reports)."""
    return hours.business_seconds(created_at, first_response_at)


def resolution_seconds(created_at: float, resolved_at: float, hours: BusinessHours) -> float:
    """Business seconds from a handoff's creation to its resolution (reports)."""
    return hours.business_seconds(created_at, resolved_at)
