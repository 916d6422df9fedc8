"""A circuit breaker: after repeated failures, stop calling a dependency for a while."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("ondo.llm")


class CircuitBreaker:
    """Closed: calls go through. ``threshold`` failures in a row open it for ``cooldown``
    seconds, during which :meth:`allow` says no; then one trial call is let through
    (half-open): its success closes the breaker, its failure opens it again."""

    def __init__(
        self,
        *,
        name: str,
        threshold: int = 3,
        cooldown: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._failures = 0
        self._open_until: float | None = None
        self._trial = False

    @property
    def is_open(self) -> bool:
        """Whether calls are being skipped right now."""
        return self._open_until is not None and self._clock() < self._open_until

    def allow(self) -> bool:
        """Whether to make the call now (a half-open breaker allows one trial at a time)."""
        if self._open_until is None:
            return True
        if self._clock() < self._open_until or self._trial:
            return False
        self._trial = True
        return True

    def succeeded(self) -> None:
        """Record a successful call; closes an open breaker."""
        if self._open_until is not None:
            log.warning("%s is answering again; circuit closed", self.name)
        self._failures, self._open_until, self._trial = 0, None, False

    def failed(self) -> None:
        """Record a failed call; opens the breaker at the threshold (or after a failed trial)."""
        self._failures += 1
        if self._trial or self._failures >= self.threshold:
            self._open_until = self._clock() + self.cooldown
            self._trial = False
            log.warning(
                "%s failed %d times in a row; circuit open for %gs (answering without it)",
                self.name,
                self._failures,
                self.cooldown,
            )
