"""``ondo insights reviews``, ``conversations`` and ``journeys``: figures for the shop owner.

Each prints a compact terminal summary, or one JSON object with ``--json``, and write a
self-contained HTML report with ``--html PATH``. ``conversations`` reads the database named by
the settings (``ONDO_DB``, opened with ``ONDO_ENCRYPTION_KEY``) and computes the figures of
:mod:`bot.insights.conversation_stats` with the help desk's of :mod:`bot.insights.desk_stats`
(business time from ``desk.yaml`` beside the knowledge base); ``journeys`` reads the
journeys' sends from the same database and computes :mod:`bot.insights.journeys`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import datetime, tzinfo
from pathlib import Path
from typing import NamedTuple, TypeVar

from bot.cli.errors import EXIT_ERROR, usage
from bot.desk.config import DeskConfigError, desk_config_for
from bot.desk.hours import BusinessHours
from bot.insights import InsightsError, conversation_report
from bot.insights.conversation_stats import summarize
from bot.insights.desk_stats import DeskRows, desk_figures
from bot.insights.html import write_html
from bot.settings import Settings, parse_duration
from bot.storage.connect import open_store
from bot.storage.interface import Store
from bot.storage.records import StoredReview, WindowRows
from bot.storage.sql.database import Bound
from bot.storage.sql.journey_insights import JourneyRows, journey_rows
from knowledge.embedders import Embedder

R = TypeVar("R")

clock: Callable[[], float] = time.time
"""Now, for the end of the ``conversations`` window (tests set a fixed instant)."""


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``insights reviews`` and ``insights conversations`` on the ``ondo`` parser."""
    insights = sub.add_parser("insights", help="reports on reviews and conversations")
    insights_sub = insights.add_subparsers(title="insights commands")

    reviews = insights_sub.add_parser(
        "reviews", help="polarity, key phrases and quotes of a reviews file (CSV or JSON lines)"
    )
    reviews.add_argument(
        "file",
        nargs="?",
        type=Path,
        help="CSV/TSV or JSON lines, UTF-8 or CP949 (default: the reviews stored in the "
        "database, ONDO_DB, when it has any, else the bundled sample shop's reviews)",
    )
    reviews.add_argument(
        "--stored",
        action="store_true",
        help="read the reviews stored in the database (customers' answers to review "
        "requests), never the bundled sample",
    )
    reviews.add_argument(
        "--since",
        type=since,
        metavar="AGE",
        help="with stored reviews: only those from this far back (s, m, h, d or w; default: all)",
    )
    reviews.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    reviews.add_argument("--html", type=Path, metavar="PATH", help="also write an HTML report")
    reviews.add_argument(
        "--text-only",
        action="store_true",
        help="label Korean reviews by the review model alone, without recalibrating it on the "
        "file's own star ratings",
    )
    reviews.set_defaults(handler=_cmd_reviews)

    conversations = insights_sub.add_parser(
        "conversations", help="volume, intents, emotions and handoffs from the database"
    )
    _conversations_arguments(conversations)
    conversations.set_defaults(handler=_cmd_conversations)

    journeys = insights_sub.add_parser(
        "journeys",
        help="per journey: scheduled, sent, suppressed by reason, replies, opt-outs, conversions",
    )
    _conversations_arguments(journeys, days=True)
    journeys.set_defaults(handler=_cmd_journeys)
    insights.set_defaults(handler=lambda _args: usage(insights))


