"""The knowledge base's unit: one FAQ entry or one chunk of a policy document."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

EntryKind = Literal["faq", "policy"]
Audience = Literal["customers", "staff"]
"""Who a piece of knowledge is for: customers see only ``customers`` entries, staff see both."""
AUDIENCES: tuple[Audience, ...] = ("customers", "staff")


class KnowledgeError(ValueError):
    """A knowledge file is broken; the message names the file, the line or entry, and the reason."""


@dataclass(frozen=True)
class Entry:
    """One answerable unit of knowledge.

    ``questions`` and ``answer`` are keyed by language code (``ko``/``en``). A policy chunk
    has its heading as question, its body as answer, ``category == "policy"`` and a
    ``source`` of the form ``file.md § Heading`` that answers cite.
    """

    id: str
    category: str
    questions: Mapping[str, tuple[str, ...]]
    answer: Mapping[str, str]
    agent_steps: tuple[str, ...] = ()
    source: str = ""
    kind: EntryKind = "faq"
    extra: Mapping[str, str] = field(default_factory=dict)
    audience: Audience = "customers"

    @property
    def for_staff_only(self) -> bool:
        """Whether only staff may ever see this entry."""
        return self.audience == "staff"

    def all_questions(self) -> list[tuple[str, str]]:
        """Every example question as ``(language, text)``."""
        return [(lang, q) for lang, qs in self.questions.items() for q in qs]

    def answer_in(self, language: str) -> str:
        """The answer in ``language``, else in the other language, else empty."""
        if self.answer.get(language):
            return self.answer[language]
        for text in self.answer.values():
            if text:
                return text
        return ""

    def content_hash(self) -> str:
        """A stable hash of everything embedded or shown, so only changed entries re-embed."""
        payload = json.dumps(
            {
                "id": self.id,
                "category": self.category,
                "questions": {k: list(v) for k, v in sorted(self.questions.items())},
                "answer": dict(sorted(self.answer.items())),
                "agent_steps": list(self.agent_steps),
                "source": self.source,
                "kind": self.kind,
                "audience": self.audience,
            },
            ensure_ascii=False,
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()
