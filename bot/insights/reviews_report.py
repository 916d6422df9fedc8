"""How a :class:`~bot.insights.reviews.ReviewsReport` is shown: terminal summary and HTML page.

Labels come in the report's language: the agents' language (``ONDO_AGENT_LANGUAGE``) when set,
else the language most of the reviews are written in (:func:`report_language`).
"""

from __future__ import annotations

from collections.abc import Callable

from bot.insights import html
from bot.insights.keyphrases import Side
from bot.insights.polarity import POLARITIES
from bot.insights.reviews import Breakdown, ReviewsReport
from bot.insights.star_adaptation import MIN_RATED
from bot.types import Language

SIDES: tuple[Side, ...] = ("positive", "negative")
Texts = Callable[[str], str]

_TEXTS: dict[str, dict[Language, str]] = {
    "title": {"en": "Review insights", "ko": "리뷰 인사이트"},
    "reviews": {"en": "reviews", "ko": "리뷰"},
    "positive": {"en": "positive", "ko": "긍정"},
    "negative": {"en": "negative", "ko": "부정"},
    "neutral": {"en": "neutral", "ko": "중립"},
    "polarity": {"en": "Polarity", "ko": "감성 비율"},
    "share": {"en": "Share of reviews", "ko": "리뷰 비율"},
    "drivers": {"en": "What drives each side", "ko": "긍정·부정을 만드는 핵심 문구"},
    "drives_positive": {"en": "Positive key phrases", "ko": "긍정 핵심 문구"},
    "drives_negative": {"en": "Negative key phrases", "ko": "부정 핵심 문구"},
    "phrase": {"en": "phrase", "ko": "문구"},
    "side_reviews": {"en": "reviews on this side", "ko": "해당 리뷰 수"},
    "other_reviews": {"en": "on the other side", "ko": "반대쪽 리뷰 수"},
    "score": {"en": "score", "ko": "점수"},
    "quotes": {"en": "Representative quotes", "ko": "대표 리뷰"},
    "languages": {"en": "By language", "ko": "언어별"},
    "language": {"en": "language", "ko": "언어"},
    "ko": {"en": "Korean", "ko": "한국어"},
    "en": {"en": "English", "ko": "영어"},
    "count": {"en": "count", "ko": "리뷰 수"},
    "stars": {"en": "Star ratings", "ko": "별점"},
    "mean_stars": {"en": "mean stars", "ko": "평균 별점"},
    "rated": {"en": "rated reviews", "ko": "별점 있는 리뷰"},
    "agreement": {"en": "text agrees with stars", "ko": "텍스트·별점 일치"},
    "star_counts": {"en": "Reviews per star", "ko": "별점별 리뷰 수"},
    "timeline": {"en": "Reviews over time", "ko": "기간별 리뷰"},
    "none": {"en": "(none)", "ko": "(없음)"},
    "no_phrases": {
        "en": "No phrase is used by 2 or more reviews on this side.",
        "ko": "이쪽 리뷰 2개 이상에 나온 문구가 없습니다.",
    },
    "no_quotes": {"en": "No reviews on this side.", "ko": "해당 리뷰가 없습니다."},
    "source": {"en": "file", "ko": "파일"},
    "note": {
        "en": "Polarity is read from the review text; stars are shown separately.",
        "ko": "감성은 리뷰 본문에서 판단하며, 별점은 따로 표시합니다.",
    },
    "note_adapted": {
        "en": "Polarity is read from the review text by a model recalibrated on this file's star "
        "ratings; a rated review is never labelled by a fit that saw its own stars.",
        "ko": "감성은 리뷰 본문에서 판단하며, 이 파일의 별점으로 보정한 모델을 씁니다. 별점 있는 "
        "리뷰는 자기 별점을 보지 않은 모델로 판단합니다.",
    },
    "model": {"en": "Korean model", "ko": "한국어 모델"},
    "model_adapted": {
        "en": "adapted to this file's {n} rated Korean reviews (cross-fitted)",
        "ko": "이 파일의 별점 있는 한국어 리뷰 {n}개로 보정 (교차 적합)",
    },
    "model_text_only": {
        "en": "review model (text only, as asked)",
        "ko": "리뷰 모델 (요청대로 본문만)",
    },
    "model_one_class": {
        "en": "review model (text only: the stars of the {n} rated Korean reviews hold one "
        "polarity)",
        "ko": "리뷰 모델 (본문만: 별점 있는 한국어 리뷰 {n}개의 별점이 한쪽뿐)",
    },
    "model_few": {
        "en": "review model (text only: {n} rated Korean reviews, {min} needed to adapt)",
        "ko": "리뷰 모델 (본문만: 별점 있는 한국어 리뷰 {n}개, 보정에는 {min}개 필요)",
    },
    "model_alone": {"en": "model alone", "ko": "모델 단독"},
}


def report_language(report: ReviewsReport, configured: Language | None) -> Language:
    """``configured`` when set, else the language of most reviews (Korean on a tie)."""
    if configured is not None:
        return configured
    ko = report.languages["ko"].count if "ko" in report.languages else 0
    en = report.languages["en"].count if "en" in report.languages else 0
    return "ko" if ko >= en else "en"


