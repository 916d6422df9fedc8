"""The schema's history, one for both backends: Alembic revisions in ``versions/``.

A fresh database (SQLite or PostgreSQL) is created by the revisions from the first; a SQLite
file from before Alembic (it has the ``_migrations`` table of :mod:`bot.storage.sqlite.migrations`)
is first brought to that runner's last step, which revision ``0001`` reproduces, then stamped
``0001`` and carried on from there. Every upgrade runs holding the database's write lock (SQLite's
``BEGIN IMMEDIATE``, a PostgreSQL advisory lock), so replicas starting together apply each
revision once.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.pool import NullPool

HERE = Path(__file__).resolve().parent
BASELINE = "0001"
"""The revision that reproduces the last step of the SQLite runner from before Alembic."""
UPGRADE_LOCK = 0x4F4E444F  # "ONDO": one number every replica takes before it upgrades


def _quiet() -> None:
    # Alembic tells every start at INFO that it checked the schema; only trouble is news.
    logging.getLogger("alembic").setLevel(logging.WARNING)


def config(connection: sa.Connection) -> Config:
    """Alembic's configuration, working on ``connection`` (``alembic_version`` lives there)."""
    _quiet()
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(connection: sa.Connection, *, stamp_baseline: bool = False) -> None:
    """Bring the database on ``connection`` to the newest revision, in its open transaction;
    with ``stamp_baseline``, first record it at :data:`BASELINE` (a pre-Alembic SQLite file)."""
    if stamp_baseline:
        command.stamp(config(connection), BASELINE)
    command.upgrade(config(connection), "head")


def upgrade_postgres(url: str) -> None:
    """Bring the PostgreSQL database at ``url`` to the newest revision (creating it if empty)."""
    engine = sa.create_engine(sqlalchemy_url(url), poolclass=NullPool)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({UPGRADE_LOCK})")
            upgrade(connection)
    finally:
        engine.dispose()


def head() -> str:
    """The newest revision: where :func:`upgrade` brings every database."""
    current = ScriptDirectory(str(HERE)).get_current_head()
    assert current is not None
    return current


def current_revision(connection: sa.Connection) -> str | None:
    """The revision the database on ``connection`` is at (``None`` before the first)."""
    return MigrationContext.configure(connection).get_current_revision()


def sqlalchemy_url(url: str) -> str:
    """``postgresql://…`` as SQLAlchemy names it with the psycopg 3 driver."""
    scheme, _, rest = url.partition("://")
    return f"postgresql+psycopg://{rest}" if scheme in ("postgres", "postgresql") else url
