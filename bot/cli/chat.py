"""``ondo chat`` and ``ondo ask``: talking to the bot in the terminal, as a customer or staff."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from typing import TYPE_CHECKING, Any, TextIO

from bot import __version__
from bot.cli.runtime import runtime as runtime_for
from bot.cli.runtime import warn_if_readable
from bot.conversation.engine import Analysis, Outcome
from bot.settings import Settings
from bot.types import Message, Role, audience_for

if TYPE_CHECKING:
    from bot.app import Runtime


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``chat`` and ``ask`` on the ``ondo`` parser."""
    chat = sub.add_parser("chat", help="talk to the bot in the terminal")
    chat.add_argument("--debug", action="store_true", help="start with the debug line on")
    chat.add_argument(
        "--staff", action="store_true", help="ask as a staff member (the internal handbook too)"
    )
    chat.set_defaults(handler=cmd_chat)

    ask = sub.add_parser("ask", help="answer one message, or one per stdin line with '-'")
    ask.add_argument("--json", action="store_true", help="print one JSON object per message")
    as_argument(ask)
    ask.add_argument("text", help="the customer's message, or - to read lines from stdin")
    ask.set_defaults(handler=cmd_ask)


def as_argument(parser: argparse.ArgumentParser) -> None:
    """``--as customer|staff``: who asks (shared by ``ask`` and ``kb search``)."""
    parser.add_argument(
        "--as",
        dest="role",
        choices=("customer", "staff"),
        default="customer",
        help="who asks: a customer (default; customer knowledge only) or staff (everything)",
    )


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


def cmd_ask(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    runtime = runtime_for(settings)
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
                print(handoff_box(outcome.handoff.summary), file=stdout)
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


def cmd_chat(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if not settings.shared_db:
        warn_if_readable(settings.db_path)
    print("Loading Ondo (models and knowledge base)…", file=sys.stderr, flush=True)
    runtime = runtime_for(settings)
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
            from bot.conversation.handoff import InvalidTransition

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
        print(handoff_box(f"customer: {outcome.relay_text}", "agents' thread"), file=out)
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
        print(handoff_box(outcome.handoff.summary), file=out)


def handoff_box(
    summary: str, title: str = "handed to a human: the agents' channel receives"
) -> str:
    lines = [f"┌─ {title}", *(f"│ {line}" for line in summary.splitlines()), "└─"]
    return "\n".join(lines)
