"""Refuse a Slack request body that Bolt would choke on, before Bolt sees it.

Bolt parses the body and reads a few fields of it (``event``, ``user``, ``channel``,
``actions``...) before any listener runs, assuming the shapes Slack sends: broken JSON, a
JSON ``null`` or list, non-UTF-8 bytes, a deeply nested document or a field of the wrong type
made it answer 500 with a traceback. :func:`problem` names what is wrong with a body, and
:func:`guard` answers such a request 400 with one log line (401 when it is not signed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

log = logging.getLogger("ondo.slack")

MAX_SKEW_SECONDS = 300
"""Slack's rule (and Bolt's): a signature older than five minutes is a replay."""
MAX_DEPTH = 32
"""Slack's own payloads (blocks in a view's state) nest about ten levels."""

_STR = (str, type(None))  # Slack sends null for an absent id (enterprise_id)
_OBJ = (dict,)
_OBJ_OR_STR = (dict, str)
_OPTIONAL_OBJ_OR_STR = (dict, str, type(None))
_LIST = (list,)

# The fields Bolt and the listeners read, and the types they assume, at each level.
_TOP: Mapping[str, tuple[type, ...]] = {
    "type": _STR,
    "token": _STR,
    "team_id": _STR,
    "enterprise_id": _STR,
    "api_app_id": _STR,
    "event_id": _STR,
    "challenge": _STR,
    "event": _OBJ,
    "user": _OBJ_OR_STR,
    "user_id": _STR,
    "channel": _OBJ_OR_STR,
    "channel_id": _STR,
    "team": _OPTIONAL_OBJ_OR_STR,
    "enterprise": _OPTIONAL_OBJ_OR_STR,
    "authorizations": _LIST,
    "actions": _LIST,
    "view": _OBJ,
    "message": _OBJ,
    "container": _OBJ,
    "trigger_id": _STR,
    "response_url": _STR,
    "response_urls": _LIST,
    "callback_id": _STR,
    "command": _STR,
    "text": _STR,
    "thread_ts": _STR,
}
_EVENT: Mapping[str, tuple[type, ...]] = {
    "type": _STR,
    "subtype": _STR,
    "user": _OBJ_OR_STR,
    "channel": _OBJ_OR_STR,
    "text": _STR,
    "ts": _STR,
    "thread_ts": _STR,
    "event_ts": _STR,
    "channel_type": _STR,
    "bot_id": _STR,
    "team": _STR,
    "user_team": _STR,
    "item": _OBJ,
    "message": _OBJ,
    "previous_message": _OBJ,
    "assistant_thread": _OBJ,
    "files": _LIST,
    "blocks": _LIST,
}
_NESTED: Mapping[str, tuple[type, ...]] = {
    "id": _STR,
    "type": _STR,
    "user": _OBJ_OR_STR,
    "channel": _OBJ_OR_STR,
    "ts": _STR,
    "thread_ts": _STR,
    "action_id": _STR,
    "block_id": _STR,
    "value": _STR,
    "callback_id": _STR,
    "private_metadata": _STR,
    "team_id": _STR,
    "enterprise_id": _STR,
    "state": _OBJ,
}
"""Fields of ``event.item``, ``event.message``, ``actions[n]``, ``view``, ``user``..."""


def problem(body: bytes, content_type: str) -> str | None:
    """What makes ``body`` unusable, or ``None`` when Bolt can take it (read as Bolt's
    ``parse_body`` reads it: JSON when so declared or when it starts with ``{``)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "the body is not UTF-8"
    if not text:
        return None  # Bolt answers an empty body 404 by itself
    if content_type.split(";")[0].strip().lower() == "application/json" or text.startswith("{"):
        return _json_problem(text)
    try:
        form = dict(parse_qsl(text, keep_blank_values=True, errors="strict"))
    except UnicodeDecodeError:
        return "a form field is not UTF-8"
    if "payload" in form:
        return _json_problem(form["payload"], "payload")
    return None


def _json_problem(text: str, what: str = "the body") -> str | None:
    try:
        data = json.loads(text)
    except RecursionError:
        return f"{what} nests deeper than {MAX_DEPTH} levels"
    except json.JSONDecodeError as exc:
        return f"{what} is not JSON ({exc.msg} at character {exc.pos})"
    except ValueError:  # e.g. an integer of more digits than Python converts
        return f"{what} is not JSON"
    if not isinstance(data, dict):
        return f"{what} is a JSON {type(data).__name__}, not an object"
    if _depth(data) > MAX_DEPTH:
        return f"{what} nests deeper than {MAX_DEPTH} levels"
    return _shape_problem(data)


def _depth(value: Any) -> int:
    """Nesting depth, without recursion (the value may be as deep as the parser allowed)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def _shape_problem(body: dict[str, Any]) -> str | None:
    checks: list[tuple[str, Any, Mapping[str, tuple[type, ...]]]] = [("", body, _TOP)]
    event = body.get("event")
    if isinstance(event, dict):
        checks.append(("event.", event, _EVENT))
        for key in ("item", "message", "previous_message", "assistant_thread"):
            checks.append((f"event.{key}.", event.get(key), _NESTED))
    for key in ("user", "channel", "team", "view", "message", "container", "enterprise"):
        checks.append((f"{key}.", body.get(key), _NESTED))
    for key in ("actions", "authorizations"):
        items = body.get(key)
        for n, item in enumerate(items if isinstance(items, list) else ()):
            if not isinstance(item, dict):
                return f"{key}[{n}] is a {type(item).__name__}, not an object"
            checks.append((f"{key}[{n}].", item, _NESTED))
    for prefix, data, expected in checks:
        if not isinstance(data, dict):
            continue
        for key, types in expected.items():
            if key in data and not isinstance(data[key], types):
                return f"{prefix}{key} is a {type(data[key]).__name__}"
    return None


def signed(body: bytes, headers: Mapping[str, str], secret: str, now: float) -> bool:
    """Whether ``body`` carries a valid, fresh Slack signature (v0). Computed over the raw
    bytes: slack_sdk's verifier decodes them as UTF-8 first and raises on anything else."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not timestamp.isascii() or not timestamp.isdigit():
        return False
    if abs(now - int(timestamp)) > MAX_SKEW_SECONDS:
        return False
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def guard(path: str, signing_secret: str | None) -> Any:
    """An aiohttp middleware answering a malformed body at ``path`` 400 (401 when its
    signature does not match ``signing_secret``) with one log line; others pass to Bolt."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method != "POST" or request.path != path:
            return await handler(request)
        body = await request.read()  # aiohttp keeps it: Bolt reads the same bytes again
        found = problem(body, request.headers.get("Content-Type", ""))
        if found is None:
            return await handler(request)
        if signing_secret and not signed(body, request.headers, signing_secret, time.time()):
            return web.json_response({"error": "invalid request"}, status=401)
        log.warning("slack: refused a malformed request body: %s", found)
        return web.json_response({"error": "malformed request body"}, status=400)

    return middleware
