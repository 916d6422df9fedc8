"""The database schema as numbered migrations, applied once each, in order."""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils


def _m1_core(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE conversations (
            key TEXT PRIMARY KEY,
            platform TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'bot'
                CHECK (state IN ('bot', 'waiting_human', 'human', 'closed')),
            language TEXT,
            last_emotion TEXT,
            last_emotion_score REAL,
            misses INTEGER NOT NULL DEFAULT 0,
            context_since INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_key TEXT NOT NULL REFERENCES conversations(key),
            platform TEXT NOT NULL,
            platform_message_id TEXT,
            direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
            role TEXT NOT NULL CHECK (role IN ('customer', 'bot', 'agent', 'system')),
            user TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL,
            in_reply_to INTEGER REFERENCES messages(id),
            language TEXT,
            emotion TEXT,
            emotion_score REAL,
            intent TEXT,
            entry_id TEXT,
            confidence REAL,
            answered INTEGER,
            claimed_at REAL,
            handled_at REAL,
            created_at REAL NOT NULL
        )
        """
    )
    # A platform message id is recorded once: a retried or replayed event is recognised.
    db.execute(
        "CREATE UNIQUE INDEX messages_inbound_once ON messages(platform, platform_message_id) "
        "WHERE direction = 'in' AND platform_message_id IS NOT NULL"
    )
    # At most one bot reply is ever recorded per inbound message.
    db.execute(
        "CREATE UNIQUE INDEX messages_one_reply ON messages(in_reply_to) "
        "WHERE direction = 'out' AND role = 'bot'"
    )
    db.execute("CREATE INDEX messages_by_conversation ON messages(conversation_key, id)")
    db.execute(
        """
        CREATE TABLE handoffs (
            id INTEGER PRIMARY KEY,
            conversation_key TEXT NOT NULL REFERENCES conversations(key),
            reason TEXT NOT NULL,
            summary TEXT NOT NULL,
            intent TEXT,
            emotion TEXT,
            language TEXT,
            agent TEXT,
            thread_ref TEXT,
            created_at REAL NOT NULL,
            taken_at REAL,
            resolved_at REAL
        )
        """
    )
    db.execute("CREATE INDEX handoffs_by_conversation ON handoffs(conversation_key, id)")


def _m2_knowledge(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE embeddings (
            model TEXT NOT NULL,
            text_hash TEXT NOT NULL,
            dim INTEGER NOT NULL,
            vector BLOB NOT NULL,
            PRIMARY KEY (model, text_hash)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE kb_entries (
            id TEXT PRIMARY KEY,
            category TEXT NOT NULL,
            kind TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            data TEXT NOT NULL,
            source TEXT NOT NULL,
            imported_at REAL NOT NULL
        )
        """
    )


def _m3_ratings(db: sqlite_utils.Database) -> None:
    # One rating per person and answer: a second click by the same user updates the first.
    db.execute(
        """
        CREATE TABLE ratings (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES messages(id),
            entry_id TEXT,
            rating INTEGER NOT NULL CHECK (rating IN (-1, 1)),
            user TEXT NOT NULL,
            created_at REAL NOT NULL,
            UNIQUE (message_id, user)
        )
        """
    )
    db.execute("CREATE INDEX ratings_by_entry ON ratings(entry_id)")


def _m4_routing(db: sqlite_utils.Database) -> None:
    # Platform events that are not customer messages (agents' replies in a handoff thread,
    # slash commands) are deduplicated here, not as fake conversations.
    db.execute(
        """
        CREATE TABLE seen_events (
            platform TEXT NOT NULL,
            event_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            seen_at REAL NOT NULL,
            PRIMARY KEY (platform, event_id)
        )
        """
    )
    db.execute(
        "INSERT OR IGNORE INTO seen_events (platform, event_id, kind, seen_at) "
        "SELECT platform, platform_message_id, 'agent_message', created_at FROM messages "
        "WHERE conversation_key LIKE 'slack-agents:%' AND platform_message_id IS NOT NULL"
    )
    db.execute("DELETE FROM messages WHERE conversation_key LIKE 'slack-agents:%'")
    db.execute("DELETE FROM conversations WHERE key LIKE 'slack-agents:%'")
    # Recovery re-handles unanswered customer messages; it counts its attempts per message.
    db.execute("ALTER TABLE messages ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0")
    db.execute(
        "CREATE INDEX messages_unfinished ON messages(created_at) "
        "WHERE direction = 'in' AND handled_at IS NULL"
    )
    # An agents' thread is named with its platform, so a desk can live on either platform.
    db.execute(
        "UPDATE handoffs SET thread_ref = 'slack:' || thread_ref WHERE thread_ref IS NOT NULL "
        "AND thread_ref NOT LIKE 'slack:%' AND thread_ref NOT LIKE 'discord:%'"
    )


