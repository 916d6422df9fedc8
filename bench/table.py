"""The benchmark table: one row per measured figure, rendered as markdown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

HEADER = (
    "benchmark",
    "metric",
    "Ondo (shipped fusion)",
    "lexical only",
    "dense only",
    "anchor",
    "target",
)


@dataclass(frozen=True)
class Row:
    """One line of the table, plus the one-line protocol shown above it."""

    benchmark: str
    metric: str
    ondo: str
    lexical: str
    dense: str
    anchor: str
    target: str
    protocol: str = ""

    def cells(self) -> tuple[str, ...]:
        """The cells in :data:`HEADER` order."""
        return (
            self.benchmark,
            self.metric,
            self.ondo,
            self.lexical,
            self.dense,
            self.anchor,
            self.target,
        )


def pct(value: float) -> str:
    """``0.8523`` -> ``85.2 %``."""
    return f"{100 * value:.1f} %"


def ms(seconds: float) -> str:
    """Seconds -> ``12.3 ms``."""
    return f"{1000 * seconds:.1f} ms"


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def markdown(rows: Sequence[Row]) -> str:
    """The rows as one markdown table."""
    lines = [
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    lines += ["| " + " | ".join(_escape(c) for c in row.cells()) + " |" for row in rows]
    return "\n".join(lines)
