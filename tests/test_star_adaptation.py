"""Per-file adaptation to star ratings: when it is used, and that it never sees a row's own star.

The reviews are written for this file (none is in tests/data/ko_reviews.yaml or in the training
supplement of bench/train_polarity.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from bot.cli import main
from bot.insights.polarity import EmotionReviewPolarity, Polarity, ReviewPolarity
from bot.insights.reading import read_reviews
from bot.insights.reviews import analyze
from bot.insights.reviews_report import page, summary
from bot.insights.star_adaptation import (
    MIN_RATED,
    TEXT_ONLY,
    FileReading,
    cross_fit,
    folds_of,
    read_polarities,
)
from bot.types import Language

PRAISE = ["정말 만족해요", "최고예요 또 살게요", "너무 좋아요 추천합니다", "품질 좋고 예뻐요"]
SO_SO = ["그럭저럭 쓸만해요", "무난해요", "나쁘지 않아요", "가격만큼이에요"]
COMPLAINTS = ["별로예요", "불량이에요 환불해 주세요", "실망했어요", "다시는 안 사요"]

Row = tuple[str, Language, float | None]


@pytest.fixture(scope="module")
def polarity() -> ReviewPolarity:
    return ReviewPolarity(english=FixedEnglish())


class FixedEnglish(EmotionReviewPolarity):
    """An English scorer that needs no model: "love" is praise, anything else a complaint."""

    def __init__(self) -> None:
        pass

    def scores(self, text: str, language: Language) -> dict[Polarity, float]:
        good = "love" in text.lower()
        return {"positive": float(good), "negative": float(not good), "neutral": 0.0}


def so_so_shop(copies: int = 8) -> list[Row]:
    """A shop whose reviewers rate "so-so" reviews 3 stars: neutral by its own stars."""
    return [
        (f"{text} {i}", "ko", stars)
        for i in range(copies)
        for texts, stars in ((PRAISE, 5.0), (SO_SO, 3.0), (COMPLAINTS, 1.0))
        for text in texts
    ]


def test_folds_follow_position_not_stars() -> None:
    assert folds_of(7, 3).tolist() == [0, 1, 2, 0, 1, 2, 0]


def test_too_few_ratings_keep_the_model(polarity: ReviewPolarity) -> None:
    rows = [*so_so_shop()[: MIN_RATED - 1], ("무난하고 쓸만해요", "ko", None)]
    reading = read_polarities(polarity, rows)
    assert reading.labels == [polarity.polarity(text, "ko") for text, _, _ in rows]
    assert reading.model.reason == "few_ratings" and reading.model.rated == MIN_RATED - 1
    assert reading.model.agreement == reading.model.base_agreement


def test_plenty_of_ratings_adapt_the_korean_model(polarity: ReviewPolarity) -> None:
    rows = [
        *so_so_shop(),
        ("무난하고 쓸만해요", "ko", None),
        ("최고예요 정말 만족합니다", "ko", None),
    ]
    plain = [polarity.polarity(text, "ko") for text, _, _ in rows]
    reading = read_polarities(polarity, rows)
    used = reading.model
    assert used.adapted and used.rated == len(rows) - 2
    assert used.rated_adapted == used.rated
    assert used.agreement is not None and used.base_agreement is not None
    assert used.agreement > used.base_agreement
    # The model alone calls the unrated so-so review something else; this shop calls it neutral.
    assert plain[-2] != "neutral" and reading.labels[-2] == "neutral"
    assert reading.labels[-1] == "positive"
    assert read_polarities(polarity, rows, adapt=False).labels == plain


def test_english_reviews_are_never_adapted(polarity: ReviewPolarity) -> None:
    # Rated "love it" 1 star throughout: a fit would flip them, the English scorer does not.
    rows: list[Row] = [(f"Love it, order {i}", "en", 1.0) for i in range(40)]
    rows += [(f"Broken on arrival, order {i}", "en", 5.0) for i in range(40)]
    reading = read_polarities(polarity, rows)
    assert reading.model.reason == "few_ratings" and reading.model.rated == 0
    assert reading.labels == ["positive"] * 40 + ["negative"] * 40


def test_stars_of_one_polarity_keep_the_model(polarity: ReviewPolarity) -> None:
    rows = [(text, lang, 5.0) for text, lang, _ in so_so_shop()]
    reading = read_polarities(polarity, rows)
    assert reading.model.reason == "one_polarity" and reading.model.rated_adapted == 0
    assert reading.labels == [polarity.polarity(text, "ko") for text, _, _ in rows]


class Memorizer:
    """A learner that remembers each training row's star and knows nothing else.

    Asked about a row it was fitted on, it answers that row's own star; any other row is
    "neutral". Whatever labels a rated review with its memorized star has seen that star.
    (Rows are compared at 5 decimals: a text embedded in another batch moves by ~1e-7.)
    """

    def __init__(self, x: NDArray[np.float64], labels: Sequence[Polarity]) -> None:
        self.seen = {tuple(np.round(row, 5)): label for row, label in zip(x, labels, strict=True)}

    def predict(self, x: NDArray[np.float64]) -> list[Polarity]:
        return [self.seen.get(tuple(np.round(row, 5)), "neutral") for row in x]


def test_cross_fitting_never_shows_a_row_its_own_star(polarity: ReviewPolarity) -> None:
    # Stars against the text (praise 1, complaints 5): only a fit that saw a row's own star
    # could label it with that star.
    rows: list[Row] = [(f"{t} {i}", "ko", 1.0) for i in range(6) for t in PRAISE]
    rows += [(f"{t} {i}", "ko", 5.0) for i in range(6) for t in COMPLAINTS]
    twin = rows[0][0]
    rows.append((twin, "ko", None))  # unrated: labelled by the fit on every rated row
    reading = read_polarities(polarity, rows, learner=Memorizer)
    rated = reading.labels[:-1]
    assert reading.model.adapted and reading.model.rated_adapted == len(rated)
    assert rated == ["neutral"] * len(rated)
    assert reading.model.agreement == 0.0
    assert reading.labels[-1] == "negative"  # the memorizer does remember what it was shown


def test_a_row_label_does_not_move_with_its_own_star(polarity: ReviewPolarity) -> None:
    rows = so_so_shop()
    before = read_polarities(polarity, rows).labels
    for i in (0, 5, 17, 40):
        text, lang, stars = rows[i]
        for other in (1.0, 3.0, 5.0):
            if other == stars:
                continue
            changed = [*rows[:i], (text, lang, other), *rows[i + 1 :]]
            assert read_polarities(polarity, changed).labels[i] == before[i]


def test_cross_fit_keeps_the_argmax_where_a_fit_declines() -> None:
    x = np.log(np.asarray([[0.8, 0.1, 0.1], [0.1, 0.1, 0.8], [0.1, 0.8, 0.1]]))
    labels, fitted = cross_fit(x, ["positive", "negative", "neutral"], lambda xs, ys: None, 3)
    assert labels == ["negative", "positive", "neutral"] and not fitted.any()


def test_a_detector_without_the_korean_model_is_read_as_is() -> None:
    class Always:
        def polarity(self, text: str, language: Language) -> Polarity:
            return "neutral"

    reading = read_polarities(Always(), so_so_shop())
    assert reading == FileReading(["neutral"] * len(so_so_shop()), TEXT_ONLY)


# --- the report and the command ---------------------------------------------------------


def write_shop(path: Path, rows: Sequence[Row]) -> Path:
    lines = ["review,rating"] + [f"{t},{'' if s is None else int(s)}" for t, _, s in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_report_says_which_model_was_used(tmp_path: Path, polarity: ReviewPolarity) -> None:
    file = read_reviews(write_shop(tmp_path / "shop.csv", so_so_shop()))
    report = analyze(file, polarity)
    data = report.to_json()["polarity_model"]
    assert data["korean"] == "adapted" and data["rated_korean"] == 96 and data["folds"] == 5
    assert report.stars is not None and report.stars.agreement == data["agreement"]
    assert "adapted to this file's 96 rated Korean reviews" in summary(report, "en")
    assert "별점 있는 한국어 리뷰 96개로 보정" in summary(report, "ko")
    assert "never labelled by a fit that saw its own stars" in page(report, "en")
    plain = analyze(file, polarity, adapt=False)
    assert plain.to_json()["polarity_model"]["korean"] == "text_only"
    assert "text only" in summary(plain, "en") and "본문만" in summary(plain, "ko")
    assert "stars are shown separately" in page(plain, "en")


def test_cli_adapts_unless_told_text_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ONDO_AGENT_LANGUAGE", raising=False)
    path = write_shop(tmp_path / "shop.csv", so_so_shop())
    assert main(["insights", "reviews", str(path), "--json"]) == 0
    adapted = json.loads(capsys.readouterr().out)["polarity_model"]
    assert adapted["adapted"] and adapted["agreement"] > adapted["base_agreement"]
    assert main(["insights", "reviews", str(path), "--json", "--text-only"]) == 0
    plain = json.loads(capsys.readouterr().out)["polarity_model"]
    assert plain["korean"] == "text_only" and plain["rated_korean"] == 96
    assert plain["agreement"] == plain["base_agreement"] == adapted["base_agreement"]
