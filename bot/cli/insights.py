"""``ondo insights reviews`` and ``ondo insights conversations``: figures for the shop owner.

Both print a compact terminal summary, or one JSON object with ``--json``, and write a
self-contained HTML report with ``--html PATH``. ``conversations`` is implemented by
:mod:`bot.insights.conversations` (its ``add_arguments`` and ``run``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import ModuleType

from bot.cli.errors import EXIT_ERROR, usage
from bot.insights import InsightsError


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
        help="CSV/TSV or JSON lines, UTF-8 or CP949 (default: the bundled sample shop's reviews)",
    )
    reviews.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    reviews.add_argument("--html", type=Path, metavar="PATH", help="also write an HTML report")
    reviews.set_defaults(handler=_cmd_reviews)

    conversations = insights_sub.add_parser(
        "conversations", help="volume, intents, emotions and handoffs from the database"
    )
    module = _conversations_module()
    if isinstance(module, ModuleType):
        module.add_arguments(conversations)
    conversations.set_defaults(handler=_cmd_conversations)
    insights.set_defaults(handler=lambda _args: usage(insights))


def _conversations_module() -> ModuleType | str:
    """The conversations module, or why it cannot be imported."""
    try:
        from bot.insights import conversations
    except ImportError as exc:
        return str(exc)
    return conversations


def _cmd_conversations(args: argparse.Namespace) -> int:
    module = _conversations_module()
    if not isinstance(module, ModuleType):
        print(f"ondo: error: insights conversations is not available: {module}", file=sys.stderr)
        return EXIT_ERROR
    return int(module.run(args))


def _cmd_reviews(args: argparse.Namespace) -> int:
    from bot.insights.html import write_html
    from bot.insights.polarity import ReviewPolarity
    from bot.insights.reading import SAMPLE_REVIEWS, read_reviews
    from bot.insights.reviews import analyze
    from bot.insights.reviews_report import page, report_language, summary
    from bot.settings import Settings

    configured = Settings.from_env().agent_language
    try:
        file = read_reviews(args.file or SAMPLE_REVIEWS)
        report = analyze(file, ReviewPolarity())
        language = report_language(report, configured)
        if args.html is not None:
            write_html(args.html, page(report, language))
    except InsightsError as exc:
        print(f"ondo: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        print(summary(report, language))
    if args.html is not None:
        print(f"HTML report: {args.html}", file=sys.stderr)
    return 0
