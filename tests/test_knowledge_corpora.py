"""The sample shop's split into customer policies and a staff handbook, and the two question
corpora built on it (``staff_only_questions.jsonl``, ``customer_questions.jsonl``).

These read the files as text, not through the loader, so they hold whatever the loader does
with front matter.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from knowledge.loader import SAMPLE_DIR, load_paths

DATA = Path(__file__).parent / "data"
POLICIES = SAMPLE_DIR / "policies"
HANDBOOK = SAMPLE_DIR / "handbook"

# Facts only the handbook states; each must really be in the handbook (checked below), so a
# marker that stops matching it fails instead of silently guarding nothing.
INTERNAL_MARKERS = (
    "#cs-",
    "팀장",
    "센터장",
    "team lead",
    "CS center manager",
    "100,000",
    "500,000",
    "우선 응대",
    "priority queue",
    "2시간",
    "2 business hours",
    "30분",
    "30 business minutes",
    "1시간",
    "1 business hour",
    "당직",
    "on-call",
    "보상 쿠폰",
    "goodwill",
    "마스킹",
    "mask",
    "15분",
    "15-minute",
)


def _rows(name: str) -> list[dict[str, Any]]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _front_matter(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "---", f"{path.name}: no front matter on line 1"
    return lines[1 : lines.index("---", 1)]


def _sections(path: Path) -> list[str]:
    return re.findall(r"^## (.+?)\s*$", path.read_text(encoding="utf-8"), re.MULTILINE)


def _policy_sources() -> set[str]:
    return {
        f"{path.name} § {heading}"
        for folder in (POLICIES, HANDBOOK)
        for path in folder.glob("*.md")
        for heading in _sections(path)
    }


@pytest.mark.parametrize(("folder", "audience"), [(POLICIES, "customers"), (HANDBOOK, "staff")])
def test_documents_declare_their_audience(folder: Path, audience: str) -> None:
    documents = sorted(folder.glob("*.md"))
    assert documents
    for path in documents:
        assert _front_matter(path) == [f"audience: {audience}"], path.name


def test_customer_policies_come_in_both_languages_with_four_to_seven_sections() -> None:
    stems = {p.stem.removesuffix("-en") for p in POLICIES.glob("*.md")}
    assert {"refund-policy", "shipping-policy", "exchange-return-policy"} <= stems
    for stem in stems:
        ko, en = POLICIES / f"{stem}.md", POLICIES / f"{stem}-en.md"
        assert ko.exists() and en.exists(), stem
        assert 4 <= len(_sections(ko)) <= 7, ko.name
        assert len(_sections(ko)) == len(_sections(en)), stem
        assert re.search(r"[\uac00-\ud7a3]", "".join(_sections(ko))), ko.name
        assert not re.search(r"[\uac00-\ud7a3]", en.read_text(encoding="utf-8")), en.name


def test_customer_policies_say_nothing_only_the_handbook_says() -> None:
    handbook = " ".join(p.read_text(encoding="utf-8") for p in HANDBOOK.glob("*.md"))
    for marker in INTERNAL_MARKERS:
        assert marker.lower() in handbook.lower(), f"marker {marker!r} is not in the handbook"
    for path in POLICIES.glob("*.md"):
        text = path.read_text(encoding="utf-8").lower()
        found = [m for m in INTERNAL_MARKERS if m.lower() in text]
        assert found == [], (path.name, found)


def test_every_figure_in_the_customer_policies_is_one_the_faq_states() -> None:
    faq = (SAMPLE_DIR / "faq.yaml").read_text(encoding="utf-8")
    for path in POLICIES.glob("*.md"):
        figures = set(re.findall(r"\d[\d,]*\d|\d", path.read_text(encoding="utf-8")))
        unknown = sorted(f for f in figures if f not in faq)
        assert unknown == [], (path.name, unknown)


def test_staff_only_questions_point_at_a_handbook_section_in_their_language() -> None:
    rows = _rows("staff_only_questions.jsonl")
    assert len(rows) >= 70
    languages = Counter(r["lang"] for r in rows)
    assert set(languages) == {"ko", "en"}
    assert min(languages.values()) >= 0.4 * len(rows)
    assert len({r["question"] for r in rows}) == len(rows)
    files = {"ko": "internal-operations.md", "en": "internal-operations-en.md"}
    covered: Counter[tuple[str, str]] = Counter()
    for row in rows:
        assert set(row) == {"lang", "question", "section", "file"}, row
        assert row["file"] == files[row["lang"]], row
        assert row["section"] in _sections(HANDBOOK / row["file"]), row
        covered[(row["file"], row["section"])] += 1
    for file in files.values():
        for section in _sections(HANDBOOK / file):
            assert covered[(file, section)] >= 4, (file, section)


def test_customer_questions_point_at_a_customer_source() -> None:
    rows = _rows("customer_questions.jsonl")
    assert len(rows) >= 40
    languages = Counter(r["lang"] for r in rows)
    assert set(languages) == {"ko", "en"}
    assert min(languages.values()) >= 0.4 * len(rows)
    faq_ids = {e.id for e in load_paths([SAMPLE_DIR / "faq.yaml"])}
    customer_sections = {s for s in _policy_sources() if not s.startswith("internal-operations")}
    for row in rows:
        assert {"lang", "question", "source"} <= set(row) <= {"lang", "question", "source", "also"}
        for source in [row["source"], *row.get("also", [])]:
            assert source in faq_ids or source in customer_sections, (row["question"], source)
            if " § " in source:
                assert source.split(" § ")[0].endswith("-en.md") == (row["lang"] == "en"), row
