"""Where discord.py connects: its REST base and default gateway, for Discord-API-compatible
servers and tests (``DISCORD_API_BASE``, ``DISCORD_GATEWAY_URL``).

discord.py has no public setting for them; it reads two class attributes,
``discord.http.Route.BASE`` and ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``. They have
been stable through 2.x (discord.py is pinned); if a release moves them, this fails loudly
instead of silently talking to discord.com.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from urllib.parse import urlsplit

import discord
import discord.gateway
import discord.http
import yarl

API_VERSION_PATH = "/api/v10"


class DiscordEndpointsMoved(RuntimeError):
    """discord.py no longer keeps its endpoints where Ondo expects them."""


def api_base_url(url: str) -> str:
    """The REST base without a trailing ``/``; a bare ``http://host:port`` gets ``/api/v10``."""
    url = url.rstrip("/")
    if not urlsplit(url).path:
        url += API_VERSION_PATH
    return url


def check_endpoints() -> None:
    """Raise :class:`DiscordEndpointsMoved` unless both endpoint attributes are where and what
    Ondo expects."""
    route = getattr(discord.http, "Route", None)
    websocket = getattr(discord.gateway, "DiscordWebSocket", None)
    problems: list[str] = []
    if route is None or not isinstance(getattr(route, "BASE", None), str):
        problems.append("discord.http.Route.BASE (a str like 'https://discord.com/api/v10')")
    if websocket is None or not isinstance(getattr(websocket, "DEFAULT_GATEWAY", None), yarl.URL):
        problems.append(
            "discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY (a yarl.URL like "
            "'wss://gateway.discord.gg/')"
        )
    if problems:
        raise DiscordEndpointsMoved(
            f"DISCORD_API_BASE / DISCORD_GATEWAY_URL cannot be applied: discord.py "
            f"{discord.__version__} no longer has " + " and ".join(problems) + ". Install the "
            "discord.py version pinned in pyproject.toml (2.7.1), or update "
            "adapters/discord/endpoints.py for this version."
        )


@contextlib.contextmanager
def discord_endpoints(api_base: str | None, gateway_url: str | None) -> Iterator[None]:
    """Point discord.py at ``api_base`` (REST) and ``gateway_url`` (websocket) while inside,
    then restore the previous values. ``None`` leaves that endpoint alone; with both ``None``
    nothing is checked or changed."""
    if api_base is None and gateway_url is None:
        yield
        return
    check_endpoints()
    route, websocket = discord.http.Route, discord.gateway.DiscordWebSocket
    old_base, old_gateway = route.BASE, websocket.DEFAULT_GATEWAY
    if api_base is not None:
        route.BASE = api_base_url(api_base)
    if gateway_url is not None:
        websocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    try:
        yield
    finally:
        route.BASE = old_base
        websocket.DEFAULT_GATEWAY = old_gateway
