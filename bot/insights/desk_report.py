"""The help desk's part of the conversations report: terminal lines and one HTML section.

Rendered in the report's language (chosen by :mod:`bot.insights.conversation_report`), next
to the bot's own 👍/👎. Agent ids, intents and weeks are data and shown as they are (the HTML
builder escapes them). Durations are business time: ``1시간 12분`` / ``1 h 12 min``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.insights import html
from bot.insights.desk_stats import CsatFigures, DeskStats, SlaGroup, Target
from bot.types import Language

Row = Callable[[str, str], str]
"""Formats one ``label  value`` line of the terminal summary."""

_TEXTS: dict[str, dict[Language, str]] = {
    "desk": {"en": "help desk", "ko": "상담 데스크"},
    "no_tickets": {"en": "no tickets in this window", "ko": "이 기간에 티켓이 없습니다"},
    "no_tickets_page": {
        "en": "No tickets in this window.",
        "ko": "이 기간에 티켓이 없습니다.",
    },
    "tickets": {
        "en": "{n} tickets, {o} open ({w} waiting for a first reply), {s} closed as stale",
        "ko": "티켓 {n}건, 진행 중 {o}건 (첫 응답 대기 {w}건), 무응답 종료 {s}건",
    },
    "first": {"en": "first reply", "ko": "첫 응답"},
    "resolution": {"en": "resolution", "ko": "해결 시간"},
    "times": {
        "en": "median {m} · p90 {p} over {n} · {target}",
        "ko": "중앙값 {m} · p90 {p} ({n}건) · {target}",
    },
    "target": {
        "en": "{r} within target ({b} breached, {q} pending)",
        "ko": "목표 내 {r} (위반 {b}건, 진행 {q}건)",
    },
    "no_times": {"en": "none measured · {target}", "ko": "측정 없음 · {target}"},
    "breaches": {"en": "breaches", "ko": "SLA 위반"},
    "breach_line": {
        "en": "first reply {f}, resolution {r}",
        "ko": "첫 응답 {f}건, 해결 {r}건",
    },
    "by_reason": {"en": "by reason", "ko": "사유별"},
    "by_agent": {"en": "by agent", "ko": "상담원별"},
    "by_intent": {"en": "by intent", "ko": "의도별"},
    "by_week": {"en": "by week", "ko": "주별"},
    "none": {"en": "none", "ko": "없음"},
    "unassigned": {"en": "unassigned", "ko": "미배정"},
    "no_intent": {"en": "(no intent)", "ko": "(의도 없음)"},
    "csat": {"en": "CSAT", "ko": "만족도"},
    "csat_line": {
        "en": "{m} avg, {t} 4–5; {a} of {k} answered ({r})",
        "ko": "평균 {m}, 4–5점 {t}; {k}건 중 {a}건 응답 ({r})",
    },
    "csat_none": {"en": "{k} asked, none answered", "ko": "{k}건 질문, 응답 없음"},
    "csat_not_asked": {"en": "not asked", "ko": "질문 없음"},
    "bot": {"en": "bot answers 👍 {u} 👎 {d}", "ko": "봇 답변 👍 {u} 👎 {d}"},
    "section": {"en": "Help desk", "ko": "상담 데스크"},
    "times_heading": {"en": "Response and resolution times", "ko": "응답 및 해결 시간"},
    "reason_heading": {"en": "SLA by reason", "ko": "사유별 SLA"},
    "agent_heading": {"en": "SLA by agent", "ko": "상담원별 SLA"},
    "csat_heading": {"en": "Satisfaction (CSAT)", "ko": "고객 만족도 (CSAT)"},
    "csat_agent_heading": {"en": "CSAT by agent", "ko": "상담원별 만족도"},
    "csat_intent_heading": {"en": "CSAT by intent", "ko": "의도별 만족도"},
    "csat_week_heading": {"en": "CSAT by week", "ko": "주별 만족도"},
    "fig_tickets": {"en": "tickets", "ko": "티켓"},
    "fig_first": {"en": "median first reply", "ko": "첫 응답 중앙값"},
    "fig_resolution": {"en": "median resolution", "ko": "해결 시간 중앙값"},
    "fig_first_target": {"en": "first reply within target", "ko": "첫 응답 목표 달성"},
    "fig_csat": {"en": "CSAT (1–5)", "ko": "만족도 (1–5)"},
    "fig_rate": {"en": "CSAT response rate", "ko": "만족도 응답률"},
    "fig_bot": {"en": "bot answers 👍 / 👎", "ko": "봇 답변 👍 / 👎"},
    "measure": {"en": "measure", "ko": "항목"},
    "col_tickets": {"en": "tickets", "ko": "티켓"},
    "col_measured": {"en": "measured", "ko": "측정"},
    "median": {"en": "median", "ko": "중앙값"},
    "p90": {"en": "p90", "ko": "p90"},
    "within": {"en": "within target", "ko": "목표 내"},
    "breached": {"en": "breached", "ko": "위반"},
    "pending": {"en": "pending", "ko": "진행 중"},
    "reason": {"en": "reason", "ko": "사유"},
    "agent": {"en": "agent", "ko": "상담원"},
    "intent": {"en": "intent", "ko": "의도"},
    "week": {"en": "ISO week", "ko": "ISO 주"},
    "first_breached": {"en": "first reply breached", "ko": "첫 응답 위반"},
    "resolution_breached": {"en": "resolution breached", "ko": "해결 위반"},
    "first_within": {"en": "first reply within", "ko": "첫 응답 목표 내"},
    "resolution_within": {"en": "resolution within", "ko": "해결 목표 내"},
    "asked": {"en": "asked", "ko": "질문"},
    "answered": {"en": "answered", "ko": "응답"},
    "rate": {"en": "response rate", "ko": "응답률"},
    "mean": {"en": "mean", "ko": "평균"},
    "top": {"en": "4–5", "ko": "4–5점"},
    "open_line": {
        "en": "{o} open, {w} of them waiting for a first reply; {s} closed as stale.",
        "ko": "진행 중 {o}건 (그중 첫 응답 대기 {w}건), 무응답 종료 {s}건.",
    },
}


def duration(seconds: float | None, language: Language) -> str:
    """Business time as people read it: ``1시간 12분`` / ``1 h 12 min``, ``45초`` / ``45 s``
    under a minute, ``–`` for nothing measured. Minutes are rounded."""
    if seconds is None:
        return "–"
    if seconds < 59.5:
        whole = round(seconds)
        return f"{whole}초" if language == "ko" else f"{whole} s"
    hours, minutes = divmod(round(seconds / 60), 60)
    if language == "ko":
        parts = [f"{hours}시간"] if hours else []
        return " ".join(parts + ([f"{minutes}분"] if minutes or not hours else []))
    parts = [f"{hours} h"] if hours else []
    return " ".join(parts + ([f"{minutes} min"] if minutes or not hours else []))


def lines(
    desk: DeskStats,
    language: Language,
    *,
    row: Row,
    bot: tuple[int, int],
    reason_label: Callable[[str], str],
) -> list[str]:
    """The desk's lines of the terminal summary; ``bot`` is the bot's (👍, 👎) of the window."""

    def t(key: str, **values: object) -> str:
        return _TEXTS[key][language].format(**values)

    bot_line = t("bot", u=bot[0], d=bot[1])
    if desk.empty:
        return [row(t("desk"), t("no_tickets")), row(t("csat"), bot_line)]
    out = [
        row(
            t("desk"),
            t("tickets", n=desk.tickets, o=desk.open, w=desk.waiting, s=desk.stale_closed),
        ),
        row(t("first"), _times(desk.first_response.count, desk, "first", t, language)),
        row(t("resolution"), _times(desk.resolution.count, desk, "resolution", t, language)),
    ]
    first, resolution = desk.first_target.breached, desk.resolution_target.breached
    if first or resolution:
        breaches = t("breach_line", f=first, r=resolution)
        reasons = _breaches(desk.by_reason, lambda n: reason_label(n or ""))
        agents = _breaches(desk.by_agent, lambda n: n or t("unassigned"))
        out.append(row(t("breaches"), breaches))
        out.append(f"    {t('by_reason')}: {reasons}")
        out.append(f"    {t('by_agent')}: {agents}")
    else:
        out.append(row(t("breaches"), t("none")))
    csat = desk.csat
    if not csat.asked:
        out.append(row(t("csat"), f"{t('csat_not_asked')} · {bot_line}"))
        return out
    out.append(row(t("csat"), f"{_csat_line(csat, t)} · {bot_line}"))
    for key, groups, unnamed in (
        ("by_agent", desk.csat_by_agent, t("unassigned")),
        ("by_intent", desk.csat_by_intent, t("no_intent")),
        ("by_week", desk.csat_by_week, ""),
    ):
        out.append(f"    {t(key)}: " + " · ".join(_csat_short(c, unnamed) for c in groups))
    return out


def section(
    desk: DeskStats,
    language: Language,
    *,
    bot: tuple[int, int],
    reason_label: Callable[[str], str],
) -> str:
    """The desk's section of the HTML report (every name in it escaped by the builder)."""

    def t(key: str, **values: object) -> str:
        return _TEXTS[key][language].format(**values)

    bot_figure = (t("fig_bot"), f"{bot[0]} / {bot[1]}")
    if desk.empty:
        return html.section(
            t("section"), html.paragraph(t("no_tickets_page")), html.figures([bot_figure])
        )
    csat = desk.csat
    figures = html.figures(
        [
            (t("fig_tickets"), str(desk.tickets)),
            (t("fig_first"), duration(desk.first_response.median, language)),
            (t("fig_resolution"), duration(desk.resolution.median, language)),
            (t("fig_first_target"), _share(desk.first_target.share_within)),
            (t("fig_csat"), "–" if csat.mean is None else f"{csat.mean:.2f}"),
            (t("fig_rate"), _share(csat.response_rate)),
            bot_figure,
        ]
    )
    times = html.table(
        [
            t("measure"),
            t("col_measured"),
            t("median"),
            t("p90"),
            t("within"),
            t("breached"),
            t("pending"),
        ],
        [
            _times_row(t("first"), desk.first_response.count, desk, "first", language),
            _times_row(t("resolution"), desk.resolution.count, desk, "resolution", language),
        ],
    )
    open_line = html.paragraph(t("open_line", o=desk.open, w=desk.waiting, s=desk.stale_closed))
    sla_headers = [
        t("col_tickets"),
        t("first_breached"),
        t("resolution_breached"),
        t("first_within"),
        t("resolution_within"),
    ]
    blocks = [
        figures,
        html.heading(t("times_heading")),
        times,
        open_line,
        html.heading(t("reason_heading")),
        html.table(
            [t("reason"), *sla_headers],
            _sla_rows(desk.by_reason, lambda n: reason_label(n or "")),
        ),
        html.heading(t("agent_heading")),
        html.table(
            [t("agent"), *sla_headers],
            _sla_rows(desk.by_agent, lambda n: n or t("unassigned")),
        ),
        html.heading(t("csat_heading")),
        html.table(
            [t("asked"), t("answered"), t("rate"), t("mean"), t("top")],
            [_csat_cells(csat)],
        ),
    ]
    csat_headers = [t("asked"), t("answered"), t("rate"), t("mean"), t("top")]
    for heading, column, groups, unnamed in (
        ("csat_agent_heading", "agent", desk.csat_by_agent, t("unassigned")),
        ("csat_intent_heading", "intent", desk.csat_by_intent, t("no_intent")),
        ("csat_week_heading", "week", desk.csat_by_week, ""),
    ):
        if groups:
            blocks.append(html.heading(t(heading)))
            blocks.append(
                html.table(
                    [t(column), *csat_headers],
                    [[c.name or unnamed, *_csat_cells(c)] for c in groups],
                )
            )
    return html.section(t("section"), *blocks)