def _m5_delivery(db: sqlite_utils.Database) -> None:
    # A ticket being posted is claimed, so the recovery sweep of this or another process does
    # not post it a second time while the first post is still in flight.
    db.execute("ALTER TABLE handoffs ADD COLUMN ticket_claimed_at REAL")


def _m6_corrections(db: sqlite_utils.Database) -> None:
    # The review queue of answers marked wrong (by an agent, or a customer's 👎). The reply is
    # referenced by id without a foreign key: retention may delete the conversation while the
    # correction (and the knowledge change it led to) stays. Texts are sealed like messages.
    db.execute(
        """
        CREATE TABLE corrections (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL CHECK (source IN ('agent', 'rating')),
            reply_id INTEGER NOT NULL,
            question TEXT NOT NULL,
            bot_answer TEXT NOT NULL,
            language TEXT,
            entry_id TEXT,
            proposed_answer TEXT,
            proposed_by TEXT,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'approved', 'rejected')),
            decided_by TEXT,
            decided_at REAL,
            created_at REAL NOT NULL
        )
        """
    )
    # One pending correction per answer; a customer's 👎 enqueues an answer at most once.
    db.execute(
        "CREATE UNIQUE INDEX corrections_one_pending ON corrections(reply_id) "
        "WHERE status = 'pending'"
    )
    db.execute(
        "CREATE UNIQUE INDEX corrections_one_rating ON corrections(reply_id) "
        "WHERE source = 'rating'"
    )
    db.execute(
        """
        CREATE TABLE kb_changes (
            id INTEGER PRIMARY KEY,
            entry_id TEXT NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('add', 'update')),
            changed_by TEXT NOT NULL,
            changed_at REAL NOT NULL,
            old_data TEXT,
            new_data TEXT NOT NULL,
            correction_id INTEGER REFERENCES corrections(id)
        )
        """
    )
    db.execute("CREATE INDEX kb_changes_by_entry ON kb_changes(entry_id, id)")


def _m7_suggestions(db: sqlite_utils.Database) -> None:
    # The reply an agent can send with one click, sealed at rest like the summary.
    db.execute("ALTER TABLE handoffs ADD COLUMN suggestion TEXT")


def _m8_audiences(db: sqlite_utils.Database) -> None:
    # Who asked: NULL for customers (every message before audiences existed), 'staff' for a
    # staff member's question. Recovery re-asks with the same role; insights count staff apart.
    db.execute("ALTER TABLE messages ADD COLUMN audience TEXT")
    # A correction of a staff answer proposes a staff entry.
    db.execute("ALTER TABLE corrections ADD COLUMN audience TEXT")


def _m9_authors(db: sqlite_utils.Database) -> None:
    # A conversation belongs to the customer who opened it (its owner); other people writing in
    # its thread are recorded as themselves: an agent, or a third party who never acts for the
    # customer. Conversations from before: their first customer message names the owner.
    db.execute("ALTER TABLE conversations ADD COLUMN owner TEXT")
    db.execute(
        "UPDATE conversations SET owner = (SELECT m.user FROM messages m "
        "WHERE m.conversation_key = conversations.key AND m.direction = 'in' "
        "AND m.role = 'customer' AND m.user != '' ORDER BY m.id LIMIT 1)"
    )
    _widen_check(db, "messages", "'agent', 'system')", "'agent', 'system', 'third_party')")


