"""Files holding customer data are the owner's alone: created 0600, and checked at start.

SQLite gives a database's ``-wal``, ``-shm`` and ``-journal`` files the permissions of the
database file itself, so creating that file owner-only before SQLite opens it covers them.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

PRIVATE = 0o600


def create_private(path: Path) -> None:
    """Create ``path`` empty and owner-only (0600) unless it exists; an existing file keeps
    its mode (see :func:`readable_by_others`)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE))


def readable_by_others(path: Path) -> bool:
    """Whether group or others may read ``path`` (``False`` when it does not exist)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & (stat.S_IRGRP | stat.S_IROTH))


def write_private_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path``, owner-only; an existing file is made 0600 first."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, PRIVATE)
    with contextlib.suppress(OSError):  # not our file to change (another owner): still write
        os.fchmod(fd, PRIVATE)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
