"""``POST /v1/events`` on aiohttp's real server (port 0): signed events are accepted once
stored, everything else is refused with a one-line JSON reason; the documented Python and curl
signing examples really get an event in."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.journeys import signing
from bot.journeys.events import MAX_BODY
from bot.journeys.signing import sign
from bot.journeys.webhook import DISABLED, EVENTS_PATH, MemorySink, events_routes

SECRET = "whsec_test_온도마켓"
NOW = 1_796_646_600.0


class Clock:
    """A controllable clock: the server's idea of now."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def event(event_id: str = "evt-1", language: str = "ko", **changes: Any) -> dict[str, Any]:
    korean = language == "ko"
    body: dict[str, Any] = {
        "event_id": event_id,
        "type": "cart.abandoned",
        "occurred_at": "2026-12-07T10:00:00+09:00",
        "customer": {
            "customer_id": "cust-42",
            "name": "김온도" if korean else "Jamie Park",
            "language": language,
            "time_zone": "Asia/Seoul" if korean else "America/New_York",
            "identities": {"slack": "U0123"},
        },
        "payload": {
            "cart_id": "cart-7",
            "items": [{"name": "유기농 현미 4kg" if korean else "Organic brown rice 4kg"}],
        },
    }
    body.update(changes)
    return body


def encode(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def signed(body: bytes, at: float = NOW, secret: str = SECRET) -> dict[str, str]:
    return {**sign(secret, body, at), "Content-Type": "application/json"}


Serve = Callable[..., Any]


@pytest_asyncio.fixture
async def serve() -> AsyncIterator[Serve]:
    """Starts the webhook on a real server (port 0) and returns a client for it."""
    clients: list[TestClient[web.Request, web.Application]] = []

    async def start(
        sink: MemorySink,
        clock: Callable[[], float] | None = None,
        secret: str | None = SECRET,
    ) -> TestClient[web.Request, web.Application]:
        app = web.Application()
        events_routes(app, secret=secret, sink=sink, clock=clock or Clock())
        client = TestClient(TestServer(app, port=0))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_a_signed_event_is_accepted_once_stored(serve: Serve, language: str) -> None:
    sink = MemorySink()
    client = await serve(sink)
    body = encode(event(language=language))
    response = await client.post(EVENTS_PATH, data=body, headers=signed(body))
    assert response.status == 202
    assert await response.json() == {"event_id": "evt-1", "duplicate": False}
    [stored] = sink.events
    assert stored.event_id == "evt-1"
    assert stored.customer.language == language
    assert stored.customer.name == ("김온도" if language == "ko" else "Jamie Park")
    assert stored.payload["items"] == event(language=language)["payload"]["items"]


async def test_the_same_event_id_again_is_accepted_as_a_duplicate(serve: Serve) -> None:
    sink = MemorySink()
    client = await serve(sink)
    body = encode(event())
    first = await client.post(EVENTS_PATH, data=body, headers=signed(body))
    again = await client.post(EVENTS_PATH, data=body, headers=signed(body))
    assert (first.status, again.status) == (202, 202)
    assert await again.json() == {"event_id": "evt-1", "duplicate": True}
    assert len(sink.events) == 1


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (lambda b: signed(b, secret="another secret"), "signature mismatch"),
        (lambda b: signed(b + b" "), "signature mismatch"),
        (lambda b: signed(b, at=NOW - 301), "stale timestamp"),
        (lambda b: signed(b, at=NOW + 301), "timestamp in the future"),
        (lambda b: {"Content-Type": "application/json"}, "missing X-Ondo-Timestamp"),
        (
            lambda b: {k: v for k, v in signed(b).items() if k != "X-Ondo-Signature"},
            "missing X-Ondo-Signature",
        ),
        (lambda b: {**signed(b), "X-Ondo-Signature": "v1=zz"}, "malformed X-Ondo-Signature"),
    ],
)
async def test_a_bad_signature_is_401_with_a_reason(
    serve: Serve, headers: Callable[[bytes], dict[str, str]], reason: str
) -> None:
    sink = MemorySink()
    client = await serve(sink)
    body = encode(event())
    response = await client.post(EVENTS_PATH, data=body, headers=headers(body))
    assert response.status == 401
    answer = await response.json()
    assert reason in answer["error"]
    assert "\n" not in answer["error"]
    assert sink.events == []


async def test_staleness_follows_the_servers_clock(serve: Serve) -> None:
    clock = Clock(NOW)
    sink = MemorySink()
    client = await serve(sink, clock)
    body = encode(event())
    headers = signed(body, at=NOW)
    clock.now = NOW + 300
    assert (await client.post(EVENTS_PATH, data=body, headers=headers)).status == 202
    clock.now = NOW + 301
    late = await client.post(EVENTS_PATH, data=encode(event("evt-2")), headers=headers)
    assert late.status == 401
    assert "stale timestamp: 301 s old" in (await late.json())["error"]


