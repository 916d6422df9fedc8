"""The load balancer in front of Ondo's Slack Events endpoint, as ``bench.load`` simulates it.

Slack delivers every event to one URL; behind it, a load balancer spreads the deliveries over
the replicas that serve Slack: each delivery (a retry too) goes to a random backend that is in
rotation, so a retry may land on another replica than the original. A backend that refuses a
connection is taken out of rotation at once and the delivery goes to the next one (nginx's
``proxy_next_upstream error``); it is put back when its ``/healthz`` answers 200 (an active
health check every second). A backend that dies while it holds a request makes that request
fail (the balancer answers 502, never re-sending a POST that was sent): Slack retries it on its
own schedule. With one backend the balancer is a plain pass-through, as before.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

HEALTH_INTERVAL = 1.0


@dataclass
class Backend:
    """One replica behind the balancer."""

    name: str
    port: int
    in_rotation: bool = True
    deliveries: int = 0
    outstanding: dict[int, Any] = field(default_factory=dict)
    """The ledger entries (``bench.load_world.Sent``) of requests it is answering now, by
    ``id()``."""


class Balancer:
    """Random choice among the backends in rotation, with passive and active health checks."""

    def __init__(self, backends: Sequence[tuple[str, int]], seed: int) -> None:
        self.backends = [Backend(name, port) for name, port in backends]
        self.rng = random.Random(seed)
        self.taken_out = 0
        """How many times a backend was taken out of rotation."""

    @property
    def checked(self) -> bool:
        """Whether backends are taken out of rotation (more than one of them)."""
        return len(self.backends) > 1

    def by_name(self, name: str) -> Backend:
        """The backend of replica ``name``."""
        return next(b for b in self.backends if b.name == name)

    async def post(
        self,
        send: Callable[[int], Awaitable[int | None]],
        sent: Any = None,
    ) -> int | None:
        """Deliver one request with ``send(port)`` (the HTTP status, 0 on timeout, ``None`` when
        the connection was refused or dropped); ``None`` when no backend is in rotation."""
        tried: set[str] = set()
        while True:
            live = [b for b in self.backends if b.name not in tried and b.in_rotation]
            if not live:
                return None
            backend = self.rng.choice(live) if self.checked else live[0]
            tried.add(backend.name)
            backend.deliveries += 1
            if sent is not None:
                backend.outstanding[id(sent)] = sent
            try:
                status = await send(backend.port)
            except aiohttp.ClientConnectorError:
                # Refused before anything was sent: out of rotation, on to the next backend.
                self._take_out(backend)
                continue
            except aiohttp.ClientError:
                self._take_out(backend)
                return 502 if self.checked else None
            finally:
                if sent is not None:
                    backend.outstanding.pop(id(sent), None)
            return status

    def _take_out(self, backend: Backend) -> None:
        if self.checked and backend.in_rotation:
            backend.in_rotation = False
            self.taken_out += 1

    async def health_checks(self, session: aiohttp.ClientSession) -> None:
        """Put a backend back in rotation once its ``/healthz`` answers 200 (runs until
        cancelled)."""
        while True:
            await asyncio.sleep(HEALTH_INTERVAL)
            for backend in self.backends:
                if backend.in_rotation:
                    continue
                url = f"http://127.0.0.1:{backend.port}/healthz"
                try:
                    async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as r:
                        if r.status == 200:
                            backend.in_rotation = True
                except (aiohttp.ClientError, TimeoutError):
                    pass
