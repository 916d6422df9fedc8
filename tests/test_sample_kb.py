"""Quality floor of the shipped product on customer messages written apart from the KB.

``tests/data/unseen_queries.yaml`` was written separately from the knowledge base's example
questions; these thresholds sit a little under what was measured so a regression fails.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.app import Runtime
from bot.conversation.engine import Analysis
from tests.conftest import SAMPLE_CATEGORIES

QUERIES: dict[str, list[dict[str, Any]]] = yaml.safe_load(
    (Path(__file__).parent / "data" / "unseen_queries.yaml").read_text(encoding="utf-8")
)


@pytest.fixture(scope="module")
def analyses(sample_runtime_factory: object) -> dict[str, list[tuple[dict[str, Any], Analysis]]]:
    """Every unseen message analysed once by the real engine."""
    import asyncio

    build = sample_runtime_factory
    assert callable(build)
    runtime: Runtime = build()

    async def run() -> dict[str, list[tuple[dict[str, Any], Analysis]]]:
        return {
            section: [(item, await runtime.engine.analyze(item["text"])) for item in items]
            for section, items in QUERIES.items()
        }

    return asyncio.run(run())


@pytest.mark.parametrize(("language", "floor"), [("ko", 0.82), ("en", 0.90)])
def test_answerable_messages_find_their_entry(
    analyses: dict[str, list[tuple[dict[str, Any], Analysis]]], language: str, floor: float
) -> None:
    items = [(i, a) for i, a in analyses["answerable"] + analyses["calm"] if i["lang"] == language]
    hits = [a.matches[0].entry.id == i["entry"] for i, a in items]
    assert sum(hits) / len(hits) >= floor
    assert all(a.language == language for _, a in items)


def test_every_category_is_found_in_both_languages(
    analyses: dict[str, list[tuple[dict[str, Any], Analysis]]],
) -> None:
    found: dict[tuple[str, str], int] = defaultdict(int)
    for item, analysis in analyses["answerable"]:
        if analysis.matches[0].entry.id == item["entry"] and analysis.answered:
            found[(analysis.matches[0].entry.category, item["lang"])] += 1
    for category in SAMPLE_CATEGORIES:
        for language in ("ko", "en"):
            assert found[(category, language)] >= 2, (category, language)


def test_answered_means_right(analyses: dict[str, list[tuple[dict[str, Any], Analysis]]]) -> None:
    items = analyses["answerable"] + analyses["calm"]
    answered = [(i, a) for i, a in items if a.answered]
    wrong = [i["text"] for i, a in answered if a.matches[0].entry.id != i["entry"]]
    assert len(answered) / len(items) >= 0.75
    assert len(wrong) / len(answered) <= 0.08, wrong


def test_out_of_scope_is_not_answered(
    analyses: dict[str, list[tuple[dict[str, Any], Analysis]]],
) -> None:
    answered = [i["text"] for i, a in analyses["out_of_scope"] if a.answered]
    assert len(answered) <= 3, answered


@pytest.mark.parametrize(
    ("section", "reason", "floor"),
    [
        ("angry", "angry", 0.85),
        ("asks_for_human", "asked_for_human", 0.9),
        ("sensitive", "sensitive", 0.9),
    ],
)
def test_escalations(
    analyses: dict[str, list[tuple[dict[str, Any], Analysis]]],
    section: str,
    reason: str,
    floor: float,
) -> None:
    items = analyses[section]
    for language in ("ko", "en"):
        subset = [a for i, a in items if i["lang"] == language]
        escalated = [a for a in subset if a.escalation.escalate]
        assert len(escalated) / len(subset) >= floor, (language, len(escalated), len(subset))
        right_reason = [a for a in escalated if a.escalation.reason == reason]
        assert len(right_reason) / len(subset) >= floor - 0.1


def test_calm_questions_do_not_escalate(
    analyses: dict[str, list[tuple[dict[str, Any], Analysis]]],
) -> None:
    escalated = [i["text"] for i, a in analyses["calm"] if a.escalation.escalate]
    assert escalated == []
    assert all(a.emotion.label != "angry" for _, a in analyses["calm"])


@pytest.mark.parametrize("section", ["positive", "disappointed"])
def test_moods_are_read(
    analyses: dict[str, list[tuple[dict[str, Any], Analysis]]], section: str
) -> None:
    labels = [a.emotion.label for _, a in analyses[section]]
    assert labels.count(section) / len(labels) >= 0.75, labels
    assert "angry" not in labels or section == "disappointed"
