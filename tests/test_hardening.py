"""Limits and hostile input: read-only databases, oversized and malformed knowledge, huge
messages. Each is one clear line, never a traceback."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import cli
from bot.store import Store, StoreError

NOBODY = 65534


@contextlib.contextmanager
def unprivileged() -> Iterator[None]:
    """Run the block as ``nobody`` when the tests run as root (CI does), since root writes
    through any file mode; as anyone else the modes already apply."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder ``nobody`` can reach (pytest's tmp_path is private to its user)."""
    folder = Path(tempfile.mkdtemp(prefix="ondo-ro-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for child in folder.iterdir():
            child.unlink()
        folder.chmod(0o755)
        folder.rmdir()


@pytest.mark.parametrize("read_only", ["file", "folder"])
def test_a_read_only_database_at_start_is_one_line_and_exit_1(
    shared_dir: Path,
    read_only: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = shared_dir / "ro.db"
    monkeypatch.delenv("ONDO_KB", raising=False)
    monkeypatch.setenv("ONDO_DB", str(db))
    # Writable, it lists; this also imports everything before the user has no access to it.
    assert cli.main(["kb", "list"]) == 0
    capsys.readouterr()
    for path in shared_dir.iterdir():
        path.chmod(0o444 if read_only == "file" else 0o666)
    if read_only == "folder":
        shared_dir.chmod(0o555)
    with unprivileged(), pytest.raises(StoreError, match=r"readonly.*must be writable"):
        Store.open(db)
    with unprivileged():
        code = cli.main(["kb", "list"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"ondo: error: cannot open database {db}: ") and err.count("\n") == 1
    assert "Traceback" not in err
