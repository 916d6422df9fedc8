"""Saved replies: the texts agents send with ``/ondo reply <name>``, in the customer's
language, with the customer's name, the order number and the agent's name filled in.

They live in ``replies.yaml`` at the top of a knowledge folder (``ONDO_KB``, default
``knowledge/sample``; the knowledge loader leaves that file to the desk). The file is a list::

    - name: refund-started          # a slug: a-z, 0-9 and "-", 1-40 long, not led by "-"
      title: 환불 접수 안내           # optional: the agents' menu label (at most 80 characters)
      text:
        ko: "{customer_name}님, 주문({order_number})의 환불을 접수했어요."
        en: "Hi {customer_name}, we've started the refund for your order ({order_number})."

Decisions:

- **Both languages, always.** A reply without its ``ko`` or ``en`` text is a load error, so
  a customer is always answered in their own language and :meth:`SavedReplies.render` never
  falls back to the other one (the bot's fixed sentences follow the same rule).
- **Three placeholders only:** ``{customer_name}``, ``{order_number}``, ``{agent_name}``.
  Any other ``{…}``, or a ``{`` or ``}`` without its partner, is a load error naming the file,
  the line, the reply and the placeholder. ``{{`` and ``}}`` write a literal brace.
- **Values are plain text.** Templates are split into pieces at load time and the values are
  joined in as they are: ``str.format`` never sees a value, so a customer called
  ``{agent_name}`` or ``{0.__class__}`` is greeted by exactly that. A value is put on one
  line, stripped of control and bidi-override characters and cut at
  :data:`MAX_VALUE_CHARS` (an ellipsis last).
- **A missing value reads naturally** (see :data:`MISSING`): no customer name is "고객"
  before "님" and "고객님" elsewhere in Korean, "there" in English (write "Hi
  {customer_name},"); no agent name is "상담원" / "the support team"; no order number is
  left out, together with the brackets around it and the space before it — so write
  "주문({order_number})" / "your order ({order_number})". A name already ending in 님 is not
  given a second one.
- **Limits:** a file over 1 MB or with more than 500 replies is refused; a text over
  :data:`MAX_TEXT_CHARS` characters too (it must fit one Slack, Discord or e-mail message).
- **Several knowledge folders:** the first whose top holds ``replies.yaml`` is used
  (:func:`find_replies_file`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from bot.texts import shorten
from bot.types import Language
from knowledge.entries import KnowledgeError
from knowledge.loader import _check_yaml_shape

REPLIES_FILE: Final = "replies.yaml"
MAX_FILE_BYTES: Final = 1024 * 1024
MAX_REPLIES: Final = 500
MAX_TEXT_CHARS: Final = 2000
MAX_TITLE_CHARS: Final = 80
MAX_VALUE_CHARS: Final = 40
"""A filled-in value longer than this is cut (a name or an order number is far shorter)."""
LANGUAGES: Final[tuple[Language, ...]] = ("ko", "en")
PLACEHOLDERS: Final = frozenset({"customer_name", "order_number", "agent_name"})
MISSING: Final[Mapping[str, Mapping[Language, str]]] = {
    "customer_name": {"ko": "고객님", "en": "there"},
    "agent_name": {"ko": "상담원", "en": "the support team"},
    "order_number": {"ko": "", "en": ""},
}
"""What a placeholder reads without its value (Korean ``고객`` when ``님`` follows)."""
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_FIELDS = frozenset({"name", "title", "text"})
_PIECE_RE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_UNSAFE_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_EMPTY_BRACKETS_RE = re.compile(r"\s*(?:\(\s*\)|\[\s*\]|（\s*）)")
_SPACES_RE = re.compile(r"[ \t]{2,}")
_SPACE_BEFORE_MARK_RE = re.compile(r"[ \t]+([.,!?:;。、])")


class SavedRepliesError(KnowledgeError):
    """A broken replies file: one line naming the file, the line or reply, and the problem
    (a :class:`KnowledgeError`, so every ``ondo`` command reports it as one line)."""


class UnknownReplyError(LookupError):
    """No saved reply has this name; :attr:`suggestions` holds the closest names."""

    def __init__(self, name: str, suggestions: Sequence[str]) -> None:
        self.name = name
        self.suggestions = tuple(suggestions)
        hint = f" (did you mean {', '.join(self.suggestions)}?)" if self.suggestions else ""
        super().__init__(f"no saved reply {name!r}{hint}")

    def __str__(self) -> str:
        return str(self.args[0])


Piece = str | tuple[str]
"""A template piece: literal text, or a one-tuple holding a placeholder's name."""


