"""The README is the user's contract: its two commands, and every command is documented."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
TEST_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/pytest"
RUN_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/ondo chat"


def test_readme_has_the_two_commands() -> None:
    blocks = re.findall(r"```bash\n(.*?)\n```", README, re.DOTALL)
    assert RUN_COMMAND in blocks
    assert TEST_COMMAND in blocks


def test_ci_runs_the_readme_test_command() -> None:
    assert TEST_COMMAND in CI.splitlines()


def test_every_cli_command_is_documented() -> None:
    from bot.cli import _parser

    parser = _parser()
    commands = set()
    for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
        for name, sub in action.choices.items():
            nested = [a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction"]
            if nested:
                commands.update(f"{name} {child}" for child in nested[0].choices)
            else:
                commands.add(name)
    assert commands == {
        "chat",
        "ask",
        "kb import",
        "kb list",
        "kb search",
        "kb review",
        "kb history",
        "kb replies",
        "kb train",
        "serve",
        "keys generate",
        "keys rotate",
        "privacy purge",
        "privacy export",
        "privacy forget",
        "insights reviews",
        "insights conversations",
        "insights journeys",
        "journey send",
        "journey link",
        "journey consent",
    }
    for command in commands:
        assert f"`ondo {command}" in README, command


def test_every_setting_is_documented() -> None:
    source = (ROOT / "bot" / "settings.py").read_text(encoding="utf-8")
    for name in re.findall(r'get\("([A-Z_]+)"\)', source):
        assert f"`{name}`" in README, name


def test_pyproject_pins_cpu_torch() -> None:
    assert '"torch==2.13.0"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def test_procfile_names_commands_that_parse() -> None:
    from bot.cli import _parser

    lines = [
        line
        for line in (ROOT / "Procfile").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines, "the Procfile names no process"
    for line in lines:
        name, _, command = line.partition(":")
        words = command.split()
        assert name.strip() and words[0] == "ondo", line
        _parser().parse_args(words[1:])  # exits (fails the test) on an unknown command
