"""A fake Discord (REST API + gateway websocket) on loopback, driven by the real discord.py client.

discord.py has no public endpoint setting; :func:`patch_discord_endpoints` moves the two class
attributes it reads (``discord.http.Route.BASE`` and
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``) and fails loudly if they ever move.

The fake holds one small world: a guild with an ``@everyone`` role (id = guild id), a ``Staff``
role, a ``Support`` category with ``#support`` and a staff-only ``#staff`` channel, the bot, a
customer and a staff member. Like real Discord it

* sends plain-text JSON gateway frames with increasing ``s`` per session, and replays the
  frames after the client's ``seq`` on RESUME;
* withholds message events without the ``GUILD_MESSAGES`` / ``DIRECT_MESSAGES`` intent, and
  blanks ``content`` (and embeds, attachments, components, poll) when the session lacks the
  privileged Message Content intent, unless the bot is mentioned, authored it, or it is a DM;
* only lists all guild members in ``GUILD_CREATE`` when the ``GUILD_MEMBERS`` intent is on;
* echoes the bot's own REST-created messages back as ``MESSAGE_CREATE`` / ``MESSAGE_UPDATE``;
* answers REST with ``Content-Type: application/json`` exactly and ``Via: 1.1 google``
  (discord.py treats a 429 without ``Via`` as a Cloudflare ban and does not retry).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime
import json
import math
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import web

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000
NONCE_WINDOW_SECONDS = 300.0
"""How long Discord remembers an ``enforce_nonce`` nonce ("the past few minutes")."""

# Gateway intents (https://discord.com/developers/docs/events/gateway#gateway-intents).
GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15

# Permission bits used by the fixture world.
ADMINISTRATOR = 1 << 3
VIEW_CHANNEL = 1 << 10
EVERYONE_PERMISSIONS = 1_071_698_660_929
STAFF_PERMISSIONS = EVERYONE_PERMISSIONS | (1 << 13) | (1 << 34)  # + manage messages/threads

_MENTION_RE = re.compile(r"<@!?(\d+)>")
_GUILD_ONLY_EVENTS = frozenset({"GUILD_CREATE", "THREAD_CREATE", "CHANNEL_CREATE"})
_MESSAGE_EVENTS = frozenset({"MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE"})


class DiscordEndpointsMoved(RuntimeError):
    """discord.py no longer keeps its endpoints where the fake expects them."""


@contextlib.contextmanager
def patch_discord_endpoints(api_base: str, gateway_url: str) -> Iterator[None]:
    """Point discord.py's REST base and default gateway at the given URLs, then restore them.

    Raises :class:`DiscordEndpointsMoved` if ``discord.http.Route.BASE`` or
    ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` is missing or changed type.
    """
    route = getattr(discord.http, "Route", None)
    websocket = getattr(discord.gateway, "DiscordWebSocket", None)
    problems: list[str] = []
    if route is None or not isinstance(getattr(route, "BASE", None), str):
        problems.append(
            "discord.http.Route.BASE (expected a str like 'https://discord.com/api/v10')"
        )
    if websocket is None or not isinstance(getattr(websocket, "DEFAULT_GATEWAY", None), yarl.URL):
        problems.append(
            "discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY "
            "(expected a yarl.URL like 'wss://gateway.discord.gg/')"
        )
    if problems:
        raise DiscordEndpointsMoved(
            f"discord.py {discord.__version__} no longer exposes "
            + " and ".join(problems)
            + ". The fake Discord redirects the real client by setting these class attributes; "
            "find where this discord.py version keeps its REST base URL and gateway URL, update "
            "tests/fakes/discord_gateway.py, or pin the discord.py version the fake was written "
            "for (2.7.1)."
        )
    assert route is not None and websocket is not None
    old_base: str = route.BASE
    old_gateway: yarl.URL = websocket.DEFAULT_GATEWAY
    route.BASE = api_base
    websocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    try:
        yield
    finally:
        route.BASE = old_base
        websocket.DEFAULT_GATEWAY = old_gateway


@dataclass
class RestCall:
    """One REST request the fake received (``path`` is relative to ``/api/v10``)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int = 0


@dataclass
class _RateLimit:
    method: str
    path_prefix: str
    retry_after: float
    times: int
    is_global: bool


@dataclass
class _Failure:
    method: str
    path_prefix: str
    status: int
    code: int
    message: str
    times: int


@dataclass
class GatewaySession:
    """One gateway session: survives reconnects; ``history`` holds every dispatch frame sent."""

    session_id: str
    token: str
    intents: int
    shard: list[int] | None
    identify: dict[str, Any]
    ws: web.WebSocketResponse | None = None
    seq: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    resumes: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class _Snowflakes:
    def __init__(self) -> None:
        self._last = 0

    def __call__(self) -> int:
        now = ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | (1 << 17)
        self._last = max(now, self._last + 1)
        return self._last


def _now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def _user(uid: int, username: str, global_name: str | None, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(uid),
        "username": username,
        "discriminator": "4821" if bot else "0",
        "global_name": global_name,
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
        "flags": 0,
        "banner": None,
        "accent_color": None,
    }


def _owns(session: GatewaySession, guild_id: int) -> bool:
    """Whether the session's shard receives this guild's events: (guild_id >> 22) % count."""
    if session.shard is None:
        return True
    shard_id, shard_count = session.shard
    return (guild_id >> 22) % shard_count == shard_id


def _is_true(value: str | None) -> bool:
    return (value or "").lower() in {"1", "true"}


class FakeDiscord:
    """A scriptable Discord REST API and gateway for the real discord.py client.

    ``calls`` records every REST request (with the status answered), ``frames`` every gateway
    frame received from clients (``{"op", "d", ...}``), ``connections`` the query of every
    websocket connection, and ``sessions`` the identified gateway sessions.
    """

    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        shard_count: int = 1,
        echo_own_messages: bool = True,
        heartbeat_interval_ms: int = 41_250,
    ) -> None:
        self.token = token
        self.shard_count = shard_count
        self.echo_own_messages = echo_own_messages
        self.heartbeat_interval_ms = heartbeat_interval_ms

        self.calls: list[RestCall] = []
        self.frames: list[dict[str, Any]] = []
        self.connections: list[dict[str, str]] = []
        self.sessions: dict[str, GatewaySession] = {}
        self._rate_limits: list[_RateLimit] = []
        self._failures: list[_Failure] = []
        self._changed = asyncio.Condition()
        self._snowflake = _Snowflakes()
        self._runner: web.AppRunner | None = None
        self.on_call: Callable[[RestCall, web.StreamResponse], None] | None = None
        """Called with every recorded REST call and the response it got, as it completes."""
        self._sockets: set[web.WebSocketResponse] = set()
        self._port = 0
        self._pending: dict[int, RestCall] = {}

        # -- the world ----------------------------------------------------------------------
        self.application_id = 1_190_000_000_000_000_001
        self.bot_id = self.application_id
        self.guild_id = 1_190_000_000_000_000_100
        self.staff_role_id = 1_190_000_000_000_000_101
        self.bot_role_id = 1_190_000_000_000_000_102
        self.category_id = 1_190_000_000_000_000_110
        self.support_channel_id = 1_190_000_000_000_000_111
        self.staff_channel_id = 1_190_000_000_000_000_112
        self.owner_id = 1_190_000_000_000_000_200
        self.customer_id = 1_190_000_000_000_000_201
        self.staff_id = 1_190_000_000_000_000_202

        self.bot_user = _user(self.bot_id, "ondo", None, bot=True)
        self.customer = _user(self.customer_id, "minji.kim", "김민지")
        self.staff = _user(self.staff_id, "jordan.support", "Jordan")
        owner = _user(self.owner_id, "ondo.owner", "Ondo Owner")
        self.users: dict[int, dict[str, Any]] = {
            int(u["id"]): u for u in (self.bot_user, self.customer, self.staff, owner)
        }
        self.roles: list[dict[str, Any]] = [
            self._role(self.guild_id, "@everyone", 0, EVERYONE_PERMISSIONS),
            self._role(self.staff_role_id, "Staff", 2, STAFF_PERMISSIONS, hoist=True),
            self._role(self.bot_role_id, "Ondo", 1, EVERYONE_PERMISSIONS, managed=True)
            | {"tags": {"bot_id": str(self.bot_id)}},
        ]
        self.member_roles: dict[int, list[int]] = {
            self.bot_id: [self.bot_role_id],
            self.customer_id: [],
            self.staff_id: [self.staff_role_id],
            self.owner_id: [self.staff_role_id],
        }
        self.channels: dict[int, dict[str, Any]] = {}
        self._add_channel(self._channel(self.category_id, "Support", 4, 0, parent_id=None))
        self._add_channel(self._channel(self.support_channel_id, "support", 0, 0))
        staff_only = [
            {"id": str(self.guild_id), "type": 0, "allow": "0", "deny": str(VIEW_CHANNEL)},
            {"id": str(self.staff_role_id), "type": 0, "allow": str(VIEW_CHANNEL), "deny": "0"},
            {"id": str(self.bot_role_id), "type": 0, "allow": str(VIEW_CHANNEL), "deny": "0"},
        ]
        staff = self._channel(self.staff_channel_id, "staff", 0, 1, overwrites=staff_only)
        self._add_channel(staff)
        self.messages: dict[int, dict[str, Any]] = {}
        self.nonce_hits = 0
        """Posts answered with an earlier message because their ``enforce_nonce`` nonce repeated."""
        self.nonce_window = NONCE_WINDOW_SECONDS
        self.clock: Callable[[], float] = time.time
        """The fake's time for the nonce window; a test moves it on to let nonces expire."""
        self._nonce_times: dict[int, float] = {}
        self._threads_by_message: set[int] = set()
        self.dm_refusals: set[int] = set()
        """Users whose DM channel refuses the bot's posts (403, code 50007)."""
        self.commands: dict[str, dict[str, Any]] = {}
        """Global application commands the bot registered, by name."""

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> str:
        """Listen on an ephemeral loopback port; return :attr:`api_base`."""
        app = web.Application(middlewares=[self._middleware])
        p = API_PREFIX
        app.router.add_get(p + "/users/@me", self._get_me)
        app.router.add_post(p + "/users/@me/channels", self._create_dm)
        app.router.add_get(p + "/oauth2/applications/@me", self._get_application)
        app.router.add_get(p + "/gateway", self._get_gateway)
        app.router.add_get(p + "/gateway/bot", self._get_gateway_bot)
        app.router.add_get(p + "/channels/{channel_id}", self._get_channel)
        app.router.add_post(p + "/channels/{channel_id}/messages", self._create_message)
        app.router.add_get(p + "/channels/{channel_id}/messages", self._list_messages)
        app.router.add_get(p + "/channels/{channel_id}/messages/{message_id}", self._get_message)
        app.router.add_patch(p + "/channels/{channel_id}/messages/{message_id}", self._edit_message)
        app.router.add_post(
            p + "/channels/{channel_id}/messages/{message_id}/threads", self._thread_from_message
        )
        app.router.add_post(p + "/channels/{channel_id}/threads", self._thread_without_message)
        app.router.add_post(p + "/applications/{application_id}/commands", self._upsert_command)
        app.router.add_post(
            p + "/interactions/{interaction_id}/{interaction_token}/callback",
            self._interaction_callback,
        )
        app.router.add_get("/gateway", self._gateway)
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = runner.addresses[0][1]
        return self.api_base

    async def stop(self) -> None:
        """Close open gateway sockets (1001 going away) and stop listening."""
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"fake discord stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_base(self) -> str:
        """REST base URL, e.g. ``http://127.0.0.1:PORT/api/v10`` (for ``Route.BASE``)."""
        return f"http://127.0.0.1:{self._port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """Websocket URL, e.g. ``ws://127.0.0.1:PORT/gateway`` (also the resume URL)."""
        return f"ws://127.0.0.1:{self._port}/gateway"

    def patch(self) -> contextlib.AbstractContextManager[None]:
        """:func:`patch_discord_endpoints` for this fake's URLs."""
        return patch_discord_endpoints(self.api_base, self.gateway_url)

    # -- scripting & waiting ------------------------------------------------------------------

    def rate_limit(
        self,
        method: str,
        path_prefix: str,
        *,
        retry_after: float = 0.05,
        times: int = 1,
        is_global: bool = False,
    ) -> None:
        """Answer the next ``times`` matching requests with a 429 and real rate-limit headers."""
        self._rate_limits.append(
            _RateLimit(method.upper(), path_prefix, retry_after, times, is_global)
        )

    def fail(
        self,
        method: str,
        path_prefix: str,
        *,
        status: int = 500,
        times: int = 1,
        code: int = 0,
        message: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` and a Discord error body
        (``{"message", "code"}``), e.g. 500, or 403 ``Missing Permissions`` (code 50013)."""
        text = message or {403: "Missing Permissions", 404: "Not Found"}.get(
            status, f"{status}: Internal Server Error"
        )
        self._failures.append(_Failure(method.upper(), path_prefix, status, code, text, times))

    def refuse_dms(self, uid: int) -> None:
        """Posts in the DM with ``uid`` fail as Discord answers a user who closed their DMs,
        blocked the bot or shares no server with it: 403 "Cannot send messages to this user"
        (code 50007). Opening the DM channel still works, as on Discord."""
        self.dm_refusals.add(uid)

    async def wait_for(
        self, method: str, path_prefix: str, count: int = 1, timeout: float = 5.0
    ) -> list[RestCall]:
        """Wait until ``count`` REST calls match; return all matching calls so far."""

        def matching() -> list[RestCall]:
            return [
                c
                for c in self.calls
                if c.method == method.upper() and c.path.startswith(path_prefix)
            ]

        return await self._wait(lambda: matching() if len(matching()) >= count else None, timeout)

    async def wait_for_op(
        self, op: int, count: int = 1, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Wait until clients have sent ``count`` gateway frames with ``op``; return them."""

        def matching() -> list[dict[str, Any]]:
            return [f for f in self.frames if f.get("op") == op]

        return await self._wait(lambda: matching() if len(matching()) >= count else None, timeout)

    async def _wait(self, probe: Callable[[], Any], timeout: float) -> Any:
        async with asyncio.timeout(timeout), self._changed:
            while (result := probe()) is None:
                await self._changed.wait()
            return result

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- gateway API --------------------------------------------------------------------------

    async def dispatch(
        self, event_name: str, data: Mapping[str, Any], *, session_id: str | None = None
    ) -> int:
        """Send a DISPATCH (op 0) to every eligible session; return how many got it.

        Guild events go only to the shard owning the guild; message events honour the
        session's intents (and Message Content blanking). Sessions that are between op 7 and
        RESUME keep the frame in their history and get it on replay.
        """
        delivered = 0
        for session in list(self.sessions.values()):
            if session_id is not None and session.session_id != session_id:
                continue
            payload = self._filter_for(session, event_name, data)
            if payload is None:
                continue
            await self._emit(session, event_name, payload)
            delivered += 1
        return delivered

    async def request_reconnect(self, session_id: str | None = None) -> None:
        """Send op 7 RECONNECT; the session buffers later events until the client RESUMEs."""
        for session in list(self.sessions.values()):
            if session_id is not None and session.session_id != session_id:
                continue
            async with session.lock:
                if session.ws is not None:
                    await self._send(session.ws, {"op": 7, "d": None, "s": None, "t": None})
                    session.ws = None

    async def invalidate_session(self, *, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION to every connected session (forgotten unless resumable)."""
        for session in list(self.sessions.values()):
            async with session.lock:
                if session.ws is not None:
                    await self._send(session.ws, {"op": 9, "d": resumable, "s": None, "t": None})
                    if not resumable:
                        self.sessions.pop(session.session_id, None)

    def message_create(
        self,
        channel_id: int,
        content: str,
        *,
        author: Mapping[str, Any] | None = None,
        mentions: Sequence[Mapping[str, Any] | int] | None = None,
        guild_id: int | None = None,
        message_id: int | None = None,
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        """Build (and remember) realistic MESSAGE_CREATE data from a user; see :meth:`dispatch`.

        ``author`` defaults to :attr:`customer`. ``mentions`` are user dicts or ids; without
        them they are parsed from ``<@id>`` in ``content``. ``guild_id`` defaults to the
        channel's guild; a channel outside the guild becomes a DM channel.
        """
        author = dict(author or self.customer)
        channel = self.channels.get(channel_id)
        if guild_id is None and channel is not None and "guild_id" in channel:
            guild_id = int(channel["guild_id"])
        if channel is None and guild_id is None:
            self._add_channel(
                {"id": str(channel_id), "type": 1, "last_message_id": None, "recipients": [author]}
            )
        message = self._message(
            channel_id,
            content,
            author=author,
            mentions=mentions,
            guild_id=guild_id,
            message_id=message_id,
            reply_to=reply_to,
        )
        self.messages[int(message["id"])] = message
        return copy.deepcopy(message)

    def add_member(
        self, uid: int, username: str, *, roles: Sequence[int] = (), global_name: str | None = None
    ) -> dict[str, Any]:
        """Another person in the guild (with ``roles``); returns their user object, usable as
        the ``author`` of :meth:`message_create`."""
        user = _user(uid, username, global_name)
        self.users[uid] = user
        self.member_roles[uid] = list(roles)
        return user

    async def user_thread(
        self, parent_id: int, name: str, *, owner: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """A public thread that ``owner`` (default :attr:`customer`) started in ``parent_id``
        without a starter message, announced with THREAD_CREATE as Discord does."""
        thread = self._thread(self.channels[parent_id], self._snowflake(), {"name": name}, 11)
        thread["owner_id"] = str((owner or self.customer)["id"])
        await self.dispatch("THREAD_CREATE", thread | {"newly_created": True})
        return copy.deepcopy(thread)

    def interaction_create(
        self,
        message_id: int,
        custom_id: str,
        *,
        user_id: int | None = None,
        component_type: int = 2,
    ) -> dict[str, Any]:
        """Build INTERACTION_CREATE data for a click on a component (a button by default) of
        the stored message ``message_id``, by ``user_id`` (default :attr:`staff`).

        Like Discord it carries the message, the channel, and in a guild the clicking member
        with ``permissions`` resolved in that channel (role permissions and overwrites). The
        client answers with ``POST /interactions/{id}/{token}/callback``.
        """
        message = self.messages[message_id]
        channel_id = int(message["channel_id"])
        channel = self.channels[channel_id]
        uid = user_id or self.staff_id
        data: dict[str, Any] = {
            "id": str(self._snowflake()),
            "application_id": str(self.application_id),
            "type": 3,
            "token": "fake-interaction-" + secrets.token_hex(16),
            "version": 1,
            "data": {"custom_id": custom_id, "component_type": component_type},
            "channel_id": str(channel_id),
            "channel": copy.deepcopy(channel),
            "message": self._rest_view(copy.deepcopy(message)),
            "app_permissions": str(self.permissions_in(self.bot_id, channel_id)),
            "locale": "ko",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.guild_id)},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if "guild_id" in channel:
            data["guild_id"] = channel["guild_id"]
            data["guild_locale"] = "ko"
            permissions = str(self.permissions_in(uid, channel_id))
            data["member"] = self._member(uid) | {"permissions": permissions}
        else:
            data["user"] = self.users[uid]
        return data

    def modal_submit_create(
        self,
        message_id: int,
        custom_id: str,
        values: Mapping[str, str],
        *,
        user_id: int | None = None,
    ) -> dict[str, Any]:
        """INTERACTION_CREATE data for submitting the modal ``custom_id`` that a component of
        message ``message_id`` opened (MODAL_SUBMIT, type 5), with ``values`` typed into its
        text inputs (``{input custom id: text}``), each in its action row as Discord sends it."""
        data = self.interaction_create(message_id, custom_id, user_id=user_id)
        rows = [
            {"type": 1, "components": [{"type": 4, "custom_id": key, "value": value}]}
            for key, value in values.items()
        ]
        data["type"] = 5
        data["data"] = {"custom_id": custom_id, "components": rows}
        return data

    def message_command_create(
        self, message_id: int, name: str, *, user_id: int | None = None
    ) -> dict[str, Any]:
        """INTERACTION_CREATE data for ``user_id`` (default :attr:`staff`) choosing the message
        context-menu command ``name`` (APPLICATION_COMMAND, type 2; the command must have been
        registered) on the stored message ``message_id``."""
        command = self.commands[name]
        data = self.interaction_create(message_id, "", user_id=user_id)
        message = data.pop("message")
        data["type"] = 2
        data["data"] = {
            "id": command["id"],
            "name": name,
            "type": 3,
            "target_id": str(message_id),
            "resolved": {"messages": {str(message_id): message}},
        }
        return data

    def slash_command_create(
        self,
        channel_id: int,
        name: str,
        subcommand: str,
        options: Mapping[str, str | int] | None = None,
        *,
        user_id: int | None = None,
        interaction_id: int | None = None,
    ) -> dict[str, Any]:
        """INTERACTION_CREATE data for ``user_id`` (default :attr:`staff`) using the slash
        command ``name`` (CHAT_INPUT, which must have been registered) with ``subcommand`` and
        its ``options`` in channel ``channel_id``; ``interaction_id`` repeats an earlier one."""
        command = self.commands[name]
        channel = self.channels[channel_id]
        uid = user_id or self.staff_id
        typed = [
            {"name": key, "type": 4 if isinstance(value, int) else 3, "value": value}
            for key, value in (options or {}).items()
        ]
        data: dict[str, Any] = {
            "id": str(interaction_id or self._snowflake()),
            "application_id": str(self.application_id),
            "type": 2,
            "token": "fake-interaction-" + secrets.token_hex(16),
            "version": 1,
            "data": {
                "id": command["id"],
                "name": name,
                "type": 1,
                "options": [{"name": subcommand, "type": 1, "options": typed}],
            },
            "channel_id": str(channel_id),
            "channel": copy.deepcopy(channel),
            "app_permissions": str(self.permissions_in(self.bot_id, channel_id)),
            "locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.guild_id)},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if "guild_id" in channel:
            data["guild_id"] = channel["guild_id"]
            data["guild_locale"] = "ko"
            permissions = str(self.permissions_in(uid, channel_id))
            data["member"] = self._member(uid) | {"permissions": permissions}
        else:
            data["user"] = self.users[uid]
        return data

    def permissions_in(self, uid: int, channel_id: int) -> int:
        """The permission bits of member ``uid`` in a guild channel (a thread uses its parent's
        overwrites), computed the way Discord documents it."""
        channel = self.channels[channel_id]
        if channel["type"] in (10, 11, 12):
            channel = self.channels[int(channel["parent_id"])]
        everything = discord.Permissions.all().value
        if uid == self.owner_id:
            return everything
        role_bits = {int(r["id"]): int(r["permissions"]) for r in self.roles}
        member_roles = self.member_roles.get(uid, [])
        bits = role_bits[self.guild_id]
        for role in member_roles:
            bits |= role_bits.get(role, 0)
        if bits & ADMINISTRATOR:
            return everything
        overwrites = {int(o["id"]): o for o in channel.get("permission_overwrites") or []}
        if (everyone := overwrites.get(self.guild_id)) is not None:
            bits = (bits & ~int(everyone["deny"])) | int(everyone["allow"])
        allow = deny = 0
        for role in member_roles:
            if (overwrite := overwrites.get(role)) is not None:
                allow |= int(overwrite["allow"])
                deny |= int(overwrite["deny"])
        bits = (bits & ~deny) | allow
        if (own := overwrites.get(uid)) is not None:
            bits = (bits & ~int(own["deny"])) | int(own["allow"])
        return bits

    # -- building blocks ----------------------------------------------------------------------

    def _role(
        self,
        rid: int,
        name: str,
        position: int,
        permissions: int,
        *,
        hoist: bool = False,
        managed: bool = False,
    ) -> dict[str, Any]:
        return {
            "id": str(rid),
            "name": name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": hoist,
            "icon": None,
            "unicode_emoji": None,
            "position": position,
            "permissions": str(permissions),
            "managed": managed,
            "mentionable": False,
            "flags": 0,
        }

    def _channel(
        self,
        cid: int,
        name: str,
        ctype: int,
        position: int,
        *,
        parent_id: int | None = -1,
        overwrites: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        channel: dict[str, Any] = {
            "id": str(cid),
            "type": ctype,
            "guild_id": str(self.guild_id),
            "name": name,
            "position": position,
            "permission_overwrites": overwrites or [],
            "nsfw": False,
            "parent_id": str(self.category_id) if parent_id == -1 else parent_id,
            "flags": 0,
        }
        if ctype == 0:
            channel |= {
                "topic": None,
                "last_message_id": None,
                "rate_limit_per_user": 0,
                "default_auto_archive_duration": 1440,
                "default_thread_rate_limit_per_user": 0,
            }
        return channel

    def _add_channel(self, channel: dict[str, Any]) -> None:
        self.channels[int(channel["id"])] = channel

    def _member(self, uid: int, *, with_user: bool = True) -> dict[str, Any]:
        member: dict[str, Any] = {
            "nick": None,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in self.member_roles.get(uid, [])],
            "joined_at": "2024-01-15T09:30:00.000000+00:00",
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        if with_user:
            member["user"] = self.users[uid]
        return member

    def _guild(self, intents: int) -> dict[str, Any]:
        guild_channels = [
            c
            for c in self.channels.values()
            if c.get("guild_id") == str(self.guild_id) and c["type"] not in (10, 11, 12)
        ]
        threads = [c for c in self.channels.values() if c["type"] in (10, 11, 12)]
        everyone = list(self.member_roles) if intents & GUILD_MEMBERS else [self.bot_id]
        return {
            "id": str(self.guild_id),
            "name": "Ondo Support",
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "region": "deprecated",
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 1,
            "default_message_notifications": 1,
            "explicit_content_filter": 2,
            "roles": copy.deepcopy(self.roles),
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "nsfw_level": 0,
            "application_id": None,
            "system_channel_id": str(self.support_channel_id),
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "ko",
            "max_members": 500_000,
            "max_video_channel_users": 25,
            "nsfw": False,
            "incidents_data": None,
            "joined_at": "2024-01-15T09:30:00.000000+00:00",
            "large": False,
            "unavailable": False,
            "member_count": len(self.member_roles),
            "members": [self._member(uid) for uid in everyone],
            "channels": copy.deepcopy(guild_channels),
            "threads": copy.deepcopy(threads),
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def _mentions(
        self,
        content: str,
        mentions: Sequence[Mapping[str, Any] | int] | None,
        guild_id: int | None,
    ) -> list[dict[str, Any]]:
        if mentions is None:
            ids = [int(m) for m in _MENTION_RE.findall(content)]
            resolved = [self.users[i] for i in dict.fromkeys(ids) if i in self.users]
        else:
            resolved = [
                self.users[m] if isinstance(m, int) else dict(m)
                for m in mentions
                if not isinstance(m, int) or m in self.users
            ]
        out: list[dict[str, Any]] = []
        for user in resolved:
            entry = dict(user)
            uid = int(entry["id"])
            if guild_id is not None and uid in self.member_roles:
                entry["member"] = self._member(uid, with_user=False)
            out.append(entry)
        return out

    def _message(
        self,
        channel_id: int,
        content: str,
        *,
        author: Mapping[str, Any],
        mentions: Sequence[Mapping[str, Any] | int] | None = None,
        guild_id: int | None = None,
        message_id: int | None = None,
        reply_to: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        mention_list = self._mentions(content, mentions, guild_id)
        role_ids = [str(r["id"]) for r in self.roles if f"<@&{r['id']}>" in content]
        message: dict[str, Any] = {
            "id": str(message_id or self._snowflake()),
            "type": 19 if reply_to else 0,
            "channel_id": str(channel_id),
            "author": dict(author),
            "content": content,
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": "@everyone" in content or "@here" in content,
            "mentions": mention_list,
            "mention_roles": role_ids,
            "attachments": [],
            "embeds": [],
            "components": [],
            "pinned": False,
            "flags": 0,
        }
        if guild_id is not None:
            message["guild_id"] = str(guild_id)
            uid = int(author["id"])
            if uid in self.member_roles:
                message["member"] = self._member(uid, with_user=False)
        if reply_to:
            message["message_reference"] = {
                "type": 0,
                "message_id": str(reply_to),
                "channel_id": str(channel_id),
            } | ({"guild_id": str(guild_id)} if guild_id is not None else {})
            if reply_to in self.messages:
                message["referenced_message"] = copy.deepcopy(self.messages[reply_to])
        if extra:
            message.update(extra)
        return message

    def _filter_for(
        self, session: GatewaySession, event_name: str, data: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        payload = copy.deepcopy(dict(data))
        guild_id = payload.get("guild_id")
        if event_name == "GUILD_CREATE":
            guild_id = payload.get("id")
        if guild_id is not None and not _owns(session, int(guild_id)):
            return None
        if event_name in _GUILD_ONLY_EVENTS and not session.intents & GUILDS:
            return None
        if event_name in _MESSAGE_EVENTS:
            needed = GUILD_MESSAGES if guild_id is not None else DIRECT_MESSAGES
            if not session.intents & needed:
                return None
            if event_name != "MESSAGE_DELETE" and not self._content_visible(session, payload):
                payload["content"] = ""
                payload["embeds"] = []
                payload["attachments"] = []
                payload["components"] = []
                payload.pop("poll", None)
        return payload

    def _content_visible(self, session: GatewaySession, message: Mapping[str, Any]) -> bool:
        if session.intents & MESSAGE_CONTENT or "guild_id" not in message:
            return True
        bot = str(self.bot_id)
        author = message.get("author") or {}
        mentioned = any(str(m.get("id")) == bot for m in message.get("mentions") or [])
        return mentioned or str(author.get("id")) == bot

    async def _emit(self, session: GatewaySession, event_name: str, data: Any) -> None:
        async with session.lock:
            session.seq += 1
            frame = {"op": 0, "t": event_name, "s": session.seq, "d": data}
            session.history.append(frame)
            if session.ws is not None and not session.ws.closed:
                await self._send(session.ws, frame)
        await self._notify()

    @staticmethod
    async def _send(ws: web.WebSocketResponse, frame: Mapping[str, Any]) -> None:
        with contextlib.suppress(ConnectionResetError):
            await ws.send_str(json.dumps(frame))

    # -- gateway ------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.add(ws)
        self.connections.append(dict(request.query))
        await self._send(
            ws,
            {
                "op": 10,
                "d": {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["fake-gw"]},
                "s": None,
                "t": None,
            },
        )
        session: GatewaySession | None = None
        try:
            async for msg in ws:
                if msg.type is not web.WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                async with self._changed:
                    self.frames.append(frame)
                    self._changed.notify_all()
                op, d = frame.get("op"), frame.get("d")
                if op == 1:
                    await self._send(ws, {"op": 11, "d": None, "s": None, "t": None})
                elif op == 2:
                    session = await self._identify(ws, d)
                elif op == 6:
                    session = await self._resume(ws, d)
                elif op == 8 and session is not None:
                    await self._request_members(session, d)
        finally:
            self._sockets.discard(ws)
            if session is not None and session.ws is ws:
                session.ws = None
        return ws

    async def _identify(
        self, ws: web.WebSocketResponse, d: dict[str, Any]
    ) -> GatewaySession | None:
        if d.get("token") != self.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return None
        shard = d.get("shard")
        session = GatewaySession(
            session_id=secrets.token_hex(16),
            token=d["token"],
            intents=int(d.get("intents", 0)),
            shard=list(shard) if shard is not None else None,
            identify=d,
            ws=ws,
        )
        self.sessions[session.session_id] = session
        guilds = [{"id": str(self.guild_id), "unavailable": True}]
        if not _owns(session, self.guild_id):
            guilds = []
        ready: dict[str, Any] = {
            "v": 10,
            "user": self.bot_user | {"verified": True, "mfa_enabled": False, "email": None},
            "guilds": guilds,
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 1 << 19},
            "private_channels": [],
            "presences": [],
            "relationships": [],
            "user_settings": {},
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["seoul", "japan"],
            "auth": {},
            "_trace": ["fake-gw"],
        }
        if session.shard is not None:
            ready["shard"] = session.shard
        await self._emit(session, "READY", ready)
        if guilds and session.intents & GUILDS:
            await self._emit(session, "GUILD_CREATE", self._guild(session.intents))
        return session

    async def _resume(self, ws: web.WebSocketResponse, d: dict[str, Any]) -> GatewaySession | None:
        session = self.sessions.get(str(d.get("session_id")))
        if session is None or d.get("token") != session.token:
            await self._send(ws, {"op": 9, "d": False, "s": None, "t": None})
            return None
        after = int(d.get("seq") or 0)
        async with session.lock:
            session.ws = ws
            session.resumes += 1
            for frame in session.history:
                if frame["s"] > after:
                    await self._send(ws, frame)
        await self._emit(session, "RESUMED", {"_trace": ["fake-gw"]})
        return session

    async def _request_members(self, session: GatewaySession, d: dict[str, Any]) -> None:
        members = [self._member(uid) for uid in self.member_roles]
        chunk: dict[str, Any] = {
            "guild_id": str(d.get("guild_id")),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if d.get("nonce") is not None:
            chunk["nonce"] = d["nonce"]
        await self._emit(session, "GUILD_MEMBERS_CHUNK", chunk)

    # -- REST ---------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Any],
    ) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX):
            response: web.StreamResponse = await handler(request)
            return response
        path = request.path[len(API_PREFIX) :]
        call = RestCall(
            method=request.method,
            path=path,
            query=dict(request.query),
            headers=dict(request.headers),
            body=await self._read_body(request),
        )
        self._pending[id(request)] = call
        limited = self._take_rate_limit(call)
        failure = self._take_failure(call) if limited is None else None
        needs_auth = not path.startswith("/interactions/")
        if limited is not None:
            response = self._rate_limited(limited)
        elif failure is not None:
            response = self._error(failure.status, failure.message, failure.code)
        elif needs_auth and request.headers.get("Authorization") != f"Bot {self.token}":
            response = self._json({"message": "401: Unauthorized", "code": 0}, status=401)
        else:
            try:
                response = await handler(request)
            except web.HTTPNotFound:
                response = self._json({"message": "404: Not Found", "code": 0}, status=404)
            except web.HTTPMethodNotAllowed:
                response = self._json({"message": "405: Method Not Allowed", "code": 0}, 405)
        self._pending.pop(id(request), None)
        call.status = response.status
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()
        if self.on_call is not None:
            self.on_call(call, response)
        return response

    def _body(self, request: web.Request) -> Any:
        return self._pending[id(request)].body

    @staticmethod
    async def _read_body(request: web.Request) -> Any:
        if not request.can_read_body:
            return None
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            body: dict[str, Any] = {}
            raw = form.get("payload_json")
            if isinstance(raw, str):
                body = json.loads(raw)
            body["_files"] = [
                {"field": name, "filename": value.filename, "size": len(value.file.read())}
                for name, value in form.items()
                if isinstance(value, web.FileField)
            ]
            return body
        text = await request.text()
        try:
            return json.loads(text) if text else None
        except json.JSONDecodeError:
            return {"_unparsed": text}

    def _take_rate_limit(self, call: RestCall) -> _RateLimit | None:
        for limit in self._rate_limits:
            if limit.method == call.method and call.path.startswith(limit.path_prefix):
                limit.times -= 1
                if limit.times <= 0:
                    self._rate_limits.remove(limit)
                return limit
        return None

    def _take_failure(self, call: RestCall) -> _Failure | None:
        for failure in self._failures:
            if failure.method == call.method and call.path.startswith(failure.path_prefix):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    def _rate_limited(self, limit: _RateLimit) -> web.Response:
        headers = {
            "Retry-After": str(math.ceil(limit.retry_after)),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + limit.retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{limit.retry_after:.3f}",
            "X-RateLimit-Bucket": "fakebucket" + secrets.token_hex(8),
            "X-RateLimit-Scope": "global" if limit.is_global else "user",
        }
        if limit.is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": limit.retry_after,
            "global": limit.is_global,
        }
        return self._json(body, status=429, headers=headers)

    @staticmethod
    def _json(
        data: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> web.Response:
        # Not web.json_response: its "; charset=utf-8" makes discord.py treat the body as text.
        all_headers = {"Content-Type": "application/json", "Via": "1.1 google", **(headers or {})}
        return web.Response(body=json.dumps(data).encode(), status=status, headers=all_headers)

    def _error(self, status: int, message: str, code: int) -> web.Response:
        return self._json({"message": message, "code": code}, status=status)

    def _channel_or_404(self, request: web.Request) -> dict[str, Any] | web.Response:
        channel = self.channels.get(int(request.match_info["channel_id"]))
        if channel is None:
            return self._error(404, "Unknown Channel", 10003)
        return channel

    async def _get_me(self, request: web.Request) -> web.Response:
        me = self.bot_user | {
            "verified": True,
            "mfa_enabled": False,
            "email": None,
            "locale": "en-US",
            "bio": "",
        }
        return self._json(me)

    async def _get_application(self, request: web.Request) -> web.Response:
        owner = self.users[self.owner_id]
        return self._json(
            {
                "id": str(self.application_id),
                "name": "Ondo",
                "description": "Korean/English customer-service bot",
                "summary": "",
                "icon": None,
                "bot_public": False,
                "bot_require_code_grant": False,
                "owner": owner,
                "verify_key": "0" * 64,
                "flags": 1 << 19,
                "team": None,
                "rpc_origins": [],
                "tags": [],
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "role_connections_verification_url": None,
                "approximate_guild_count": 1,
                "bot": self.bot_user,
            }
        )

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return self._json({"url": self.gateway_url})

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        return self._json(
            {
                "url": self.gateway_url,
                "shards": self.shard_count,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 14_400_000,
                    "max_concurrency": 1,
                },
            }
        )

    async def _create_dm(self, request: web.Request) -> web.Response:
        body = self._body(request) or {}
        recipient = self.users.get(int(body.get("recipient_id", 0)))
        if recipient is None:
            return self._error(400, "Invalid Form Body", 50035)
        for channel in self.channels.values():
            if channel["type"] == 1 and channel["recipients"][0]["id"] == recipient["id"]:
                return self._json(channel)
        channel = {
            "id": str(self._snowflake()),
            "type": 1,
            "last_message_id": None,
            "flags": 0,
            "recipients": [recipient],
        }
        self._add_channel(channel)
        return self._json(channel)

    async def _get_channel(self, request: web.Request) -> web.Response:
        channel = self._channel_or_404(request)
        return channel if isinstance(channel, web.Response) else self._json(channel)

    async def _list_messages(self, request: web.Request) -> web.Response:
        """GET channel messages as Discord answers it: ``limit`` (1-100, default 50) messages
        after ``after`` (the oldest ones after it) or before ``before``, newest first."""
        channel = self._channel_or_404(request)
        if isinstance(channel, web.Response):
            return channel
        query = request.query
        limit = min(max(int(query.get("limit", 50)), 1), 100)
        found = sorted(
            (m for m in self.messages.values() if m["channel_id"] == str(channel["id"])),
            key=lambda m: int(m["id"]),
        )
        if "after" in query:
            found = [m for m in found if int(m["id"]) > int(query["after"])][:limit]
        else:
            if "before" in query:
                found = [m for m in found if int(m["id"]) < int(query["before"])]
            found = found[-limit:]
        return self._json([self._rest_view(m) for m in reversed(found)])

    async def _get_message(self, request: web.Request) -> web.Response:
        message = self.messages.get(int(request.match_info["message_id"]))
        if message is None or message["channel_id"] != request.match_info["channel_id"]:
            return self._error(404, "Unknown Message", 10008)
        return self._json(self._rest_view(message))

    async def _create_message(self, request: web.Request) -> web.Response:
        channel = self._channel_or_404(request)
        if isinstance(channel, web.Response):
            return channel
        if channel["type"] == 1 and int(channel["recipients"][0]["id"]) in self.dm_refusals:
            return self._error(403, "Cannot send messages to this user", 50007)
        body: dict[str, Any] = self._body(request) or {}
        content = str(body.get("content") or "")
        files = body.get("_files") or []
        if not content and not body.get("embeds") and not files and not body.get("components"):
            return self._error(400, "Cannot send an empty message", 50006)
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            # Discord: the same author's nonce seen in the last few minutes returns that
            # message instead of creating a second one; after that it is a new message.
            for existing in self.messages.values():
                posted_at = self._nonce_times.get(int(existing["id"]), float("-inf"))
                if (
                    existing.get("nonce") == nonce
                    and existing["channel_id"] == str(channel["id"])
                    and existing["author"]["id"] == str(self.bot_id)
                    and self.clock() - posted_at < self.nonce_window
                ):
                    self.nonce_hits += 1
                    return self._json(self._rest_view(existing))
        reference = body.get("message_reference") or {}
        reply_to = int(reference["message_id"]) if reference.get("message_id") else None
        guild_id = int(channel["guild_id"]) if "guild_id" in channel else None
        extra: dict[str, Any] = {
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "flags": int(body.get("flags") or 0),
            "tts": bool(body.get("tts", False)),
            "attachments": [
                {
                    "id": str(self._snowflake()),
                    "filename": f["filename"],
                    "size": f["size"],
                    "url": f"https://cdn.discordapp.com/attachments/{channel['id']}/{f['filename']}",
                    "proxy_url": f"https://media.discordapp.net/attachments/{f['filename']}",
                }
                for f in files
            ],
        }
        if body.get("nonce") is not None:
            extra["nonce"] = body["nonce"]
        message = self._message(
            int(channel["id"]),
            content,
            author=self.bot_user,
            guild_id=guild_id,
            reply_to=reply_to,
            extra=extra,
        )
        self.messages[int(message["id"])] = message
        if nonce is not None:
            self._nonce_times[int(message["id"])] = self.clock()
        if "last_message_id" in channel:
            channel["last_message_id"] = message["id"]
        if self.echo_own_messages:
            await self.dispatch("MESSAGE_CREATE", message)
        return self._json(self._rest_view(message))

    async def _edit_message(self, request: web.Request) -> web.Response:
        message = self.messages.get(int(request.match_info["message_id"]))
        if message is None or message["channel_id"] != request.match_info["channel_id"]:
            return self._error(404, "Unknown Message", 10008)
        if message["author"]["id"] != str(self.bot_id):
            return self._error(403, "Cannot edit a message authored by another user", 50005)
        body: dict[str, Any] = self._body(request) or {}
        for key in ("content", "embeds", "components", "flags"):
            if key in body and body[key] is not None:
                message[key] = body[key]
        message["edited_timestamp"] = _now_iso()
        if self.echo_own_messages:
            await self.dispatch("MESSAGE_UPDATE", message)
        return self._json(self._rest_view(message))

    @staticmethod
    def _rest_view(message: Mapping[str, Any]) -> dict[str, Any]:
        # REST message objects carry no guild_id/member (those are gateway-only fields).
        return {k: v for k, v in message.items() if k not in ("guild_id", "member")}

    def _thread(
        self, parent: Mapping[str, Any], thread_id: int, body: Mapping[str, Any], ttype: int
    ) -> dict[str, Any]:
        now = _now_iso()
        thread: dict[str, Any] = {
            "id": str(thread_id),
            "type": ttype,
            "guild_id": parent["guild_id"],
            "parent_id": parent["id"],
            "owner_id": str(self.bot_id),
            "name": str(body.get("name") or "thread"),
            "last_message_id": None,
            "rate_limit_per_user": int(body.get("rate_limit_per_user") or 0),
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": int(body.get("auto_archive_duration") or 1440),
                "archive_timestamp": now,
                "locked": False,
                "create_timestamp": now,
            }
            | ({"invitable": bool(body.get("invitable", True))} if ttype == 12 else {}),
        }
        self._add_channel(thread)
        return thread

    async def _thread_from_message(self, request: web.Request) -> web.Response:
        parent = self._channel_or_404(request)
        if isinstance(parent, web.Response):
            return parent
        if parent["type"] not in (0, 5):
            return self._error(400, "Cannot execute action on this channel type", 50024)
        message_id = int(request.match_info["message_id"])
        message = self.messages.get(message_id)
        if message is None or message["channel_id"] != parent["id"]:
            return self._error(404, "Unknown Message", 10008)
        if message_id in self._threads_by_message:
            return self._error(400, "A thread has already been created for this message", 160004)
        self._threads_by_message.add(message_id)
        # A thread started from a message shares the message's id.
        thread = self._thread(parent, message_id, self._body(request) or {}, 11)
        message["thread"] = thread
        await self.dispatch("THREAD_CREATE", thread | {"newly_created": True})
        return self._json(thread)

    async def _thread_without_message(self, request: web.Request) -> web.Response:
        parent = self._channel_or_404(request)
        if isinstance(parent, web.Response):
            return parent
        body: dict[str, Any] = self._body(request) or {}
        thread = self._thread(parent, self._snowflake(), body, int(body.get("type") or 12))
        await self.dispatch("THREAD_CREATE", thread | {"newly_created": True})
        return self._json(thread)

    async def _upsert_command(self, request: web.Request) -> web.Response:
        if request.match_info["application_id"] != str(self.application_id):
            return self._error(403, "Missing Access", 50001)
        body: dict[str, Any] = self._body(request) or {}
        name, kind = str(body.get("name") or ""), int(body.get("type") or 1)
        if not name or (kind == 1 and not body.get("description")):
            return self._error(400, "Invalid Form Body", 50035)
        old = self.commands.get(name)
        command = {
            "id": old["id"] if old else str(self._snowflake()),
            "application_id": str(self.application_id),
            "version": str(self._snowflake()),
            "description": "",
            "default_member_permissions": None,
            "integration_types": [0],
            "contexts": body.get("contexts"),
            "nsfw": False,
            **body,
        }
        self.commands[name] = command
        return self._json(command, status=200 if old else 201)

    async def _interaction_callback(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = self._body(request) or {}
        if not _is_true(request.query.get("with_response")):
            return web.Response(status=204, headers={"Via": "1.1 google"})
        kind = int(body.get("type") or 0)
        data: dict[str, Any] = body.get("data") or {}
        interaction: dict[str, Any] = {
            "id": request.match_info["interaction_id"],
            "type": 2,
            "response_message_loading": kind == 5,
            "response_message_ephemeral": bool(int(data.get("flags") or 0) & 64),
        }
        resource: dict[str, Any] = {"type": kind}
        if kind in (4, 5, 7):
            message = self._message(
                0, str(data.get("content") or ""), author=self.bot_user, extra={"flags": 0}
            )
            message.pop("channel_id")
            interaction["response_message_id"] = message["id"]
            resource["message"] = message
        return self._json({"interaction": interaction, "resource": resource})
