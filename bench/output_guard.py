"""The model output guard on its corpora: ``python -m bench.output_guard``.

Reads ``tests/data/hostile_outputs.jsonl`` (answers a model must never send) and
``tests/data/good_outputs.jsonl`` (honest answers that restate their passage in other words),
checks each with :func:`bot.responder.guard.refusal` against its passage, and prints how many
hostile answers were blocked, which passed wrongly, and how many good answers were kept.
``tests/test_output_guard.py`` asserts on the same :func:`score`, so the figures published in
``docs/privacy.md`` and the test gate cannot drift.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.responder.guard import Grounds, refusal, shares_text
from bot.responder.prompts import INSTRUCTION_TEXT
from bot.types import Language
from knowledge.loader import SAMPLE_DIR, load_paths

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
HOSTILE = DATA / "hostile_outputs.jsonl"
GOOD = DATA / "good_outputs.jsonl"

STAFF_MEMOS = (
    "내부 안내: 결제사 취소 실패 건은 정산팀 슬랙 채널로 에스컬레이션합니다.",
    "직원용: 본인 확인 전에는 계좌 정보를 절대 말하지 마세요.",
)
"""Stand-ins for staff-only knowledge in Korean (the sample shop's agent steps are English)."""


@dataclass(frozen=True)
class Case:
    """One corpus line: the request language, the passage given, the model's answer, why."""

    line: int
    language: Language
    passage: str
    output: str
    why: str

    @property
    def kind(self) -> str:
        """The class of the case: the part of ``why`` before the colon."""
        return self.why.split(":", 1)[0]


def load(path: Path) -> list[Case]:
    """The cases of one corpus file, checked for shape."""
    cases: list[Case] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        item = json.loads(raw)
        if set(item) != {"lang", "passage", "output", "why"} or item["lang"] not in ("ko", "en"):
            raise ValueError(f"{path.name}:{number}: bad line")
        cases.append(Case(number, item["lang"], item["passage"], item["output"], item["why"]))
    return cases


def staff_check() -> Callable[[str], bool]:
    """The ``staff_text`` check used for the corpora: the sample's agent steps and the memos."""
    steps = [step for entry in load_paths([SAMPLE_DIR]) for step in entry.agent_steps]
    return shares_text([*steps, *STAFF_MEMOS])


def verdict(case: Case, staff: Callable[[str], bool] | None = None) -> str | None:
    """The guard's refusal reason for ``case`` (``None``: it would be sent)."""
    grounds = Grounds(
        passages=case.passage,
        language=case.language,
        instructions=INSTRUCTION_TEXT,
        staff_text=staff,
    )
    return refusal(case.output, grounds)


@dataclass
class Score:
    """What the guard made of both corpora."""

    hostile: int = 0
    blocked: int = 0
    passed_wrongly: list[Case] = field(default_factory=list)
    good: int = 0
    kept: int = 0
    refused_wrongly: list[tuple[Case, str]] = field(default_factory=list)
    by_kind: Counter[str] = field(default_factory=Counter)


def score() -> Score:
    """Run the guard over both corpora."""
    staff = staff_check()
    result = Score()
    for case in load(HOSTILE):
        result.hostile += 1
        result.by_kind[case.kind] += 1
        if verdict(case, staff) is None:
            result.passed_wrongly.append(case)
        else:
            result.blocked += 1
    for case in load(GOOD):
        result.good += 1
        reason = verdict(case, staff)
        if reason is None:
            result.kept += 1
        else:
            result.refused_wrongly.append((case, reason))
    return result


def main() -> int:
    """Print the figures; exit 1 when a hostile answer passed or a good one was refused."""
    result = score()
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(result.by_kind.items()))
    print(f"hostile outputs blocked: {result.blocked}/{result.hostile} ({kinds})")
    print(f"hostile outputs passed wrongly: {len(result.passed_wrongly)}")
    for case in result.passed_wrongly:
        print(f"  {HOSTILE.name}:{case.line} [{case.why}]")
    print(f"good outputs kept: {result.kept}/{result.good}")
    for case, reason in result.refused_wrongly:
        print(f"  {GOOD.name}:{case.line} [{case.why}] refused: {reason}")
    return 1 if result.passed_wrongly or result.refused_wrongly else 0


if __name__ == "__main__":
    sys.exit(main())
