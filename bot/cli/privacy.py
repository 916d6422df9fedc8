"""``ondo privacy``: retention, and a customer's rights to see and delete what is stored."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from bot.cli.errors import usage
from bot.settings import Settings, parse_duration
from bot.storage.connect import open_store
from bot.storage.interface import Store


def duration(text: str) -> float:
    """``parse_duration`` for argparse."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``privacy`` on the ``ondo`` parser."""
    privacy = sub.add_parser("privacy", help="retention, export and deletion of customer data")
    privacy_sub = privacy.add_subparsers(title="privacy commands")
    purge = privacy_sub.add_parser("purge", help="delete conversations idle for longer than AGE")
    purge.add_argument("--older-than", required=True, type=duration, metavar="AGE", help="e.g. 90d")
    purge.set_defaults(handler=_cmd_purge)
    export = privacy_sub.add_parser(
        "export", help="print what a person wrote and the conversations they opened"
    )
    export.add_argument("--user", required=True, help="the person's platform user id")
    export.set_defaults(handler=_cmd_export)
    forget = privacy_sub.add_parser(
        "forget", help="delete what a person wrote and the conversations they opened"
    )
    forget.add_argument("--user", required=True, help="the person's platform user id")
    forget.set_defaults(handler=_cmd_forget)
    privacy.set_defaults(handler=lambda _args: usage(privacy))


def _open_store() -> Store:
    return open_store(Settings.from_env())


def _cmd_purge(args: argparse.Namespace) -> int:
    store = _open_store()
    try:
        counts = asyncio.run(store.retention.purge(args.older_than))
    finally:
        store.close()
    print(_counts("deleted", counts))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    store = _open_store()
    try:
        data = asyncio.run(store.retention.export_user(args.user))
    finally:
        store.close()
    print(json.dumps(data, ensure_ascii=False, indent=2))
    if not data["conversations"] and not data["messages_elsewhere"] and not data["ratings"]:
        print(f"nothing is stored about {args.user}", file=sys.stderr)
    return 0


def _cmd_forget(args: argparse.Namespace) -> int:
    store = _open_store()
    try:
        counts = asyncio.run(store.retention.forget_user(args.user))
    finally:
        store.close()
    print(_counts(f"deleted for {args.user}:", counts))
    return 0


def _counts(prefix: str, counts: dict[str, int]) -> str:
    return prefix + " " + ", ".join(f"{n} {table}" for table, n in counts.items())
