"""Loaders for the public data sets under ``shared/datasets`` (formats per each SOURCE.md)."""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

KOTE_ANGER = 6
"""KOTE label index of 화남/분노."""
GOEMOTIONS_ANGER = 2
"""GoEmotions label index of ``anger``."""


@dataclass(frozen=True)
class Labeled:
    """One text with one label (an intent, a paraphrase-set id, ...)."""

    text: str
    label: str


@dataclass(frozen=True)
class Binary:
    """One text with a yes/no label (e.g. "angry")."""

    text: str
    positive: bool


def subsample(items: Sequence[T], n: int | None, seed: int = 0) -> list[T]:
    """``n`` items drawn with a fixed seed, in their original order (all when ``n`` is None)."""
    if n is None or n >= len(items):
        return list(items)
    picked = sorted(random.Random(seed).sample(range(len(items)), n))
    return [items[i] for i in picked]


def by_label(items: Sequence[Labeled]) -> dict[str, list[str]]:
    """Texts grouped by label, labels in first-seen order."""
    groups: dict[str, list[str]] = defaultdict(list)
    for item in items:
        groups[item.label].append(item.text)
    return dict(groups)


def banking77(root: Path, split: str) -> list[Labeled]:
    """BANKING77 ``train`` or ``test``: CSV with a ``text,category`` header."""
    with (root / "banking77" / f"{split}.csv").open(encoding="utf-8", newline="") as f:
        return [Labeled(row["text"], row["category"]) for row in csv.DictReader(f)]


def banking77_few_shot(train: Sequence[Labeled], shots: int, seed: int = 0) -> dict[str, list[str]]:
    """``shots`` train questions per intent: ``Random(seed).sample`` per intent, sorted."""
    rng = random.Random(seed)
    groups = by_label(train)
    return {
        intent: sorted(rng.sample(texts, min(shots, len(texts))))
        for intent, texts in sorted(groups.items())
    }


def clinc150(root: Path) -> dict[str, list[Labeled]]:
    """CLINC150 ``data_full.json``: split name -> ``[text, intent]`` rows."""
    data = json.loads((root / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    return {split: [Labeled(t, i) for t, i in rows] for split, rows in data.items()}


def parakqc(root: Path) -> list[list[str]]:
    """paraKQC: 1,000 sets of 10 paraphrases (set id = line index // 10)."""
    lines = (root / "parakqc" / "paraKQC_v1.txt").read_text(encoding="utf-8").splitlines()
    sentences = [line.split("\t")[2].strip() for line in lines if line.strip()]
    return [sentences[i : i + 10] for i in range(0, len(sentences), 10)]


def _tsv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return [row for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if row]


def _has_label(ids: str, label: int) -> bool:
    return str(label) in {part.strip() for part in ids.split(",")}


def goemotions_anger(root: Path, split: str) -> list[Binary]:
    """GoEmotions ``train``/``dev``/``test``: ``text \\t label ids \\t comment id``; anger = 2."""
    rows = _tsv(root / "goemotions" / f"{split}.tsv")
    return [Binary(row[0], _has_label(row[1], GOEMOTIONS_ANGER)) for row in rows]


def kote_anger(root: Path, split: str) -> list[Binary]:
    """KOTE ``val``/``test``: ``id \\t text \\t label ids``; 화남/분노 = 6 (any rater chose it)."""
    rows = _tsv(root / "kote" / f"{split}.tsv")
    return [Binary(row[1], _has_label(row[2], KOTE_ANGER)) for row in rows]


def clinc150_domains(root: Path) -> dict[str, list[str]]:
    """CLINC150 ``domains.json``: domain -> its 15 intents."""
    domains: dict[str, list[str]] = json.loads(
        (root / "clinc150" / "domains.json").read_text(encoding="utf-8")
    )
    return domains


def parakqc_topics(root: Path) -> list[int]:
    """paraKQC: the topic id (first column) of each of the 1,000 paraphrase sets."""
    lines = (root / "parakqc" / "paraKQC_v1.txt").read_text(encoding="utf-8").splitlines()
    topics = [int(line.split("\t")[0]) for line in lines if line.strip()]
    return topics[::10]


def korean_chitchat(root: Path) -> list[str]:
    """korean-chatbot-data: the distinct questions labelled 0 (일상다반사, everyday chit-chat),
    shuffled with ``Random(0)``."""
    with (root / "korean-chatbot-data" / "ChatbotData.csv").open(encoding="utf-8", newline="") as f:
        rows = [row["Q"].strip() for row in csv.DictReader(f) if row["label"].strip() == "0"]
    questions = list(dict.fromkeys(q for q in rows if q))
    random.Random(0).shuffle(questions)
    return questions