def _times(
    count: int, desk: DeskStats, kind: str, t: Callable[..., str], language: Language
) -> str:
    durations = desk.first_response if kind == "first" else desk.resolution
    target = _target_text(desk.first_target if kind == "first" else desk.resolution_target, t)
    if not count:
        return t("no_times", target=target)
    return t(
        "times",
        m=duration(durations.median, language),
        p=duration(durations.p90, language),
        n=count,
        target=target,
    )


def _target_text(target: Target, t: Callable[..., str]) -> str:
    return t("target", r=_share(target.share_within), b=target.breached, q=target.pending)


def _times_row(
    label: str, count: int, desk: DeskStats, kind: str, language: Language
) -> list[object]:
    durations = desk.first_response if kind == "first" else desk.resolution
    target = desk.first_target if kind == "first" else desk.resolution_target
    return [
        label,
        count,
        duration(durations.median, language),
        duration(durations.p90, language),
        _share(target.share_within),
        target.breached,
        target.pending,
    ]


def _breaches(groups: Sequence[SlaGroup], name: Callable[[str | None], str]) -> str:
    counts = [(name(g.name), g.first_response.breached + g.resolution.breached) for g in groups]
    ordered = sorted((c for c in counts if c[1]), key=lambda c: -c[1])  # stable on ties
    return " · ".join(f"{label} {n}" for label, n in ordered)


