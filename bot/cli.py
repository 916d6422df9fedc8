"""The ``ondo`` command: chat, ask, kb. Errors are one line and a non-zero exit."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot import __version__
from bot.engine import Analysis, Outcome
from bot.settings import Settings, SettingsError
from bot.store import StoreError
from bot.types import Message, Role, audience_for

if TYPE_CHECKING:
    from bot.app import Runtime

EXIT_ERROR = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A user-facing failure: printed as one line, exit code 1."""


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
        logging.INFO if args.verbose or args.handler is _cmd_serve else logging.WARNING,
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

    chat = sub.add_parser("chat", help="talk to the bot in the terminal")
    chat.add_argument("--debug", action="store_true", help="start with the debug line on")
    chat.add_argument(
        "--staff", action="store_true", help="ask as a staff member (the internal handbook too)"
    )
    chat.set_defaults(handler=_cmd_chat)

    ask = sub.add_parser("ask", help="answer one message, or one per stdin line with '-'")
    ask.add_argument("--json", action="store_true", help="print one JSON object per message")
    _as_argument(ask)
    ask.add_argument("text", help="the customer's message, or - to read lines from stdin")
    ask.set_defaults(handler=_cmd_ask)

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
    _as_argument(kb_search)
    kb_search.set_defaults(handler=_cmd_kb_search)
    from bot.cli_review import add_commands as add_review_commands

    add_review_commands(kb_sub)
    kb.set_defaults(handler=lambda _args: _usage(kb))

    serve = sub.add_parser("serve", help="run the Slack and/or Discord adapters")
    serve.add_argument(
        "platform",
        choices=["slack", "discord", "all"],
        help="which platform to serve; all = every configured one",
    )
    serve.set_defaults(handler=_cmd_serve)

    from bot.cli_admin import add_commands

    add_commands(sub)
    from bot.cli_insights import add_commands as add_insights_commands

    add_insights_commands(sub)
    return parser


def _as_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as",
        dest="role",
        choices=("customer", "staff"),
        default="customer",
        help="who asks: a customer (default; customer knowledge only) or staff (everything)",
    )


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return EXIT_USAGE


def warn_if_readable(db_path: str) -> None:
    """One warning line when group or others can read the database file (the customer
    conversations are in it); ``chmod 600`` is the fix."""
    from bot.files import readable_by_others

    if db_path != ":memory:" and readable_by_others(Path(db_path)):
        logging.getLogger("ondo").warning(
            "%s can be read by other users of this machine: it holds customer conversations "
            "(chmod 600 %s)",
            db_path,
            db_path,
        )


def _runtime(settings: Settings | None = None) -> Runtime:
    from bot.app import build_runtime

    return build_runtime(settings or Settings.from_env())


# --- ask ---------------------------------------------------------------------------------


def ask_json(analysis: Analysis, reply: str) -> dict[str, Any]:
    """The ``ondo ask --json`` object of product.md, field by field."""
    return {
        "reply": reply,
        "language": analysis.language,
        "emotion": {"label": analysis.emotion.label, "score": round(analysis.emotion.score, 4)},
        "intent": analysis.intent,
        "matches": [
            {"id": m.entry.id, "score": m.score, "question": m.question} for m in analysis.matches
        ],
        "confidence": analysis.confidence,
        "escalate": analysis.escalation.escalate,
        "escalation_reason": analysis.escalation.reason,
        "answered": analysis.answered,
    }


