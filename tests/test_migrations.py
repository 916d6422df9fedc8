"""Numbered migrations: applied once each, in order; the schema enforces uniqueness."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
import sqlite_utils
from alembic import command
from sqlalchemy.pool import StaticPool

import bot.storage.sqlite.migrations
from bot.storage import schema
from bot.storage.sql.store import SqlStore
from bot.storage.sqlite import SQLiteStore
from bot.storage.sqlite.migrations import MIGRATIONS, migrate
from tests.backends import BACKENDS, backend_for, raw

ALL_APPLIED = [(n, step.__name__) for n, step in enumerate(MIGRATIONS, start=1)]


def fresh() -> sqlite_utils.Database:
    return sqlite_utils.Database(sqlite3.connect(":memory:"))


def applied(db: sqlite_utils.Database) -> list[tuple[int, str]]:
    return [tuple(r) for r in db.execute("SELECT version, name FROM _migrations ORDER BY 1")]


def add_conversation(db: sqlite_utils.Database, key: str = "discord:c") -> None:
    db.execute(
        "INSERT INTO conversations (key, platform, created_at, updated_at) VALUES (?, ?, 0, 0)",
        [key, "discord"],
    )


def add_message(
    db: sqlite_utils.Database,
    *,
    direction: str = "in",
    role: str = "customer",
    platform_id: str | None = None,
    reply_to: int | None = None,
    text: str = "환불해 주세요",
) -> int:
    cursor = db.execute(
        "INSERT INTO messages (conversation_key, platform, platform_message_id, direction, role,"
        " text, in_reply_to, created_at) VALUES ('discord:c', 'discord', ?, ?, ?, ?, ?, 0)",
        [platform_id, direction, role, text, reply_to],
    )
    return int(cursor.lastrowid or 0)


def test_migrate_fresh_database() -> None:
    db = fresh()
    assert migrate(db) == len(MIGRATIONS)
    assert applied(db) == ALL_APPLIED
    assert [name for _, name in ALL_APPLIED][:5] == [
        "_m1_core",
        "_m2_knowledge",
        "_m3_ratings",
        "_m4_routing",
        "_m5_delivery",
    ]
    assert {"conversations", "messages", "handoffs", "embeddings", "kb_entries", "ratings"} <= set(
        db.table_names()
    )


def test_migrate_twice_applies_nothing_new() -> None:
    db = fresh()
    migrate(db)
    assert migrate(db) == len(MIGRATIONS)
    assert applied(db) == ALL_APPLIED


def test_migrate_applies_only_missing_steps() -> None:
    db = fresh()
    db.execute("CREATE TABLE _migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)")
    MIGRATIONS[0](db)
    db.execute("INSERT INTO _migrations (version, name) VALUES (1, '_m1_core')")
    migrate(db)
    assert applied(db) == ALL_APPLIED
    assert "kb_entries" in db.table_names()


def test_failed_step_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(db: sqlite_utils.Database) -> None:
        db.execute("CREATE TABLE embeddings (model TEXT)")
        raise RuntimeError("disk full")

    db = fresh()
    monkeypatch.setattr(bot.storage.sqlite.migrations, "MIGRATIONS", (MIGRATIONS[0], broken))
    with pytest.raises(RuntimeError, match="disk full"):
        migrate(db)
    assert "embeddings" not in db.table_names()
    assert applied(db) == [(1, "_m1_core")]
    # Once the step is fixed, the same database migrates cleanly.
    monkeypatch.setattr(bot.storage.sqlite.migrations, "MIGRATIONS", MIGRATIONS)
    assert migrate(db) == len(MIGRATIONS)
    assert applied(db) == ALL_APPLIED


def test_two_processes_opening_a_fresh_file_both_succeed(db_path: Path) -> None:
    barrier = threading.Barrier(4)
    opened: list[SQLiteStore] = []
    errors: list[BaseException] = []

    def open_store() -> None:
        barrier.wait()
        try:
            opened.append(SQLiteStore.open(db_path))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in opened:
        store.close()
    assert errors == []
    check = SQLiteStore.open(db_path)
    try:
        revisions = check._db.execute("SELECT version_num FROM alembic_version").fetchall()
        assert revisions == [(schema.head(),)]
    finally:
        check.close()


@pytest.mark.parametrize("text", ["환불해 주세요", "Refund please"])
def test_inbound_platform_id_is_unique(text: str) -> None:
    db = fresh()
    migrate(db)
    add_conversation(db)
    add_message(db, platform_id="m1", text=text)
    with pytest.raises(sqlite3.IntegrityError):
        add_message(db, platform_id="m1", text=text)
    # Messages without a platform id (not yet posted) never collide.
    add_message(db, direction="out", role="system")
    add_message(db, direction="out", role="system")


def test_one_bot_reply_per_inbound() -> None:
    db = fresh()
    migrate(db)
    add_conversation(db)
    inbound = add_message(db, platform_id="m1")
    add_message(db, direction="out", role="bot", reply_to=inbound)
    with pytest.raises(sqlite3.IntegrityError):
        add_message(db, direction="out", role="bot", reply_to=inbound)


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("UPDATE conversations SET state = ? WHERE key = 'discord:c'", ["asleep"]),
        (
            "INSERT INTO messages (conversation_key, platform, direction, role, text, created_at)"
            " VALUES ('discord:c', 'discord', ?, 'bot', 'x', 0)",
            ["sideways"],
        ),
        (
            "INSERT INTO messages (conversation_key, platform, direction, role, text, created_at)"
            " VALUES ('discord:c', 'discord', 'out', ?, 'x', 0)",
            ["robot"],
        ),
    ],
)
def test_check_constraints(sql: str, params: list[str]) -> None:
    db = fresh()
    migrate(db)
    add_conversation(db)
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(sql, params)


def test_version_2_database_upgrades_to_ratings_keeping_its_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = fresh()
    monkeypatch.setattr(bot.storage.sqlite.migrations, "MIGRATIONS", MIGRATIONS[:2])
    migrate(db)
    add_conversation(db)
    inbound = add_message(db, platform_id="m1")
    monkeypatch.setattr(bot.storage.sqlite.migrations, "MIGRATIONS", MIGRATIONS)
    assert migrate(db) == len(MIGRATIONS)
    assert applied(db)[2:4] == [(3, "_m3_ratings"), (4, "_m4_routing")]
    assert db.execute("SELECT id FROM messages").fetchall() == [(inbound,)]
    reply = add_message(db, direction="out", role="bot", reply_to=inbound)
    db.execute(
        "INSERT INTO ratings (message_id, entry_id, rating, user, created_at) "
        "VALUES (?, 'refund', -1, 'u1', 0)",
        [reply],
    )
    with pytest.raises(sqlite3.IntegrityError):  # one rating per user and answer
        db.execute(
            "INSERT INTO ratings (message_id, entry_id, rating, user, created_at) "
            "VALUES (?, 'refund', 1, 'u1', 0)",
            [reply],
        )


def test_routing_migration_moves_agent_dedup_rows_and_names_thread_platforms() -> None:
    db = fresh()
    db.execute("CREATE TABLE _migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)")
    for version, step in enumerate(MIGRATIONS[:3], start=1):
        step(db)
        db.execute("INSERT INTO _migrations (version, name) VALUES (?, ?)", [version, "old"])
    # What the Slack adapter stored before: agent messages as a fake conversation.
    db.execute(
        "INSERT INTO conversations (key, platform, created_at, updated_at) "
        "VALUES ('slack-agents:C1:1.0', 'slack', 0, 0)"
    )
    db.execute(
        "INSERT INTO messages (conversation_key, platform, platform_message_id, direction, role,"
        " text, created_at) VALUES ('slack-agents:C1:1.0', 'slack', 'C1:2.0', 'in', 'agent',"
        " '안녕하세요', 5)"
    )
    add_conversation(db, "slack:T:D:1.0")
    db.execute(
        "INSERT INTO handoffs (conversation_key, reason, summary, thread_ref, created_at) "
        "VALUES ('slack:T:D:1.0', 'angry', 's', 'C1:1.0', 0)"
    )
    migrate(db)
    assert db.execute("SELECT platform, event_id, kind FROM seen_events").fetchall() == [
        ("slack", "C1:2.0", "agent_message")
    ]
    assert db.execute("SELECT COUNT(*) FROM messages").fetchone() == (0,)
    assert db.execute("SELECT key FROM conversations").fetchall() == [("slack:T:D:1.0",)]
    assert db.execute("SELECT thread_ref FROM handoffs").fetchall() == [("slack:C1:1.0",)]


def _shape(conn: sqlite3.Connection) -> dict[str, object]:
    """Every table's columns (name, type affinity, not null unless a key, default, key), its
    indexes (name, unique, partial) and foreign keys."""
    out: dict[str, object] = {}
    tables = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN "
        "('_migrations', 'alembic_version', 'sqlite_sequence') ORDER BY name"
    ).fetchall()
    for (table,) in tables:
        columns = [
            (
                r[1],
                "REAL" if r[2] in ("REAL", "DOUBLE") else r[2],
                bool(r[3]) and not r[5],
                r[4],
                r[5],
            )
            for r in conn.execute(f"PRAGMA table_info({table})")
        ]
        indexes = sorted(
            (r[1], r[2], r[4])
            for r in conn.execute(f"PRAGMA index_list({table})")
            if not r[1].startswith("sqlite_autoindex")
        )
        keys = sorted(tuple(r[2:5]) for r in conn.execute(f"PRAGMA foreign_key_list({table})"))
        out[table] = (columns, indexes, keys)
    return out


def test_the_baseline_revision_is_the_old_runners_last_step() -> None:
    """A fresh database (created by revision 0001, as PostgreSQL is) has the very shape an old
    file has after the runner from before Alembic: stamping an old file 0001 is honest."""
    fresh = sqlite3.connect(":memory:")
    engine = sa.create_engine("sqlite://", creator=lambda: fresh, poolclass=StaticPool)
    with engine.connect() as connection:
        command.upgrade(schema.config(connection), schema.BASELINE)
        connection.commit()
    old = sqlite3.connect(":memory:")
    migrate(sqlite_utils.Database(old))
    try:
        assert _shape(fresh) == _shape(old)
        # AUTOINCREMENT survives: a handoff's number is never reused.
        assert fresh.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")
    finally:
        fresh.close()
        old.close()


def test_an_old_file_is_finished_by_its_runner_then_stamped(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = sqlite_utils.Database(sqlite3.connect(db_path))
    monkeypatch.setattr(bot.storage.sqlite.migrations, "MIGRATIONS", MIGRATIONS[:4])
    migrate(db)
    db.conn.close()
    monkeypatch.setattr(bot.storage.sqlite.migrations, "MIGRATIONS", MIGRATIONS)
    store = SQLiteStore.open(db_path)
    try:
        assert applied(store._db) == ALL_APPLIED
        revisions = store._db.execute("SELECT version_num FROM alembic_version").fetchall()
        assert revisions == [(schema.head(),)]
    finally:
        store.close()


def test_revision_0003_keeps_queued_posts_and_lets_the_outbox_carry_dms() -> None:
    """A file at 0002 with posts waiting: the outbox is rewritten (its kind check now admits
    ``dm``) without losing a row, its index or its row numbers."""
    conn = sqlite3.connect(":memory:")
    engine = sa.create_engine("sqlite://", creator=lambda: conn, poolclass=StaticPool)
    with engine.connect() as connection:
        command.upgrade(schema.config(connection), "0002")
        connection.commit()
    conn.execute(
        "INSERT INTO outbox (id, platform, kind, target, text, created_at, due_at) "
        "VALUES (7, 'slack', 'relay', 'slack:C1:1.0', '고객: 환불', 1, 1)"
    )
    conn.commit()
    with engine.connect() as connection:
        command.upgrade(schema.config(connection), "head")
        connection.commit()
    try:
        assert conn.execute("SELECT id, kind, text, attempts FROM outbox").fetchall() == [
            (7, "relay", "고객: 환불", 0)
        ]
        conn.execute(
            "INSERT INTO outbox (platform, kind, target, text, created_at, due_at) "
            "VALUES ('discord', 'dm', '4242', 'Your order was delivered', 2, 2)"
        )
        assert conn.execute("SELECT MAX(id) FROM outbox").fetchone() == (8,)
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(
                "INSERT INTO outbox (platform, kind, target, created_at, due_at) "
                "VALUES ('slack', 'shout', 'U1', 3, 3)"
            )
        indexes = {r[1] for r in conn.execute("PRAGMA index_list(outbox)")}
        assert "outbox_due" in indexes
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        (
            "INSERT INTO journey_sends (journey, customer_id, category, dedupe_key, due_at, "
            "created_at, state) VALUES ('j', 'c', 'marketing', 'k', 0, 0, ?)",
            ["shipped"],
        ),
        (
            "INSERT INTO journey_events (event_id, type, occurred_at, customer_id, payload, "
            "received_at) VALUES (?, 'order.placed', 0, 'c', '{}', 0)",
            ["ev-1"],
        ),
        (
            'INSERT INTO journey_identities (platform, "user", customer_id, linked_at) '
            "VALUES ('slack', ?, 'other', 0)",
            ["U1"],
        ),
    ],
)
def test_journey_constraints(sql: str, params: list[str]) -> None:
    db = SQLiteStore.open(":memory:")
    try:
        conn = db._db.conn
        conn.execute(
            "INSERT INTO journey_events (event_id, type, occurred_at, customer_id, payload, "
            "received_at) VALUES ('ev-1', 'order.placed', 0, 'c', '{}', 0)"
        )
        conn.execute(
            'INSERT INTO journey_identities (platform, "user", customer_id, linked_at) '
            "VALUES ('slack', 'U1', 'cust-1', 0)"
        )
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(sql, params)
    finally:
        db.close()


def _journey_shape(store: SqlStore) -> dict[str, list[tuple[str, bool]]]:
    """The journey tables' columns (name, nullable), in order, as the database reports them."""
    if store._database.dialect == "sqlite":
        rows = [
            (table, r[1], not r[3] and not r[5])
            for table in JOURNEY_TABLES
            for r in raw(store, f"PRAGMA table_info({table})")
        ]
    else:
        rows = [
            (r[0], r[1], r[2] == "YES")
            for r in raw(
                store,
                "SELECT table_name, column_name, is_nullable FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name LIKE 'journey%' "
                "ORDER BY table_name, ordinal_position",
            )
        ]
    out: dict[str, list[tuple[str, bool]]] = {}
    for table, column, nullable in rows:
        out.setdefault(table, []).append((column, nullable))
    return out


JOURNEY_TABLES = (
    "journey_consent",
    "journey_customers",
    "journey_events",
    "journey_identities",
    "journey_sends",
)


def test_journey_tables_have_the_same_shape_on_both_backends(tmp_path: Path) -> None:
    shapes = []
    for name in BACKENDS:
        with backend_for(name, tmp_path) as backend:
            shapes.append(_journey_shape(backend.open()))
    assert sorted(shapes[0]) == list(JOURNEY_TABLES)
    assert shapes[0] == shapes[1]