@dataclass(frozen=True)
class SavedReply:
    """One saved reply: its name, menu title, and each language's template pieces."""

    name: str
    title: str
    texts: Mapping[Language, str]
    pieces: Mapping[Language, tuple[Piece, ...]]
    line: int

    def placeholders(self) -> frozenset[str]:
        """The placeholders any of its texts uses."""
        return frozenset(p[0] for ps in self.pieces.values() for p in ps if isinstance(p, tuple))


@dataclass(frozen=True)
class SavedReplies:
    """The saved replies of one file, in the file's order."""

    replies: tuple[SavedReply, ...] = ()
    source: Path | None = None

    def names(self) -> list[str]:
        """Every reply's name, in the file's order."""
        return [r.name for r in self.replies]

    def get(self, name: str) -> SavedReply:
        """The reply called ``name`` (case and surrounding space ignored), else
        :class:`UnknownReplyError` with the closest names."""
        wanted = name.strip().lower()
        for reply in self.replies:
            if reply.name == wanted:
                return reply
        raise UnknownReplyError(name.strip()[:60], self.suggest(wanted))

    def find(self, prefix: str) -> list[str]:
        """The names starting with ``prefix`` (all for an empty one), for a menu or
        completion; when none does, the closest names (typo help)."""
        wanted = prefix.strip().lower()
        starting = [n for n in self.names() if n.startswith(wanted)]
        if starting or not wanted:
            return starting
        # A typo in a prefix: compare it with each name's start of the same length.
        scored = [
            (difflib.SequenceMatcher(None, wanted, n[: len(wanted)]).ratio(), n)
            for n in self.names()
        ]
        close = [n for score, n in sorted(scored, key=lambda s: -s[0]) if score >= 0.75]
        return close[:3] or self.suggest(wanted)

    def suggest(self, name: str, limit: int = 3) -> list[str]:
        """The names closest to ``name`` (a typo: ``refnd-started``), best first."""
        wanted = name.strip().lower()[:60]
        return difflib.get_close_matches(wanted, self.names(), n=limit, cutoff=0.6)

    def render(
        self,
        name: str,
        language: Language,
        *,
        customer_name: str | None = None,
        order_number: str | None = None,
        agent_name: str | None = None,
    ) -> str:
        """The reply ``name`` in ``language`` with the values filled in as plain text (see
        the module's decisions for missing and long values)."""
        if language not in LANGUAGES:
            raise ValueError(f"no saved replies in language {language!r}")
        reply = self.get(name)
        values = {
            "customer_name": _clean(customer_name),
            "order_number": _clean(order_number),
            "agent_name": _clean(agent_name),
        }
        pieces = reply.pieces[language]
        out: list[str] = []
        for i, piece in enumerate(pieces):
            if isinstance(piece, str):
                out.append(piece)
                continue
            following = pieces[i + 1] if i + 1 < len(pieces) else ""
            before_nim = isinstance(following, str) and following.startswith("님")
            value = values[piece[0]]
            if not value:
                value = MISSING[piece[0]][language]
                if piece[0] == "customer_name" and language == "ko" and before_nim:
                    value = "고객"
            elif before_nim and value.endswith("님"):
                value = value[:-1]  # "민지님" + "님" would read 민지님님
            out.append(value)
        return _tidy("".join(out))


def _clean(value: str | None) -> str:
    if not value:
        return ""
    flat = " ".join(_UNSAFE_RE.sub(" ", value).split())
    return flat if len(flat) <= MAX_VALUE_CHARS else flat[: MAX_VALUE_CHARS - 1] + "…"


def _tidy(text: str) -> str:
    """The spacing a left-out value leaves behind, closed up: ``주문()의`` → ``주문의``."""
    text = _EMPTY_BRACKETS_RE.sub("", text)
    text = _SPACES_RE.sub(" ", text)
    return _SPACE_BEFORE_MARK_RE.sub(r"\1", text).strip()


def find_replies_file(kb_paths: Iterable[Path]) -> Path | None:
    """The ``replies.yaml`` at the top of the first knowledge folder that has one (any
    letter case, as the knowledge loader skips it), else None."""
    for folder in kb_paths:
        if not folder.is_dir():
            continue
        for child in sorted(folder.iterdir()):
            if child.name.lower() == REPLIES_FILE and child.is_file():
                return child
    return None


def saved_replies_for(kb_paths: Iterable[Path]) -> SavedReplies:
    """The saved replies of the knowledge folders ``kb_paths`` (none without a file)."""
    path = find_replies_file(kb_paths)
    return load_saved_replies(path) if path is not None else SavedReplies()


