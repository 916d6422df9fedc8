"""Alembic's entry point: runs the revisions on the connection Ondo passes in
(:func:`bot.storage.schema.config`), or on ``ONDO_DB`` when run from the ``alembic`` command."""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import context

from bot.storage.schema import sqlalchemy_url

connection = context.config.attributes.get("connection")
if connection is None:
    url = os.environ.get("ONDO_DB", "ondo.db")
    if "://" not in url:
        url = f"sqlite:///{url}"
    engine = sa.create_engine(sqlalchemy_url(url))
    with engine.begin() as connection:
        context.configure(connection=connection, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
