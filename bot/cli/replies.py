"""``ondo kb replies``: the agents' saved replies (:mod:`bot.desk.replies`) from the terminal."""

from __future__ import annotations

import argparse
import sys

from bot.cli.errors import CliError
from bot.desk.replies import (
    LANGUAGES,
    SavedReplies,
    UnknownReplyError,
    describe,
    find_replies_file,
    load_saved_replies,
)
from bot.settings import Settings
from bot.types import Language

SAMPLE_VALUES = {"customer_name": "김민지", "order_number": "20261208-0042", "agent_name": "이서연"}
"""What ``--show`` fills the placeholders with."""
SAMPLE_VALUES_EN = {"customer_name": "Alex", "order_number": "20261208-0042", "agent_name": "Sam"}


def add_commands(kb_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``replies`` under ``ondo kb``."""
    replies = kb_sub.add_parser(
        "replies", help="list the saved replies agents send with /ondo reply (replies.yaml)"
    )
    replies.add_argument("--show", metavar="NAME", help="render one with sample values")
    replies.add_argument(
        "--lang", choices=LANGUAGES, help="with --show: only this language (default both)"
    )
    replies.set_defaults(handler=_cmd_replies)


def _cmd_replies(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    path = find_replies_file(settings.kb_paths)
    if path is None:
        folders = ", ".join(str(p) for p in settings.kb_paths)
        raise CliError(f"no replies.yaml at the top of the knowledge folder ({folders})")
    replies = load_saved_replies(path)
    if args.show is None:
        if args.lang:
            raise CliError("--lang goes with --show NAME")
        for reply in replies.replies:
            print(describe(reply))
        print(f"({len(replies.replies)} saved replies in {path})", file=sys.stderr)
        return 0
    languages: tuple[Language, ...] = (args.lang,) if args.lang else LANGUAGES
    for language in languages:
        print(f"[{language}] {_render(replies, args.show, language)}")
    return 0


def _render(replies: SavedReplies, name: str, language: Language) -> str:
    values = SAMPLE_VALUES if language == "ko" else SAMPLE_VALUES_EN
    try:
        return replies.render(name, language, **values)
    except UnknownReplyError as exc:
        raise CliError(str(exc)) from None