def _cmd_reviews(args: argparse.Namespace) -> int:
    from bot.insights.polarity import ReviewPolarity
    from bot.insights.reading import SAMPLE_REVIEWS, ReviewFile, read_reviews, stored_reviews
    from bot.insights.reviews import analyze
    from bot.insights.reviews_report import page, report_language, summary

    if args.file is not None and (args.stored or args.since is not None):
        print("ondo: error: give a FILE or --stored/--since, not both", file=sys.stderr)
        return EXIT_ERROR
    settings = Settings.from_env()
    configured = settings.agent_language
    try:
        file: ReviewFile | None = None
        if args.file is None:
            until = time.time()
            start = until - args.since.seconds if args.since is not None else 0.0
            label, rows = _read_reviews(settings, start, until)
            if rows:
                file = stored_reviews(rows, label, _local_tz())
            elif args.stored:
                print(f"ondo: error: no reviews are stored in {label}", file=sys.stderr)
                return EXIT_ERROR
            else:
                print(
                    f"ondo: no reviews are stored in {label} yet; showing the bundled sample's",
                    file=sys.stderr,
                )
        file = file or read_reviews(args.file or SAMPLE_REVIEWS)
        report = analyze(file, ReviewPolarity(), adapt=not args.text_only)
    except InsightsError as exc:
        print(f"ondo: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    language = report_language(report, configured)
    return _emit(args, report.to_json(), summary(report, language), lambda: page(report, language))


def _emit(args: argparse.Namespace, figures: object, text: str, html: Callable[[], str]) -> int:
    """Write the HTML report if asked (first: a path that cannot be written prints nothing
    else), then print the figures as JSON (``--json``) or the terminal summary."""
    if args.html is not None:
        try:
            write_html(args.html, html())
        except InsightsError as exc:
            print(f"ondo: error: {exc}", file=sys.stderr)
            return EXIT_ERROR
    print(json.dumps(figures, ensure_ascii=False) if args.json else text)
    if args.html is not None:
        print(f"HTML report: {args.html}", file=sys.stderr)
    return 0


DEFAULT_SINCE = "30d"


class Since(NamedTuple):
    """The ``--since`` window: as typed, and in seconds."""

    text: str
    seconds: float


def since(text: str) -> Since:
    """Parse ``--since`` (``90d``, ``12h``, ``2w``) for argparse."""
    try:
        return Since(text, parse_duration(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def since_days(text: str) -> Since:
    """Parse ``--since`` for ``insights journeys``: a number of days (``30``) or an age as for
    :func:`since` (``2w``)."""
    stripped = text.strip()
    if stripped.isascii() and stripped.isdigit():
        stripped += "d"
    return since(stripped)


def _conversations_arguments(parser: argparse.ArgumentParser, *, days: bool = False) -> None:
    parser.add_argument(
        "--since",
        type=since_days if days else since,
        default=since(DEFAULT_SINCE),
        metavar="DAYS" if days else "AGE",
        help=(
            f"how far back to look: days, or an age in s, m, h, d or w (default {DEFAULT_SINCE})"
            if days
            else f"how far back to look: s, m, h, d or w (default {DEFAULT_SINCE})"
        ),
    )
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument(
        "--html", type=Path, metavar="PATH", help="also write a self-contained HTML report here"
    )


def load_embedder() -> Embedder:
    """The multilingual sentence model that clusters unanswered questions (loads on first use)."""
    from knowledge.embedders import USEEmbedder

    return USEEmbedder()


def _cmd_conversations(args: argparse.Namespace) -> int:
    """Compute the figures for the window and print or write them; returns the exit code."""
    window: Since = args.since
    settings = Settings.from_env()
    until = clock()
    start = until - window.seconds
    try:
        hours = BusinessHours(desk_config_for(settings.kb_paths))
    except DeskConfigError as exc:
        print(f"ondo: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    rows, desk_rows = _read(settings, start, until)
    stats = summarize(
        rows,
        since=start,
        until=until,
        tz=_local_tz(),
        embedder=load_embedder(),
        desk=desk_figures(desk_rows, hours, now=until),
    )
    language = conversation_report.report_language(stats, settings.agent_language)
    described = conversation_report.describe_duration(window.text, language)
    return _emit(
        args,
        stats.to_json(),
        conversation_report.summary(stats, described, language),
        lambda: conversation_report.page(stats, described, language),
    )


def _read_reviews(settings: Settings, start: float, until: float) -> tuple[str, list[StoredReview]]:
    """The database's label and the reviews stored in it from ``start`` to ``until``."""
    label = settings.db_label

    async def read(store: Store) -> tuple[str, list[StoredReview]]:
        return store.label, await store.reviews.reviews(start, until)

    nothing: list[StoredReview] = []
    return _looking(settings, (label, nothing), read)


def _read(settings: Settings, start: float, until: float) -> tuple[WindowRows, DeskRows]:
    """The conversations' rows of the window, and the help desk's (tickets created and rating
    questions asked in it)."""

    async def read(store: Store) -> tuple[WindowRows, DeskRows]:
        rows = await store.insights.read_window(start, until)
        sla = await store.desk.sla_rows(start, until)
        csat = await store.desk.csat_rows(start, until)
        return rows, DeskRows(tuple(sla), tuple(csat))

    return _looking(settings, (WindowRows((), (), (), ()), DeskRows()), read)


def _looking(
    settings: Settings, empty: R, read: Callable[[Store], Coroutine[object, object, R]]
) -> R:
    """``read`` on the store of ``settings``, opened for it and closed after. Looking must not
    create a database: a missing file simply holds nothing (``empty``)."""
    file = not settings.shared_db and settings.db_path != ":memory:"
    if file and not Path(settings.db_path).exists():
        return empty
    store = open_store(settings)
    try:
        return asyncio.run(read(store))
    finally:
        store.close()


def _local_tz() -> tzinfo:
    zone = datetime.now().astimezone().tzinfo
    assert zone is not None
    return zone


def _cmd_journeys(args: argparse.Namespace) -> int:
    """The journey figures of the sends created in the window; returns the exit code."""
    from bot.insights import journeys

    window: Since = args.since
    settings = Settings.from_env()
    until = time.time()
    start = until - window.seconds
    figures = journeys.compute(_read_journeys(settings, start, until), since=start, until=until)
    language = journeys.report_language(figures, settings.agent_language)
    described = conversation_report.describe_duration(window.text, language)
    return _emit(
        args,
        figures.to_json(),
        journeys.summary(figures, described, language),
        lambda: journeys.page(figures, described, language),
    )


def _read_journeys(settings: Settings, start: float, until: float) -> JourneyRows:
    async def read(store: Store) -> JourneyRows:
        if not isinstance(store, Bound):  # every backend is; a guard for the type checker
            raise TypeError(f"{type(store).__name__} is not a database store")
        return await journey_rows(store, start, until)

    return _looking(settings, JourneyRows((), (), (), ()), read)
