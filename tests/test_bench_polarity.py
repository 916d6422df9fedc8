"""The review polarity benchmark: gold rules, the KOTE mapping, and a tiny smoke run."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from bench import polarity
from bench.common import Config
from bench.train_emotion import GOEMOTIONS_LABELS, KOTE_LABELS

DATA = Path(
    os.environ.get("ONDO_DATASETS", Path(__file__).resolve().parents[2] / "shared/datasets")
)


def test_kote_mapping_covers_every_label_once() -> None:
    assert sorted(polarity.KOTE_POLARITY) == sorted(KOTE_LABELS)
    assert Counter(polarity.KOTE_POLARITY.values()) == {
        "positive": 13,
        "neutral": 5,
        "negative": 26,
    }


def test_kote_votes() -> None:
    def ids(*names: str) -> list[int]:
        return [KOTE_LABELS.index(n) for n in names]

    assert polarity.kote_gold(ids("기쁨", "행복", "짜증")) == "positive"
    assert polarity.kote_gold(ids("기쁨", "짜증", "화남/분노")) == "negative"
    assert polarity.kote_gold(ids("없음", "놀람")) == "neutral"
    assert polarity.kote_gold(ids("기쁨", "짜증", "없음")) is None  # a polar tie is mixed


def test_goemotions_rule(tmp_path: Path) -> None:
    folder = tmp_path / "goemotions"
    folder.mkdir()
    (folder / "sentiment_dict.json").write_text(
        '{"positive": ["joy"], "negative": ["anger"], "ambiguous": ["curiosity"]}',
        encoding="utf-8",
    )
    gold = polarity.goemotions_gold(tmp_path)

    def ids(*names: str) -> list[int]:
        return [GOEMOTIONS_LABELS.index(n) for n in names]

    assert gold(ids("joy", "curiosity")) == "positive"
    assert gold(ids("anger", "neutral")) == "negative"
    assert gold(ids("curiosity")) == "neutral"  # ambiguous counts as neutral
    assert gold(ids("neutral")) == "neutral"
    assert gold(ids("joy", "anger")) is None  # mixed: left out


def test_metrics() -> None:
    gold = ["positive", "negative", "neutral", "positive"]
    assert polarity.accuracy(["positive", "negative", "positive", "positive"], gold) == 0.75
    assert polarity.macro_f1(gold, gold) == 1.0
    assert polarity.cell(gold, gold) == "100.0 % (macro-F1 1.00)"


@pytest.mark.skipif(not (DATA / "kote").is_dir(), reason=f"datasets not found at {DATA}")
def test_suite_smoke_on_a_tiny_subsample() -> None:
    cfg = Config(data=DATA, quick=True, emotion_train=300, emotion_test=60)
    rows = polarity.polarity(cfg, models=None)  # type: ignore[arg-type]  # the suite needs none
    names = [r.benchmark.split(" (")[0] for r in rows]
    assert names == [
        "GoEmotions review polarity",
        "KOTE review polarity",
        "KOTE test, movies & books slice",
        "KOTE test, shopping & food slice",
        "GoEmotions-Korean review polarity",
        "Hand-written Korean reviews",
        "Hand-written Korean reviews, validation set",
        "Sample file, Korean text vs stars",
    ]
    for row in rows:
        assert row.ondo.startswith("ReviewPolarity ") and "%" in row.lexical
        assert "majority class" in row.anchor and row.protocol
        assert "previous model " in row.ondo  # the first review model, measured in the same run
    stars = rows[-1].ondo
    assert stars.count("adapted to the file's stars (cross-fitted)") == 2  # shipped and previous
