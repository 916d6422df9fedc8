"""The layering of docs/architecture.md, enforced from the imports so it cannot erode quietly.

The contracts live in ``pyproject.toml`` (``[tool.importlinter]``) and are checked by
import-linter over the real import graph (imports inside functions and ``TYPE_CHECKING``
blocks count too). A second check finds any import circle between two modules with grimp's
graph, the precise form of "no circles" (import-linter's contract looks at siblings).
Each check is also shown to fail on a graph that breaks it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "knowledge", "adapters")


def lint(config: Path) -> tuple[int, str]:
    """``lint-imports`` on ``config``, in its own process: import-linter reconfigures logging
    (disabling every existing logger), which must not leak into the other tests."""
    command = [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [*command, "--config", str(config), "--no-cache", "--no-logo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, done.stdout + done.stderr


def circles(graph: grimp.ImportGraph, modules: Iterable[str]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return found


def test_the_code_keeps_every_layering_contract() -> None:
    code, report = lint(ROOT / "pyproject.toml")
    assert code == 0, report
    assert "BROKEN" not in report and report.count("KEPT") >= 5


def test_the_contracts_catch_a_broken_layering(tmp_path: Path) -> None:
    # The real code against inverted layers: knowledge is made the top layer, so every
    # import of knowledge from bot breaks it.
    config = tmp_path / "inverted.toml"
    config.write_text(
        textwrap.dedent(
            """
            [tool.importlinter]
            root_packages = ["bot", "knowledge", "adapters"]

            [[tool.importlinter.contracts]]
            name = "inverted"
            type = "layers"
            layers = ["knowledge", "bot.types"]
            """
        ),
        encoding="utf-8",
    )
    code, report = lint(config)
    assert code != 0 and "BROKEN" in report and "bot.types -> knowledge" in report


def test_no_module_imports_itself_back_through_others() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    modules = [m for m in graph.modules if m.split(".")[0] in PACKAGES]
    assert len(modules) > 100
    assert circles(graph, modules) == []


def test_the_circle_finder_finds_a_circle() -> None:
    graph = grimp.ImportGraph()
    for module in ("a.engine", "a.suggest", "a.routing", "a.texts"):
        graph.add_module(module)
    graph.add_import(importer="a.engine", imported="a.suggest")
    graph.add_import(importer="a.suggest", imported="a.routing")
    graph.add_import(importer="a.routing", imported="a.engine")
    graph.add_import(importer="a.routing", imported="a.texts")
    assert circles(graph, graph.modules) == [["a.engine", "a.routing", "a.suggest"]]


def test_knowledge_never_reaches_up_into_the_bot() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    upward = [
        (importer, imported)
        for importer in graph.find_descendants("knowledge")
        for imported in graph.find_modules_directly_imported_by(importer)
        if imported.split(".")[0] in ("bot", "adapters")
    ]
    assert upward == []
