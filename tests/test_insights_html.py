"""The HTML report builder, and the reviews report loaded in a real headless Chromium.

The browser helper lives in ``tests/browser.py`` (``load_page``, ``chromium_path``) so other
reports' tests can use it too. Without Chromium the browser tests skip, unless
``ONDO_REQUIRE_CHROMIUM=1`` (CI), where they fail.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.insights import html
from bot.insights.polarity import lexicon_polarity
from bot.insights.reading import SAMPLE_REVIEWS, read_reviews
from bot.insights.reviews import analyze
from bot.insights.reviews_report import page
from tests.browser import PageReport, chromium_path, load_page

__all__ = ["PageReport", "chromium_path", "load_page"]


# --- the builder, without a browser --------------------------------------------------------


def test_text_is_escaped_everywhere() -> None:
    evil = '<script>alert("x")</script>'
    doc = html.page(
        evil,
        [
            html.section(
                evil,
                html.bar_chart(evil, [evil], [1]),
                html.ratio_bar(evil, {evil: 1}),
                html.line_chart(evil, [evil], {evil: [1.0]}),
                html.table([evil], [[evil]]),
                html.quotes([evil]),
                html.figures([(evil, evil)]),
                html.paragraph(evil),
                html.heading(evil),
            )
        ],
        subtitle=evil,
    )
    assert "<script>" not in doc
    assert "&lt;script&gt;" in doc


def test_page_is_self_contained() -> None:
    doc = html.page("t", [html.section("s", html.bar_chart("b", ["a"], [1]))])
    assert doc.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in doc
    assert "Content-Security-Policy" in doc and "default-src 'none'" in doc
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", doc)
    assert "<script" not in doc and "@import" not in doc and "url(" not in doc


def test_charts_with_nothing_to_draw_become_a_note() -> None:
    for fragment in (
        html.bar_chart("b", [], []),
        html.bar_chart("b", ["a", "b"], [0, 0]),
        html.ratio_bar("r", {"positive": 0}),
        html.line_chart("l", [], {}),
    ):
        assert "<svg" not in fragment and 'class="empty"' in fragment
    assert "데이터 없음" in html.bar_chart("b", [], [], empty="데이터 없음")
    assert "리뷰 없음" in html.quotes([], empty="리뷰 없음")


def test_chart_marks() -> None:
    bar = html.bar_chart("b", ["빠른 배송", "fast delivery"], [12, 3])
    assert bar.count("<rect") == 2 and 'data-chart="bar"' in bar
    ratio = html.ratio_bar("r", {"positive": 6, "negative": 3, "neutral": 1})
    assert ratio.count("<rect") == 3 and html.NAMED_COLORS["negative"] in ratio
    line = html.line_chart("l", ["d1", "d2", "d3"], {"a": [1, 2, 3], "b": [0, 0, 0]})
    assert line.count("<path") == 2 and line.count("<circle") == 6


def test_mismatched_lengths_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="2 labels but 1 values"):
        html.bar_chart("b", ["a", "b"], [1])
    with pytest.raises(ValueError):
        html.line_chart("l", ["d1"], {"a": [1, 2]})


def test_table_formats_numbers() -> None:
    table = html.table(["a", "b", "c", "d"], [[1234, 0.5, None, True]])
    assert '<td class="num">1,234</td>' in table and '<td class="num">0.50</td>' in table
    assert "<td></td>" in table and "<td>True</td>" in table


# --- in a real browser ------------------------------------------------------------------


def _assert_clean(report: PageReport) -> None:
    assert report.errors == []
    assert report.outside_requests == []
    assert report.requests == [report.url]


def test_the_browser_harness_catches_errors_and_requests(tmp_path: Path) -> None:
    binary = chromium_path()
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><head><title>bad</title></head><body><p>x</p>"
        '<img src="http://example.invalid/x.png">'
        '<svg data-chart="bar" width="10" height="10"></svg>'
        '<script>console.error("oops"); throw new Error("boom");</script></body></html>',
        encoding="utf-8",
    )
    report = load_page(bad, binary)
    assert any("oops" in e for e in report.errors)
    assert any("boom" in e for e in report.errors)
    assert report.outside_requests == ["http://example.invalid/x.png"]
    assert report.charts == [{"kind": "bar", "width": 10, "height": 10, "marks": 0}]


def test_sample_reviews_report_in_chromium(tmp_path: Path) -> None:
    binary = chromium_path()
    report = analyze(read_reviews(SAMPLE_REVIEWS), lexicon_polarity())
    path = tmp_path / "reviews.html"
    path.write_text(page(report, "ko"), encoding="utf-8")
    loaded = load_page(path, binary)
    _assert_clean(loaded)
    assert loaded.title == "리뷰 인사이트"
    kinds = [chart["kind"] for chart in loaded.charts]
    assert kinds.count("bar") == 3 and "ratio" in kinds and "line" in kinds
    for chart in loaded.charts:
        assert chart["width"] > 0 and chart["height"] > 0, chart
        assert chart["marks"] > 0, chart
    assert "빠른 배송" in loaded.text and "fast delivery" in loaded.text
    for secret in ("010-2345-6789", "010-9876-5432", "@example.com"):
        assert secret not in path.read_text(encoding="utf-8")


def test_small_english_report_in_chromium(tmp_path: Path) -> None:
    binary = chromium_path()
    source = tmp_path / "one.jsonl"
    source.write_text('{"text": "Where is my order?"}\n', encoding="utf-8")
    report = analyze(read_reviews(source), lexicon_polarity())
    path = tmp_path / "one.html"
    path.write_text(page(report, "en"), encoding="utf-8")
    loaded = load_page(path, binary)
    _assert_clean(loaded)
    # One neutral review: the ratio bar has one segment; no phrases, so notes, not charts.
    assert [chart["kind"] for chart in loaded.charts] == ["ratio"]
    assert loaded.charts[0]["marks"] == 1
    assert "No phrase is used by 2 or more reviews on this side." in loaded.text
    assert "No reviews on this side." in loaded.text and "Where is my order?" in loaded.text
