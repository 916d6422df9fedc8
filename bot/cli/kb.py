"""``ondo kb``: import, list and search the knowledge base (review: :mod:`bot.cli.review`, saved
replies: :mod:`bot.cli.replies`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.cli import replies, review
from bot.cli.chat import as_argument
from bot.cli.errors import CliError, usage
from bot.cli.runtime import runtime as runtime_for
from bot.settings import Settings
from bot.types import audience_for


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``kb`` and its commands (``review``, ``history`` and ``replies`` too) on the
    parser."""
    kb = sub.add_parser("kb", help="manage the knowledge base")
    kb_sub = kb.add_subparsers(title="kb commands")
    kb_import = kb_sub.add_parser("import", help="validate knowledge files and add them")
    kb_import.add_argument("paths", nargs="+", type=Path, help="YAML, CSV or Markdown files")
    kb_import.set_defaults(handler=_cmd_kb_import)
    kb_list = kb_sub.add_parser("list", help="list the entries the bot answers from")
    kb_list.add_argument("--category", help="only this category")
    kb_list.add_argument(
        "--audience", choices=("customers", "staff"), help="only entries for this audience"
    )
    kb_list.set_defaults(handler=_cmd_kb_list)
    kb_search = kb_sub.add_parser("search", help="show the best matches for a question")
    kb_search.add_argument("text")
    kb_search.add_argument("-k", type=int, default=5, help="how many matches (default 5)")
    as_argument(kb_search)
    kb_search.set_defaults(handler=_cmd_kb_search)
    kb_train = kb_sub.add_parser(
        "train",
        help="fine-tune the English sentence model on the example questions (used if better)",
    )
    kb_train.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads while training (default: every core of an idle machine, 1 if busy)",
    )
    kb_train.set_defaults(handler=_cmd_kb_train)
    review.add_commands(kb_sub)
    replies.add_commands(kb_sub)
    kb.set_defaults(handler=lambda _args: usage(kb))


def _cmd_kb_import(args: argparse.Namespace) -> int:
    from bot.storage.connect import open_store
    from knowledge.loader import load_paths

    entries = load_paths(args.paths)  # all files validated before anything is written
    if not entries:
        raise CliError("no entries found in " + ", ".join(map(str, args.paths)))
    settings = Settings.from_env()
    store = open_store(settings)
    try:
        added, updated = asyncio.run(
            store.import_entries(entries, ", ".join(str(p) for p in args.paths))
        )
    finally:
        store.close()
    unchanged = len(entries) - added - updated
    print(
        f"imported {len(entries)} entries into {settings.db_label}: "
        f"{added} added, {updated} updated, {unchanged} unchanged"
    )
    return 0


def _cmd_kb_list(args: argparse.Namespace) -> int:
    from bot.storage.connect import open_store
    from knowledge.base import merge
    from knowledge.loader import load_paths

    settings = Settings.from_env()
    store = open_store(settings)
    try:
        entries = merge(load_paths(settings.kb_paths), store.imported_entries_sync())
    finally:
        store.close()
    shown = [
        e
        for e in entries
        if (not args.category or e.category == args.category)
        and (not args.audience or e.audience == args.audience)
    ]
    for entry in shown:
        first = next(iter(entry.questions.get("ko") or entry.questions.get("en") or ("",)))
        print(f"{entry.id}\t{entry.category}\t{entry.audience}\t{first}")
    print(f"({len(shown)} entries)", file=sys.stderr)
    return 0


def _cmd_kb_search(args: argparse.Namespace) -> int:
    runtime = runtime_for()
    try:
        result = runtime.knowledge.search_sync(
            args.text, k=args.k, audience=audience_for(args.role)
        )
    finally:
        runtime.close()
    print(f"confidence {result.confidence:.2f} (as {args.role})")
    for match in result.matches:
        entry = match.entry
        print(
            f"{match.score:.3f}\t{entry.id}\t{entry.category}\t{entry.audience}\t{match.question}"
        )
    return 0


def _cmd_kb_train(args: argparse.Namespace) -> int:
    import os

    from bot.app import encoder_folder
    from bot.storage.connect import open_store
    from knowledge import finetune
    from knowledge.base import merge
    from knowledge.loader import load_paths

    settings = Settings.from_env()
    folder = encoder_folder(settings)
    if folder is None:
        raise CliError("ONDO_DB is in memory: there is no folder to store the tuned encoder in")
    store = open_store(settings)
    try:
        entries = merge(load_paths(settings.kb_paths), store.imported_entries_sync())
    finally:
        store.close()
    questions = sum(len(e.all_questions()) for e in entries)
    threads = args.threads or finetune.training_threads()
    print(f"{len(entries)} entries, {questions} example questions; {threads} torch threads")
    outcome = finetune.train(entries, folder, finetune.Recipe(threads=threads))
    print(outcome.message())
    print(f"took {outcome.seconds:.1f}s, 1-min load average {os.getloadavg()[0]:.1f}")
    if outcome.path is None:
        print("the bot keeps the bundled MiniLM encoder")
    else:
        print("the bot uses the tuned encoder from its next start")
    return 0
