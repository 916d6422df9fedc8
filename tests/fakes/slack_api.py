"""A fake Slack platform on loopback: Web API, signed Events API payloads and Socket Mode.

Tests drive the real slack_sdk / slack-bolt clients against it: point ``AsyncWebClient`` at
``fake.api_url`` (``http://127.0.0.1:PORT/api/``); ``apps.connections.open`` hands out the
fake's own ``ws://`` URL, where envelopes are pushed with :meth:`FakeSlack.send_envelope`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import WSMsgType, web

Answer = dict[str, Any]
AnswerFn = Callable[["Call"], Answer]

BOT_TOKEN: str = "xoxb-1-fake-bot-token"
APP_TOKEN: str = "xapp-1-A0FAKEAPP-1-fake-app-token"


@dataclass(frozen=True)
class Call:
    """One Web API request as received, with the answer the fake gave."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    http_method: str = "POST"
    status: int = 200
    response: Answer = field(default_factory=dict)

    @property
    def token(self) -> str | None:
        """The token from ``Authorization: Bearer ...`` or the ``token`` parameter."""
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth.removeprefix("Bearer ")
        token = self.params.get("token")
        return str(token) if token is not None else None


@dataclass(frozen=True)
class _Failure:
    status: int
    error: str
    retry_after: int | None
    channel: str | None = None


def signed_request_headers(
    body: bytes, secret: str, timestamp: int | None = None
) -> dict[str, str]:
    """Headers Slack sends with an Events API / interactivity request (signature v0).

    ``Content-Type`` is JSON for a ``{...}`` body and form-encoded otherwise.
    """
    ts = int(time.time()) if timestamp is None else timestamp
    base = b"v0:" + str(ts).encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    is_json = body.lstrip().startswith(b"{")
    return {
        "Content-Type": "application/json" if is_json else "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": f"v0={digest}",
    }


def interactive_body(payload: Mapping[str, Any]) -> bytes:
    """The form body Slack POSTs for interactivity: ``payload=<json>``."""
    return urlencode({"payload": json.dumps(payload)}).encode()


