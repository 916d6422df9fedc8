"""Customer text at rest: sealed with ONDO_ENCRYPTION_KEY, key rotation, the raw SQLite file
and PostgreSQL's columns."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import pytest

from bot import cli
from bot.corrections.loop import Corrections
from bot.storage.crypto import CipherError, FernetCipher, PlainCipher, cipher_for, generate_key
from bot.storage.records import StoreError
from bot.storage.sql.store import SqlStore
from bot.storage.sqlite import SQLiteStore
from bot.types import Message
from tests.backends import backend_for, raw

TEXTS = [
    "제 전화번호는 010-1234-5678 이고 환불 부탁드려요",
    "My card ending 4242 was charged twice",
]


def raw_bytes(db: Path) -> bytes:
    """The database file and its WAL, as an attacker with the disk would read them."""
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def message(text: str, message_id: str, user: str = "U1") -> Message:
    return Message("slack", f"slack:T:D:{user}", user, text, time.time(), message_id)


async def write_sensitive(store: SqlStore) -> None:
    """Customer messages, the bot's replies, an agent's note and a handoff summary."""
    for n, text in enumerate(TEXTS):
        inbound = await store.record_inbound(message(text, f"m{n}"))
        await store.record_reply(inbound.id, "slack:T:D:U1", "slack", f"답변 {text}")
    await store.record_outbound("slack:T:D:U1", "slack", "상담원 메모: 고객 김민지", "agent")
    await store.open_handoff(
        "slack:T:D:U1",
        reason="angry",
        summary="고객 요청: 환불 — Customer wants a refund",
        intent="refund",
        emotion="angry",
        language="ko",
    )


@pytest.mark.parametrize("text", TEXTS)
def test_fernet_round_trip_and_wrong_key(text: str) -> None:
    key = generate_key()
    cipher = FernetCipher([key])
    sealed = cipher.seal(text)
    assert sealed.startswith("enc1:") and text not in sealed
    assert cipher.open(sealed) == text
    assert cipher.open("written before the key") == "written before the key"
    with pytest.raises(CipherError, match="cannot be decrypted"):
        FernetCipher([generate_key()]).open(sealed)
    with pytest.raises(CipherError, match="ONDO_ENCRYPTION_KEY"):
        PlainCipher().open(sealed)
    # While rotating, the old key can stand second and still opens what it sealed.
    assert cipher_for(f"{generate_key()},{key}").open(sealed) == text


@pytest.mark.parametrize("key", ["not-a-key", "a" * 44, "키"])
def test_malformed_key_is_a_clear_error(key: str) -> None:
    with pytest.raises(CipherError, match="Fernet key"):
        cipher_for(key)


async def test_store_seals_messages_and_summaries(tmp_path: Path) -> None:
    key = generate_key()
    db = tmp_path / "sealed.db"
    store = SQLiteStore.open(db, cipher_for(key))
    await write_sensitive(store)
    history = await store.history("slack:T:D:U1", 10)
    assert [m.text for m in history][:2] == [TEXTS[0], f"답변 {TEXTS[0]}"]
    [handoff] = await store.open_handoffs()
    assert handoff.summary.startswith("고객 요청")
    raw = raw_bytes(db)
    for secret in [*TEXTS, "김민지", "고객 요청", "Customer wants"]:
        assert secret.encode() not in raw, secret
    store.close()

    with pytest.raises(StoreError, match="cannot be decrypted"):
        SQLiteStore.open(db, cipher_for(generate_key()))
    with pytest.raises(StoreError, match="set ONDO_ENCRYPTION_KEY"):
        SQLiteStore.open(db)
    reopened = SQLiteStore.open(db, cipher_for(key))
    assert (await reopened.history("slack:T:D:U1", 1))[0].text == "상담원 메모: 고객 김민지"
    reopened.close()


async def test_rotation_re_encrypts_every_row_and_plain_databases_get_sealed(
    tmp_path: Path,
) -> None:
    db = tmp_path / "plain.db"
    store = SQLiteStore.open(db)  # written before anyone set a key
    for n, text in enumerate(TEXTS):
        await store.record_inbound(message(text, f"m{n}"))
    [inbound] = [m for m in await store.history("slack:T:D:U1", 10) if m.text == TEXTS[0]]
    reply = await store.record_reply(inbound.id, "slack:T:D:U1", "slack", "답변입니다")
    assert reply is not None
    await Corrections(store).thumbs_down(reply)  # question + answer, no proposal (NULL)
    assert TEXTS[0].encode() in raw_bytes(db)
    first = generate_key()
    # 2 messages + the reply, the correction's question and bot answer.
    assert await store.retention.reseal(cipher_for(first)) == 5
    assert not any(t.encode() in raw_bytes(db) for t in TEXTS)
    second = generate_key()
    assert await store.retention.reseal(cipher_for(second)) == 5
    store.close()
    with pytest.raises(StoreError):
        SQLiteStore.open(db, cipher_for(first))
    rotated = SQLiteStore.open(db, cipher_for(second))
    assert [m.text for m in await rotated.history("slack:T:D:U1", 10)][:2] == TEXTS
    [queued] = await Corrections(rotated).pending()
    assert (queued.question, queued.bot_answer) == (TEXTS[0], "답변입니다")
    rotated.close()


@pytest.mark.parametrize("text", TEXTS)
def test_ondo_ask_stores_nothing_readable_and_keys_rotate(
    cli_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    text: str,
) -> None:
    key = generate_key()
    monkeypatch.setenv("ONDO_ENCRYPTION_KEY", key)
    assert cli.main(["ask", text]) == 0
    assert cli.main(["ask", "상담원 연결해 주세요 제 이메일은 minji@example.com"]) == 0
    raw = raw_bytes(cli_env)
    for secret in (text, "010-1234-5678", "minji@example.com", "상담원 연결해"):
        assert secret.encode() not in raw, secret
    capsys.readouterr()

    assert cli.main(["keys", "rotate"]) == 0
    out = capsys.readouterr()
    new_key = out.out.strip()
    assert new_key != key and "re-encrypted" in out.err
    assert cli.main(["ask", "hello"]) == 1  # the old key opens nothing now
    assert "cannot be decrypted" in capsys.readouterr().err
    monkeypatch.setenv("ONDO_ENCRYPTION_KEY", new_key)
    assert cli.main(["privacy", "export", "--user", "cli-user"]) == 0
    exported = capsys.readouterr().out
    assert text in exported and "minji@example.com" in exported


def test_keys_generate_prints_a_usable_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["keys", "generate"]) == 0
    key = capsys.readouterr().out.strip()
    assert cipher_for(key).open(cipher_for(key).seal("안녕")) == "안녕"


def test_no_key_warns_once_at_start(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("ONDO_ENCRYPTION_KEY", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO("환불 되나요?\nWhere is my order?\n"))
    with caplog.at_level("WARNING", logger="ondo"):
        assert cli.main(["ask", "-"]) == 0
    warnings = [r for r in caplog.records if "ONDO_ENCRYPTION_KEY is not set" in r.getMessage()]
    assert len(warnings) == 1


def test_kb_import_and_list_open_an_encrypted_database_with_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key = generate_key()
    db = tmp_path / "sealed.db"
    store = SQLiteStore.open(db, cipher_for(key))
    asyncio.run(store.record_inbound(message(TEXTS[0], "m1")))
    store.close()
    kb = tmp_path / "extra.csv"
    kb.write_text(
        "id,category,lang,question,answer\n"
        "gift-wrap,promotion,ko,선물 포장 되나요?,주문서에서 선물 포장을 선택하세요.\n"
        "gift-wrap,promotion,en,Do you offer gift wrapping?,Choose gift wrap at checkout.\n",
        encoding="utf-8",
    )
    monkeypatch.delenv("ONDO_KB", raising=False)
    monkeypatch.setenv("ONDO_DB", str(db))
    monkeypatch.setenv("ONDO_ENCRYPTION_KEY", key)
    assert cli.main(["kb", "import", str(kb)]) == 0
    assert "1 added" in capsys.readouterr().out
    assert cli.main(["kb", "list", "--category", "promotion"]) == 0
    assert "gift-wrap" in capsys.readouterr().out
    # Without the key both still refuse, in one line.
    monkeypatch.delenv("ONDO_ENCRYPTION_KEY")
    assert cli.main(["kb", "list"]) == 1
    assert "set ONDO_ENCRYPTION_KEY" in capsys.readouterr().err


async def test_no_plaintext_in_any_postgresql_column_when_a_key_is_set(tmp_path: Path) -> None:
    """Every text column of every table, read with a raw SELECT: no customer text in clear
    (messages, replies, agents' notes, summaries, corrections, the outbox); the wrong key or
    none is refused at open; rotation re-seals the outbox too."""
    key = generate_key()
    with backend_for("postgresql", tmp_path) as backend:
        store = backend.open(cipher_for(key))
        await write_sensitive(store)
        await store.outbox.put("discord", "relay", "discord:1:2", text="Customer: 김민지 환불")
        [(reply_id,)] = raw(store, "SELECT id FROM messages WHERE role = 'bot' ORDER BY id LIMIT 1")
        await Corrections(store).thumbs_down(reply_id)
        columns = raw(
            store,
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND data_type = 'text'",
        )
        stored = " ".join(
            str(value)
            for table, column in columns
            for (value,) in raw(store, f'SELECT "{column}" FROM {table}')
            if value is not None
        )
        for secret in [*TEXTS, "김민지", "고객 요청", "Customer wants", "답변"]:
            assert secret not in stored, secret
        assert (await store.history("slack:T:D:U1", 10))[0].text == TEXTS[0]
        store.close()

        with pytest.raises(StoreError, match="cannot be decrypted"):
            backend.open(cipher_for(generate_key()))
        with pytest.raises(StoreError, match="set ONDO_ENCRYPTION_KEY"):
            backend.open()
        rotated = backend.open(cipher_for(key))
        second = generate_key()
        # 2 messages, 2 replies, the note, the summary, the outbox row, the correction's two.
        assert await rotated.retention.reseal(cipher_for(second)) == 9
        rotated.close()
        again = backend.open(cipher_for(second))
        [queued] = await again.outbox.take(["discord"], None)
        assert queued.text == "Customer: 김민지 환불"
