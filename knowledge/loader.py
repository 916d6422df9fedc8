"""Load knowledge files (YAML, CSV, Markdown) into entries, all or nothing.

Every problem raises :class:`KnowledgeError` naming the file, the line or entry, and the
reason, before anything is returned, so a broken file never loads half-way.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from knowledge.entries import AUDIENCES, Audience, Entry, KnowledgeError
from knowledge.language import LANGUAGES, detect_language

SUFFIXES = {".yaml", ".yml", ".csv", ".md", ".markdown"}
DESK_FILES = frozenset({"desk.yaml", "replies.yaml"})
"""Files at the top of a knowledge folder that are the help desk's, not knowledge: its hours,
SLAs and settings, and the agents' saved replies (read by :mod:`bot.desk`)."""
SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-#/]*$")
CSV_COLUMNS = ("id", "category", "lang", "question", "answer")
FAQ_AUDIENCE: Audience = "customers"
"""FAQ entries (YAML, CSV) are written as answers to customers unless marked otherwise."""
DOCUMENT_AUDIENCE: Audience = "staff"
"""A Markdown document is internal until its front matter says ``audience: customers``: a
handbook dropped into ``ONDO_KB`` unmarked must never reach a customer (fail closed)."""
MAX_FILE_BYTES = 5 * 1024 * 1024
"""A knowledge file larger than this is refused unread (a whole FAQ fits in far less)."""
MAX_TEXT_CHARS = 8000
"""An answer, a question or a Markdown section longer than this is a load error: it would
come back whole in a reply, past what Slack and Discord show, and dilute search."""
MAX_YAML_DEPTH = 20
"""Entries nest four levels (list, entry, questions, language); deeper is not a knowledge file."""


def split_paths(spec: str) -> list[Path]:
    """Split an ``ONDO_KB`` value (``:`` or ``,`` separated) into paths."""
    return [Path(p.strip()) for p in re.split(r"[:,]", spec) if p.strip()]


def load_paths(paths: Sequence[Path]) -> list[Entry]:
    """Load every knowledge file in ``paths`` (files or folders, searched recursively)."""
    entries: list[Entry] = []
    seen: dict[str, Path] = {}
    for file in _expand(paths):
        for entry in load_file(file):
            if entry.id in seen:
                raise KnowledgeError(
                    f"{file}: entry {entry.id!r}: duplicate id (also in {seen[entry.id]})"
                )
            seen[entry.id] = file
            entries.append(entry)
    return entries


