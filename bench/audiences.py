"""Audiences on the bundled sample shop: ``python -m bench.audiences``.

Asks every question of ``tests/data/staff_only_questions.jsonl`` (only the internal handbook
answers them) as a customer and as staff through the engine, and every question of
``tests/data/customer_questions.jsonl`` as a customer, with the shipped models and settings.
Prints one table: staff text in what customers got (word 8-grams), how often staff got an
answer and the right handbook section, and how many customer questions are still answered —
beside the baseline of the same questions with the audience filter off (everything searched
for everyone, as before audiences existed).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

from bot.app import build_runtime
from bot.conversation.engine import Engine
from bot.settings import Settings
from bot.types import Message, Role
from knowledge.audience import StaffText

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def _questions(name: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in (DATA / name).open(encoding="utf-8")]


async def _ask(engine: Engine, text: str, role: Role) -> tuple[str, bool]:
    key = f"bench:{uuid.uuid4().hex}"
    message = Message("bench", key, "u", text, time.time(), uuid.uuid4().hex, role=role)
    outcome = await engine.handle(message)
    analysis = outcome.analysis
    source = analysis.matches[0].entry.source if analysis and analysis.matches else ""
    return (
        (outcome.reply.text if outcome.reply else ""),
        bool(analysis and analysis.answered),
        source,
    )


async def measure(engine: Engine, guard: StaffText) -> dict[str, float]:
    """The figures for one engine."""
    staff_only, customer = (
        _questions("staff_only_questions.jsonl"),
        _questions("customer_questions.jsonl"),
    )
    leaked = answered = right = 0
    for q in staff_only:
        text, _ = await _ask(engine, q["question"], "customer")
        leaked += guard.leaks(text)
        text, ok = await _ask(engine, q["question"], "staff")
        answered += ok
        right += ok and f"{q['file']} § {q['section']}" in text
    kept = 0
    for q in customer:
        _, ok = await _ask(engine, q["question"], "customer")
        kept += ok
    return {
        "questions": len(staff_only),
        "leaked": leaked,
        "staff_answered": answered,
        "staff_right": right,
        "customer_questions": len(customer),
        "customer_answered": kept,
    }


def main() -> None:
    """Run both configurations and print the table."""
    with tempfile.TemporaryDirectory() as tmp:
        runtime = build_runtime(Settings(db_path=str(Path(tmp) / "bench.db")))
        guard = runtime.knowledge.staff_text
        ondo = asyncio.run(measure(runtime.engine, guard))
        # Baseline: every entry marked for customers, i.e. no audience filter at all.
        from knowledge.base import KnowledgeBase

        everyone = [replace(e, audience="customers") for e in runtime.knowledge.entries]
        runtime.engine.knowledge = KnowledgeBase(everyone, runtime.knowledge._embedders)
        baseline = asyncio.run(measure(runtime.engine, guard))
        runtime.close()
    n, c = ondo["questions"], ondo["customer_questions"]
    rows = [
        ("replies to customers quoting staff text (8-grams)", "leaked", n, "0"),
        ("staff questions answered", "staff_answered", n, "—"),
        ("staff answers citing the right handbook section", "staff_right", n, "—"),
        ("customer questions still answered", "customer_answered", c, "= baseline"),
    ]
    print("| measure | Ondo | no audience filter (baseline) | target |")
    print("|---|---|---|---|")
    for label, key, whole, target in rows:
        print(f"| {label} | {ondo[key]:.0f} / {whole} | {baseline[key]:.0f} / {whole} | {target} |")


if __name__ == "__main__":
    main()
