"""``ondo keys`` and ``ondo privacy``: encryption keys, retention, and a customer's rights."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from bot.crypto import FernetCipher, generate_key
from bot.settings import Settings, SettingsError, parse_duration
from bot.store import Store, open_store


def duration(text: str) -> float:
    """``parse_duration`` for argparse."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``keys`` and ``privacy`` on the ``ondo`` parser."""
    keys = sub.add_parser("keys", help="encryption keys for message text at rest")
    keys_sub = keys.add_subparsers(title="keys commands")
    generate = keys_sub.add_parser("generate", help="print a new ONDO_ENCRYPTION_KEY")
    generate.set_defaults(handler=_cmd_keys_generate)
    rotate = keys_sub.add_parser(
        "rotate", help="re-encrypt everything stored with a new key (prints it)"
    )
    rotate.add_argument("--new-key", help="the new key (default: a freshly generated one)")
    rotate.set_defaults(handler=_cmd_keys_rotate)
    keys.set_defaults(handler=lambda _args: _usage(keys))

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
    privacy.set_defaults(handler=lambda _args: _usage(privacy))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _open_store() -> tuple[Settings, Store]:
    settings = Settings.from_env()
    return settings, open_store(settings)


def _cmd_keys_generate(_args: argparse.Namespace) -> int:
    print(generate_key())
    return 0


def _cmd_keys_rotate(args: argparse.Namespace) -> int:
    new_key = args.new_key or generate_key()
    new = FernetCipher([new_key])
    settings, store = _open_store()
    if settings.encryption_key and new_key in settings.encryption_key.split(","):
        store.close()
        raise SettingsError("--new-key is the key in use; give a different one")
    try:
        count = asyncio.run(store.reseal(new))
    finally:
        store.close()
    print(new_key)
    print(
        f"re-encrypted {count} stored texts in {settings.db_path}. Set ONDO_ENCRYPTION_KEY to "
        "the key above now: the old key no longer opens anything.",
        file=sys.stderr,
    )
    return 0


def _cmd_purge(args: argparse.Namespace) -> int:
    _settings, store = _open_store()
    try:
        counts = asyncio.run(store.purge(args.older_than))
    finally:
        store.close()
    print(_counts("deleted", counts))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    _settings, store = _open_store()
    try:
        data = asyncio.run(store.export_user(args.user))
    finally:
        store.close()
    print(json.dumps(data, ensure_ascii=False, indent=2))
    if not data["conversations"] and not data["messages_elsewhere"] and not data["ratings"]:
        print(f"nothing is stored about {args.user}", file=sys.stderr)
    return 0


def _cmd_forget(args: argparse.Namespace) -> int:
    _settings, store = _open_store()
    try:
        counts = asyncio.run(store.forget_user(args.user))
    finally:
        store.close()
    print(_counts(f"deleted for {args.user}:", counts))
    return 0


def _counts(prefix: str, counts: dict[str, int]) -> str:
    return prefix + " " + ", ".join(f"{n} {table}" for table, n in counts.items())
