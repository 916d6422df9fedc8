"""``store.save_thread_state`` / ``thread_state`` on both backends (revision 0005): one sealed
row per conversation, replaced, resealed, exported and deleted with the conversation."""

from __future__ import annotations

import json
import time

from bot.storage.crypto import PREFIX, FernetCipher, generate_key
from bot.storage.sql.store import SqlStore
from bot.types import Message
from tests.backends import Backend, raw

KEY = "email:thread-of-minji"
STATE = json.dumps({"subject": "환불 문의 — 민지", "message_id": "<a@mail.example.kr>"})


async def test_a_state_is_kept_replaced_and_read(any_store: SqlStore) -> None:
    assert await any_store.thread_state(KEY) is None
    await any_store.save_thread_state(KEY, STATE)
    assert await any_store.thread_state(KEY) == STATE
    newer = json.dumps({"subject": "Re: 환불 문의", "message_id": "<b@mail.example.kr>"})
    await any_store.save_thread_state(KEY, newer)
    assert await any_store.thread_state(KEY) == newer
    assert raw(any_store, "SELECT COUNT(*) FROM thread_states") == [(1,)]
    await any_store.save_thread_state("email:other", "{}")
    assert await any_store.thread_state("email:other") == "{}"
    assert await any_store.thread_state(KEY) == newer


async def test_concurrent_saves_keep_one_row(backend: Backend) -> None:
    import asyncio

    stores = [backend.open(), backend.open()]
    await asyncio.gather(
        *(s.save_thread_state(KEY, json.dumps({"n": n})) for n, s in enumerate(stores * 3))
    )
    assert raw(stores[0], "SELECT COUNT(*) FROM thread_states") == [(1,)]
    assert json.loads(await stores[1].thread_state(KEY) or "{}").keys() == {"n"}


async def test_the_state_is_sealed_at_rest_and_resealed(backend: Backend) -> None:
    store = backend.open(FernetCipher([generate_key()]))
    await store.save_thread_state(KEY, STATE)
    [(sealed,)] = raw(store, "SELECT state FROM thread_states")
    assert sealed.startswith(PREFIX) and "민지" not in sealed
    new = FernetCipher([generate_key()])
    assert await store.retention.reseal(new) >= 1
    [(resealed,)] = raw(store, "SELECT state FROM thread_states")
    assert resealed != sealed and new.open(resealed) == STATE
    assert await store.thread_state(KEY) == STATE


async def test_the_state_goes_with_its_conversation(any_store: SqlStore) -> None:
    user = "email:user-minji"
    await any_store.record_inbound(Message("email", KEY, user, "환불 문의", time.time(), "<a@x>"))
    await any_store.save_thread_state(KEY, STATE)
    exported = await any_store.retention.export_user(user)
    [conversation] = exported["conversations"]
    assert conversation["thread_state"] == STATE
    counts = await any_store.retention.forget_user(user)
    assert counts["conversations"] == 1
    assert await any_store.thread_state(KEY) is None
    # Purged by age with its conversation too.
    await any_store.record_inbound(Message("email", KEY, user, "again", time.time(), "<b@x>"))
    await any_store.save_thread_state(KEY, STATE)
    raw(any_store, "UPDATE conversations SET updated_at = 0")
    raw(any_store, "UPDATE messages SET created_at = 0")
    await any_store.retention.purge(24 * 3600.0)
    assert await any_store.thread_state(KEY) is None
