"""``ondo journey``: send a batch of shop events, link a customer to a platform identity, and
show or set a customer's consent (with its evidence and history)."""

from __future__ import annotations

import argparse
import asyncio
import io
import re
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from bot.cli.errors import EXIT_ERROR, CliError, usage
from bot.journeys.definitions import CATEGORIES
from bot.journeys.events import MAX_BODY, EventError, iter_event_lines
from bot.journeys.service import JourneyService
from bot.settings import Settings
from bot.storage.connect import open_store
from bot.storage.interface import Store
from bot.storage.journey_records import Consent, JourneyStats, JourneyStoreError

_PLATFORM = re.compile(r"[a-z][a-z0-9_]{0,31}")
_MAX_SHOWN_ERRORS = 50


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``journey`` and its commands on the ``ondo`` parser."""
    journey = sub.add_parser("journey", help="customer journeys: events, links and consent")
    journey_sub = journey.add_subparsers(title="journey commands")
    send = journey_sub.add_parser(
        "send", help="ingest shop events (JSON lines) and decide the sends due now"
    )
    send.add_argument("file", help="a JSON-lines file of events, or - for standard input")
    send.set_defaults(handler=_cmd_send)
    link = journey_sub.add_parser("link", help="link a shop customer id to a platform user")
    link.add_argument("customer_id")
    link.add_argument("platform", help="slack, discord, …")
    link.add_argument("user", help="the user's id on that platform")
    link.set_defaults(handler=_cmd_link)
    consent = journey_sub.add_parser(
        "consent", help="show a customer's consent, or record a new entry with its evidence"
    )
    consent.add_argument("customer_id")
    consent.add_argument("--category", choices=CATEGORIES)
    given = consent.add_mutually_exclusive_group()
    given.add_argument("--grant", action="store_true", help="the customer agreed")
    given.add_argument("--revoke", action="store_true", help="the customer withdrew")
    consent.add_argument(
        "--night", action="store_true", help="with --grant: also at night (21:00-08:00)"
    )
    consent.add_argument("--evidence", help="how it was given (required with --grant)")
    consent.set_defaults(handler=_cmd_consent)
    journey.set_defaults(handler=lambda _args: usage(journey))


# --- send ----------------------------------------------------------------------------------


def _cmd_send(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    with ExitStack() as stack:
        handle = _open_events(args.file, stack)
        store = open_store(settings)
        stack.callback(store.close)
        service = JourneyService.from_settings(store, settings)
        return asyncio.run(_send(service, handle, args.file))


def _open_events(name: str, stack: ExitStack) -> TextIO:
    if name == "-":
        buffer = getattr(sys.stdin, "buffer", None)
        if buffer is None:  # already text (a test, an embedding)
            return sys.stdin
        return io.TextIOWrapper(buffer, encoding="utf-8", newline=None)
    path = Path(name)
    try:
        return stack.enter_context(path.open(encoding="utf-8", newline=None))
    except OSError as exc:
        raise CliError(f"{name}: cannot read ({exc.strerror or exc})") from None


def _lines(handle: TextIO, seen: list[int]) -> Iterator[str]:
    """The file's lines, each at most one event's size (a longer one is cut, so it is
    refused as too large without being held whole); ``seen[0]`` is the last line's number."""
    while True:
        line = handle.readline(MAX_BODY + 1)
        if not line:
            return
        if len(line) > MAX_BODY and not line.endswith("\n"):
            while (rest := handle.readline(MAX_BODY)) and not rest.endswith("\n"):
                pass
        seen[0] += 1
        yield line


async def _send(service: JourneyService, handle: TextIO, name: str) -> int:
    started = service.clock()
    accepted = duplicates = scheduled = cancelled = 0
    errors: list[str] = []
    seen = [0]
    try:
        for item in iter_event_lines(_lines(handle, seen)):
            if isinstance(item, EventError):
                errors.append(str(item))
                continue
            try:
                done = await service.ingest(item)
            except (EventError, JourneyStoreError) as exc:
                errors.append(f"line {seen[0]}: {exc}")
                continue
            accepted += 1
            duplicates += done.duplicate
            scheduled += done.scheduled
            cancelled += done.cancelled
    except UnicodeDecodeError as exc:
        raise CliError(f"{name}: line {seen[0] + 1} is not UTF-8 (byte {exc.start})") from None
    except EventError as exc:  # the batch as a whole (too many lines)
        raise CliError(f"{name}: {exc}") from None
    print(
        f"{accepted} events accepted ({duplicates} duplicates ignored), {len(errors)} refused; "
        f"{scheduled} sends scheduled, {cancelled} cancelled"
    )
    for line in errors[:_MAX_SHOWN_ERRORS]:
        print(line)
    if len(errors) > _MAX_SHOWN_ERRORS:
        print(f"… and {len(errors) - _MAX_SHOWN_ERRORS} more refused lines")
    decided = await service.run_due(None, limit=10_000)
    stats = await service.store.journeys.stats(started)
    print(f"{decided} due sends decided now" + ("; the sends of this batch:" if stats else ""))
    for entry in stats:
        print("  " + _stats_line(entry))
    if any(entry.sent for entry in stats):
        print("the DMs are queued in the outbox: `ondo serve` delivers them on Slack and Discord")
    return EXIT_ERROR if errors else 0


