"""``ondo kb review`` and ``ondo kb history``: the correction queue from the terminal.

They act on the database only (no models load); a running ``ondo serve`` picks an approved
change up within seconds (:mod:`bot.corrections.live`).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
from collections.abc import Callable, Coroutine
from typing import TypeVar

from bot.cli.errors import CliError
from bot.corrections.loop import CorrectionError, Corrections, describe
from bot.settings import Settings
from bot.storage.connect import open_store
from bot.storage.interface import Store
from bot.storage.records import Correction, KbChange
from bot.texts import shorten

T = TypeVar("T")


def add_commands(kb_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``review`` and ``history`` under ``ondo kb``."""
    review = kb_sub.add_parser(
        "review", help="list answers marked wrong; approve or reject them (see the README)"
    )
    review_sub = review.add_subparsers(title="review actions")
    approve = review_sub.add_parser("approve", help="approve correction N: change the knowledge")
    approve.add_argument("number", type=int, metavar="N", help="the #number in the list")
    how = approve.add_mutually_exclusive_group()
    how.add_argument(
        "--as-new",
        dest="mode",
        action="store_const",
        const="new",
        help="add a new entry for the customer's question (the default)",
    )
    how.add_argument(
        "--update",
        dest="mode",
        action="store_const",
        const="update",
        help="replace the answer of the entry the bot answered from",
    )
    approve.add_argument("--answer", help="the right answer (required for a customer's 👎)")
    approve.add_argument(
        "--audience",
        choices=("customers", "staff"),
        help="who the entry is for (default: who asked; an updated entry keeps its own)",
    )
    approve.set_defaults(handler=_cmd_approve)
    reject = review_sub.add_parser("reject", help="reject correction N")
    reject.add_argument("number", type=int, metavar="N", help="the #number in the list")
    reject.set_defaults(handler=_cmd_reject)
    review.set_defaults(handler=_cmd_list)

    history = kb_sub.add_parser("history", help="knowledge changes: who, when, what they replaced")
    history.add_argument("entry", nargs="?", help="only this entry id")
    history.set_defaults(handler=_cmd_history)


def reviewer() -> str:
    """Who approves from this terminal, for the history."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in a bare container
        return "cli"


def _with_store(work: Callable[[Store], Coroutine[object, object, T]]) -> T:
    settings = Settings.from_env()
    store = open_store(settings)
    try:
        return asyncio.run(work(store))
    except CorrectionError as exc:
        raise CliError(str(exc)) from None
    finally:
        store.close()


def _cmd_list(_args: argparse.Namespace) -> int:
    pending = _with_store(lambda store: Corrections(store).pending())
    if not pending:
        print("No corrections waiting for review.")
        return 0
    for correction in pending:
        print("\n    ".join(describe(correction)))
    print(f"({len(pending)} waiting; `ondo kb review approve N` or `reject N`)", file=sys.stderr)
    return 0


def _cmd_approve(args: argparse.Namespace) -> int:
    from knowledge.base import merge
    from knowledge.loader import load_paths

    settings = Settings.from_env()
    files = load_paths(settings.kb_paths)

    async def work(store: Store) -> KbChange:
        entries = merge(files, store.imported_entries_sync())
        return await Corrections(store).approve(
            args.number,
            reviewer(),
            entries,
            mode=args.mode,
            answer=args.answer,
            audience=args.audience,
        )

    change = _with_store(work)
    verb = "added" if change.action == "add" else "updated"
    print(
        f"#{args.number} approved: entry {change.entry_id} {verb} for {change.new.audience}; "
        "a running `ondo serve` uses it within seconds"
    )
    return 0


def _cmd_reject(args: argparse.Namespace) -> int:
    correction: Correction = _with_store(
        lambda store: Corrections(store).reject(args.number, reviewer())
    )
    print(f"#{correction.id} rejected; the knowledge base is unchanged")
    return 0


def _cmd_history(args: argparse.Namespace) -> int:
    changes = _with_store(lambda store: Corrections(store).history(args.entry))
    if not changes:
        print("No knowledge changes" + (f" for {args.entry}." if args.entry else "."))
        return 0
    for change in changes:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(change.changed_at))
        origin = f" (correction #{change.correction_id})" if change.correction_id else ""
        print(f"{when} · {change.changed_by} · {change.action} {change.entry_id}{origin}")
        for language, answer in sorted(change.new.answer.items()):
            old = change.old.answer.get(language) if change.old else None
            if old is not None and old != answer:
                print(f"    {language} was: {shorten(old, 200)}")
            if old != answer:
                print(f"    {language} now: {shorten(answer, 200)}")
    return 0
