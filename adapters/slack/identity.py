"""Who writes on Slack: staff or a customer, decided from Slack's facts, never from the text.

Staff are full members of the workspace that installed Ondo writing in one of the internal
help channels (``ONDO_SLACK_STAFF_CHANNELS``, and the agents' channel). Not staff, whatever
the channel: guests (``is_restricted`` / ``is_ultra_restricted``), bots and app users,
deactivated accounts, and people of another organisation in a Slack Connect channel (their
``team_id``, or the event's ``user_team`` / ``source_team``, is not the installing team).
Everywhere else (DMs, public channels) everyone is a customer, full members too: what they
see must be what customers see. ``users.info`` answers are cached for a bounded time; when
Slack cannot be asked (an error, a timeout) the person is a customer: it fails closed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.types import Role

log = logging.getLogger("ondo.slack.identity")

USERS_TTL_SECONDS = 600.0
"""How long what ``users.info`` said about a person is trusted (a guest made a member, or a
member deactivated, counts within this)."""
USERS_MAX_ENTRIES = 10_000
LOOKUP_TIMEOUT_SECONDS = 1.5
"""The lookup runs before Slack gets its acknowledgement (3 s): past this, a customer."""
FAILURE_TTL_SECONDS = 30.0
"""After a failed lookup the person is a customer for this long before Slack is asked again."""


@dataclass(frozen=True)
class Member:
    """What ``users.info`` says about a person, reduced to what staff depends on."""

    team_id: str
    full_member: bool
    """Not a guest (single- or multi-channel), not a bot or app user, not deactivated."""

    @classmethod
    def of(cls, user: Mapping[str, Any]) -> Member:
        """The facts of a ``users.info`` ``user`` object. The guest flags must be there and
        false; a user object without its team cannot be placed in the installing workspace."""
        guest = any(
            user.get(flag) is not False for flag in ("is_restricted", "is_ultra_restricted")
        )
        other = any(user.get(flag) for flag in ("is_bot", "is_app_user", "deleted"))
        team = user.get("team_id")
        if not isinstance(team, str) or not team:
            return cls("", False)
        return cls(team, not guest and not other)


def installing_team(body: Mapping[str, Any]) -> str | None:
    """The workspace that installed Ondo and receives this event: the body's ``team_id``,
    which every authorization must agree with; ``None`` when unknown or inconsistent."""
    team = body.get("team_id")
    if not isinstance(team, str) or not team:
        return None
    for auth in body.get("authorizations") or ():
        if not isinstance(auth, Mapping) or auth.get("team_id") not in (None, team):
            return None
    return team


class SlackStaff:
    """Decides a Slack message's :data:`bot.types.Role` (``staff`` or ``customer``)."""

    def __init__(
        self,
        client: AsyncWebClient,
        channels: Collection[str],
        *,
        ttl: float = USERS_TTL_SECONDS,
        max_entries: int = USERS_MAX_ENTRIES,
        timeout: float = LOOKUP_TIMEOUT_SECONDS,
        failure_ttl: float = FAILURE_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.channels = frozenset(channels)
        self.ttl = ttl
        self.max_entries = max_entries
        self.timeout = timeout
        self.failure_ttl = failure_ttl
        self.clock = clock
        self._cache: OrderedDict[str, tuple[float, Member | None]] = OrderedDict()
        self._warned: dict[str, float] = {}

    async def role_of(self, body: Mapping[str, Any], event: Mapping[str, Any]) -> Role:
        """``staff`` for a full member of the installing workspace writing in a staff
        channel; ``customer`` for everyone and everywhere else."""
        channel, user = event.get("channel"), event.get("user")
        if channel not in self.channels or not isinstance(user, str) or not user:
            return "customer"
        team = installing_team(body)
        if team is None:
            return "customer"
        # Slack Connect: a person of another organisation carries their own team.
        if any(event.get(name) not in (None, team) for name in ("user_team", "source_team")):
            return "customer"
        member = await self.member(user)
        if member is None or not member.full_member or member.team_id != team:
            return "customer"
        return "staff"

    async def member(self, user: str) -> Member | None:
        """What ``users.info`` says about ``user`` (cached); ``None`` when Slack could not say."""
        now = self.clock()
        cached = self._cache.get(user)
        if cached is not None and cached[0] > now:
            self._cache.move_to_end(user)
            return cached[1]
        member = await self._lookup(user, now)
        ttl = self.ttl if member is not None else self.failure_ttl
        self._cache[user] = (now + ttl, member)
        self._cache.move_to_end(user)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return member

    async def _lookup(self, user: str, now: float) -> Member | None:
        try:
            async with asyncio.timeout(self.timeout):
                answer = await self.client.users_info(user=user)
            found = answer.get("user")
            if not isinstance(found, Mapping):
                raise ValueError("users.info answered without a user")
            return Member.of(found)
        except Exception as exc:  # fail closed: whoever Slack cannot vouch for is a customer
            self._warn(user, now, exc)
            return None

    def _warn(self, user: str, now: float, exc: Exception) -> None:
        if self._warned.get(user, -1.0) > now:
            return
        if len(self._warned) >= self.max_entries:
            self._warned = {u: t for u, t in self._warned.items() if t > now}
        self._warned[user] = now + self.ttl
        reason = exc.response.get("error") if isinstance(exc, SlackApiError) else None
        log.warning(
            "users.info for %s failed (%s); treated as a customer",
            user,
            reason or type(exc).__name__,
        )