def _widen_check(db: sqlite_utils.Database, table: str, old: str, new: str) -> None:
    """Loosen a CHECK constraint in place, as SQLite documents for removing constraints
    (https://sqlite.org/lang_altertable.html#otheralter): every stored row still satisfies
    it, so nothing is rewritten and no foreign key (ratings -> messages) is disturbed."""
    row = db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]
    ).fetchone()
    if row is None or old not in row[0]:
        raise RuntimeError(f"the CHECK of {table} is not the expected one ({old})")
    version = int(db.execute("PRAGMA schema_version").fetchone()[0])
    db.execute("PRAGMA writable_schema = ON")
    try:
        db.execute(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
            [row[0].replace(old, new), table],
        )
        db.execute(f"PRAGMA schema_version = {version + 1}")
    finally:
        db.execute("PRAGMA writable_schema = OFF")


def _m10_handoff_ids(db: sqlite_utils.Database) -> None:
    # A handoff's number is on its ticket's buttons for as long as the ticket exists, so it is
    # never given to another handoff: AUTOINCREMENT (a plain rowid reuses the highest number
    # once its row is deleted, by retention or ``forget``). The table is rebuilt for it, with
    # three new columns: the random token its buttons carry besides the number (rows from
    # before have none: their tickets' plain-number buttons keep working), when the
    # customer's notice could not be posted (the handoff waits, under the same number, for
    # the retry), and how many times posting its ticket was claimed (a second claim first
    # looks on the platform for a post that reached it before a crash).
    db.execute(
        """
        CREATE TABLE handoffs_new (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            conversation_key TEXT NOT NULL REFERENCES conversations(key),
            reason TEXT NOT NULL,
            summary TEXT NOT NULL,
            intent TEXT,
            emotion TEXT,
            language TEXT,
            agent TEXT,
            thread_ref TEXT,
            created_at REAL NOT NULL,
            taken_at REAL,
            resolved_at REAL,
            ticket_claimed_at REAL,
            suggestion TEXT,
            button_token TEXT,
            notice_failed_at REAL,
            ticket_attempts INTEGER NOT NULL DEFAULT 0
        )
        """
    )
    db.execute(
        "INSERT INTO handoffs_new (id, conversation_key, reason, summary, intent, emotion,"
        " language, agent, thread_ref, created_at, taken_at, resolved_at, ticket_claimed_at,"
        " suggestion, ticket_attempts) SELECT id, conversation_key, reason, summary, intent,"
        " emotion, language, agent, thread_ref, created_at, taken_at, resolved_at,"
        " ticket_claimed_at, suggestion, CASE WHEN ticket_claimed_at IS NULL THEN 0 ELSE 1 END"
        " FROM handoffs"
    )
    db.execute("DROP TABLE handoffs")
    db.execute("ALTER TABLE handoffs_new RENAME TO handoffs")
    db.execute("CREATE INDEX handoffs_by_conversation ON handoffs(conversation_key, id)")
    db.execute("CREATE INDEX handoffs_by_thread ON handoffs(thread_ref)")


MIGRATIONS: tuple[Callable[[sqlite_utils.Database], None], ...] = (
    _m1_core,
    _m2_knowledge,
    _m3_ratings,
    _m4_routing,
    _m5_delivery,
    _m6_corrections,
    _m7_suggestions,
    _m8_audiences,
    _m9_authors,
    _m10_handoff_ids,
)


def migrate(db: sqlite_utils.Database) -> int:
    """Apply the migrations this database has not seen yet; return the schema version."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (version INTEGER PRIMARY KEY, name TEXT, "
        "applied_at TEXT DEFAULT CURRENT_TIMESTAMP)"
    )
    for version, step in enumerate(MIGRATIONS, start=1):
        with db.conn:
            # sqlite3 does not wrap DDL in a transaction by itself: begin one explicitly so a
            # failed step leaves nothing behind, and take the write lock before checking so two
            # processes opening a fresh file cannot both apply the same step.
            db.execute("BEGIN IMMEDIATE")
            if db.execute("SELECT 1 FROM _migrations WHERE version = ?", [version]).fetchone():
                continue
            step(db)
            db.execute(
                "INSERT INTO _migrations (version, name) VALUES (?, ?)", [version, step.__name__]
            )
    return len(MIGRATIONS)
