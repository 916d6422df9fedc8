"""Files holding customer data are owner-only: the database (and its WAL), HTML reports."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import cli
from bot.insights.html import page, write_html
from bot.storage.files import readable_by_others
from bot.storage.sqlite import SQLiteStore
from bot.types import Message


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The common umask 022, under which files are created 0644 unless asked otherwise."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_new_database_and_its_wal_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "ondo.db"
    store = SQLiteStore.open(path)
    try:
        message = Message(
            platform="slack",
            conversation_key="slack:T:D:1",
            user="U1",
            text="환불해 주세요",
            timestamp=1.0,
            message_id="m1",
        )
        await store.record_inbound(message)
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        assert all(f.exists() for f in files)  # WAL mode, written while open
        assert [mode(f) for f in files] == [0o600] * 3
    finally:
        store.close()
    assert mode(path) == 0o600 and not readable_by_others(path)


def test_an_existing_database_keeps_its_mode_and_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    SQLiteStore.open(path).close()
    path.chmod(0o644)
    SQLiteStore.open(path).close()
    assert mode(path) == 0o644 and readable_by_others(path)


def test_the_html_report_is_owner_only_even_over_an_old_file(tmp_path: Path) -> None:
    new, old = tmp_path / "new.html", tmp_path / "old.html"
    old.write_text("old", encoding="utf-8")
    assert mode(old) == 0o644
    for target in (new, old):
        write_html(target, page("리뷰 보고서", []))
        assert mode(target) == 0o600 and "리뷰 보고서" in target.read_text(encoding="utf-8")


@pytest.mark.parametrize(("file_mode", "warned"), [(0o644, 1), (0o640, 1), (0o600, 0)])
def test_chat_warns_once_about_a_database_others_can_read(
    cli_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    file_mode: int,
    warned: int,
) -> None:
    cli_env.chmod(file_mode)
    monkeypatch.setattr("builtins.input", lambda prompt="": "/quit")
    caplog.set_level(logging.WARNING)
    assert cli.main(["chat"]) == 0
    lines = [
        r.getMessage() for r in caplog.records if "can be read by other users" in r.getMessage()
    ]
    assert len(lines) == warned
    if warned:
        assert f"chmod 600 {cli_env}" in lines[0] and "\n" not in lines[0]
