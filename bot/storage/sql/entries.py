"""Knowledge entries as the JSON the database keeps them in (imported and corrected ones)."""

from __future__ import annotations

import json
from typing import Any

from bot.storage.sql.database import Sql
from knowledge.entries import Entry


def dump_entry(entry: Entry) -> str:
    """``entry`` as stored JSON text."""
    return json.dumps(entry_json(entry), ensure_ascii=False)


def load_entry(text: str) -> Entry:
    """The entry stored as JSON ``text``."""
    return entry_from_json(json.loads(text))


def entry_json(entry: Entry) -> dict[str, Any]:
    """``entry`` as a JSON-ready dict."""
    return {
        "id": entry.id,
        "category": entry.category,
        "questions": {k: list(v) for k, v in entry.questions.items()},
        "answer": dict(entry.answer),
        "agent_steps": list(entry.agent_steps),
        "source": entry.source,
        "kind": entry.kind,
        "audience": entry.audience,
    }


def entry_from_json(data: dict[str, Any]) -> Entry:
    """The entry of a JSON dict written by :func:`entry_json` (or an older version of it)."""
    kind = data.get("kind", "faq")
    return Entry(
        id=data["id"],
        category=data["category"],
        questions={k: tuple(v) for k, v in data["questions"].items()},
        answer=dict(data["answer"]),
        agent_steps=tuple(data.get("agent_steps", ())),
        source=data.get("source", ""),
        kind=kind,
        # Stored before audiences existed: the loader's defaults (documents are staff's).
        audience=data.get("audience") or ("staff" if kind == "policy" else "customers"),
    )


def upsert_entry(sql: Sql, entry: Entry, source: str, now: float) -> None:
    """Store ``entry`` (imported from ``source``, or a correction's), replacing its old form."""
    sql.execute(
        "INSERT INTO kb_entries (id, category, kind, content_hash, data, source, imported_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET category = excluded.category,"
        " kind = excluded.kind, content_hash = excluded.content_hash, data = excluded.data, "
        "source = excluded.source, imported_at = excluded.imported_at",
        [
            entry.id,
            entry.category,
            entry.kind,
            entry.content_hash(),
            dump_entry(entry),
            source,
            now,
        ],
    )
