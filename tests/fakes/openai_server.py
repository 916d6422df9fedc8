"""A scriptable OpenAI-compatible HTTP server on loopback, for testing real clients offline."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

FAKE_MODEL = "fake-model"


@dataclass(frozen=True)
class _Text:
    content: str | None
    finish_reason: str = "stop"
    delay: float = 0.0


@dataclass(frozen=True)
class _Status:
    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Raw:
    text: str
    content_type: str = "application/json"


_Action = _Text | _Status | _Raw


@dataclass
class _Faults:
    timeout_rate: float
    error_rate: float
    stall: float
    status: int
    rng: random.Random
    answer: Callable[[Mapping[str, Any]], str] | None


class FakeOpenAI:
    """Serves ``POST /v1/chat/completions`` and ``GET /v1/models`` from a script.

    Each chat request consumes the next queued action; with none queued the server answers
    ``"echo: <last user message>"``. ``requests`` holds every chat request body received, and
    ``headers`` the matching request headers.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._script: deque[_Action] = deque()
        self._received = asyncio.Condition()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self._faults: _Faults | None = None
        self.injected: dict[str, int] = {"timeout": 0, "status": 0, "answered": 0}
        """With :meth:`set_faults`: how many requests stalled, failed, and were answered."""

    async def start(self) -> str:
        """Start listening on an ephemeral loopback port; return the ``.../v1`` base URL."""
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        # Cancel handlers whose client went away (timeouts) and don't wait long on shutdown.
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}/v1"
        return self.base_url

    async def stop(self) -> None:
        """Stop listening; later requests get connection refused."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def queue(self, content: str | None, *, finish_reason: str = "stop") -> None:
        """Answer the next request with a 200 completion whose message is ``content``."""
        self._script.append(_Text(content, finish_reason))

    def queue_status(
        self, status: int, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> None:
        """Answer the next request with ``status``, an OpenAI-style error body unless given."""
        self._script.append(_Status(status, body, dict(headers or {})))

    def queue_delay(self, seconds: float, then_text: str) -> None:
        """Wait ``seconds`` before answering the next request with ``then_text``."""
        self._script.append(_Text(then_text, delay=seconds))

    def queue_raw(self, text: str, *, content_type: str = "application/json") -> None:
        """Answer the next request with status 200 and ``text`` as the raw body."""
        self._script.append(_Raw(text, content_type))

    def set_faults(
        self,
        *,
        timeout_rate: float = 0.0,
        error_rate: float = 0.0,
        stall: float = 30.0,
        status: int = 500,
        seed: int = 0,
        answer: Callable[[Mapping[str, Any]], str] | None = None,
    ) -> None:
        """Random faults for requests that find nothing queued (scripted actions go first).

        A ``timeout_rate`` share of them stalls ``stall`` seconds before answering (longer
        than the client's timeout, it times out), an ``error_rate`` share gets HTTP
        ``status``; the rest are answered with ``answer(body)`` (default: the echo).
        :attr:`injected` counts each kind. Seeded, so a run is repeatable.
        """
        self._faults = _Faults(timeout_rate, error_rate, stall, status, random.Random(seed), answer)

    def _chaos(self, body: Mapping[str, Any]) -> _Action | None:
        faults = self._faults
        if faults is None:
            return None
        draw = faults.rng.random()
        text = faults.answer(body) if faults.answer is not None else None
        if draw < faults.timeout_rate:
            self.injected["timeout"] += 1
            return _Text(text or "late", delay=faults.stall)
        if draw < faults.timeout_rate + faults.error_rate:
            self.injected["status"] += 1
            return _Status(faults.status)
        self.injected["answered"] += 1
        return _Text(text) if text is not None else None

    async def wait_for_requests(self, n: int, timeout: float = 5.0) -> None:
        """Wait until at least ``n`` chat requests have been received."""
        async with asyncio.timeout(timeout):
            async with self._received:
                await self._received.wait_for(lambda: len(self.requests) >= n)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.text()
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            body = {"_unparsed": raw}
        async with self._received:
            self.requests.append(body)
            self.headers.append(dict(request.headers))
            self._received.notify_all()

        action = self._script.popleft() if self._script else self._chaos(body)
        if action is None:
            return web.json_response(self._completion(body, f"echo: {_last_user(body)}", "stop"))
        if isinstance(action, _Status):
            error = action.body
            if error is None:
                error = {"error": {"message": f"fake status {action.status}", "type": "fake"}}
            return web.json_response(error, status=action.status, headers=action.headers)
        if isinstance(action, _Raw):
            return web.Response(text=action.text, content_type=action.content_type)
        if action.delay:
            await asyncio.sleep(action.delay)
        return web.json_response(self._completion(body, action.content, action.finish_reason))

    async def _models(self, request: web.Request) -> web.StreamResponse:
        model = {"id": FAKE_MODEL, "object": "model", "created": 0, "owned_by": "ondo-tests"}
        return web.json_response({"object": "list", "data": [model]})

    def _completion(
        self, body: Mapping[str, Any], content: str | None, finish_reason: str
    ) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-fake-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model", FAKE_MODEL)),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }


def _last_user(body: Mapping[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return str(message.get("content", ""))
    return ""