def load_file(path: Path) -> list[Entry]:
    """Load one knowledge file, choosing the format by its suffix."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES and path.exists():
        raise KnowledgeError(f"{path}: unsupported file type {suffix!r} (use .yaml, .csv or .md)")
    try:
        _check_file_size(path)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KnowledgeError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise KnowledgeError(f"{path}: line {line}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise KnowledgeError(f"{path}: cannot read ({exc.strerror})") from None
    if suffix in (".yaml", ".yml"):
        entries = parse_yaml(text, str(path))
    elif suffix == ".csv":
        entries = parse_csv(text, str(path))
    else:
        entries = parse_markdown(text, str(path))
    _check_text_sizes(entries, str(path))
    return entries


# --- limits (kept apart from the parsing so each format's rules stay readable) -----------


def _check_file_size(path: Path) -> None:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise KnowledgeError(
            f"{path}: {size / 1024 / 1024:.1f} MB is over the {MAX_FILE_BYTES // 1024 // 1024} MB "
            "limit for a knowledge file (split it into several files)"
        )


def _check_text_sizes(entries: Sequence[Entry], name: str) -> None:
    for entry in entries:
        where = entry.source if entry.kind == "policy" else f"{name}: entry {entry.id!r}"
        what = "section" if entry.kind == "policy" else "answer"
        texts = [(f"{what} ({lang})", a) for lang, a in entry.answer.items()]
        texts += [(f"question ({lang})", q) for lang, qs in entry.questions.items() for q in qs]
        for field, value in texts:
            if len(value) > MAX_TEXT_CHARS:
                hint = "split it under more headings" if what == "section" else "shorten it"
                raise KnowledgeError(
                    f"{where}: {field} is {len(value):,} characters, over the limit of "
                    f"{MAX_TEXT_CHARS:,} ({hint})"
                )


def _check_yaml_shape(text: str, name: str) -> None:
    """Refuse YAML nested deeper than :data:`MAX_YAML_DEPTH` (the composer recurses and
    would overflow) and anchors/aliases, the ingredient of a "billion laughs" bomb. Reads
    events only: the event parser is iterative, so this cannot overflow itself."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise KnowledgeError(
                    f"{name}: line {_line(event)}: YAML anchors and aliases (&name, *name) are not "
                    "allowed in knowledge files; write the text out"
                )
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    raise KnowledgeError(
                        f"{name}: line {_line(event)}: YAML nested deeper than "
                        f"{MAX_YAML_DEPTH} levels"
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return  # parse_yaml reports the syntax error with its line


def _line(event: yaml.Event) -> int:
    return event.start_mark.line + 1 if event.start_mark is not None else 0


MAX_CSV_FIELD = 128 * 1024
"""The longest CSV field read (far above :data:`MAX_TEXT_CHARS`): the csv module's default."""


@contextmanager
def csv_field_limit(limit: int) -> Iterator[None]:
    """The csv module's field limit set to ``limit`` while reading, then put back: the limit
    is one setting for the whole process, and each reader needs its own."""
    before = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(before)


def _csv_rows(reader: csv.DictReader[str], name: str) -> Iterator[dict[str | Any, Any]]:
    """The reader's rows; a field over :data:`MAX_CSV_FIELD` or a NUL byte is a load error
    naming the line."""
    try:
        with csv_field_limit(MAX_CSV_FIELD):
            yield from reader
    except csv.Error as exc:
        problem = str(exc)
        if "field larger than field limit" in problem:
            problem = f"a field is longer than {MAX_CSV_FIELD // 1024} KB"
        # line_num counts the lines read in full; the bad one is the next.
        raise KnowledgeError(f"{name}: line {reader.line_num + 1}: {problem}") from None


def _expand(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.suffix.lower() in SUFFIXES
                    and not (p.parent == path and p.name.lower() in DESK_FILES)
                )
            )
        elif path.exists():
            files.append(path)
        else:
            raise KnowledgeError(f"{path}: no such file or folder")
    return files


def parse_yaml(text: str, name: str) -> list[Entry]:
    """Parse a YAML list of FAQ entries."""
    _check_yaml_shape(text, name)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "somewhere"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise KnowledgeError(f"{name}: {where}: invalid YAML: {problem}") from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise KnowledgeError(f"{name}: expected a list of entries at the top level")
    entries = [_entry_from_mapping(item, name, i) for i, item in enumerate(data, start=1)]
    _check_unique(entries, name)
    return entries


def _entry_from_mapping(item: Any, name: str, index: int) -> Entry:
    where = f"{name}: entry {index}"
    if not isinstance(item, dict):
        raise KnowledgeError(f"{where}: expected a mapping with id, category, questions, answer")
    entry_id = item.get("id")
    if isinstance(entry_id, (str, int)) and str(entry_id).strip():
        where = f"{name}: entry {index} ({entry_id})"
    for key in ("id", "category", "questions", "answer"):
        if key not in item or item[key] in (None, "", {}, []):
            raise KnowledgeError(f"{where}: missing {key!r}")
    entry_id = _check_id(str(item["id"]).strip(), where)
    questions = _by_language(item["questions"], where, "questions", many=True)
    answer = _by_language(item["answer"], where, "answer", many=False)
    steps = item.get("agent_steps") or []
    if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
        raise KnowledgeError(f"{where}: 'agent_steps' must be a list of strings")
    audience = parse_audience(item.get("audience"), where, FAQ_AUDIENCE)
    return _make_entry(
        entry_id, str(item["category"]).strip(), questions, answer, steps, where, name, audience
    )


