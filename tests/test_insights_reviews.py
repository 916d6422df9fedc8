"""``ondo insights reviews``: polarity ratio, key phrases, quotes, JSON contract, summary."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.insights.keyphrases import Candidates, english_phrases, korean_phrases, rank
from bot.insights.polarity import (
    EmotionReviewPolarity,
    ReviewPolarity,
    from_emotion,
    lexicon_polarity,
    star_polarity,
)
from bot.insights.reading import SAMPLE_REVIEWS, read_reviews
from bot.insights.reviews import ReviewsReport, analyze, shares, shorten
from bot.insights.reviews_report import summary

PII = ("010-2345-6789", "010-9876-5432", "3456-7890", "hong.gildong@example.com", "jane.doe@")


@pytest.fixture(scope="module")
def sample_report() -> ReviewsReport:
    return analyze(read_reviews(SAMPLE_REVIEWS), ReviewPolarity())


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ONDO_AGENT_LANGUAGE", raising=False)
    return tmp_path


# --- pieces ------------------------------------------------------------------------------


@pytest.mark.parametrize("counts", list(itertools.product(range(5), repeat=3))[1:])
def test_shares_sum_to_exactly_one(counts: tuple[int, int, int]) -> None:
    ratio = shares(dict(zip(("positive", "negative", "neutral"), counts, strict=True)))
    assert sum(ratio.values()) == pytest.approx(1.0, abs=1e-12)
    assert round(sum(ratio.values()), 3) == 1.0
    total = sum(counts)
    for value, count in zip(ratio.values(), counts, strict=True):
        assert abs(value - count / total) <= 0.001


def test_shares_break_ties_in_order() -> None:
    assert shares({"positive": 1, "negative": 1, "neutral": 1}) == {
        "positive": 0.334,
        "negative": 0.333,
        "neutral": 0.333,
    }
    assert shares({"positive": 0, "negative": 0, "neutral": 0}) == {
        "positive": 0.0,
        "negative": 0.0,
        "neutral": 0.0,
    }


def test_korean_noun_phrases() -> None:
    keys = dict(
        korean_phrases(
            "빠른 배송 감사합니다! 친절한 상담 덕분에 포장문제 해결, "
            "교환 지연은 아쉬워요. 재구매 의사 있어요"
        )
    )
    surfaces = set(keys.values())
    assert {"빠른 배송", "친절한 상담", "포장 문제", "교환 지연", "재구매 의사"} <= surfaces
    assert "감사" not in surfaces  # thanks is not a key phrase
    # Spacing variants share one key.
    assert (
        dict(korean_phrases("포장 문제"))["포장 문제"]
        == dict(korean_phrases("포장문제"))["포장 문제"]
    )


def test_english_noun_phrases() -> None:
    found = dict(english_phrases("Fast delivery and GREAT quality! The customer service was rude."))
    assert {"fast delivery", "great quality", "customer service", "delivery", "quality"} <= set(
        found
    )
    assert not {"fast", "great", "rude", "the"} & set(found)
    assert dict(english_phrases("late deliveries"))["late delivery"] == "late deliveries"


def test_rank_orders_by_how_much_a_phrase_leans_to_its_side() -> None:
    def c(*phrases: str) -> Candidates:
        return Candidates({p: p for p in phrases})

    reviews = [
        *[("positive", c("fast delivery", "delivery")) for _ in range(6)],
        *[("positive", c("nice box", "delivery")) for _ in range(2)],
        *[("negative", c("late delivery", "delivery")) for _ in range(5)],
        ("negative", c("nice box")),
        ("negative", c("rare thing")),
        ("neutral", c("delivery")),
    ]
    ranked = rank(reviews, k=5)
    assert [p.text for p in ranked["positive"]] == ["fast delivery", "nice box"]
    assert [p.text for p in ranked["negative"]] == ["late delivery"]  # one-off "rare thing" out
    fast = ranked["positive"][0]
    assert (fast.count, fast.other) == (6, 0)
    assert ranked["positive"][0].score > ranked["positive"][1].score


def test_polarity_mappings() -> None:
    assert [from_emotion(e) for e in ("positive", "disappointed", "angry", "neutral")] == [
        "positive",
        "negative",
        "negative",
        "neutral",
    ]
    assert [star_polarity(s) for s in (5, 4, 3, 2.5, 2, 1)] == [
        "positive",
        "positive",
        "neutral",
        "neutral",
        "negative",
        "negative",
    ]


def test_review_polarity_reads_flat_complaints_as_negative() -> None:
    polarity = ReviewPolarity()
    crushed = "The box was crushed and the item was damaged."
    # The plain emotion mapping calls this flat statement neutral; the problem cues do not
    # (English reviews are read by the emotion scorer, Korean ones by the review model).
    assert EmotionReviewPolarity(issue_weight=0.0).polarity(crushed, "en") == "neutral"
    assert polarity.polarity(crushed, "en") == "negative"
    assert polarity.polarity("포장 상태가 엉망이었어요.", "ko") == "negative"
    assert polarity.polarity("빠른 배송 감사합니다! 정말 만족해요.", "ko") == "positive"
    assert polarity.polarity("Great quality, fast shipping. Love it!", "en") == "positive"
    scores = polarity.scores(crushed, "en")
    assert max(scores, key=lambda p: scores[p]) == "negative"


def test_shorten_cuts_at_a_sentence_end() -> None:
    first = "Fast delivery and great quality, and the box was lovely too."
    assert shorten(f"{first} " + "x" * 200) == first
    assert shorten("Too short. " + "x" * 200).endswith("x…")  # a tiny first sentence says little
    assert shorten("y" * 300).endswith("…") and len(shorten("y" * 300)) == 140


# --- the analysis ------------------------------------------------------------------------


def test_small_file_with_the_lexicon_fake(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(
        "review\n"
        "빠른 배송 감사합니다! 최고예요\n"
        "빠른 배송 좋아요, 감사합니다\n"
        "포장 문제로 파손됐어요. 010-1234-5678 로 연락 주세요. 실망입니다\n"
        "포장 문제 때문에 너무 실망했어요\n"
        "Great service, thanks a lot!\n"
        "When does it ship?\n",
        encoding="utf-8",
    )
    report = analyze(read_reviews(path), lexicon_polarity())
    assert report.count == 6
    assert sum(report.overall.ratio.values()) == pytest.approx(1.0)
    assert report.overall.counts == {"positive": 3, "negative": 2, "neutral": 1}
    assert [p.text for p in report.keyphrases["positive"]][:1] == ["빠른 배송"]
    assert [p.text for p in report.keyphrases["negative"]][:1] == ["포장 문제"]
    negative = report.quotes["negative"]
    assert any("[전화번호]" in q for q in negative)
    assert not any("010-1234-5678" in q for q in negative)
    assert report.languages["ko"].count == 4 and report.languages["en"].count == 2
    assert report.stars is None and report.timeline == []


def test_sample_key_phrases_in_both_languages(sample_report: ReviewsReport) -> None:
    positive = [p.text for p in sample_report.keyphrases["positive"]]
    negative = [p.text for p in sample_report.keyphrases["negative"]]
    assert {"빠른 배송", "친절한 상담", "fast delivery"} <= set(positive)
    assert "배송 지연" in negative and "교환 지연" in negative
    assert any(p.isascii() for p in negative)  # English complaints too ("late delivery")
    for phrases in sample_report.keyphrases.values():
        scores = [p.score for p in phrases]
        assert scores == sorted(scores, reverse=True)
        assert all(p.count >= 2 for p in phrases)


def test_sample_quotes_are_short_typical_and_redacted(sample_report: ReviewsReport) -> None:
    dumped = json.dumps(sample_report.to_json(), ensure_ascii=False)
    for secret in PII:
        assert secret not in dumped
    for side in ("positive", "negative", "neutral"):
        quotes = sample_report.quotes[side]
        assert len(quotes) == 3 and len(set(quotes)) == 3
        assert all(len(q) <= 140 for q in quotes)
    assert any("빠른 배송" in q for q in sample_report.quotes["positive"])
    assert any("지연" in q for q in sample_report.quotes["negative"])


def test_sample_breakdowns(sample_report: ReviewsReport) -> None:
    ratio = sample_report.overall.ratio
    assert ratio["positive"] > ratio["negative"] > 0.15
    assert set(sample_report.languages) == {"ko", "en"}
    assert sum(b.count for b in sample_report.languages.values()) == sample_report.count
    stars = sample_report.stars
    assert stars is not None and stars.count < sample_report.count
    assert sum(stars.distribution.values()) == stars.count
    assert stars.agreement > 0.6  # text polarity mostly agrees with the customers' stars
    assert sample_report.period == "day" and len(sample_report.timeline) > 30
    assert sum(b.count for _, b in sample_report.timeline) == sample_report.count


def test_summary_in_both_languages(sample_report: ReviewsReport) -> None:
    ko = summary(sample_report, "ko")
    assert ko.splitlines()[0].startswith(f"{sample_report.count} 리뷰 · 긍정 ")
    assert "빠른 배송" in ko and "부정:" in ko
    en = summary(sample_report, "en")
    assert "positive:" in en and "negative:" in en and "mean stars" in en
    assert len(en.splitlines()) <= 12


# --- the command -------------------------------------------------------------------------


def test_cli_json_contract(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["insights", "reviews", "--json"]) == 0  # no FILE: the bundled sample
    data = json.loads(capsys.readouterr().out)
    assert {"count", "ratio", "keyphrases", "quotes"} <= set(data)
    assert data["count"] >= 150
    assert set(data["ratio"]) == {"positive", "negative", "neutral"}
    assert sum(data["ratio"].values()) == pytest.approx(1.0, abs=1e-9)
    assert set(data["keyphrases"]) == {"positive", "negative"}
    for phrases in data["keyphrases"].values():
        assert phrases and all({"phrase", "reviews", "score"} <= set(p) for p in phrases)
        assert [p["score"] for p in phrases] == sorted((p["score"] for p in phrases), reverse=True)
    assert set(data["quotes"]) == {"positive", "negative", "neutral"}
    assert data["file"]["path"] == str(SAMPLE_REVIEWS)


def test_cli_summary_follows_the_agents_language(
    clean_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["insights", "reviews"]) == 0
    assert "긍정" in capsys.readouterr().out  # mostly Korean reviews: Korean labels
    monkeypatch.setenv("ONDO_AGENT_LANGUAGE", "en")
    assert main(["insights", "reviews"]) == 0
    out = capsys.readouterr().out
    assert "positive" in out and "긍정" not in out


def test_cli_reads_a_cp949_file_and_writes_html(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = clean_env / "export.csv"
    path.write_bytes("리뷰\n빠른 배송 최고예요\n빠른 배송 감사해요\n".encode("cp949"))
    assert main(["insights", "reviews", str(path), "--html", "out.html", "--json"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["count"] == 2 and data["file"]["encoding"] == "cp949"
    assert "out.html" in captured.err
    page = (clean_env / "out.html").read_text(encoding="utf-8")
    assert "<svg data-chart=" in page and "빠른 배송" in page


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("order_id,amount\n1,2\n", "no review text column (found columns: 'order_id', 'amount'"),
        ("", "the file is empty"),
    ],
)
def test_cli_bad_files_give_one_line_errors(
    clean_env: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    path = clean_env / "bad.csv"
    path.write_text(content, encoding="utf-8")
    assert main(["insights", "reviews", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("ondo: error: ") and expected in captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err


def test_cli_unwritable_html_path(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["insights", "reviews", "--html", str(clean_env / "no" / "such" / "r.html")]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_a_review_repeated_in_the_file_is_quoted_once(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text(
        "review\n"
        + "Fast delivery. Thanks!\n" * 3
        + "Great quality. Love it!\n"
        + "Where is my order?\n" * 3
        + "When will it ship?\n",
        encoding="utf-8",
    )
    quotes = analyze(read_reviews(path), lexicon_polarity()).quotes
    assert sorted(quotes["positive"]) == ["Fast delivery. Thanks!", "Great quality. Love it!"]
    assert sorted(quotes["neutral"]) == ["When will it ship?", "Where is my order?"]
