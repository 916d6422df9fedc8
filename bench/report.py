"""``docs/benchmarks.md`` is written by more than one command: each owns a marked section.

``python -m bench.run`` owns the ``suites`` section (the one table), ``python -m bench.load``
the ``load`` section; text outside the markers (the threshold choice, what was tried) is kept.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS_DOC = REPO / "docs" / "benchmarks.md"


def markers(name: str) -> tuple[str, str]:
    """The comment lines that open and close section ``name``."""
    return f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"


def update_section(path: Path, name: str, body: str) -> None:
    """Replace section ``name`` of ``path`` with ``body`` (appended when missing; a file
    with no sections at all, as the older generator wrote it, is replaced)."""
    start, end = markers(name)
    block = f"{start}\n{body.strip()}\n{end}\n"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if start in old and end in old:
        before, _, rest = old.partition(start)
        _, _, after = rest.partition(end)
        new = before + block.rstrip("\n") + after
    elif "<!-- bench:" in old:
        new = old.rstrip("\n") + "\n\n" + block
    else:
        new = block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new if new.endswith("\n") else new + "\n", encoding="utf-8")