def parse_audience(value: Any, where: str, default: Audience) -> Audience:
    """``customers`` or ``staff`` (any case); missing or empty gives ``default``; anything
    else is a :class:`KnowledgeError` naming ``where``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    text = str(value).strip().lower() if isinstance(value, str) else None
    for audience in AUDIENCES:
        if text == audience:
            return audience
    raise KnowledgeError(f"{where}: unknown audience {value!r} (use customers or staff)")


def _by_language(value: Any, where: str, field: str, *, many: bool) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise KnowledgeError(f"{where}: {field!r} must map languages (ko, en) to text")
    out: dict[str, Any] = {}
    for lang, content in value.items():
        if lang not in LANGUAGES:
            raise KnowledgeError(f"{where}: {field!r} has unknown language {lang!r} (use ko or en)")
        if many:
            items = [content] if isinstance(content, str) else content
            if not isinstance(items, list) or not all(isinstance(q, str) for q in items):
                raise KnowledgeError(f"{where}: {field}.{lang} must be a list of strings")
            cleaned = tuple(q.strip() for q in items if q.strip())
            if cleaned:
                out[lang] = cleaned
        else:
            if not isinstance(content, str):
                raise KnowledgeError(f"{where}: {field}.{lang} must be text")
            if content.strip():
                out[lang] = content.strip()
    return out


def _make_entry(
    entry_id: str,
    category: str,
    questions: dict[str, tuple[str, ...]],
    answer: dict[str, str],
    steps: Sequence[str],
    where: str,
    source: str,
    audience: Audience = FAQ_AUDIENCE,
) -> Entry:
    if not category:
        raise KnowledgeError(f"{where}: missing 'category'")
    if not questions:
        raise KnowledgeError(f"{where}: no questions")
    if not answer:
        raise KnowledgeError(f"{where}: no answer")
    for lang in questions:
        if lang not in answer:
            raise KnowledgeError(f"{where}: questions in {lang!r} but no answer in {lang!r}")
    return Entry(
        id=entry_id,
        category=category,
        questions=questions,
        answer=answer,
        agent_steps=tuple(s.strip() for s in steps if s.strip()),
        source=source,
        audience=audience,
    )


def _check_id(entry_id: str, where: str) -> str:
    if not _ID_RE.match(entry_id):
        raise KnowledgeError(f"{where}: id {entry_id!r} may use only letters, digits and -_.#/")
    return entry_id


def _check_unique(entries: Sequence[Entry], name: str) -> None:
    seen: set[str] = set()
    for entry in entries:
        if entry.id in seen:
            raise KnowledgeError(f"{name}: entry {entry.id!r}: duplicate id")
        seen.add(entry.id)


def parse_csv(text: str, name: str) -> list[Entry]:
    """Parse ``id,category,lang,question,answer`` rows; rows sharing an id form one entry."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise KnowledgeError(f"{name}: line 1: header lacks column(s) {', '.join(missing)}")
    reader.fieldnames = header
    order: list[str] = []
    rows: dict[str, dict[str, Any]] = {}
    for row in _csv_rows(reader, name):
        line = reader.line_num
        if None in row:
            raise KnowledgeError(f"{name}: line {line}: more fields than the header has")
        values = {k: (v or "").strip() for k, v in row.items() if k is not None}
        if not any(values.values()):
            continue
        entry_id, lang = values["id"], values["lang"]
        where = f"{name}: line {line}"
        if not entry_id:
            raise KnowledgeError(f"{where}: empty id")
        _check_id(entry_id, where)
        if lang not in LANGUAGES:
            raise KnowledgeError(f"{where}: lang {lang!r} is not ko or en")
        if not values["question"]:
            raise KnowledgeError(f"{where}: empty question")
        audience = parse_audience(values.get("audience"), where, FAQ_AUDIENCE)
        acc = rows.get(entry_id)
        if acc is None:
            acc = {
                "category": values["category"],
                "questions": {},
                "answer": {},
                "line": line,
                "audience": audience,
            }
            rows[entry_id] = acc
            order.append(entry_id)
        if audience != acc["audience"]:
            raise KnowledgeError(
                f"{where}: entry {entry_id!r} has audience {audience!r} here but "
                f"{acc['audience']!r} on line {acc['line']}"
            )
        if values["category"] and acc["category"] and values["category"] != acc["category"]:
            raise KnowledgeError(
                f"{where}: entry {entry_id!r} has category {values['category']!r} here but "
                f"{acc['category']!r} on line {acc['line']}"
            )
        acc["category"] = acc["category"] or values["category"]
        acc["questions"].setdefault(lang, []).append(values["question"])
        if values["answer"]:
            previous = acc["answer"].get(lang)
            if previous is not None and previous != values["answer"]:
                raise KnowledgeError(
                    f"{where}: entry {entry_id!r} has two different {lang} answers"
                )
            acc["answer"][lang] = values["answer"]
    entries = []
    for entry_id in order:
        acc = rows[entry_id]
        where = f"{name}: entry {entry_id!r} (from line {acc['line']})"
        questions = {k: tuple(v) for k, v in acc["questions"].items()}
        entries.append(
            _make_entry(
                entry_id,
                acc["category"],
                questions,
                acc["answer"],
                (),
                where,
                name,
                acc["audience"],
            )
        )
    return entries


