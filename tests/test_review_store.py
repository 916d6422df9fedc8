"""``store.reviews`` on both backends (revision 0004): once per message and per journey send,
sealed at rest, a window read, retention; and ``ondo insights reviews`` reading them."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from bot.storage.crypto import PREFIX, FernetCipher, generate_key
from bot.storage.records import ReviewPolarity
from bot.storage.sql.store import SqlStore
from bot.types import Message
from tests.backends import Backend, raw

NOW = 1_796_700_000.0
DAY = 24 * 3600.0


async def test_a_review_is_stored_once_per_message_and_once_per_send(any_store: SqlStore) -> None:
    reviews = any_store.reviews
    first = await reviews.record_review(
        "journey",
        "inbound:1",
        polarity="positive",
        text="정말 만족해요",
        customer_id="C-1",
        platform="slack",
        conversation_key="slack:dm:U1",
        send_id=7,
        language="ko",
        rating=5,
        at=NOW,
    )
    assert first is not None
    # The same message again (a redelivery, another replica): the same review, nothing new.
    again = await reviews.record_review(
        "journey", "inbound:1", polarity="negative", text="x", send_id=7, at=NOW + 1
    )
    assert again == first
    # Another message answering the same send: not stored.
    assert (
        await reviews.record_review("journey", "inbound:2", polarity="neutral", text="y", send_id=7)
        is None
    )
    # Another channel's review (no send): stored, channel-neutral.
    mail = await reviews.record_review(
        "email", "<abc@mail>", polarity="negative", text="Late again.", language="en", at=NOW + 2
    )
    assert mail is not None and mail != first
    stored = await reviews.reviews(NOW - 1, NOW + 10)
    assert [(r.source, r.ref, r.rating, r.polarity, r.text) for r in stored] == [
        ("journey", "inbound:1", 5, "positive", "정말 만족해요"),
        ("email", "<abc@mail>", None, "negative", "Late again."),
    ]
    assert stored[0].send_id == 7 and stored[0].customer_id == "C-1"
    assert stored[1].send_id is None and stored[1].conversation_key is None
    assert (await reviews.review_for_send(7)) == stored[0]
    assert await reviews.review_for_send(8) is None
    assert await reviews.reviews(NOW + 3, NOW + 10) == []  # the window: [since, until)
    assert len(await reviews.reviews(NOW, NOW + 2)) == 1


@pytest.mark.parametrize(
    "text", ["", "<b>bold</b> <@U1> `code`", "x" * 50_000, "a\x00b \ud800 c", "\u202e"]
)
async def test_hostile_values_are_stored_cleanly(any_store: SqlStore, text: str) -> None:
    weird: Any = "weird"  # what a careless caller might pass
    review_id = await any_store.reviews.record_review(
        "journey\x00", "inbound:\x001", polarity=weird, text=text, rating=9, language="x" * 99
    )
    assert review_id is not None
    [review] = await any_store.reviews.reviews(0, time.time() + 1)
    assert review.rating is None and review.polarity == "neutral"
    assert "\x00" not in review.text and "\x00" not in review.source
    assert len(review.text) < 4100 and (review.language or "") == "x" * 10
    if "<b>" in text:
        assert review.text == text


async def test_concurrent_records_of_one_message_store_one(backend: Backend) -> None:
    stores = [backend.open(), backend.open()]

    async def record(store: SqlStore) -> int | None:
        return await store.reviews.record_review(
            "journey", "inbound:5", polarity="positive", text="좋아요", send_id=1
        )

    ids = await asyncio.gather(*(record(s) for s in stores for _ in range(3)))
    assert len(set(ids)) == 1 and ids[0] is not None
    assert raw(stores[0], "SELECT COUNT(*) FROM reviews") == [(1,)]


async def test_review_text_is_sealed_at_rest_and_resealed(backend: Backend) -> None:
    key = generate_key()
    store = backend.open(FernetCipher([key]))
    await store.reviews.record_review("journey", "inbound:1", polarity="positive", text="민지 최고")
    [(sealed,)] = raw(store, "SELECT text FROM reviews")
    assert sealed.startswith(PREFIX) and "민지" not in sealed
    new = FernetCipher([generate_key()])
    assert await store.retention.reseal(new) >= 1
    [(resealed,)] = raw(store, "SELECT text FROM reviews")
    assert resealed != sealed and new.open(resealed) == "민지 최고"
    [review] = await store.reviews.reviews(0, time.time() + 1)
    assert review.text == "민지 최고"


async def test_retention_purges_and_forgets_reviews(any_store: SqlStore) -> None:
    old = time.time() - 100 * DAY
    reviews = any_store.reviews
    await reviews.record_review("journey", "r-old", polarity="neutral", text="old", at=old)
    await reviews.record_review("journey", "r-new", polarity="positive", text="new")
    counts = await any_store.retention.purge(30 * DAY)
    assert counts["reviews"] == 1
    assert [r.text for r in await reviews.reviews(0, time.time() + 1)] == ["new"]
    # A customer's rights: their reviews are exported and forgotten with them.
    await any_store.journeys.upsert_customer("C-9", language="ko", at=1.0)
    await any_store.journeys.link("C-9", "slack", "U9", at=1.0)
    key = "slack:dm:U9"
    await any_store.record_inbound(Message("slack", key, "U9", "hi", time.time(), "m1"))
    await reviews.record_review(
        "journey", "r-9", polarity="positive", text="최고", customer_id="C-9", conversation_key=key
    )
    await reviews.record_review("email", "r-9b", polarity="neutral", text="메일", customer_id="C-9")
    exported = await any_store.retention.export_user("U9")
    assert sorted(r["text"] for r in exported["reviews"]) == ["메일", "최고"]
    counts = await any_store.retention.forget_user("U9")
    assert counts["reviews"] == 2
    assert [r.text for r in await reviews.reviews(0, time.time() + 1)] == ["new"]
    await reviews.record_review("email", "r-9c", polarity="neutral", text="또", customer_id="C-9")
    assert (await any_store.retention.forget_customer("C-9"))["reviews"] == 1


async def test_forgetting_nobody_names_no_reviews(any_store: SqlStore) -> None:
    assert "reviews" not in await any_store.retention.forget_user("U-nobody")
    assert "reviews" not in await any_store.retention.export_user("U-nobody")


# --- ondo insights reviews ---------------------------------------------------------------

STORED: list[tuple[str, int | None, ReviewPolarity]] = [
    ("★★★★★ 정말 만족해요 최고예요", 5, "positive"),
    ("배송이 너무 늦었어요 실망이에요", None, "negative"),
    ("Love it, great quality!", None, "positive"),
    ("<script>alert(1)</script> 4/5 good", 4, "positive"),
]


async def _fill(store: SqlStore) -> None:
    for number, (text, rating, polarity) in enumerate(STORED):
        await store.reviews.record_review(
            "journey",
            f"inbound:{number}",
            polarity=polarity,
            text=text,
            rating=rating,
        )


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("ONDO_ENCRYPTION_KEY", "ONDO_AGENT_LANGUAGE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_the_command_reads_stored_reviews(
    backend: Backend,
    cli: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.cli import main

    store = backend.open()
    asyncio.run(_fill(store))
    store.close()
    monkeypatch.setenv("ONDO_DB", backend.target)
    assert main(["insights", "reviews", "--json", "--html", str(cli / "r.html")]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["count"] == len(STORED) and data["file"]["encoding"] == "database"
    assert "bundled sample" not in captured.err
    assert data["stars"]["count"] == 2
    page = (cli / "r.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in page
    assert main(["insights", "reviews", "--stored", "--since", "1h", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == len(STORED)


def test_without_stored_reviews_the_sample_is_shown_with_a_note(
    cli: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    monkeypatch.setenv("ONDO_DB", str(cli / "missing.db"))
    assert main(["insights", "reviews", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["count"] >= 150  # the bundled sample
    [note] = captured.err.splitlines()
    assert "no reviews are stored" in note and "sample" in note
    assert not (cli / "missing.db").exists()  # looking creates no database
    # Forced: a one-line error, no sample.
    assert main(["insights", "reviews", "--stored"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("ondo: error: no reviews are stored")
    assert not (cli / "missing.db").exists()
    # A FILE and --stored together: a one-line error.
    assert main(["insights", "reviews", "x.csv", "--stored"]) == 1
    assert capsys.readouterr().err.startswith("ondo: error: give a FILE")


def test_sealed_reviews_are_read_with_the_key(
    cli: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main
    from bot.storage.sqlite import SQLiteStore

    key = generate_key()
    store = SQLiteStore.open(cli / "ondo.db", FernetCipher([key]))
    asyncio.run(_fill(store))
    store.close()
    monkeypatch.setenv("ONDO_DB", str(cli / "ondo.db"))
    monkeypatch.setenv("ONDO_ENCRYPTION_KEY", key)
    assert main(["insights", "reviews"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{len(STORED)} ")


def test_revision_0004_makes_the_same_reviews_table_on_both_backends(tmp_path: Path) -> None:
    from bot.storage import schema
    from tests.backends import BACKENDS, backend_for

    assert int(schema.head()) >= 4
    shapes = []
    for name in BACKENDS:
        with backend_for(name, tmp_path) as backend:
            store = backend.open()
            if name == "sqlite":
                rows = [
                    (r[1], not r[3] and not r[5]) for r in raw(store, "PRAGMA table_info(reviews)")
                ]
            else:
                rows = [
                    (r[0], r[1] == "YES")
                    for r in raw(
                        store,
                        "SELECT column_name, is_nullable FROM information_schema.columns "
                        "WHERE table_schema = current_schema() AND table_name = 'reviews' "
                        "ORDER BY ordinal_position",
                    )
                ]
            shapes.append(rows)
            with pytest.raises(Exception):  # noqa: B017 - each driver has its own error
                raw(
                    store,
                    "INSERT INTO reviews (source, ref, polarity, text, rating, created_at) "
                    "VALUES ('journey', 'r', 'positive', 'x', 6, 0)",
                )
    assert shapes[0] == shapes[1]
    assert [c for c, _ in shapes[0]][:3] == ["id", "source", "ref"]