def _sla_rows(groups: Sequence[SlaGroup], name: Callable[[str | None], str]) -> list[list[object]]:
    return [
        [
            name(g.name),
            g.tickets,
            g.first_response.breached,
            g.resolution.breached,
            _share(g.first_response.share_within),
            _share(g.resolution.share_within),
        ]
        for g in groups
    ]


def _csat_line(csat: CsatFigures, t: Callable[..., str]) -> str:
    if csat.mean is None:
        return t("csat_none", k=csat.asked)
    return t(
        "csat_line",
        m=f"{csat.mean:.2f}",
        t=_share(csat.top_share),
        a=csat.answered,
        k=csat.asked,
        r=_share(csat.response_rate),
    )


def _csat_short(csat: CsatFigures, unnamed: str) -> str:
    mean = "–" if csat.mean is None else f"{csat.mean:.1f}"
    return f"{csat.name or unnamed} {mean} ({csat.answered}/{csat.asked})"


def _csat_cells(csat: CsatFigures) -> list[object]:
    return [
        csat.asked,
        csat.answered,
        _share(csat.response_rate),
        "–" if csat.mean is None else f"{csat.mean:.2f}",
        _share(csat.top_share),
    ]


def _share(rate: float | None) -> str:
    return "–" if rate is None else f"{100 * rate:.0f}%"
