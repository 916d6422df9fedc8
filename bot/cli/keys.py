"""``ondo keys``: encryption keys for message text at rest."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.cli.errors import usage
from bot.settings import Settings, SettingsError
from bot.storage.connect import open_store
from bot.storage.crypto import FernetCipher, generate_key


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``keys`` on the ``ondo`` parser."""
    keys = sub.add_parser("keys", help="encryption keys for message text at rest")
    keys_sub = keys.add_subparsers(title="keys commands")
    generate = keys_sub.add_parser("generate", help="print a new ONDO_ENCRYPTION_KEY")
    generate.set_defaults(handler=_cmd_keys_generate)
    rotate = keys_sub.add_parser(
        "rotate", help="re-encrypt everything stored with a new key (prints it)"
    )
    rotate.add_argument("--new-key", help="the new key (default: a freshly generated one)")
    rotate.set_defaults(handler=_cmd_keys_rotate)
    keys.set_defaults(handler=lambda _args: usage(keys))


def _cmd_keys_generate(_args: argparse.Namespace) -> int:
    print(generate_key())
    return 0


def _cmd_keys_rotate(args: argparse.Namespace) -> int:
    new_key = args.new_key or generate_key()
    new = FernetCipher([new_key])
    settings = Settings.from_env()
    store = open_store(settings)
    if settings.encryption_key and new_key in settings.encryption_key.split(","):
        store.close()
        raise SettingsError("--new-key is the key in use; give a different one")
    try:
        count = asyncio.run(store.retention.reseal(new))
    finally:
        store.close()
    print(new_key)
    print(
        f"re-encrypted {count} stored texts in {settings.db_label}. Set ONDO_ENCRYPTION_KEY to "
        "the key above now: the old key no longer opens anything.",
        file=sys.stderr,
    )
    return 0