def _cmd_ask(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    runtime = _runtime(settings)
    try:
        return asyncio.run(
            _ask(runtime, args.text, args.json, sys.stdin, sys.stdout, role=args.role)
        )
    finally:
        runtime.close()


async def _ask(
    runtime: Runtime,
    text: str,
    as_json: bool,
    stdin: TextIO,
    stdout: TextIO,
    *,
    role: Role = "customer",
) -> int:
    lines = (line.rstrip("\r\n") for line in stdin) if text == "-" else iter([text])
    for line in lines:
        # Each message is its own fresh conversation.
        message = _cli_message(f"cli:ask:{uuid.uuid4().hex}", line, role)
        outcome = await runtime.engine.handle(message)
        reply = outcome.reply.text if outcome.reply else ""
        analysis = outcome.analysis
        if as_json and analysis is not None:
            print(json.dumps(ask_json(analysis, reply), ensure_ascii=False), file=stdout)
        else:
            print(reply, file=stdout)
            if outcome.handoff is not None:
                print(_handoff_box(outcome.handoff.summary), file=stdout)
        stdout.flush()
    return 0


def _cli_message(key: str, text: str, role: Role = "customer") -> Message:
    return Message(
        platform="cli",
        conversation_key=key,
        user="cli-staff" if role == "staff" else "cli-user",
        text=text,
        timestamp=time.time(),
        message_id=uuid.uuid4().hex,
        role=role,
    )


# --- chat --------------------------------------------------------------------------------

_CHAT_HELP = """Commands: /debug  toggle the analysis line   /agent TEXT  reply as the human agent
          /resolve  agent ends the handoff   /new  start a new conversation   /quit"""


def _cmd_chat(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    warn_if_readable(settings.db_path)
    print("Loading Ondo (models and knowledge base)…", file=sys.stderr, flush=True)
    runtime = _runtime(settings)
    try:
        return asyncio.run(_chat(runtime, args.debug, "staff" if args.staff else "customer"))
    finally:
        runtime.close()


async def _chat(runtime: Runtime, debug: bool, role: Role = "customer") -> int:
    out = sys.stdout
    key = f"cli:chat:{uuid.uuid4().hex}"
    mode = "LLM" if runtime.settings.llm_enabled else "offline composer"
    entries = len(runtime.knowledge.entries_for(audience_for(role)))
    who = "as staff: customer and staff knowledge" if role == "staff" else "as a customer"
    print(f"Ondo {__version__} · {entries} entries · {mode} · {who}", file=out)
    example = "악성 고객은 어떻게 대응해야 해?"
    if role != "staff":
        example = "환불 요청하려면 어떻게 해야 하나요?"
    print(f"Ask in Korean or English (예: {example}).", file=out)
    print(_CHAT_HELP, file=out)
    while True:
        try:
            line = await asyncio.to_thread(input, "you> ")
        except EOFError:
            print(file=out)
            return 0
        command, _, rest = line.strip().partition(" ")
        if command in ("/quit", "/exit"):
            return 0
        if command == "/help":
            print(_CHAT_HELP, file=out)
        elif command == "/debug":
            debug = not debug
            print(f"(debug {'on' if debug else 'off'})", file=out)
        elif command == "/new":
            key = f"cli:chat:{uuid.uuid4().hex}"
            print("(new conversation)", file=out)
        elif command == "/agent":
            from bot.handoff import InvalidTransition

            try:
                relayed = await runtime.engine.agent_message(key, "cli-agent", rest)
            except InvalidTransition:
                print("(no handoff is open; the bot has this conversation)", file=out)
            else:
                print(f"agent> {relayed.text}", file=out)
        elif command == "/resolve":
            notice = await runtime.engine.resolve(key, "cli-agent")
            print(f"ondo> {notice.text}" if notice else "(no handoff is open)", file=out)
        else:
            outcome = await runtime.engine.handle(_cli_message(key, line, role))
            _print_outcome(outcome, debug, out)
            if outcome.action == "relayed":
                await runtime.engine.relayed(outcome)


def _print_outcome(outcome: Outcome, debug: bool, out: TextIO) -> None:
    if outcome.action == "relayed":
        print("(a person has this conversation; your message went to the agent)", file=out)
        print(_handoff_box(f"customer: {outcome.relay_text}", "agents' thread"), file=out)
        return
    if debug and outcome.analysis is not None:
        a = outcome.analysis
        tops = ", ".join(f"{m.entry.id} {m.score:.2f}" for m in a.matches[:3])
        print(
            f"  [{a.language} · {a.emotion.label} {a.emotion.score:.2f} · intent {a.intent} · "
            f"confidence {a.confidence:.2f} · {tops}"
            + (f" · escalate: {a.escalation.reason}" if a.escalation.escalate else "")
            + "]",
            file=out,
        )
    if outcome.reply is not None:
        print(f"ondo> {outcome.reply.text}", file=out)
    if outcome.handoff is not None:
        print(_handoff_box(outcome.handoff.summary), file=out)


def _handoff_box(
    summary: str, title: str = "handed to a human: the agents' channel receives"
) -> str:
    lines = [f"┌─ {title}", *(f"│ {line}" for line in summary.splitlines()), "└─"]
    return "\n".join(lines)


# --- serve -------------------------------------------------------------------------------


def _cmd_serve(args: argparse.Namespace) -> int:
    from bot.serve import plan_platforms, serve

    settings = Settings.from_env()
    platforms = plan_platforms(settings, args.platform)  # before the models load
    warn_if_readable(settings.db_path)
    print("Loading Ondo (models and knowledge base)…", file=sys.stderr, flush=True)
    runtime = _runtime(settings)
    try:
        asyncio.run(serve(runtime, platforms))
    finally:
        runtime.close()
    return 0


# --- kb ----------------------------------------------------------------------------------


def _cmd_kb_import(args: argparse.Namespace) -> int:
    from bot.store import open_store
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
        f"imported {len(entries)} entries into {settings.db_path}: "
        f"{added} added, {updated} updated, {unchanged} unchanged"
    )
    return 0


def _cmd_kb_list(args: argparse.Namespace) -> int:
    from bot.store import open_store
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
    runtime = _runtime()
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


if __name__ == "__main__":
    raise SystemExit(main())
