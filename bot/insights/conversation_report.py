"""How :class:`~bot.insights.conversation_stats.ConversationStats` is shown: the terminal
summary and the HTML page.

Labels come in the report's language: the agents' language (``ONDO_AGENT_LANGUAGE``) when
set, else the language most customer messages were in (:func:`report_language`). Intent and
knowledge-entry ids are shown as they are, since they are the knowledge base's own names.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bot.insights import desk_report, html
from bot.insights.conversation_stats import EMOTIONS, REASONS, ConversationStats, Suggestion
from bot.types import Language


class _Texts(Protocol):
    def __call__(self, key: str, **values: object) -> str: ...


_SPARKS = "▁▂▃▄▅▆▇█"
_SPARK_DAYS = 60

_UNITS: dict[str, dict[Language, tuple[str, str]]] = {
    "s": {"en": ("second", "seconds"), "ko": ("초", "초")},
    "m": {"en": ("minute", "minutes"), "ko": ("분", "분")},
    "h": {"en": ("hour", "hours"), "ko": ("시간", "시간")},
    "d": {"en": ("day", "days"), "ko": ("일", "일")},
    "w": {"en": ("week", "weeks"), "ko": ("주", "주")},
}

_TEXTS: dict[str, dict[Language, str]] = {
    "title": {"en": "Conversation insights", "ko": "대화 인사이트"},
    "heading": {
        "en": "Conversations in the last {w} ({a} to {b})",
        "ko": "최근 {w} 대화 ({a} ~ {b})",
    },
    "subtitle": {"en": "The last {w}: {a} to {b}", "ko": "최근 {w}: {a} ~ {b}"},
    "nothing": {
        "en": "no conversations in the last {w} (`ondo chat` and `ondo serve` record them)",
        "ko": "최근 {w} 동안 대화가 없습니다 (`ondo chat`과 `ondo serve`가 기록합니다)",
    },
    "totals": {
        "en": "{c} conversations, {m} customer messages",
        "ko": "대화 {c}건, 고객 메시지 {m}건",
    },
    "by_intent": {"en": "by intent", "ko": "의도별"},
    "per_day": {"en": "per day", "ko": "일별"},
    "busiest": {
        "en": "{a} to {b}, busiest {d} ({n} messages)",
        "ko": "{a} ~ {b}, 가장 많은 날 {d} (메시지 {n}건)",
    },
    "emotions": {"en": "emotions", "ko": "감정"},
    "escalated": {"en": "escalated", "ko": "상담원 연결"},
    "deflected": {"en": "deflected", "ko": "자체 해결"},
    "of": {"en": "{p} of {w} conversations ({r})", "ko": "대화 {w}건 중 {p}건 ({r})"},
    "without": {"en": "closed without a person", "ko": "상담원 없이 종료"},
    "ratings": {"en": "ratings", "ko": "답변 평가"},
    "unanswered": {"en": "unanswered", "ko": "미답변"},
    "questions": {"en": "{n} questions", "ko": "질문 {n}건"},
    "suggested": {"en": "suggested FAQ entries:", "ko": "FAQ 추가 제안:"},
    "also": {"en": "also", "ko": "다른 표현"},
    "category": {"en": "category: {c}", "ko": "분류: {c}"},
    "no_category": {"en": "no close category", "ko": "가까운 분류 없음"},
    "none": {"en": "none", "ko": "없음"},
    "conversations": {"en": "conversations", "ko": "대화"},
    "messages": {"en": "customer messages", "ko": "고객 메시지"},
    "escalation_rate": {"en": "escalation rate", "ko": "상담원 연결률"},
    "deflection_rate": {"en": "deflection rate", "ko": "자체 해결률"},
    "unanswered_questions": {"en": "unanswered questions", "ko": "미답변 질문"},
    "volume": {"en": "Volume", "ko": "문의량"},
    "day_chart": {"en": "Per day", "ko": "일별"},
    "day_messages": {"en": "messages", "ko": "메시지"},
    "day_conversations": {"en": "conversations", "ko": "대화"},
    "intent_chart": {"en": "Messages by intent", "ko": "의도별 메시지"},
    "emotion_section": {"en": "Emotions", "ko": "감정"},
    "emotion_mix": {"en": "Mix over the window", "ko": "기간 전체 비율"},
    "escalation_section": {"en": "Escalation and deflection", "ko": "상담원 연결과 자체 해결"},
    "split": {"en": "Conversations", "ko": "대화"},
    "bot_only": {"en": "without a person", "ko": "상담원 없이"},
    "handed": {"en": "handed to a person", "ko": "상담원 연결"},
    "reason_chart": {"en": "Handoffs by reason", "ko": "연결 사유별"},
    "ratings_section": {"en": "Answer ratings", "ko": "답변 평가"},
    "entry": {"en": "knowledge entry", "ko": "지식 항목"},
    "up": {"en": "helpful 👍", "ko": "도움됨 👍"},
    "down": {"en": "not helpful 👎", "ko": "도움 안 됨 👎"},
    "answers": {"en": "answers given", "ko": "답변 횟수"},
    "no_ratings": {
        "en": "No answers were rated in this window.",
        "ko": "이 기간에 평가된 답변이 없습니다.",
    },
    "faq_section": {"en": "Suggested FAQ entries", "ko": "FAQ 추가 제안"},
    "question": {"en": "question", "ko": "질문"},
    "language": {"en": "language", "ko": "언어"},
    "asked": {"en": "asked", "ko": "질문 수"},
    "phrasings": {"en": "other phrasings", "ko": "다른 표현"},
    "category_column": {"en": "category", "ko": "분류"},
    "none_close": {"en": "(none)", "ko": "(없음)"},
    "no_unanswered": {
        "en": "No unanswered questions in this window.",
        "ko": "이 기간에 미답변 질문이 없습니다.",
    },
    "staff": {"en": "staff", "ko": "직원 문의"},
    "staff_line": {
        "en": "{n} questions in {c} conversations, {a} answered ({r}), counted apart",
        "ko": "대화 {c}건에서 질문 {n}건, {a}건 답변 ({r}), 고객 수치와 별도",
    },
    "handbook_suggested": {"en": "suggested handbook sections:", "ko": "사내 지침 추가 제안:"},
    "staff_section": {"en": "Staff questions to the handbook", "ko": "직원의 사내 지침 문의"},
    "staff_questions": {"en": "staff questions", "ko": "직원 질문"},
    "staff_answer_rate": {"en": "answered", "ko": "답변률"},
    "no_staff": {
        "en": "No staff questions in this window.",
        "ko": "이 기간에 직원 문의가 없습니다.",
    },
    "positive": {"en": "positive", "ko": "긍정"},
    "neutral": {"en": "neutral", "ko": "중립"},
    "disappointed": {"en": "disappointed", "ko": "실망"},
    "angry": {"en": "angry", "ko": "화남"},
    "asked_for_human": {"en": "asked for a person", "ko": "상담원 요청"},
    "no_answer": {"en": "no answer", "ko": "답변 못 함"},
    "sensitive": {"en": "sensitive", "ko": "민감한 사안"},
}


def report_language(stats: ConversationStats, configured: Language | None) -> Language:
    """``configured`` when set, else the language of most customer messages (Korean on a
    tie), English when there are none."""
    if configured is not None:
        return configured
    ko, en = stats.languages.get("ko", 0), stats.languages.get("en", 0)
    if not ko and not en:
        return "en"
    return "ko" if ko >= en else "en"


def describe_duration(text: str, language: Language) -> str:
    """``30d`` -> ``30 days`` / ``30일``; ``1w`` -> ``1 week`` / ``1주``."""
    amount = int(text.strip()[:-1].strip())
    one, many = _UNITS[text.strip()[-1]][language]
    if language == "ko":
        return f"{amount}{one}"
    return f"{amount} {one if amount == 1 else many}"


def summary(stats: ConversationStats, window: str, language: Language) -> str:
    """The compact terminal summary; ``window`` is the described duration (``30 days``)."""

    def t(key: str, **values: object) -> str:
        return _TEXTS[key][language].format(**values)

    staff = stats.staff
    if not stats.conversations and not (staff and staff.questions):
        return t("nothing", w=window)
    first, last = _date(stats.since, stats), _date(stats.until, stats)
    escalated = t("of", p=stats.escalated, w=stats.conversations, r=_percent(stats.escalation_rate))
    if stats.handoffs:
        escalated += "; " + ", ".join(f"{t(r)} {n}" for r, n in stats.reasons.items() if n)
    lines = [
        t("heading", w=window, a=first, b=last),
        "  " + t("totals", c=stats.conversations, m=stats.messages),
        _row(t("by_intent"), _counts(stats.by_intent) or t("none")),
        _row(t("per_day"), _sparkline(stats, t)),
        _row(t("emotions"), _shares({t(e): n for e, n in stats.emotions.items()}) or t("none")),
        _row(t("escalated"), escalated),
        _row(
            t("deflected"),
            t("of", p=stats.deflected, w=stats.conversations, r=_percent(stats.deflection_rate))
            + " "
            + t("without"),
        ),
        _row(
            t("ratings"),
            " · ".join(f"{r.entry_id} 👍 {r.up} 👎 {r.down}" for r in stats.ratings) or t("none"),
        ),
    ]
    if stats.desk is not None:
        lines.extend(
            desk_report.lines(
                stats.desk,
                language,
                row=_row,
                bot=_bot_ratings(stats),
                reason_label=lambda r: t(r) if r in REASONS else r,
            )
        )
    unanswered = t("questions", n=stats.unanswered)
    if not stats.suggestions:
        lines.append(_row(t("unanswered"), unanswered))
    else:
        lines.append(_row(t("unanswered"), f"{unanswered}; {t('suggested')}"))
        lines.extend(_suggestion_lines(stats.suggestions, t))
    if staff is not None and staff.questions:
        line = t(
            "staff_line",
            n=staff.questions,
            c=staff.conversations,
            a=staff.answered,
            r=_percent(staff.answer_rate),
        )
        lines.append(_row(t("staff"), line))
        if staff.suggestions:
            lines.append(_row("", t("handbook_suggested")))
            lines.extend(_suggestion_lines(staff.suggestions, t))
    return "\n".join(lines)


def _suggestion_lines(suggestions: Sequence[Suggestion], t: _Texts) -> list[str]:
    lines = []
    for number, suggestion in enumerate(suggestions, start=1):
        category = t("category", c=suggestion.category) if suggestion.category else t("no_category")
        lines.append(
            f"    {number}. [{suggestion.language}] {suggestion.question}"
            f"  ×{suggestion.count} ({category})"
        )
        if suggestion.examples:
            lines.append(f"       {t('also')}: " + " · ".join(suggestion.examples))
    return lines


def page(stats: ConversationStats, window: str, language: Language) -> str:
    """The self-contained HTML report: key figures, then one section per figure with charts."""

    def t(key: str, **values: object) -> str:
        return _TEXTS[key][language].format(**values)

    first, last = _date(stats.since, stats), _date(stats.until, stats)
    subtitle = t("subtitle", w=window, a=first, b=last)
    if not stats.conversations and not (stats.staff and stats.staff.questions):
        return html.page(
            t("title"),
            [html.section(t("title"), html.paragraph(t("nothing", w=window)))],
            subtitle=subtitle,
            lang=language,
        )
    # Month-day labels: short enough that the last one fits under the chart's right edge.
    days = [f"{d.day:%m-%d}" for d in stats.by_day]
    emotions = {t(e): [d.emotions[e] for d in stats.by_day] for e in EMOTIONS}
    emotion_colors = {t(e): html.NAMED_COLORS[e] for e in EMOTIONS}
    bot_only, handed = t("bot_only"), t("handed")
    sections = [
        html.figures(
            [
                (t("conversations"), str(stats.conversations)),
                (t("messages"), str(stats.messages)),
                (t("escalation_rate"), _percent(stats.escalation_rate)),
                (t("deflection_rate"), _percent(stats.deflection_rate)),
                (t("unanswered_questions"), str(stats.unanswered)),
            ]
        ),
        html.section(
            t("volume"),
            html.line_chart(
                t("day_chart"),
                days,
                {
                    t("day_messages"): [d.messages for d in stats.by_day],
                    t("day_conversations"): [d.conversations for d in stats.by_day],
                },
            ),
            html.bar_chart(
                t("intent_chart"), list(stats.by_intent), list(stats.by_intent.values())
            ),
        ),
        html.section(
            t("emotion_section"),
            html.ratio_bar(
                t("emotion_mix"),
                {t(e): n for e, n in stats.emotions.items()},
                colors=emotion_colors,
            ),
            html.line_chart(t("day_chart"), days, emotions, colors=emotion_colors),
        ),
        html.section(
            t("escalation_section"),
            html.ratio_bar(
                t("split"),
                {bot_only: stats.deflected, handed: stats.escalated},
                colors={
                    bot_only: html.NAMED_COLORS["positive"],
                    handed: html.NAMED_COLORS["angry"],
                },
            ),
            html.bar_chart(
                t("reason_chart"),
                [t(r) if r in _TEXTS else r for r in stats.reasons],
                list(stats.reasons.values()),
            ),
        ),
        html.section(t("ratings_section"), _ratings(stats, t)),
        *(
            [
                desk_report.section(
                    stats.desk,
                    language,
                    bot=_bot_ratings(stats),
                    reason_label=lambda r: t(r) if r in REASONS else r,
                )
            ]
            if stats.desk is not None
            else []
        ),
        html.section(t("faq_section"), _suggestions(stats.suggestions, t)),
        html.section(t("staff_section"), _staff(stats, t)),
    ]
    return html.page(t("title"), sections, subtitle=subtitle, lang=language)


def _bot_ratings(stats: ConversationStats) -> tuple[int, int]:
    """The bot's 👍 and 👎 of the window, over every rated entry."""
    return sum(r.up for r in stats.ratings), sum(r.down for r in stats.ratings)