_HEADING_RE = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def parse_markdown(text: str, name: str) -> list[Entry]:
    """Chunk a policy document by heading; each chunk is cited as ``file § heading``."""
    stem = Path(name).stem
    file_name = Path(name).name
    audience, text = _front_matter(text, name)
    chunks: list[tuple[str, list[str]]] = []
    title = ""
    heading = ""
    body: list[str] = []
    in_fence = False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            in_fence = not in_fence
        match = None if in_fence else _HEADING_RE.match(line)
        if match:
            if heading or any(b.strip() for b in body):
                chunks.append((heading or title or stem, body))
            level, heading = len(match.group(1)), match.group(2).strip()
            if level == 1 and not title:
                title = heading
            body = []
        else:
            body.append(line)
    if heading or any(b.strip() for b in body):
        chunks.append((heading or title or stem, body))
    entries: list[Entry] = []
    used: set[str] = set()
    for heading, lines in chunks:
        content = "\n".join(lines).strip()
        if not content:
            continue
        lang = detect_language(f"{heading}\n{content}")
        slug = _slug(heading) or f"section-{len(entries) + 1}"
        while slug in used:
            slug += "-2"
        used.add(slug)
        full_heading = f"{title} › {heading}" if title and heading != title else heading
        entries.append(
            Entry(
                id=f"{stem}#{slug}",
                category="policy",
                questions={lang: (heading, *_sentence_rows(full_heading, content))},
                answer={lang: content},
                source=f"{file_name} § {heading}",
                kind="policy",
                audience=audience,
            )
        )
    return entries


_FRONT_MATTER_END_RE = re.compile(r"^(?:---|\.\.\.)\s*$", re.MULTILINE)


def _front_matter(text: str, name: str) -> tuple[Audience, str]:
    """The document's audience from a leading ``---`` YAML block, and the text after it.

    Without the block the document is for staff (see :data:`DOCUMENT_AUDIENCE`). Line
    numbers in errors count from the top of the file.
    """
    body = text.lstrip("\ufeff")
    first, _, rest = body.partition("\n")
    if first.strip() != "---":
        return DOCUMENT_AUDIENCE, body
    end = _FRONT_MATTER_END_RE.search(rest)
    if end is None:
        raise KnowledgeError(f"{name}: line 1: front matter opened with --- is never closed")
    block = rest[: end.start()]
    _check_yaml_shape(block, name)  # the same rules as a YAML file: no aliases, bounded depth
    try:
        data = yaml.safe_load(block)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 2}" if mark is not None else "line 1"
        raise KnowledgeError(f"{name}: {where}: invalid front matter") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise KnowledgeError(f"{name}: line 2: front matter must be 'key: value' lines")
    line = 2 + next(
        (i for i, row in enumerate(block.splitlines()) if row.strip().startswith("audience")), 0
    )
    audience = parse_audience(data.get("audience"), f"{name}: line {line}", DOCUMENT_AUDIENCE)
    # Blank lines keep the body's line numbers those of the file.
    skipped = body[: len(first) + 1 + end.end()].count("\n")
    return audience, "\n" * skipped + rest[end.end() :]


_SENTENCE_END_RE = re.compile(r"(?<=[.!?。])\s+|\n+")
_MAX_SENTENCE_ROWS = 24


def _sentence_rows(heading: str, content: str) -> list[str]:
    """One searchable row per sentence of a policy chunk, prefixed by its heading.

    A question names one rule, not a whole section; matching it against single sentences
    finds the rule where a long chunk would dilute it.
    """
    sentences = [s.strip(" -*#\t") for s in _SENTENCE_END_RE.split(content)]
    rows = [f"{heading}: {s}" for s in sentences if len(s) >= 8]
    return rows[:_MAX_SENTENCE_ROWS] or [f"{heading}\n{content[:500]}"]


def _slug(text: str) -> str:
    words = re.findall(r"[0-9A-Za-z\uac00-\ud7a3]+", text.lower())
    return "-".join(words)[:60]