def load_saved_replies(path: Path) -> SavedReplies:
    """Load and check ``path`` whole (:class:`SavedRepliesError` on the first problem)."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SavedRepliesError(
                f"{path}: {size / 1024 / 1024:.1f} MB is over the 1 MB limit for saved replies"
            )
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise SavedRepliesError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise SavedRepliesError(f"{path}: line {line}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise SavedRepliesError(f"{path}: cannot read ({exc.strerror})") from None
    return SavedReplies(parse_saved_replies(text, str(path)), path)


def parse_saved_replies(text: str, name: str) -> tuple[SavedReply, ...]:
    """Parse the YAML ``text`` of a replies file called ``name`` (for the messages)."""
    try:
        _check_yaml_shape(text, name)
    except KnowledgeError as exc:
        raise SavedRepliesError(str(exc).replace("knowledge files", "saved replies")) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "somewhere"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SavedRepliesError(f"{name}: {where}: invalid YAML: {problem}") from None
    if data is None:
        return ()
    if not isinstance(data, list) or not isinstance(node, yaml.SequenceNode):
        raise SavedRepliesError(f"{name}: expected a list of saved replies at the top level")
    if len(data) > MAX_REPLIES:
        raise SavedRepliesError(
            f"{name}: {len(data)} saved replies, over the limit of {MAX_REPLIES}"
        )
    replies: list[SavedReply] = []
    seen: dict[str, int] = {}
    for item, item_node in zip(data, node.value, strict=True):
        reply = _reply(item, name, item_node.start_mark.line + 1)
        if reply.name in seen:
            raise SavedRepliesError(
                f"{name}: line {reply.line}: reply {reply.name!r}: duplicate name "
                f"(also on line {seen[reply.name]})"
            )
        seen[reply.name] = reply.line
        replies.append(reply)
    return tuple(replies)


def _reply(item: Any, file: str, line: int) -> SavedReply:
    where = f"{file}: line {line}"
    if not isinstance(item, dict):
        raise SavedRepliesError(f"{where}: expected a mapping with name, title and text")
    unknown = sorted(str(k) for k in item if k not in _FIELDS)
    if unknown:
        raise SavedRepliesError(f"{where}: unknown field {unknown[0]!r} (use name, title, text)")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        shown = repr(name)[:60]
        raise SavedRepliesError(
            f"{where}: bad name {shown}: use 1-40 of a-z, 0-9 and '-', not starting with '-'"
        )
    where = f"{where}: reply {name!r}"
    title = item.get("title", name)
    if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE_CHARS:
        raise SavedRepliesError(f"{where}: title must be text of 1-{MAX_TITLE_CHARS} characters")
    texts = item.get("text")
    if not isinstance(texts, dict):
        raise SavedRepliesError(f"{where}: expected text: with ko: and en:")
    extra = sorted(str(k) for k in texts if k not in LANGUAGES)
    if extra:
        raise SavedRepliesError(f"{where}: unknown language {extra[0]!r} (use ko and en)")
    checked: dict[Language, str] = {}
    pieces: dict[Language, tuple[Piece, ...]] = {}
    for language in LANGUAGES:
        value = texts.get(language)
        if not isinstance(value, str) or not value.strip():
            raise SavedRepliesError(f"{where}: missing the {language} text")
        if len(value) > MAX_TEXT_CHARS:
            raise SavedRepliesError(
                f"{where}: the {language} text is {len(value):,} characters, over the limit "
                f"of {MAX_TEXT_CHARS:,}"
            )
        checked[language] = value.strip()
        pieces[language] = _pieces(checked[language], f"{where}: {language} text")
    return SavedReply(name, " ".join(title.split()), checked, pieces, line)


def _pieces(template: str, where: str) -> tuple[Piece, ...]:
    """``template`` split into literal text and placeholders, every brace checked."""
    pieces: list[Piece] = []
    literal: list[str] = []
    at = 0
    for match in _PIECE_RE.finditer(template):
        literal.append(template[at : match.start()])
        at = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal.append(token[0])
        elif match.group(1) is None:
            raise SavedRepliesError(
                f"{where}: unbalanced {token!r} at character {match.start() + 1} "
                "(write {{ or }} for a brace)"
            )
        elif match.group(1) not in PLACEHOLDERS:
            raise SavedRepliesError(
                f"{where}: unknown placeholder {token[:50]!r} "
                f"(use {{customer_name}}, {{order_number}} or {{agent_name}})"
            )
        else:
            pieces.append("".join(literal))
            literal = []
            pieces.append((match.group(1),))
    literal.append(template[at:])
    pieces.append("".join(literal))
    return tuple(p for p in pieces if p != "")


def describe(reply: SavedReply, width: int = 60) -> str:
    """One line for a list: name, title, and each language's first line (cut at ``width``)."""
    firsts = [shorten(reply.texts[lang].splitlines()[0], width) for lang in LANGUAGES]
    return "\t".join([reply.name, reply.title, *firsts])
