"""The customer-markup corpus (tests/data/customer_markup.jsonl) and what counts as live markup.

A payload is *inert* on a platform when what the platform received shows it as text: no
token the platform would turn into a mention, a channel or command link, or a link whose
label hides its target, and the words the payload carries are still visible.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CORPUS_PATH = Path(__file__).parent / "data" / "customer_markup.jsonl"


@dataclass(frozen=True)
class Payload:
    """One hostile message: its ``text`` and a phrase of it that must stay visible."""

    id: str
    text: str
    shows: str


def load_payloads() -> list[Payload]:
    """Every payload of the corpus, in file order."""
    lines = CORPUS_PATH.read_text(encoding="utf-8").splitlines()
    return [Payload(**json.loads(line)) for line in lines if line.strip()]


# --- Slack ---------------------------------------------------------------------------------

_SLACK_TOKEN = re.compile(r"<[^<>]*>?")


def slack_mrkdwn(params: dict[str, Any]) -> list[str]:
    """Every string of a Web API call that Slack parses as mrkdwn: the ``text`` and each
    mrkdwn text object in its blocks (plain_text is never parsed)."""
    found = [str(params.get("text") or "")]

    def walk(node: object) -> Iterator[str]:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
                yield node["text"]
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    blocks = params.get("blocks")
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    return found + list(walk(blocks))


def slack_live(text: str, own: Sequence[str] = ()) -> list[str]:
    """The control sequences Slack would parse in ``text``, other than Ondo's own ``own``
    (exact tokens) and its ``<!date^…|now>`` timestamps. Any raw ``<`` starts one."""
    for token in own:
        text = text.replace(token, "")
    text = re.sub(r"<!date\^\d+\^\{time\}\|now>", "", text)
    return _SLACK_TOKEN.findall(text)


def slack_visible(text: str) -> str:
    """``text`` as a Slack reader sees it (entities decoded)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# --- Discord -------------------------------------------------------------------------------

_UNESCAPED = r"(?<!\\)(?:\\\\)*"
_DISCORD_TOKEN = re.compile(rf"(?:^|[^\\]){_UNESCAPED}(<[^>\n]*>?)")
_MASKED = re.compile(rf"(?:^|[^\\]){_UNESCAPED}\[[^\]\n]*{_UNESCAPED}\]\(")
_MASS = re.compile(r"@(?:everyone|here)", re.IGNORECASE)


def discord_live(text: str, own: Sequence[str] = ()) -> list[str]:
    """Mentions, channel / command / timestamp tokens, masked links and ``@everyone`` /
    ``@here`` Discord would render in ``text``, other than Ondo's own ``own`` tokens."""
    for token in own:
        text = text.replace(token, "")
    return [
        *(m.group(1) for m in _DISCORD_TOKEN.finditer(text)),
        *(m.group(0) for m in _MASKED.finditer(text)),
        *_MASS.findall(text),
    ]


def discord_visible(text: str) -> str:
    """``text`` as a Discord reader sees it (backslash escapes and zero-width spaces gone)."""
    return re.sub(r"\\(.)", r"\1", text).replace("\u200b", "")


def html_visible(text: str) -> str:
    """HTML text as a reader sees it."""
    return html.unescape(text)
