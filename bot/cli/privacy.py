"""``ondo privacy``: retention, and a customer's rights to see and delete what is stored."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys

from bot.cli.errors import usage
from bot.settings import Settings, parse_duration
from bot.storage.connect import open_store
from bot.storage.interface import Store

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


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
    _person_arguments(export)
    export.set_defaults(handler=_cmd_export)
    forget = privacy_sub.add_parser(
        "forget", help="delete what a person wrote and the conversations they opened"
    )
    _person_arguments(forget)
    forget.set_defaults(handler=_cmd_forget)
    privacy.set_defaults(handler=lambda _args: usage(privacy))


def _person_arguments(parser: argparse.ArgumentParser) -> None:
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="the person's platform user id")
    who.add_argument(
        "--phone",
        metavar="NUMBER",
        help="an SMS or phone customer's number, E.164 (+821012345678): Ondo stores only a "
        "pseudonym of it, found with the Twilio settings `ondo serve` uses",
    )


def _person(args: argparse.Namespace) -> str | None:
    """The user id ``--user`` names, or the pseudonym of ``--phone``'s number; ``None`` (and
    one line on stderr) when the number cannot be turned into one."""
    if args.phone is None:
        return str(args.user)
    from adapters.twilio.config import phone_key_of
    from adapters.twilio.identity import PhoneBook

    number = "".join(str(args.phone).split()).replace("-", "")
    if not _E164.fullmatch(number):
        print("error: --phone: expected an E.164 number such as +821012345678", file=sys.stderr)
        return None
    key = phone_key_of(Settings.from_env())
    if key is None:
        print(
            "error: --phone needs ONDO_PHONE_KEY or TWILIO_AUTH_TOKEN, as `ondo serve twilio` "
            "has them: phone numbers are stored only as pseudonyms made with that secret",
            file=sys.stderr,
        )
        return None
    return PhoneBook(key).user_for(number)


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
    user = _person(args)
    if user is None:
        return 2
    store = _open_store()
    try:
        data = asyncio.run(store.retention.export_user(user))
    finally:
        store.close()
    print(json.dumps(data, ensure_ascii=False, indent=2))
    if not data["conversations"] and not data["messages_elsewhere"] and not data["ratings"]:
        print(f"nothing is stored about {user}", file=sys.stderr)
    return 0


def _cmd_forget(args: argparse.Namespace) -> int:
    user = _person(args)
    if user is None:
        return 2
    store = _open_store()
    try:
        counts = asyncio.run(store.retention.forget_user(user))
    finally:
        store.close()
    print(_counts(f"deleted for {user}:", counts))
    return 0


def _counts(prefix: str, counts: dict[str, int]) -> str:
    return prefix + " " + ", ".join(f"{n} {table}" for table, n in counts.items())