async def test_a_huge_body_is_413_without_being_read(serve: Serve) -> None:
    sink = MemorySink()
    client = await serve(sink)
    body = encode(event(payload={"note": "가" * MAX_BODY}))
    response = await client.post(EVENTS_PATH, data=body, headers=signed(body))
    assert response.status == 413
    assert "larger than 65536 bytes" in (await response.json())["error"]
    assert sink.events == []


async def test_a_huge_chunked_body_is_413_too(serve: Serve) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 8192

    client = await serve(MemorySink())
    headers = signed(b"irrelevant")
    response = await client.post(EVENTS_PATH, data=chunks(), headers=headers)
    assert response.status == 413


async def test_just_under_the_limit_is_read(serve: Serve) -> None:
    sink = MemorySink()
    client = await serve(sink)
    base = encode(event(payload={"note": ""}))
    body = encode(event(payload={"note": "a" * (MAX_BODY - len(base))}))
    assert len(body) == MAX_BODY
    response = await client.post(EVENTS_PATH, data=body, headers=signed(body))
    assert response.status == 202


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"event_id": "e1", ', "not valid JSON"),
        (b"[]", "expected a JSON object"),
        (b"", "body: empty"),
        ("\ufeff{}".encode()[:2], "not UTF-8"),
        (encode({k: v for k, v in event().items() if k != "customer"}), "customer: required"),
        (encode(event(ocurred_at="2026-12-07T10:00:00Z")), "ocurred_at"),
        (encode(event(occurred_at="2026-12-07T10:00:00")), "has no UTC offset"),
    ],
)
async def test_a_malformed_event_is_400_with_a_reason(
    serve: Serve, body: bytes, reason: str
) -> None:
    sink = MemorySink()
    client = await serve(sink)
    response = await client.post(EVENTS_PATH, data=body, headers=signed(body))
    assert response.status == 400
    answer = await response.json()
    assert reason in answer["error"], answer
    assert "\n" not in answer["error"]
    assert sink.events == []


async def test_an_unknown_event_type_is_accepted_the_sink_decides(serve: Serve) -> None:
    sink = MemorySink()
    client = await serve(sink)
    body = encode(event(type="wishlist.shared"))
    response = await client.post(EVENTS_PATH, data=body, headers=signed(body))
    assert response.status == 202
    assert [e.type for e in sink.events] == ["wishlist.shared"]


