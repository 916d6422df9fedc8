"""Self-contained HTML reports with inline SVG charts: no scripts, fonts or requests.

Every function returns an HTML fragment (a ``str``); :func:`page` wraps fragments into one
document. All text passed in is escaped here, so callers pass plain strings. Example::

    from bot.insights import html

    doc = html.page(
        "Reviews",
        [
            html.section("Polarity", html.ratio_bar("Share", {"positive": 0.6, "negative": 0.4})),
            html.section(
                "Key phrases",
                html.bar_chart("Positive", ["빠른 배송", "fast delivery"], [12, 7]),
                html.table(["phrase", "count"], [["빠른 배송", 12]]),
            ),
        ],
        lang="ko",
    )

Charts are ``<svg data-chart="KIND">`` elements (``bar``, ``ratio``, ``line``) whose marks are
``rect``/``path``/``circle`` with a ``<title>`` tooltip; a chart with nothing to draw (no data,
or all values zero for a bar chart) is rendered as a ``<p class="empty">`` note instead, so
every ``svg[data-chart]`` on a page has visible marks. The page carries a Content-Security-Policy
that allows only inline styles and ``data:`` images: it opens offline and cannot load anything,
and scripts do not run (none are needed; tooltips are SVG ``<title>`` elements).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path

from bot.insights import InsightsError
from bot.storage.files import write_private_text

PALETTE: tuple[str, ...] = (
    "#2563eb",
    "#f97316",
    "#16a34a",
    "#dc2626",
    "#7c3aed",
    "#0891b2",
    "#ca8a04",
    "#db2777",
)
"""Series colours, in order, for names without an entry in :data:`NAMED_COLORS`."""

NAMED_COLORS: dict[str, str] = {
    "positive": "#16a34a",
    "negative": "#dc2626",
    "neutral": "#94a3b8",
    "angry": "#dc2626",
    "disappointed": "#f97316",
}
"""Fixed colours for well-known series names, so the same label looks the same everywhere."""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_FONTS = (
    "system-ui, -apple-system, 'Segoe UI', 'Apple SD Gothic Neo', 'Noto Sans KR', "
    "'Noto Sans CJK KR', 'Malgun Gothic', sans-serif"
)
_STYLE = f"""
body {{ font-family: {_FONTS}; margin: 0; color: #1e293b; background: #f8fafc; }}
main {{ max-width: 960px; margin: 0 auto; padding: 24px; }}
h1 {{ font-size: 1.6rem; margin: 0 0 4px; }}
h2 {{ font-size: 1.2rem; margin: 0 0 12px; }}
h3 {{ font-size: 1rem; margin: 12px 0 8px; }}
.subtitle {{ color: #64748b; margin: 0 0 20px; }}
section {{ background: #fff; border: 1px solid #e2e8f0; border-radius: 8px;
  padding: 16px 20px; margin: 0 0 16px; }}
figure {{ margin: 0 0 16px; }}
figcaption {{ font-weight: 600; margin: 0 0 6px; }}
svg {{ max-width: 100%; height: auto; display: block; }}
svg text {{ font-family: {_FONTS}; font-size: 12px; fill: #334155; }}
table {{ border-collapse: collapse; width: 100%; margin: 0 0 12px; font-size: 0.92rem; }}
th, td {{ text-align: left; padding: 6px 8px; border-bottom: 1px solid #e2e8f0;
  vertical-align: top; }}
th {{ background: #f1f5f9; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
.figures {{ display: flex; flex-wrap: wrap; gap: 12px; margin: 0 0 12px; }}
.figure {{ border: 1px solid #e2e8f0; border-radius: 6px; padding: 8px 14px; min-width: 110px; }}
.figure .value {{ font-size: 1.4rem; font-weight: 700; }}
.figure .label {{ color: #64748b; font-size: 0.85rem; }}
blockquote {{ margin: 0 0 8px; padding: 6px 12px; border-left: 4px solid #cbd5e1;
  background: #f8fafc; }}
.empty {{ color: #64748b; font-style: italic; }}
.legend {{ display: flex; flex-wrap: wrap; gap: 12px; font-size: 0.85rem; margin: 4px 0 0; }}
.swatch {{ display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 4px; }}
"""


def page(title: str, sections: Iterable[str], *, subtitle: str = "", lang: str = "en") -> str:
    """One complete, self-contained HTML document: ``title``, then the ``sections`` in order."""
    sub = f'<p class="subtitle">{escape(subtitle)}</p>\n' if subtitle else ""
    body = "\n".join(sections)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{escape(lang)}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{escape(title)}</h1>\n{sub}{body}\n</main>\n</body>\n</html>\n"
    )


def section(heading: str, *blocks: str) -> str:
    """A titled card holding already-rendered ``blocks`` (charts, tables, paragraphs)."""
    return f"<section>\n<h2>{escape(heading)}</h2>\n" + "\n".join(blocks) + "\n</section>"


def heading(text: str) -> str:
    """A sub-heading inside a section."""
    return f"<h3>{escape(text)}</h3>"


def paragraph(text: str) -> str:
    """A paragraph of plain text."""
    return f"<p>{escape(text)}</p>"


def figures(items: Sequence[tuple[str, str]]) -> str:
    """Key numbers as a row of small cards: ``(label, value)`` pairs."""
    cards = "".join(
        f'<div class="figure"><div class="value">{escape(value)}</div>'
        f'<div class="label">{escape(label)}</div></div>'
        for label, value in items
    )
    return f'<div class="figures">{cards}</div>'


def quotes(items: Sequence[str], *, empty: str = "No quotes.") -> str:
    """Quoted customer text, one ``<blockquote>`` each (redact before calling); ``empty`` is
    shown when there are none."""
    if not items:
        return _empty(empty)
    return "\n".join(f"<blockquote>{escape(item)}</blockquote>" for item in items)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A table; numbers are right-aligned, ``None`` shows as an empty cell."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(_cell(value) for value in row) + "</tr>" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def bar_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    color: str | None = None,
    unit: str = "",
    empty: str = "No data.",
) -> str:
    """Horizontal bars, one per label, in the order given; values must be >= 0.

    With no labels, or only zeros, the note ``empty`` replaces the chart.
    """
    _same_length(labels, values)
    if not labels or not any(v > 0 for v in values):
        return _figure(title, _empty(empty))
    fill = color or PALETTE[0]
    label_w = min(260, max(_text_width(_short(label)) for label in labels) + 12)
    value_w = 64
    plot_w = 600 - label_w - value_w
    row_h = 26
    height = row_h * len(labels) + 8
    top = max(values)
    marks: list[str] = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 4 + i * row_h
        width = plot_w * value / top if top > 0 else 0.0
        shown = _number(value) + unit
        marks.append(
            f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end">{escape(_short(label))}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{width:.1f}" height="{row_h - 8}" '
            f'rx="2" fill="{fill}"><title>{escape(label)}: {escape(shown)}</title></rect>'
            f'<text x="{label_w + width + 6:.1f}" y="{y + 17}">{escape(shown)}</text>'
        )
    return _figure(title, _svg("bar", title, 600, height, "".join(marks)))


def ratio_bar(
    title: str,
    parts: Mapping[str, float],
    *,
    colors: Mapping[str, str] | None = None,
    empty: str = "No data.",
) -> str:
    """One stacked 100 % bar of the shares in ``parts`` (any non-negative weights), with legend;
    the note ``empty`` when they are all zero."""
    total = sum(v for v in parts.values() if v > 0)
    if total <= 0:
        return _figure(title, _empty(empty))
    palette = _colors(list(parts), colors)
    width, height = 600, 36
    x = 0.0
    marks: list[str] = []
    for name, value in parts.items():
        if value <= 0:
            continue
        w = width * value / total
        pct = f"{100 * value / total:.0f}%"
        marks.append(
            f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" fill="{palette[name]}">'
            f"<title>{escape(name)}: {pct}</title></rect>"
        )
        if w >= 40:
            marks.append(
                f'<text x="{x + w / 2:.1f}" y="{height / 2 + 4}" text-anchor="middle" '
                f'style="fill:#fff;font-weight:600">{pct}</text>'
            )
        x += w
    svg = _svg("ratio", title, width, height, "".join(marks))
    legend = _legend({name: palette[name] for name, value in parts.items() if value > 0})
    return _figure(title, svg + legend)


def line_chart(
    title: str,
    x_labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    colors: Mapping[str, str] | None = None,
    empty: str = "No data.",
) -> str:
    """Lines over ``x_labels`` (e.g. days), one per series; every series has one value per x.

    With no x labels or no series, the note ``empty`` replaces the chart.
    """
    for values in series.values():
        _same_length(x_labels, values)
    if not x_labels or not series:
        return _figure(title, _empty(empty))
    width, height = 600, 240
    left, right, top_pad, bottom = 44, 12, 12, 28
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    top = _nice_max(max((max(v) for v in series.values() if len(v)), default=0.0))
    step = plot_w / (len(x_labels) - 1) if len(x_labels) > 1 else 0.0

    def xy(i: int, value: float) -> tuple[float, float]:
        x = left + (i * step if len(x_labels) > 1 else plot_w / 2)
        return x, top_pad + plot_h * (1 - value / top)

    parts: list[str] = []
    for frac in (0.0, 0.5, 1.0):
        y = top_pad + plot_h * (1 - frac)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#e2e8f0"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_number(top * frac)}</text>'
        )
    every = max(1, math.ceil(len(x_labels) / 8))
    for i, label in enumerate(x_labels):
        if i % every == 0 or i == len(x_labels) - 1:
            x, _ = xy(i, 0.0)
            parts.append(
                f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle">{escape(label)}</text>'
            )
    palette = _colors(list(series), colors)
    for name, values in series.items():
        points = [xy(i, v) for i, v in enumerate(values)]
        d = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points))
        parts.append(f'<path d="{d}" fill="none" stroke="{palette[name]}" stroke-width="2"/>')
        for (x, y), label, value in zip(points, x_labels, values, strict=True):
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{palette[name]}">'
                f"<title>{escape(name)} · {escape(label)}: {_number(value)}</title></circle>"
            )
    svg = _svg("line", title, width, height, "".join(parts))
    return _figure(title, svg + _legend(palette))


# --- helpers -------------------------------------------------------------------------------


def _svg(kind: str, title: str, width: int, height: int, inner: str) -> str:
    return (
        f'<svg data-chart="{kind}" role="img" '
        f'aria-label="{escape(title)}" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}">{inner}</svg>'
    )


def _figure(title: str, inner: str) -> str:
    return f"<figure>\n<figcaption>{escape(title)}</figcaption>\n{inner}\n</figure>"


def _empty(text: str) -> str:
    return f'<p class="empty">{escape(text)}</p>'


def _legend(colors: Mapping[str, str]) -> str:
    items = "".join(
        f'<span><span class="swatch" style="background:{color}"></span>{escape(name)}</span>'
        for name, color in colors.items()
    )
    return f'<div class="legend">{items}</div>'


def _colors(names: Sequence[str], given: Mapping[str, str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    spare = iter(c for c in PALETTE if c not in NAMED_COLORS.values())
    for name in names:
        fixed = (given or {}).get(name) or NAMED_COLORS.get(name)
        out[name] = fixed or next(spare, PALETTE[len(out) % len(PALETTE)])
    return out


def _cell(value: object) -> str:
    if value is None:
        return "<td></td>"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"<td>{escape(str(value))}</td>"
    return f'<td class="num">{_number(value)}</td>'


def _number(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"


def _nice_max(value: float) -> float:
    """The smallest 1/2/5 x 10^k at or above ``value`` (1 for zero), for round axis labels."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= value:
            return float(factor * magnitude)
    return float(10 * magnitude)


def _short(label: str, limit: int = 28) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _text_width(text: str) -> float:
    # Wide (CJK) characters take about one em at 12px, the rest about 0.6 em.
    return sum(12.0 if ord(ch) >= 0x1100 else 7.0 for ch in text)


def _same_length(labels: Sequence[str], values: Sequence[float]) -> None:
    if len(labels) != len(values):
        raise ValueError(f"{len(labels)} labels but {len(values)} values")


def write_html(path: Path, document: str) -> None:
    """Write ``document`` to ``path`` (UTF-8, owner-only: it quotes customers), or raise a
    one-line :class:`InsightsError`."""
    try:
        write_private_text(path, document)
    except OSError as exc:
        raise InsightsError(f"cannot write {path}: {exc.strerror or exc}") from None