def _stats_line(entry: JourneyStats) -> str:
    suppressed = ", ".join(f"{n} {reason}" for reason, n in entry.suppressed.items())
    parts = [
        f"{entry.journey}: {entry.sent} sent (queued)",
        f"{entry.pending} waiting",
        f"{entry.cancelled} cancelled",
        f"suppressed: {suppressed or 'none'}",
    ]
    if entry.deferred:
        parts.append(f"{entry.deferred} deferrals")
    return ", ".join(parts)


# --- link ----------------------------------------------------------------------------------


def _cmd_link(args: argparse.Namespace) -> int:
    platform = args.platform.strip().lower()
    if not _PLATFORM.fullmatch(platform):
        raise CliError(f"{args.platform[:40]!r} is not a platform name (slack, discord, …)")
    store = open_store(Settings.from_env())
    try:
        asyncio.run(_link(store, args.customer_id, platform, args.user))
    except JourneyStoreError as exc:
        raise CliError(str(exc)) from None
    finally:
        store.close()
    print(f"linked {platform} user {args.user} to customer {args.customer_id}")
    return 0


async def _link(store: Store, customer_id: str, platform: str, user: str) -> None:
    previous = await store.journeys.customer_for(platform, user)
    await store.journeys.link(customer_id, platform, user)
    if previous is not None and previous != customer_id:
        print(f"(moved from customer {previous})")


# --- consent -------------------------------------------------------------------------------


def _cmd_consent(args: argparse.Namespace) -> int:
    setting = args.grant or args.revoke
    if setting and not args.category:
        raise CliError("--grant and --revoke need --category")
    if not setting and (args.category or args.night or args.evidence):
        raise CliError("--category, --night and --evidence go with --grant or --revoke")
    if args.night and not args.grant:
        raise CliError("--night goes with --grant")
    if args.grant and not (args.evidence or "").strip():
        raise CliError("--grant needs --evidence: how the customer agreed (a form, a call …)")
    store = open_store(Settings.from_env())
    try:
        asyncio.run(_consent(store, args))
    except JourneyStoreError as exc:
        raise CliError(str(exc)) from None
    finally:
        store.close()
    return 0


async def _consent(store: Store, args: argparse.Namespace) -> None:
    journeys = store.journeys
    customer_id: str = args.customer_id
    known = await journeys.customer(customer_id)
    if args.grant or args.revoke:
        if known is None:
            raise CliError(
                f"no customer {customer_id!r} is known: link them or send an event first"
            )
        evidence = (args.evidence or "").strip() or "revoked from the command line"
        entry = await journeys.set_consent(
            customer_id,
            args.category,
            granted=bool(args.grant),
            night=bool(args.night),
            source="cli",
            evidence=evidence,
        )
        print(f"recorded: {_entry(entry, with_category=True)}")
        if args.revoke:
            cancelled = await journeys.cancel_pending(
                customer_id, category=args.category, reason="consent withdrawn"
            )
            if cancelled:
                print(f"{cancelled} pending {args.category} sends cancelled")
    history = await journeys.consent_history(customer_id)
    if known is None and not history:
        raise CliError(f"no customer {customer_id!r} is known")
    print(f"consent of customer {customer_id}:")
    for category in CATEGORIES:
        current = await journeys.consent(customer_id, category)
        shown = _entry(current) if current else _default(category)
        print(f"  {category}: {shown}")
    print("history:" if history else "history: none")
    for entry in history:
        print(f"  {_entry(entry, with_category=True)}")


def _default(category: str) -> str:
    if category == "marketing":
        return "never asked (no marketing is sent without consent)"
    return "never asked (sent unless the customer opts out)"


def _entry(entry: Consent, *, with_category: bool = False) -> str:
    state = "granted" if entry.granted else "refused"
    if entry.granted and entry.night:
        state += " (night too)"
    when = datetime.fromtimestamp(entry.at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    evidence = " ".join((entry.evidence or "").split())[:200] or "no evidence"
    head = f"{entry.category} " if with_category else ""
    return f"{head}{state} on {when} via {entry.source}: {evidence}"
