"""``POST /v1/events``: the shop's signed events into the journeys, on the ``ondo serve`` port.

A request is read with a size cap (``Content-Length`` first, then a bounded read), its
signature checked (:mod:`bot.journeys.signing`), its body validated
(:func:`bot.journeys.events.parse_event`), and only then handed to the sink
(``JourneyService.ingest``). The answer is ``202`` only once the sink returned, i.e. the event is
durably stored; the same ``event_id`` again is ``202`` with ``"duplicate": true``. Every
refusal is a JSON ``{"error": "<one line>"}``.

Log lines name the event id and type only: the payload and the customer are personal data.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

from bot.journeys.events import MAX_BODY, Event, EventError, parse_event
from bot.journeys.signing import SignatureError, verify

log = logging.getLogger("ondo.journeys")

EVENTS_PATH = "/v1/events"
DISABLED = "events are not enabled (ONDO_EVENTS_SECRET)"
_CHUNK = 8192


class IngestResult(Protocol):
    """What the sink answers for one event: whether its ``event_id`` was stored before."""

    @property
    def duplicate(self) -> bool: ...


class EventSink(Protocol):
    """Where accepted events go (``JourneyService``): stored durably before it returns."""

    async def ingest(self, event: Event) -> IngestResult:
        """Store ``event`` (once per ``event_id``) and schedule what it triggers."""
        ...


@dataclass(frozen=True)
class Recorded:
    """:class:`MemorySink`'s answer."""

    duplicate: bool


@dataclass
class MemorySink:
    """A deterministic in-memory :class:`EventSink` for tests: records each new event, answers
    ``duplicate`` for an ``event_id`` seen before, and raises ``fail`` when it is set."""

    events: list[Event] = field(default_factory=list)
    fail: Exception | None = None

    async def ingest(self, event: Event) -> Recorded:
        """Record ``event`` unless its id was recorded before (or raise :attr:`fail`)."""
        if self.fail is not None:
            raise self.fail
        if any(seen.event_id == event.event_id for seen in self.events):
            return Recorded(duplicate=True)
        self.events.append(event)
        return Recorded(duplicate=False)


def events_routes(
    app: web.Application,
    *,
    secret: str | None,
    sink: EventSink,
    clock: Callable[[], float] = time.time,
) -> None:
    """Add ``POST /v1/events`` to ``app``: signed with ``secret`` (``None``: every request is
    ``503``), events handed to ``sink``, timestamps judged against ``clock``."""

    async def receive(request: web.Request) -> web.Response:
        if not secret:
            return _error(503, DISABLED)
        if request.content_type != "application/json":
            return _error(415, "expected Content-Type: application/json")
        body = await _read_capped(request)
        if body is None:
            return _error(413, f"body larger than {MAX_BODY} bytes")
        try:
            verify(secret, request.headers, body, clock())
        except SignatureError as exc:
            log.warning("event refused: %s", exc)
            return _error(401, str(exc))
        try:
            event = parse_event(body)
        except EventError as exc:
            # Only the field's name is logged: a reason may quote part of the body.
            log.warning("event malformed: %s", _short(str(exc).partition(":")[0], 80))
            return _error(400, str(exc))
        try:
            result = await sink.ingest(event)
        except ValueError as exc:  # a value the store refuses (JourneyStoreError): the sender's
            log.warning("event %s (%s) refused by the store", event.event_id, event.type)
            return _error(400, str(exc))
        except Exception as exc:
            log.error(
                "event %s (%s) not stored: %s", event.event_id, event.type, type(exc).__name__
            )
            return _error(503, "the event could not be stored; try again later")
        duplicate = bool(result.duplicate)
        log.info(
            "event %s (%s) %s", event.event_id, event.type, "duplicate" if duplicate else "stored"
        )
        return web.json_response(
            {"event_id": event.event_id, "duplicate": duplicate},
            status=202,
            dumps=_dumps,
        )

    app.router.add_post(EVENTS_PATH, receive)
    app.router.add_route("*", EVENTS_PATH, _not_allowed)


async def _not_allowed(request: web.Request) -> web.Response:
    response = _error(405, f"{request.method} is not allowed here; use POST")
    response.headers["Allow"] = "POST"
    return response


async def _read_capped(request: web.Request) -> bytes | None:
    """The raw body, or ``None`` as soon as it is known to exceed :data:`MAX_BODY` (the rest is
    not read)."""
    declared = request.content_length
    if declared is not None and declared > MAX_BODY:
        return None
    body = bytearray()
    while chunk := await request.content.read(_CHUNK):
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return bytes(body)


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": _short(reason)}, status=status, dumps=_dumps)


def _short(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)