def _ratings(stats: ConversationStats, t: _Texts) -> str:
    if not stats.ratings:
        return html.paragraph(t("no_ratings"))
    return html.table(
        [t("entry"), t("up"), t("down"), t("answers")],
        [[r.entry_id, r.up, r.down, r.answers] for r in stats.ratings],
    )


def _staff(stats: ConversationStats, t: _Texts) -> str:
    staff = stats.staff
    if staff is None or not staff.questions:
        return html.paragraph(t("no_staff"))
    figures = html.figures(
        [
            (t("staff_questions"), str(staff.questions)),
            (t("conversations"), str(staff.conversations)),
            (t("staff_answer_rate"), _percent(staff.answer_rate)),
            (t("unanswered_questions"), str(staff.unanswered)),
        ]
    )
    return figures + html.paragraph(t("handbook_suggested")) + _suggestions(staff.suggestions, t)


def _suggestions(suggestions: Sequence[Suggestion], t: _Texts) -> str:
    if not suggestions:
        return html.paragraph(t("no_unanswered"))
    return html.table(
        [
            t("question"),
            t("language"),
            t("asked"),
            t("conversations"),
            t("phrasings"),
            t("category_column"),
        ],
        [
            [
                s.question,
                s.language,
                s.count,
                s.conversations,
                " · ".join(s.examples),
                s.category or t("none_close"),
            ]
            for s in suggestions
        ],
    )