async def test_the_store_down_is_503_with_one_log_line_and_no_payload(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    sink = MemorySink(fail=ConnectionError("connection refused by 127.0.0.1:5432"))
    client = await serve(sink)
    body = encode(event())
    with caplog.at_level(logging.INFO, logger="ondo.journeys"):
        response = await client.post(EVENTS_PATH, data=body, headers=signed(body))
    assert response.status == 503
    answer = await response.json()
    assert answer == {"error": "the event could not be stored; try again later"}
    [record] = [r for r in caplog.records if r.name == "ondo.journeys"]
    line = record.getMessage()
    assert "evt-1" in line and "cart.abandoned" in line and "ConnectionError" in line
    assert record.exc_info is None
    assert "김온도" not in line and "cart-7" not in line


async def test_a_value_the_store_refuses_is_400(serve: Serve) -> None:
    client = await serve(MemorySink(fail=ValueError("payload is larger than 65536 bytes")))
    body = encode(event())
    response = await client.post(EVENTS_PATH, data=body, headers=signed(body))
    assert response.status == 400
    assert (await response.json())["error"] == "payload is larger than 65536 bytes"


async def test_logs_never_hold_the_payload(serve: Serve, caplog: pytest.LogCaptureFixture) -> None:
    client = await serve(MemorySink())
    good = encode(event())
    bad_time = encode(event(occurred_at="김온도 cart-7"))
    with caplog.at_level(logging.DEBUG, logger="ondo.journeys"):
        await client.post(EVENTS_PATH, data=good, headers=signed(good))
        await client.post(EVENTS_PATH, data=good, headers=signed(good))
        await client.post(EVENTS_PATH, data=bad_time, headers=signed(bad_time))
        await client.post(EVENTS_PATH, data=good, headers=signed(good, secret="x"))
    lines = [r.getMessage() for r in caplog.records if r.name == "ondo.journeys"]
    assert len(lines) == 4
    assert lines[0] == "event evt-1 (cart.abandoned) stored"
    assert lines[1] == "event evt-1 (cart.abandoned) duplicate"
    for line in lines:
        for private in ("김온도", "cart-7", "유기농", "U0123", "cust-42"):
            assert private not in line


async def test_no_secret_configured_is_503(serve: Serve) -> None:
    sink = MemorySink()
    client = await serve(sink, secret=None)
    body = encode(event())
    response = await client.post(EVENTS_PATH, data=body, headers=signed(body))
    assert response.status == 503
    assert await response.json() == {"error": DISABLED}
    assert "ONDO_EVENTS_SECRET" in DISABLED
    assert sink.events == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_another_method_is_405(serve: Serve, method: str) -> None:
    client = await serve(MemorySink())
    response = await client.request(method, EVENTS_PATH)
    assert response.status == 405
    assert response.headers["Allow"] == "POST"
    assert "use POST" in (await response.json())["error"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_another_content_type_is_415(serve: Serve, content_type: str) -> None:
    sink = MemorySink()
    client = await serve(sink)
    body = encode(event())
    headers = {**signed(body), "Content-Type": content_type}
    response = await client.post(EVENTS_PATH, data=body, headers=headers)
    assert response.status == 415
    assert "application/json" in (await response.json())["error"]
    assert sink.events == []


async def test_a_charset_parameter_is_fine(serve: Serve) -> None:
    client = await serve(MemorySink())
    body = encode(event())
    headers = {**signed(body), "Content-Type": "application/json; charset=utf-8"}
    assert (await client.post(EVENTS_PATH, data=body, headers=headers)).status == 202


def _doc_block(after: str) -> str:
    """The indented code block that follows the docstring line containing ``after``."""
    doc = signing.__doc__ or ""
    lines = doc.splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) + 1
    block: list[str] = []
    for line in lines[start:]:
        if not line.strip():
            if block:
                break
            continue
        if not line.startswith("    "):
            break
        block.append(line)
    return textwrap.dedent("\n".join(block))


async def test_the_documented_python_example_gets_an_event_in(serve: Serve) -> None:
    import hashlib
    import hmac
    import time

    sink = MemorySink()
    client = await serve(sink, time.time)
    sent: dict[str, Any] = {}

    class Requests:
        @staticmethod
        def post(url: str, data: bytes, headers: dict[str, str]) -> None:
            sent.update(url=url, data=data, headers=headers)

    code = _doc_block("in Python")
    assert "requests.post" in code
    namespace: dict[str, Any] = {
        "json": json,
        "time": time,
        "hmac": hmac,
        "hashlib": hashlib,
        "requests": Requests,
        "secret": SECRET,
        "event": event("evt-py"),
        "url": str(client.make_url(EVENTS_PATH)),
    }
    exec(code, namespace)
    response = await client.post(EVENTS_PATH, data=sent["data"], headers=sent["headers"])
    assert response.status == 202, await response.text()
    assert [e.event_id for e in sink.events] == ["evt-py"]


@pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("openssl") is None,
    reason="the curl example needs curl and openssl, and this machine lacks one",
)
@pytest.mark.parametrize("source", ["signing.py", "README.md"])
async def test_the_documented_curl_example_gets_an_event_in(serve: Serve, source: str) -> None:
    import asyncio
    import time

    sink = MemorySink()
    client = await serve(sink, time.time)
    code = _doc_block("with ``curl``") if source == "signing.py" else _readme_webhook("sh")
    assert code.startswith("ts=$(date +%s)")
    url = str(client.make_url("")).rstrip("/")
    env = {
        "PATH": os.environ["PATH"],
        "SECRET": SECRET,
        "URL": url,
        "body": encode(event("evt-curl")).decode(),
        "LC_ALL": "C.UTF-8",
    }

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sh", "-c", code + " -s -w '\\n%{http_code}'"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    done = await asyncio.to_thread(run)  # the server answers on this loop meanwhile
    answer, _, status = done.stdout.rpartition("\n")
    assert status == "202", (done.stdout, done.stderr)
    assert json.loads(answer) == {"event_id": "evt-curl", "duplicate": False}
    assert [e.event_id for e in sink.events] == ["evt-curl"]
    assert sink.events[0].customer.name == "김온도"


def _readme_webhook(fence: str) -> str:
    """The first ``fence`` code block of the README's webhook section."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("### The events webhook", 1)[1].split("### The journey file", 1)[0]
    return section.split(f"```{fence}\n", 1)[1].split("```", 1)[0].strip()


def test_the_readme_shows_the_tested_examples_and_a_valid_envelope() -> None:
    from bot.journeys.events import parse_event

    python, curl = _readme_webhook("python"), _readme_webhook("sh")
    assert python == _doc_block("in Python").strip()
    # signing.py's docstring is not raw: its "\\" + newline joins the curl lines into one.
    assert _words(curl.replace("\\\n", " ")) == _words(_doc_block("with ``curl``"))
    envelope = parse_event(_readme_webhook("json"))
    assert envelope.customer.name == "김민지"
    assert envelope.customer.identities["slack"] == "U04ABCDEF"


def _words(text: str) -> list[str]:
    return text.split()
