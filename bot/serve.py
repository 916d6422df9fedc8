"""``ondo serve slack``: run the Slack adapter until interrupted."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from aiohttp import web
from slack_bolt.async_app import AsyncApp

from bot.app import Runtime
from bot.settings import Settings, SettingsError

log = logging.getLogger("ondo.serve")

EVENTS_PATH = "/slack/events"


class ServeError(SettingsError):
    """Serving cannot start; the message says which setting is missing."""


def check_slack_settings(settings: Settings) -> None:
    """Fail fast, before models load, when Slack is not configured."""
    missing = [
        name
        for name, value in (
            ("SLACK_BOT_TOKEN", settings.slack_bot_token),
            # Socket Mode needs no signing secret: events arrive over the app's own socket.
            ("SLACK_SIGNING_SECRET", settings.slack_signing_secret or settings.slack_app_token),
        )
        if not value
    ]
    if missing:
        raise ServeError(
            f"{' and '.join(missing)} must be set to serve Slack (see the README's Slack section)"
        )


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def slack_web_app(bolt_app: AsyncApp | None) -> web.Application:
    """The HTTP app: Bolt's Events API handler at ``/slack/events`` (if given) and ``/healthz``."""
    web_app = bolt_app.web_app(path=EVENTS_PATH) if bolt_app is not None else web.Application()
    web_app.router.add_get("/healthz", _healthz)
    return web_app


async def serve_slack(runtime: Runtime, stop: asyncio.Event | None = None) -> None:
    """Serve Slack until ``stop`` is set (or SIGINT/SIGTERM): HTTP events, or Socket Mode."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    from adapters.slack import build_app

    settings = runtime.settings
    check_slack_settings(settings)
    bolt_app, _adapter = build_app(runtime.engine, settings)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    socket_mode = settings.slack_app_token is not None
    runner = web.AppRunner(slack_web_app(None if socket_mode else bolt_app))
    await runner.setup()
    handler: AsyncSocketModeHandler | None = None
    try:
        await web.TCPSite(runner, "0.0.0.0", settings.port).start()
        if socket_mode:
            handler = AsyncSocketModeHandler(bolt_app, app_token=settings.slack_app_token)
            await handler.connect_async()  # type: ignore[no-untyped-call]
            log.info("Slack Socket Mode connected; health on :%d/healthz", settings.port)
        else:
            log.info("Slack events on :%d%s", settings.port, EVENTS_PATH)
        await stop.wait()
    finally:
        if handler is not None:
            await handler.close_async()  # type: ignore[no-untyped-call]
        await runner.cleanup()