def _row(label: str, value: str) -> str:
    # Pad by display width: a Hangul syllable takes two terminal columns.
    width = sum(2 if ord(ch) >= 0x1100 else 1 for ch in label)
    return f"  {label}{' ' * max(1, 12 - width)}{value}"


def _counts(counts: dict[str, int]) -> str:
    return " · ".join(f"{name} {n}" for name, n in counts.items() if n)


def _shares(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    ordered = sorted(counts.items(), key=lambda item: -item[1])
    return " · ".join(f"{name} {100 * n / total:.0f}%" for name, n in ordered if n)


def _percent(rate: float) -> str:
    return f"{100 * rate:.0f}%"


def _sparkline(stats: ConversationStats, t: _Texts) -> str:
    days = stats.by_day[-_SPARK_DAYS:]
    top = max(d.messages for d in days)
    spark = "".join(
        _SPARKS[(len(_SPARKS) - 1) * d.messages // top] if d.messages else "·" for d in days
    )
    peak = max(days, key=lambda d: d.messages)
    return f"{spark}  " + t("busiest", a=days[0].day, b=days[-1].day, d=peak.day, n=peak.messages)


def _date(timestamp: float, stats: ConversationStats) -> str:
    return datetime.fromtimestamp(timestamp, stats.tz).date().isoformat()
