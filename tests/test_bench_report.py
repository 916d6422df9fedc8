"""docs/benchmarks.md sections: each benchmark command rewrites only its own."""

from __future__ import annotations

from pathlib import Path

from bench.report import update_section


def test_sections_are_replaced_in_place_and_hand_text_is_kept(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Old generator output\n")
    update_section(doc, "suites", "# Benchmarks\n\n| a |\n")
    assert doc.read_text().startswith("<!-- bench:suites:start -->\n# Benchmarks")
    assert "Old generator" not in doc.read_text()
    doc.write_text(doc.read_text() + "\n## Threshold choice (hand-written)\n\nChosen: 0.5\n")
    update_section(doc, "load", "## Load\n\nlost 0")
    update_section(doc, "suites", "# Benchmarks\n\n| b |")
    text = doc.read_text()
    assert "| b |" in text and "| a |" not in text
    assert text.index("| b |") < text.index("Chosen: 0.5") < text.index("lost 0")
    update_section(doc, "load", "## Load\n\nlost 0 again")
    text = doc.read_text()
    assert text.count("bench:load:start") == 1 and "lost 0 again" in text
    assert "Chosen: 0.5" in text and text.endswith("<!-- bench:load:end -->\n")