def summary(report: ReviewsReport, language: Language) -> str:
    """The compact terminal summary: ratio, top phrases per side, one quote per side."""

    def t(key: str) -> str:
        return _TEXTS[key][language]

    ratio = report.overall.ratio
    lines = [
        f"{report.count} {t('reviews')} · "
        + " · ".join(f"{t(p)} {100 * ratio[p]:.1f}%" for p in POLARITIES),
    ]
    for language_key, part in report.languages.items():
        lines.append(f"  {t(language_key)} {part.count}: {_ratio_text(part, t)}")
    if report.stars is not None:
        stars = report.stars
        lines.append(
            f"  {t('mean_stars')} {stars.mean:.2f} ({stars.count} {t('rated')}), "
            f"{t('agreement')} {100 * stars.agreement:.0f}%"
        )
    if "ko" in report.languages:
        lines.append(f"  {t('model')}: {model_text(report, t)}")
    for side in SIDES:
        phrases = report.keyphrases.get(side, [])
        shown = ", ".join(f"{p.text} ({p.count})" for p in phrases[:6]) or t("none")
        lines.append(f"{t(side)}: {shown}")
        for quote in report.quotes.get(side, [])[:1]:
            lines.append(f"  “{quote}”")
    return "\n".join(lines)


def model_text(report: ReviewsReport, t: Texts) -> str:
    """Which Korean model labelled the reviews, and how often it agrees with their stars."""
    used = report.model
    key = {
        "adapted": "model_adapted",
        "text_only": "model_text_only",
        "few_ratings": "model_few",
        "one_polarity": "model_one_class",
    }[used.reason]
    text = t(key).format(n=used.rated, min=MIN_RATED)
    if used.agreement is None or used.base_agreement is None:
        return text
    text += f"; {t('agreement')} {100 * used.agreement:.0f}%"
    if used.rated_adapted:
        text += f" ({t('model_alone')} {100 * used.base_agreement:.0f}%)"
    return text


def _ratio_text(part: Breakdown, t: Texts) -> str:
    return " · ".join(f"{t(p)} {100 * part.ratio[p]:.0f}%" for p in POLARITIES)


def page(report: ReviewsReport, language: Language) -> str:
    """The self-contained HTML report: ratio bar, key phrase charts, quotes, breakdowns."""

    def t(key: str) -> str:
        return _TEXTS[key][language]

    names = {p: t(p) for p in POLARITIES}
    colors = {names[p]: html.NAMED_COLORS[p] for p in POLARITIES}
    overall = report.overall
    sections = [
        html.section(
            t("polarity"),
            html.figures(
                [(t("reviews"), str(report.count))]
                + [(names[p], f"{100 * overall.ratio[p]:.1f}%") for p in POLARITIES]
            ),
            html.ratio_bar(
                t("share"), {names[p]: overall.counts[p] for p in POLARITIES}, colors=colors
            ),
            html.paragraph(t("note_adapted") if report.model.rated_adapted else t("note")),
            *(
                [html.paragraph(f"{t('model')}: {model_text(report, t)}")]
                if "ko" in report.languages
                else []
            ),
        ),
        html.section(
            t("drivers"),
            *(
                html.bar_chart(
                    t(f"drives_{side}"),
                    [p.text for p in report.keyphrases.get(side, [])],
                    [p.count for p in report.keyphrases.get(side, [])],
                    color=html.NAMED_COLORS[side],
                    empty=t("no_phrases"),
                )
                for side in SIDES
            ),
            _phrase_table(report, t),
        ),
        html.section(
            t("quotes"),
            *(
                html.heading(names[p])
                + "\n"
                + html.quotes(report.quotes.get(p, []), empty=t("no_quotes"))
                for p in POLARITIES
            ),
        ),
        html.section(
            t("languages"),
            html.table(
                [t("language"), t("count"), *names.values()],
                [
                    [t(lang), part.count, *(f"{100 * part.ratio[p]:.1f}%" for p in POLARITIES)]
                    for lang, part in report.languages.items()
                ],
            ),
        ),
    ]
    if report.stars is not None:
        stars = report.stars
        sections.append(
            html.section(
                t("stars"),
                html.figures(
                    [
                        (t("mean_stars"), f"{stars.mean:.2f}"),
                        (t("rated"), str(stars.count)),
                        (t("agreement"), f"{100 * stars.agreement:.0f}%"),
                    ]
                ),
                html.bar_chart(
                    t("star_counts"),
                    [f"{'★' * k}" for k in range(5, 0, -1)],
                    [stars.distribution[k] for k in range(5, 0, -1)],
                    color="#ca8a04",
                ),
            )
        )
    if report.timeline:
        labels = [label for label, _ in report.timeline]
        series = {names[p]: [float(b.counts[p]) for _, b in report.timeline] for p in POLARITIES}
        sections.append(
            html.section(
                t("timeline"), html.line_chart(t("timeline"), labels, series, colors=colors)
            )
        )
    subtitle = f"{t('source')}: {report.source} · {report.count} {t('reviews')}"
    return html.page(t("title"), sections, subtitle=subtitle, lang=language)


def _phrase_table(report: ReviewsReport, t: Texts) -> str:
    rows: list[list[object]] = []
    for side in SIDES:
        for p in report.keyphrases.get(side, []):
            rows.append([t(side), p.text, p.count, p.other, p.score])
    headers = ["", t("phrase"), t("side_reviews"), t("other_reviews"), t("score")]
    return html.table(headers, rows)
