"""The ``ondo`` command: one module per command group, registered here. Errors are one line
and a non-zero exit (:mod:`bot.cli.errors`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from bot import __version__
from bot.cli import chat, insights, journey, kb, keys, privacy, serve
from bot.cli.errors import EXIT_ERROR, EXIT_USAGE, CliError
from bot.settings import Settings, SettingsError
from bot.storage.records import StoreError


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ondo`` console script."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    from bot.logs import configure, secret_values

    try:
        settings = Settings.from_env()
        log_format, secrets = settings.log_format, secret_values(settings)
    except SettingsError:
        log_format, secrets = "text", []  # the command itself reports the bad setting
    # A server logs what it does; one-shot commands only their warnings.
    configure(
        logging.INFO if args.verbose or getattr(args, "logs_activity", False) else logging.WARNING,
        log_format,
        secrets,
    )
    from knowledge.entries import KnowledgeError

    try:
        return int(args.handler(args))
    except (CliError, KnowledgeError, StoreError, SettingsError) as exc:
        print(f"ondo: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ondo", description="Ondo: an emotion-aware customer-service bot (Korean/English)."
    )
    parser.add_argument("--version", action="version", version=f"ondo {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(title="commands")
    for group in (chat, kb, serve, keys, privacy, insights, journey):
        group.add_commands(sub)
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
