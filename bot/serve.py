"""``ondo serve slack|discord|all``: run the platform adapters until interrupted.

One process, one :class:`bot.conversation.routing.Router`: every adapter registers its customers
and the one whose platform holds ``ONDO_HANDOFF_CHANNEL`` registers the agents' desk, so a customer
on one platform can be served by agents on the other. ``/healthz`` is always served on
``PORT``; the Slack Events API shares that HTTP server at ``/slack/events``, Twilio's webhooks
at ``/twilio/...``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence

from aiohttp import web
from slack_bolt.async_app import AsyncApp

from bot.app import Runtime
from bot.conversation.courier import Courier
from bot.conversation.routing import RECOVERY_INTERVAL_SECONDS, Router, platform_of
from bot.corrections import live as kb_live
from bot.desk.config import desk_config_for
from bot.desk.service import DeskService
from bot.insights.polarity import PolarityModel, ReviewPolarity
from bot.journeys.service import JourneyService
from bot.journeys.webhook import events_routes
from bot.settings import Settings, SettingsError
from bot.storage.records import HEARTBEAT_SECONDS, new_replica_id

log = logging.getLogger("ondo.serve")

EVENTS_PATH = "/slack/events"
PLATFORMS = ("slack", "discord", "twilio", "email")
RUNTIME = web.AppKey("runtime", Runtime)
SERVED = web.AppKey("platforms", list[str])
CONNECTED = web.AppKey("connected", dict[str, asyncio.Event])
SHARDS = web.AppKey("shards", str)
SHARED_RECOVERY_SECONDS = 3.0
"""The recovery sweep's interval on a shared database: a dead replica's claims are free once its
heartbeat is :data:`bot.storage.records.DEAD_AFTER_SECONDS` old, and the next sweep takes them."""


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


def check_discord_settings(settings: Settings) -> None:
    """Fail fast, before models load, when Discord is not configured."""
    if not settings.discord_token:
        raise ServeError(
            "DISCORD_TOKEN must be set to serve Discord (see the README's Discord section)"
        )


def check_twilio_settings(settings: Settings) -> None:
    """Fail fast, before models load, when Twilio is not configured."""
    from adapters.twilio.config import TwilioConfig, TwilioConfigError

    try:
        TwilioConfig.from_settings(settings)
    except TwilioConfigError as exc:
        raise ServeError(str(exc)) from None


def check_email_settings(settings: Settings) -> None:
    """Fail fast, before models load, when e-mail is not configured."""
    from adapters.email.config import EmailConfig, EmailConfigError

    try:
        EmailConfig.from_settings(settings)
    except EmailConfigError as exc:
        raise ServeError(str(exc)) from None


_CHECKS = {
    "slack": check_slack_settings,
    "discord": check_discord_settings,
    "twilio": check_twilio_settings,
    "email": check_email_settings,
}
TWILIO_PLATFORMS = ("sms", "voice")
"""The conversation platforms ``twilio`` holds (its conversation keys' prefixes)."""


def held_platforms(platforms: Sequence[str]) -> tuple[str, ...]:
    """What a replica serving ``platforms`` holds: ``twilio`` stands for its channels."""
    held: list[str] = []
    for platform in platforms:
        held += TWILIO_PLATFORMS if platform == "twilio" else [platform]
    return tuple(held)


def plan_platforms(settings: Settings, requested: str) -> list[str]:
    """The platforms ``ondo serve <requested>`` runs, settings checked.

    ``all`` means every configured platform. A single platform also brings up the platform
    of the agents' channel, since handoffs must reach it, unless the database is shared: then
    a replica holding that platform posts them (through the outbox).
    """
    if requested == "all":
        platforms = [
            p
            for p, token in (
                ("slack", settings.slack_bot_token),
                ("discord", settings.discord_token),
                ("twilio", settings.twilio_account_sid),
                ("email", settings.email_imap_host),
            )
            if token
        ]
        if not platforms:
            raise ServeError(
                "nothing to serve: set SLACK_BOT_TOKEN, DISCORD_TOKEN, TWILIO_ACCOUNT_SID and/or"
                " ONDO_EMAIL_IMAP_HOST (see the README)"
            )
    elif requested in PLATFORMS:
        platforms = [requested]
    else:
        raise ServeError(
            f"unknown platform {requested!r}; use one of slack, discord, twilio, email, all"
        )
    desk = platform_of(settings.handoff_channel) if settings.handoff_channel else None
    # Sharing a database, the desk's platform is another replica's to hold (the outbox carries
    # tickets and relays to it); alone, this process must hold it itself.
    if desk is not None and desk not in platforms and not settings.shared_db:
        log.info("also serving %s: ONDO_HANDOFF_CHANNEL is there", desk)
        platforms.append(desk)
    for platform in platforms:
        _CHECKS[platform](settings)
    return platforms


async def _healthz(request: web.Request) -> web.Response:
    """200 when ready to answer (knowledge loaded, database writable), else 503 and why."""
    connected = request.app.get(CONNECTED, {})
    runtime = request.app.get(RUNTIME)
    problems: list[str] = []
    if runtime is not None:
        if not runtime.knowledge.entries:
            problems.append("the knowledge base is empty")
        if not await runtime.store.writable():
            problems.append("the database is not writable")
    store = runtime.store if runtime is not None else None
    return web.json_response(
        {
            "ok": not problems,
            "problems": problems,
            "platforms": request.app.get(SERVED, []),
            "connected": {name: event.is_set() for name, event in connected.items()},
            "database": None if store is None else store.label,
            "shared": False if store is None else store.shared,
            "replica": None if store is None else store.replicas.current,
            "shards": request.app.get(SHARDS, ""),
        },
        status=503 if problems else 200,
    )


def slack_web_app(bolt_app: AsyncApp | None, signing_secret: str | None = None) -> web.Application:
    """The HTTP app: Bolt's Events API handler at ``/slack/events`` (if given) and ``/healthz``.

    A signed body Bolt cannot take (broken JSON, not an object, wrong types) is answered 400
    before it reaches Bolt; ``signing_secret`` tells a signed one from noise (401).
    """
    if bolt_app is None:
        web_app = web.Application()
    else:
        from adapters.slack.guard import guard

        web_app = bolt_app.web_app(path=EVENTS_PATH)
        web_app.middlewares.append(guard(EVENTS_PATH, signing_secret))
    web_app.router.add_get("/healthz", _healthz)
    return web_app


async def run_heartbeat(
    runtime: Runtime, stop: asyncio.Event, interval: float = HEARTBEAT_SECONDS
) -> None:
    """Report this replica alive every ``interval`` seconds until ``stop`` is set; a failed
    beat (the database away for a moment) is logged and tried again at the next."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
        if stop.is_set():
            return
        try:
            await runtime.store.replicas.heartbeat()
        except Exception as exc:
            log.warning(
                "replica heartbeat failed: %s", str(exc).splitlines()[0] if str(exc) else exc
            )


RETENTION_INTERVAL_SECONDS = 24 * 3600.0
KB_POLL_SECONDS = kb_live.POLL_SECONDS
"""How often a server looks for knowledge changed by another process (``ondo kb review``)."""


async def run_retention(
    runtime: Runtime,
    older_than: float,
    stop: asyncio.Event,
    interval: float = RETENTION_INTERVAL_SECONDS,
) -> None:
    """Purge conversations idle for longer than ``older_than`` now and every ``interval``."""
    while not stop.is_set():
        try:
            counts = await runtime.store.retention.purge(older_than)
            log.info("retention: %s", ", ".join(f"{n} {t}" for t, n in counts.items()))
        except Exception:
            log.exception("retention purge failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


def review_polarity(runtime: Runtime) -> ReviewPolarity:
    """How answers to review requests are read: the review polarity model, over the
    knowledge base's multilingual sentence model when it has one (loaded once per process),
    and the engine's emotion detector for English (loaded on the first review)."""
    sentence = next(
        (e for e in runtime.knowledge.embedders if e.name == "use-multilingual-v3"), None
    )
    return ReviewPolarity(PolarityModel.load(embedder=sentence) if sentence else None)


def build_router(runtime: Runtime) -> tuple[Router, JourneyService]:
    """The router as ``ondo serve`` runs it, with the journeys' opt-out and review hooks (a
    review request's answer, a feedback mail) and the help desk's (hours, SLAs, assignment,
    satisfaction: ``desk.yaml``). A journey or desk file that cannot be used raises its
    one-line error here, before anything runs."""
    settings = runtime.settings
    router = Router(runtime.engine, handoff_channel=settings.handoff_channel)
    journeys = JourneyService.from_settings(
        runtime.store, settings, polarity=review_polarity(runtime).polarity
    )
    router.opt_out = journeys.opt_out
    router.opt_out_click = journeys.opt_out_category
    router.review = journeys.review
    DeskService(router, desk_config_for(settings.kb_paths)).install()
    return router, journeys


async def serve(
    runtime: Runtime, platforms: Sequence[str], stop: asyncio.Event | None = None
) -> None:
    """Serve ``platforms`` until ``stop`` is set (or SIGINT/SIGTERM), retrying unanswered
    messages in the background. Raises :class:`ServeError` if an adapter dies."""
    settings = runtime.settings
    router, journeys = build_router(runtime)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    bolt_app: AsyncApp | None = None
    socket_mode = False
    if "slack" in platforms:
        from adapters.slack import build_app

        bolt_app, _adapter = build_app(router, settings)
        socket_mode = settings.slack_app_token is not None
    web_app = slack_web_app(None if socket_mode else bolt_app, settings.slack_signing_secret)
    events_routes(web_app, secret=settings.events_secret, sink=journeys)
    twilio = None
    if "twilio" in platforms:
        from adapters.twilio import build_twilio

        twilio = build_twilio(router, settings)
        twilio.add_routes(web_app)
    email = None
    if "email" in platforms:
        from adapters.email import build_email

        email = build_email(router, settings)
    web_app[SERVED] = list(platforms)
    web_app[RUNTIME] = runtime
    connected: dict[str, asyncio.Event] = {}
    web_app[CONNECTED] = connected
    runner = web.AppRunner(web_app)
    await runner.setup()
    tasks: dict[str, asyncio.Task[None]] = {}
    handler = None
    replica = settings.replica_id or new_replica_id()
    await runtime.store.replicas.join(replica, platforms=held_platforms(platforms))
    log.info("replica %s on %s", replica, runtime.store.label)
    try:
        await web.TCPSite(runner, "0.0.0.0", settings.port).start()
        if bolt_app is not None and socket_mode:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            handler = AsyncSocketModeHandler(bolt_app, app_token=settings.slack_app_token)
            await handler.connect_async()  # type: ignore[no-untyped-call]
            log.info("Slack Socket Mode connected")
        elif bolt_app is not None:
            log.info("Slack events on :%d%s", settings.port, EVENTS_PATH)
        if twilio is not None:
            log.info("Twilio SMS on :%d/twilio/sms, voice on /twilio/voice", settings.port)
        if email is not None:
            tasks["email"] = asyncio.create_task(email.run(stop))
        if "discord" in platforms:
            from adapters.discord import run_discord

            connected["discord"] = asyncio.Event()
            tasks["discord"] = asyncio.create_task(
                run_discord(router, settings, stop, ready=connected["discord"])
            )
        # Sharing the database, a dead replica's messages are taken over within seconds.
        sweep = SHARED_RECOVERY_SECONDS if runtime.store.shared else RECOVERY_INTERVAL_SECONDS
        tasks["recovery"] = asyncio.create_task(router.run_recovery(stop, sweep))
        tasks["heartbeat"] = asyncio.create_task(run_heartbeat(runtime, stop))
        # Posts other replicas queued for the platforms held here.
        tasks["outbox"] = asyncio.create_task(Courier(router).run(stop))
        # Journey sends due now, decided at send time and queued as DMs in the outbox.
        tasks["journeys"] = asyncio.create_task(journeys.run(stop, replica))
        # SLA reminders and stale conversations, each posted once (claimed in the store).
        if isinstance(router.desk_hooks, DeskService):
            tasks["desk"] = asyncio.create_task(router.desk_hooks.run(stop))
        tasks["knowledge"] = asyncio.create_task(
            kb_live.watch(runtime.store, runtime.knowledge, stop, KB_POLL_SECONDS)
        )
        if settings.retention is not None:
            tasks["retention"] = asyncio.create_task(
                run_retention(runtime, settings.retention, stop)
            )
        log.info("serving %s; health on :%d/healthz", ", ".join(platforms), settings.port)
        waiter = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([waiter, *tasks.values()], return_when="FIRST_COMPLETED")
        stop.set()
        for name, task in tasks.items():
            if task in done and (task.cancelled() or task.exception() is not None):
                error = "cancelled" if task.cancelled() else task.exception()
                raise ServeError(f"the {name} adapter stopped: {error}")
    finally:
        stop.set()
        for task in tasks.values():
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
        if handler is not None:
            await handler.close_async()  # type: ignore[no-untyped-call]
        await runner.cleanup()
        if twilio is not None:
            with contextlib.suppress(Exception):
                await twilio.aclose()
        # Last: the claims still held are free for the other replicas at once.
        with contextlib.suppress(Exception):
            await runtime.store.replicas.leave()