class FakeSlack:
    """Serves ``/api/<method>`` (GET or POST, JSON or form) and a Socket Mode websocket.

    ``calls`` holds every Web API call in order. Built-in answers cover the methods an adapter
    uses; :meth:`set_answer` adds or overrides one, :meth:`fail_next` scripts a failure.
    """

    def __init__(
        self,
        *,
        team_id: str = "T0FAKETEAM",
        team: str = "Ondo Test",
        bot_user_id: str = "U0FAKEBOT",
        bot_id: str = "B0FAKEBOT",
        bot_name: str = "ondo",
        app_id: str = "A0FAKEAPP",
        verification_token: str = "fake-verification-token",
    ) -> None:
        self.team_id = team_id
        self.team = team
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.app_id = app_id
        self.verification_token = verification_token
        self.calls: list[Call] = []
        self.acks: dict[str, dict[str, Any]] = {}
        self.sent_envelopes: list[dict[str, Any]] = []
        self.members: dict[str, list[str]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.dm_refusals: dict[str, str] = {}
        """User id -> the error ``conversations.open`` answers for it (:meth:`refuse_dm`)."""
        self.dm_channels: dict[str, str] = {}
        """User id -> the DM channel ``conversations.open`` opened with them."""
        self.base_url = ""
        self.api_url = ""
        self.ws_url = ""
        self._answers: dict[str, AnswerFn] = {}
        self._failures: dict[str, deque[_Failure]] = {}
        self._changed = asyncio.Condition()
        self._sockets: list[web.WebSocketResponse] = []
        self._connections = 0
        self._ts = itertools.count(1)
        self._epoch = int(time.time())
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.on_call: Callable[[Call], None] | None = None
        """Called with every recorded Web API call as it completes (e.g. to time posts)."""
        self.add_user(bot_user_id, name=bot_name, is_bot=True)

    # ---- lifecycle

    async def start(self) -> str:
        """Listen on an ephemeral loopback port; return the ``http://127.0.0.1:PORT`` base."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/link/", self._socket)
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        self.api_url = f"{self.base_url}/api/"
        self.ws_url = f"ws://{host}:{port}/link/"
        return self.base_url

    async def stop(self) -> None:
        """Close open websockets and stop listening."""
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- scripting

    def add_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        real_name: str | None = None,
        is_bot: bool = False,
        locale: str = "en-US",
        tz: str = "Asia/Seoul",
        is_restricted: bool = False,
        is_ultra_restricted: bool = False,
        team_id: str | None = None,
        deleted: bool = False,
    ) -> dict[str, Any]:
        """Register a user for ``users.info``; returns the stored user object.

        ``is_restricted`` makes a multi-channel guest, ``is_ultra_restricted`` (with it, as
        Slack reports) a single-channel guest; ``team_id`` another organisation's team (a
        Slack Connect user); ``deleted`` a deactivated account."""
        uname = name or user_id.lower()
        user: dict[str, Any] = {
            "id": user_id,
            "team_id": team_id or self.team_id,
            "name": uname,
            "deleted": deleted,
            "is_restricted": is_restricted or is_ultra_restricted,
            "is_ultra_restricted": is_ultra_restricted,
            "real_name": real_name or uname,
            "tz": tz,
            "tz_offset": 32400 if tz == "Asia/Seoul" else 0,
            "locale": locale,
            "is_admin": False,
            "is_owner": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": self._epoch,
            "profile": {
                "real_name": real_name or uname,
                "display_name": uname,
                "real_name_normalized": real_name or uname,
                "display_name_normalized": uname,
                "team": team_id or self.team_id,
            },
        }
        if is_bot:
            user["profile"]["bot_id"] = self.bot_id
        self.users[user_id] = user
        return user

    def refuse_dm(self, user_id: str, error: str = "user_not_found") -> None:
        """Make ``conversations.open`` with ``user_id`` fail with ``error`` every time
        (``cannot_dm_bot``, ``user_not_found``, ``user_disabled``...)."""
        self.dm_refusals[user_id] = error

    def set_members(self, channel: str, user_ids: list[str]) -> None:
        """Set the membership ``conversations.members`` reports for ``channel``."""
        self.members[channel] = list(user_ids)

    def set_answer(self, method: str, answer: Answer | AnswerFn) -> None:
        """Answer ``method`` with a fixed body or ``answer(call)``, replacing any built-in."""
        if callable(answer):
            self._answers[method] = answer
        else:
            fixed = dict(answer)
            self._answers[method] = lambda _call: fixed

    def fail_next(
        self,
        method: str,
        *,
        status: int | None = None,
        error: str | None = None,
        retry_after: int | None = 1,
        times: int = 1,
        channel: str | None = None,
    ) -> None:
        """Make the next ``times`` calls to ``method`` (to ``channel``, if given) fail.

        With ``error`` the answer is HTTP 200 ``{"ok": false, "error": error}`` (how Slack
        reports API errors); otherwise HTTP ``status`` (default 429 with ``Retry-After``).
        """
        if status is None:
            status = 200 if error is not None else 429
        if error is None:
            error = "ratelimited" if status == 429 else "fatal_error"
        queue = self._failures.setdefault(method, deque())
        queue.extend(_Failure(status, error, retry_after, channel) for _ in range(times))

    def next_ts(self) -> str:
        """A fresh message ``ts``, strictly increasing across the fake's lifetime."""
        n = next(self._ts)
        return f"{self._epoch + n // 1_000_000}.{n % 1_000_000:06d}"

    # ---- inspection

    def calls_to(self, method: str) -> list[Call]:
        """The recorded calls to ``method``, in order."""
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Wait until ``method`` was called at least ``count`` times; return those calls."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.calls_to(method)) >= count)
        return self.calls_to(method)

    # ---- Events API payload builders

    def message_event(
        self,
        text: str,
        *,
        user: str = "U0CUSTOMER",
        channel: str = "C0SUPPORT",
        channel_type: str = "channel",
        ts: str | None = None,
        thread_ts: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A user's ``message`` event as Slack delivers it inside ``event_callback``."""
        ts = ts or self.next_ts()
        event: dict[str, Any] = {
            "client_msg_id": str(uuid.uuid4()),
            "type": "message",
            "text": text,
            "user": user,
            "ts": ts,
            "team": self.team_id,
            "blocks": _rich_text_blocks(text),
            "channel": channel,
            "event_ts": ts,
            "channel_type": channel_type,
        }
        if thread_ts is not None:
            event["thread_ts"] = thread_ts
        event.update(extra)
        return event

    def app_mention_event(
        self,
        text: str,
        *,
        user: str = "U0CUSTOMER",
        channel: str = "C0SUPPORT",
        ts: str | None = None,
        thread_ts: str | None = None,
        mention: bool = True,
        **extra: Any,
    ) -> dict[str, Any]:
        """An ``app_mention`` event; ``<@BOT>`` is prefixed to ``text`` unless ``mention=False``."""
        ts = ts or self.next_ts()
        full = f"<@{self.bot_user_id}> {text}" if mention else text
        event: dict[str, Any] = {
            "client_msg_id": str(uuid.uuid4()),
            "type": "app_mention",
            "text": full,
            "user": user,
            "ts": ts,
            "team": self.team_id,
            "blocks": _rich_text_blocks(full),
            "channel": channel,
            "event_ts": ts,
        }
        if thread_ts is not None:
            event["thread_ts"] = thread_ts
        event.update(extra)
        return event

    def event_callback(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        event_time: int | None = None,
    ) -> dict[str, Any]:
        """The ``event_callback`` envelope around ``event`` (HTTP body / Socket Mode payload)."""
        return {
            "token": self.verification_token,
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "context_enterprise_id": None,
            "api_app_id": self.app_id,
            "event": dict(event),
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._ids):010d}",
            "event_time": int(time.time()) if event_time is None else event_time,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-fake-{uuid.uuid4().hex}",
        }

    def slash_command_body(
        self, command: str, text: str = "", *, user: str = "U0AGENT", channel: str = "C0AGENTS"
    ) -> bytes:
        """The form-encoded body Slack posts for a slash command, as the Events URL gets it."""
        return urlencode(
            {
                "token": self.verification_token,
                "team_id": self.team_id,
                "team_domain": "ondo-test",
                "channel_id": channel,
                "channel_name": "agents",
                "user_id": user,
                "user_name": user.lower(),
                "command": command,
                "text": text,
                "api_app_id": self.app_id,
                "is_enterprise_install": "false",
                "response_url": f"{self.base_url}/commands/{next(self._ids)}",
                "trigger_id": f"{next(self._ids)}.{self._epoch}.fakeTrigger",
            }
        ).encode()

    def block_actions_payload(
        self,
        action_id: str,
        value: str = "",
        *,
        block_id: str = "actions",
        user: str = "U0CUSTOMER",
        channel: str = "C0SUPPORT",
        message_ts: str | None = None,
        text: str = "button",
    ) -> dict[str, Any]:
        """A ``block_actions`` payload for a button click on a bot message."""
        message_ts = message_ts or self.next_ts()
        action_ts = f"{time.time():.6f}"
        return {
            "type": "block_actions",
            "user": {
                "id": user,
                "username": user.lower(),
                "name": user.lower(),
                "team_id": self.team_id,
            },
            "api_app_id": self.app_id,
            "token": self.verification_token,
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel,
                "is_ephemeral": False,
            },
            "trigger_id": f"{next(self._ids)}.{self._epoch}.fakeTrigger",
            "team": {"id": self.team_id, "domain": "ondo-test"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": "support"},
            # Slack sends the clicked message as it is, blocks included.
            "message": dict(self.messages.get((channel, message_ts)) or {})
            or {
                "type": "message",
                "user": self.bot_user_id,
                "bot_id": self.bot_id,
                "text": text,
                "ts": message_ts,
                "team": self.team_id,
                "app_id": self.app_id,
            },
            "state": {"values": {}},
            "response_url": f"{self.base_url}/actions/{next(self._ids)}",
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": block_id,
                    "text": {"type": "plain_text", "text": text, "emoji": True},
                    "value": value,
                    "type": "button",
                    "action_ts": action_ts,
                }
            ],
        }

    def view_submission_payload(
        self,
        view: Mapping[str, Any],
        values: Mapping[str, Mapping[str, str]],
        *,
        user: str = "U0AGENT",
    ) -> dict[str, Any]:
        """A ``view_submission`` payload for the modal ``view`` (as ``views.open`` answered
        it) submitted by ``user`` with ``values``: ``{block_id: {action_id: text}}`` for
        plain-text inputs."""
        state = {
            block: {
                action: {"type": "plain_text_input", "value": text}
                for action, text in inputs.items()
            }
            for block, inputs in values.items()
        }
        return {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": "ondo-test"},
            "user": {
                "id": user,
                "username": user.lower(),
                "name": user.lower(),
                "team_id": self.team_id,
            },
            "api_app_id": self.app_id,
            "token": self.verification_token,
            "trigger_id": f"{next(self._ids)}.{self._epoch}.fakeTrigger",
            "view": {**view, "state": {"values": state}},
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }

    def message_action_payload(
        self,
        callback_id: str,
        message: Mapping[str, Any],
        *,
        channel: str,
        user: str = "U0AGENT",
    ) -> dict[str, Any]:
        """A ``message_action`` payload: ``user`` chose the message shortcut ``callback_id``
        on ``message`` (as stored by the fake, e.g. ``fake.messages[(channel, ts)]``)."""
        return {
            "type": "message_action",
            "token": self.verification_token,
            "action_ts": f"{time.time():.6f}",
            "team": {"id": self.team_id, "domain": "ondo-test"},
            "user": {
                "id": user,
                "username": user.lower(),
                "name": user.lower(),
                "team_id": self.team_id,
            },
            "channel": {"id": channel, "name": "support"},
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": f"{next(self._ids)}.{self._epoch}.fakeTrigger",
            "response_url": f"{self.base_url}/actions/{next(self._ids)}",
            "message_ts": message["ts"],
            "message": dict(message),
        }

    # ---- Socket Mode

    @property
    def connections(self) -> int:
        """How many websocket connections were accepted so far."""
        return self._connections

    async def wait_for_connection(self, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until ``count`` websocket connections were accepted."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: self._connections >= count)

    async def send_envelope(
        self,
        payload: Mapping[str, Any],
        type: str = "events_api",
        retry_attempt: int = 0,
        retry_reason: str = "",
        timeout: float = 5.0,
    ) -> str:
        """Push an envelope to the newest open Socket Mode connection; return its id."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: any(not ws.closed for ws in self._sockets))
        ws = [s for s in self._sockets if not s.closed][-1]
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": dict(payload),
            "type": type,
            "accepts_response_payload": type != "events_api",
        }
        if type == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason
        self.sent_envelopes.append(envelope)
        await ws.send_json(envelope)
        return envelope_id

    async def send_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask connected clients to reconnect, as Slack does before recycling a socket."""
        for ws in [s for s in self._sockets if not s.closed]:
            await ws.send_json({"type": "disconnect", "reason": reason, "debug_info": {}})

    async def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """Wait for the client's ``{"envelope_id": ...}`` ack; return the whole ack."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: envelope_id in self.acks)
        return self.acks[envelope_id]

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        async with self._changed:
            self._connections += 1
            self._sockets.append(ws)
            self._changed.notify_all()
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": sum(1 for s in self._sockets if not s.closed),
                "debug_info": {
                    "host": "applink-fake",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": self.app_id},
            }
        )
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except json.JSONDecodeError:
                    continue
                if isinstance(data, dict) and "envelope_id" in data:
                    async with self._changed:
                        self.acks[str(data["envelope_id"])] = data
                        self._changed.notify_all()
        finally:
            async with self._changed:
                self._sockets.remove(ws)
                self._changed.notify_all()
        return ws

    # ---- Web API

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    params.update(body)
            else:
                form = await request.post()
                params.update({k: v if isinstance(v, str) else repr(v) for k, v in form.items()})
        call = Call(method, params, dict(request.headers), request.method)
        status, answer, headers = self._answer(call)
        recorded = Call(method, params, call.headers, request.method, status, answer)
        async with self._changed:
            self.calls.append(recorded)
            self._changed.notify_all()
        if self.on_call is not None:
            self.on_call(recorded)
        return web.json_response(answer, status=status, headers=headers)

    def _answer(self, call: Call) -> tuple[int, Answer, dict[str, str]]:
        queue = self._failures.get(call.method) or deque()
        channel = call.params.get("channel")
        failure = next((f for f in queue if f.channel in (None, channel)), None)
        if failure is not None:
            queue.remove(failure)
            headers: dict[str, str] = {}
            if failure.status == 429 and failure.retry_after is not None:
                headers["Retry-After"] = str(failure.retry_after)
            return failure.status, {"ok": False, "error": failure.error}, headers
        if not call.token:
            return 200, {"ok": False, "error": "not_authed"}, {}
        custom = self._answers.get(call.method)
        if custom is not None:
            return 200, custom(call), {}
        builtin = _BUILTINS.get(call.method)
        if builtin is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        return 200, builtin(self, call), {}

    def _auth_test(self, call: Call) -> Answer:
        if (call.token or "").startswith("xapp-"):
            return {"ok": False, "error": "not_allowed_token_type"}
        return {
            "ok": True,
            "url": f"https://{self.team.lower().replace(' ', '-')}.slack.com/",
            "team": self.team,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _bot_message(self, params: Mapping[str, Any], ts: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": params.get("text", ""),
            "ts": ts,
            "team": self.team_id,
        }
        for key in ("blocks", "attachments", "thread_ts", "metadata"):
            if params.get(key) is not None:
                message[key] = _maybe_json(params[key])
        return message

    def _post_message(self, call: Call) -> Answer:
        channel = call.params.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not (
            call.params.get("text") or call.params.get("blocks") or call.params.get("attachments")
        ):
            return {"ok": False, "error": "no_text"}
        ts = self.next_ts()
        message = self._bot_message(call.params, ts)
        self.messages[(str(channel), ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _update(self, call: Call) -> Answer:
        channel, ts = str(call.params.get("channel", "")), str(call.params.get("ts", ""))
        old = self.messages.get((channel, ts))
        if old is None:
            return {"ok": False, "error": "message_not_found"}
        message = self._bot_message(call.params, ts)
        message["edited"] = {"user": self.bot_user_id, "ts": self.next_ts()}
        self.messages[(channel, ts)] = message
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": message["text"],
            "message": message,
        }

    def _post_ephemeral(self, call: Call) -> Answer:
        if not call.params.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not call.params.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        return {"ok": True, "message_ts": self.next_ts()}

    def _replies(self, call: Call) -> Answer:
        """``conversations.replies``: the bot's messages of a thread (the fake keeps only
        those), oldest first; metadata only with ``include_all_metadata``, as Slack does."""
        channel, thread = str(call.params.get("channel", "")), str(call.params.get("ts", ""))
        with_metadata = str(call.params.get("include_all_metadata", "")).lower() in ("1", "true")
        found = [
            {k: v for k, v in m.items() if with_metadata or k != "metadata"}
            for (c, ts), m in sorted(self.messages.items())
            if c == channel and (ts == thread or m.get("thread_ts") == thread)
        ]
        return {
            "ok": True,
            "messages": found,
            "has_more": False,
            "response_metadata": {"next_cursor": ""},
        }

    def _history(self, call: Call) -> Answer:
        """``conversations.history``: the bot's top-level messages of a channel (not thread
        replies), newest first, ``limit`` a page (default 100) with a cursor; metadata only
        with ``include_all_metadata``, as Slack does."""
        channel = str(call.params.get("channel", ""))
        with_metadata = str(call.params.get("include_all_metadata", "")).lower() in ("1", "true")
        limit = max(1, min(int(call.params.get("limit") or 100), 1000))
        start = int(call.params.get("cursor") or 0)
        found = [
            {k: v for k, v in m.items() if with_metadata or k != "metadata"}
            for (c, ts), m in sorted(self.messages.items(), reverse=True)
            if c == channel and m.get("thread_ts") in (None, ts)
        ]
        page = found[start : start + limit]
        more = start + limit < len(found)
        return {
            "ok": True,
            "messages": page,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _members(self, call: Call) -> Answer:
        channel = str(call.params.get("channel", ""))
        if channel not in self.members:
            return {"ok": False, "error": "channel_not_found"}
        return {
            "ok": True,
            "members": list(self.members[channel]),
            "response_metadata": {"next_cursor": ""},
        }

    def _users_info(self, call: Call) -> Answer:
        user = self.users.get(str(call.params.get("user", "")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user}

    def _reactions_add(self, call: Call) -> Answer:
        if not call.params.get("name"):
            return {"ok": False, "error": "invalid_name"}
        if not call.params.get("channel") or not call.params.get("timestamp"):
            return {"ok": False, "error": "message_not_found"}
        return {"ok": True}

    def _views_open(self, call: Call) -> Answer:
        if not call.params.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        view = _maybe_json(call.params.get("view"))
        if not isinstance(view, dict):
            return {"ok": False, "error": "invalid_arguments"}
        return {
            "ok": True,
            "view": {
                **view,
                "id": f"V{next(self._ids):010d}",
                "team_id": self.team_id,
                "state": {"values": {}},
                "hash": f"{self._epoch}.fakehash",
                "app_id": self.app_id,
                "bot_id": self.bot_id,
                "root_view_id": None,
                "previous_view_id": None,
            },
        }

    def _conversations_open(self, call: Call) -> Answer:
        """``conversations.open`` with one user: their DM channel (the same id each time).
        A user refused with :meth:`refuse_dm` gets that error; an unknown one
        ``user_not_found``, a deactivated one ``user_disabled``, a bot ``cannot_dm_bot``."""
        users = call.params.get("users")
        if isinstance(users, list):
            users = ",".join(str(u) for u in users)
        ids = [u for u in str(users or "").split(",") if u]
        if len(ids) != 1:
            return {
                "ok": False,
                "error": "users_list_not_supplied" if not ids else "not_enough_users",
            }
        [user_id] = ids
        if user_id in self.dm_refusals:
            return {"ok": False, "error": self.dm_refusals[user_id]}
        user = self.users.get(user_id)
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        if user.get("deleted"):
            return {"ok": False, "error": "user_disabled"}
        if user.get("is_bot"):
            return {"ok": False, "error": "cannot_dm_bot"}
        channel = self.dm_channels.setdefault(user_id, f"D{next(self._ids):08d}")
        return {"ok": True, "channel": {"id": channel, "is_im": True, "user": user_id}}

    def _connections_open(self, call: Call) -> Answer:
        if not (call.token or "").startswith("xapp-"):
            return {"ok": False, "error": "not_allowed_token_type"}
        return {"ok": True, "url": self.ws_url}


_BUILTINS: dict[str, Callable[[FakeSlack, Call], Answer]] = {
    "auth.test": FakeSlack._auth_test,
    "chat.postMessage": FakeSlack._post_message,
    "chat.update": FakeSlack._update,
    "chat.postEphemeral": FakeSlack._post_ephemeral,
    "conversations.members": FakeSlack._members,
    "conversations.open": FakeSlack._conversations_open,
    "conversations.replies": FakeSlack._replies,
    "conversations.history": FakeSlack._history,
    "users.info": FakeSlack._users_info,
    "reactions.add": FakeSlack._reactions_add,
    "views.open": FakeSlack._views_open,
    "apps.connections.open": FakeSlack._connections_open,
}


def _rich_text_blocks(text: str) -> list[dict[str, Any]]:
    section = {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
    return [{"type": "rich_text", "block_id": "fake", "elements": [section]}]


def _maybe_json(value: Any) -> Any:
    """Form bodies carry structured arguments (blocks, view) as JSON strings."""
    if isinstance(value, str) and value.startswith(("[", "{")):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value
