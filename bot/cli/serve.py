"""``ondo serve slack|discord|all``: run the platform adapters (see :mod:`bot.serve`)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.cli.runtime import runtime as runtime_for
from bot.cli.runtime import warn_if_readable
from bot.settings import Settings


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``serve`` on the ``ondo`` parser."""
    serve = sub.add_parser("serve", help="run the Slack, Discord, Twilio and/or e-mail adapters")
    serve.add_argument(
        "platform",
        choices=["slack", "discord", "twilio", "email", "all"],
        help="which platform to serve; all = every configured one",
    )
    serve.set_defaults(handler=cmd_serve, logs_activity=True)


def cmd_serve(args: argparse.Namespace) -> int:
    from bot.serve import plan_platforms, serve

    settings = Settings.from_env()
    platforms = plan_platforms(settings, args.platform)  # before the models load
    if not settings.shared_db:
        warn_if_readable(settings.db_path)
    print("Loading Ondo (models and knowledge base)…", file=sys.stderr, flush=True)
    runtime = runtime_for(settings)
    try:
        asyncio.run(serve(runtime, platforms))
    finally:
        runtime.close()
    return 0
