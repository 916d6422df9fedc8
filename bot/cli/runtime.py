"""Starting the bot for a command: the runtime, and a warning about a readable database."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from bot.settings import Settings

if TYPE_CHECKING:
    from bot.app import Runtime


def warn_if_readable(db_path: str) -> None:
    """One warning line when group or others can read the database file (the customer
    conversations are in it); ``chmod 600`` is the fix."""
    from bot.storage.files import readable_by_others

    if db_path != ":memory:" and readable_by_others(Path(db_path)):
        logging.getLogger("ondo").warning(
            "%s can be read by other users of this machine: it holds customer conversations "
            "(chmod 600 %s)",
            db_path,
            db_path,
        )


def runtime(settings: Settings | None = None) -> Runtime:
    """The wired bot (models, knowledge, store) for ``settings`` or the environment."""
    from bot.app import build_runtime

    return build_runtime(settings or Settings.from_env())
