"""``ondo insights conversations``: what customers asked, felt and got, over a time window.

Reads the database named by the settings (``ONDO_DB``, opened with ``ONDO_ENCRYPTION_KEY``),
computes the figures of :mod:`bot.insights.conversation_stats`, and prints the compact
terminal summary of :mod:`bot.insights.conversation_report`, or one JSON object
(``--json``); ``--html PATH`` also writes the self-contained HTML report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import datetime, tzinfo
from pathlib import Path
from typing import NamedTuple

from bot.insights import InsightsError
from bot.insights.conversation_report import describe_duration, page, report_language, summary
from bot.insights.conversation_stats import summarize
from bot.insights.html import write_html
from bot.insights.queries import WindowRows, read_window
from bot.settings import Settings, parse_duration
from bot.storage.crypto import cipher_for
from bot.storage.sqlite import Store
from knowledge.embedders import Embedder

DEFAULT_SINCE = "30d"
EXIT_ERROR = 1


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--since``, ``--json`` and ``--html`` to the ``insights conversations`` parser."""
    parser.add_argument(
        "--since",
        type=since,
        default=since(DEFAULT_SINCE),
        metavar="AGE",
        help=f"how far back to look: s, m, h, d or w (default {DEFAULT_SINCE})",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument(
        "--html", type=Path, metavar="PATH", help="also write a self-contained HTML report here"
    )


def load_embedder() -> Embedder:
    """The multilingual sentence model that clusters unanswered questions (loads on first use)."""
    from knowledge.embedders import USEEmbedder

    return USEEmbedder()


def run(args: argparse.Namespace) -> int:
    """Compute the figures for the window and print or write them; returns the exit code."""
    window: Since = args.since
    settings = Settings.from_env()
    until = time.time()
    start = until - window.seconds
    rows = _read(settings, start, until)
    stats = summarize(rows, since=start, until=until, tz=_local_tz(), embedder=load_embedder())
    language = report_language(stats, settings.agent_language)
    described = describe_duration(window.text, language)
    if args.html is not None:
        try:
            write_html(args.html, page(stats, described, language))
        except InsightsError as exc:
            print(f"ondo: error: {exc}", file=sys.stderr)
            return EXIT_ERROR
    if args.json:
        print(json.dumps(stats.to_json(), ensure_ascii=False))
    else:
        print(summary(stats, described, language))
    if args.html is not None:
        print(f"HTML report: {args.html}", file=sys.stderr)
    return 0


def _read(settings: Settings, start: float, until: float) -> WindowRows:
    # Looking must not create a database: a missing file simply holds no conversations.
    if settings.db_path != ":memory:" and not Path(settings.db_path).exists():
        return WindowRows((), (), (), ())
    store = Store.open(settings.db_path, cipher_for(settings.encryption_key))
    try:
        return asyncio.run(read_window(store, start, until))
    finally:
        store.close()


def _local_tz() -> tzinfo:
    zone = datetime.now().astimezone().tzinfo
    assert zone is not None
    return zone
