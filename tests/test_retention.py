"""Retention and a customer's rights: purge by age, export, forget — also when encrypted."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot import cli
from bot.corrections.loop import Corrections
from bot.storage.crypto import cipher_for, generate_key
from bot.storage.sql.store import SqlStore
from bot.storage.sqlite import SQLiteStore
from bot.types import Message
from tests.backends import Backend, raw


def message(user: str, text: str, message_id: str, key: str | None = None) -> Message:
    return Message("discord", key or f"discord:dm:{user}", user, text, time.time(), message_id)


async def fill(store: SqlStore) -> None:
    """Two customers: 민지 (Korean, handed over and rated) and Sam (English)."""
    first = await store.record_inbound(message("minji", "환불 부탁드려요 010-1234-5678", "m1"))
    reply = await store.record_reply(first.id, "discord:dm:minji", "discord", "환불 안내입니다")
    assert reply is not None
    await store.annotate_inbound(first.id, entry_id="refund-how-to")
    await store.rate(reply, "minji", -1)
    await store.open_handoff(
        "discord:dm:minji",
        reason="asked_for_human",
        summary="고객 요청: 환불",
        intent="refund",
        emotion="neutral",
        language="ko",
    )
    await Corrections(store).mark_wrong(reply, "환불은 주문 내역에서 신청해 주세요", "agent-1")
    await store.record_inbound(message("sam", "Where is my parcel? sam@example.com", "m2"))


@pytest.mark.parametrize("encrypted", [False, True])
async def test_export_then_forget_one_customer(backend: Backend, encrypted: bool) -> None:
    store = backend.open(cipher_for(generate_key() if encrypted else None))
    await fill(store)
    exported = await store.retention.export_user("minji")
    [conversation] = exported["conversations"]
    assert [m["text"] for m in conversation["messages"]] == [
        "환불 부탁드려요 010-1234-5678",
        "환불 안내입니다",
    ]
    assert conversation["handoffs"][0]["summary"] == "고객 요청: 환불"
    assert exported["ratings"][0]["rating"] == -1
    [correction] = exported["corrections"]
    assert correction["question"] == "환불 부탁드려요 010-1234-5678"
    assert correction["proposed_answer"] == "환불은 주문 내역에서 신청해 주세요"

    deleted = await store.retention.forget_user("minji")
    assert deleted == {
        "conversations": 1,
        "messages": 2,
        "handoffs": 1,
        "ratings": 1,
        "corrections": 1,
    }
    assert await Corrections(store).pending() == []
    assert (await store.retention.export_user("minji"))["conversations"] == []
    # Sam is untouched, and nothing of 민지 is left in the database.
    assert len((await store.retention.export_user("sam"))["conversations"]) == 1
    if backend.name == "sqlite":  # the file itself, free pages and WAL included
        stored = b"".join(p.read_bytes() for p in Path(backend.target).parent.glob("ondo.db*"))
    else:  # every text column of every table
        columns = raw(
            store,
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND data_type = 'text'",
        )
        stored = " ".join(
            str(v) for t, c in columns for (v,) in raw(store, f'SELECT "{c}" FROM {t}') if v
        ).encode()
    assert b"010-1234-5678" not in stored and "환불 부탁".encode() not in stored
    store.close()


async def test_purge_deletes_only_idle_conversations(backend: Backend) -> None:
    store = backend.open()
    await fill(store)
    # 민지's conversation went quiet 100 days ago; Sam wrote just now.
    old = time.time() - 100 * 86400
    raw(store, "UPDATE messages SET created_at = ? WHERE \"user\" != 'sam'", [old])
    raw(
        store,
        "UPDATE messages SET created_at = ? WHERE conversation_key = 'discord:dm:minji'",
        [old],
    )
    raw(store, "UPDATE conversations SET updated_at = ? WHERE key = 'discord:dm:minji'", [old])
    deleted = await store.retention.purge(90 * 86400)
    assert deleted["conversations"] == 1 and deleted["messages"] == 2
    assert deleted["handoffs"] == 1 and deleted["ratings"] == 1
    assert deleted["corrections"] == 1
    assert await store.retention.purge(90 * 86400) == {
        "conversations": 0,
        "messages": 0,
        "handoffs": 0,
        "ratings": 0,
        "corrections": 0,
        "seen_events": 0,
    }
    assert len((await store.retention.export_user("sam"))["conversations"]) == 1
    store.close()


def test_privacy_commands_from_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    db = tmp_path / "cli.db"
    monkeypatch.setenv("ONDO_DB", str(db))
    monkeypatch.delenv("ONDO_ENCRYPTION_KEY", raising=False)
    store = SQLiteStore.open(db)
    asyncio.run(fill(store))
    store.close()
    assert cli.main(["privacy", "export", "--user", "minji"]) == 0
    assert "환불 부탁드려요" in capsys.readouterr().out
    assert cli.main(["privacy", "forget", "--user", "minji"]) == 0
    assert "deleted for minji: 1 conversations, 2 messages" in capsys.readouterr().out
    assert cli.main(["privacy", "export", "--user", "minji"]) == 0
    assert "nothing is stored about minji" in capsys.readouterr().err
    assert cli.main(["privacy", "purge", "--older-than", "90d"]) == 0
    assert capsys.readouterr().out.startswith("deleted 0 conversations")
    with pytest.raises(SystemExit):
        cli.main(["privacy", "purge", "--older-than", "ninety days"])
    assert "not a duration" in capsys.readouterr().err


def test_retention_setting_is_a_duration() -> None:
    from bot.settings import Settings, SettingsError

    assert Settings.from_env({"ONDO_RETENTION": "90d"}, dotenv=None).retention == 90 * 86400
    assert Settings.from_env({}, dotenv=None).retention is None
    with pytest.raises(SettingsError, match="ONDO_RETENTION"):
        Settings.from_env({"ONDO_RETENTION": "three months"}, dotenv=None)


async def test_serve_runs_retention_at_start_and_stops(tmp_path: Path) -> None:
    import asyncio
    from types import SimpleNamespace

    from bot.serve import run_retention

    store = SQLiteStore.open(tmp_path / "sched.db")
    await fill(store)
    old = time.time() - 100 * 86400
    store._db.execute("UPDATE messages SET created_at = ?", [old])
    store._db.execute("UPDATE conversations SET updated_at = ?", [old])
    store._db.conn.commit()
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_retention(SimpleNamespace(store=store), 90 * 86400, stop)  # type: ignore[arg-type]
    )
    for _ in range(200):
        if not store._db.execute("SELECT COUNT(*) FROM conversations").fetchone()[0]:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert store._db.execute("SELECT COUNT(*) FROM messages").fetchone() == (0,)
    store.close()


@pytest.mark.parametrize(
    ("env", "language"),
    [({"ONDO_PHONE_KEY": "a-phone-key-of-16+"}, "ko"), ({"TWILIO_AUTH_TOKEN": "t" * 32}, "en")],
)
def test_a_phone_customer_is_exported_and_forgotten_by_number(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    language: str,
) -> None:
    """An SMS customer asks what is stored about them: the operator has only their number,
    Ondo only its pseudonym (made with the secret `ondo serve twilio` uses)."""
    import asyncio

    from adapters.twilio.config import phone_key_of
    from adapters.twilio.identity import PhoneBook
    from bot.settings import Settings

    db = tmp_path / "phone.db"
    monkeypatch.setenv("ONDO_DB", str(db))
    for name in ("ONDO_ENCRYPTION_KEY", "ONDO_PHONE_KEY", "TWILIO_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    key = phone_key_of(Settings.from_env())
    assert key is not None
    book = PhoneBook(key)
    number, shop = "+821071829354", "+821000000000"
    text = "환불은 언제 되나요?" if language == "ko" else "When is my refund coming?"
    store = SQLiteStore.open(db)
    conversation = book.key_for("sms", number, shop)
    asyncio.run(
        store.record_inbound(
            Message("sms", conversation, book.user_for(number), text, time.time(), "SM1")
        )
    )
    store.close()
    for spelled in ("+82 10-7182-9354", number):
        assert cli.main(["privacy", "export", "--phone", spelled]) == 0
        out = capsys.readouterr().out
        assert text in out and number not in out
    assert cli.main(["privacy", "forget", "--phone", number]) == 0
    assert "1 conversations, 1 messages" in capsys.readouterr().out
    assert cli.main(["privacy", "export", "--phone", number]) == 0
    assert "nothing is stored about p" in capsys.readouterr().err
    # A number that is none, or no secret to find its pseudonym: one line, nothing done.
    assert cli.main(["privacy", "forget", "--phone", "010-7182"]) == 2
    assert "E.164" in capsys.readouterr().err
    for name in env:
        monkeypatch.delenv(name)
    assert cli.main(["privacy", "forget", "--phone", number]) == 2
    assert "ONDO_PHONE_KEY or TWILIO_AUTH_TOKEN" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # one of --user and --phone, not both
        cli.main(["privacy", "forget", "--user", "x", "--phone", number])
