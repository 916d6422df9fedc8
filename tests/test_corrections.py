"""The correction queue, approvals that change the knowledge, and the live swap (ko and en)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from bot.app import Runtime
from bot.conversation.engine import Engine
from bot.corrections import live as kb_live
from bot.corrections.loop import CorrectionError, Corrections, describe
from bot.settings import Settings, SettingsError, parse_admins
from bot.storage.crypto import PREFIX, FernetCipher, generate_key
from bot.storage.sqlite import SQLiteStore
from bot.types import Message
from knowledge.base import KnowledgeBase
from knowledge.embedders import Embedder
from knowledge.entries import Entry

RuntimeFactory = Callable[..., Runtime]

# A question the sample shop answers confidently from a wrong entry, and the right answer.
WRONG_MATCH = {
    "en": ("Can I pay with bitcoin?", "payment-methods", "We do not accept Bitcoin or any crypto."),
    "ko": ("기프트카드 판매하나요?", "payment-installment", "기프트카드는 판매하지 않습니다."),
}
# A question matched to the right entry whose answer changed.
STALE_ANSWER = {
    "en": ("Do you ship to Jeju island?", "shipping-jeju-islands", "Yes, for 5,000 KRW extra."),
    "ko": ("제주도도 배송되나요?", "shipping-jeju-islands", "네, 추가 배송비 5,000원이 붙습니다."),
}


def message(text: str, user: str = "U0CUSTOMER") -> Message:
    return Message(
        platform="cli",
        conversation_key=f"cli:test:{uuid.uuid4().hex}",
        user=user,
        text=text,
        timestamp=time.time(),
        message_id=uuid.uuid4().hex,
    )


async def answer(engine: Engine, text: str) -> tuple[int, str, str | None]:
    """``(reply id, reply text, entry answered from)`` for ``text`` in a fresh conversation."""
    outcome = await engine.handle(message(text))
    assert outcome.reply is not None and outcome.analysis is not None
    best = outcome.analysis.matches[0].entry.id if outcome.analysis.answered else None
    return int(outcome.reply.raw["reply_id"]), outcome.reply.text, best


# --- the queue -------------------------------------------------------------------------------


async def test_thumbs_down_queues_an_answer_once_and_an_agent_fills_it_in(
    runtime: Runtime,
) -> None:
    queue = Corrections(runtime.store)
    reply_id, text, entry = await answer(runtime.engine, "Can I pay with bitcoin?")
    first = await queue.thumbs_down(reply_id)
    assert first is not None and first.source == "rating" and first.proposed_answer is None
    assert first.question == "Can I pay with bitcoin?" and first.bot_answer == text
    assert first.entry_id == entry == "payment-methods" and first.language == "en"
    assert await queue.thumbs_down(reply_id) is None  # a second click queues nothing
    filled = await queue.mark_wrong(reply_id, "We do not accept crypto.", "slack:U0AGENT")
    assert filled.id == first.id and filled.proposed_answer == "We do not accept crypto."
    assert [c.id for c in await queue.pending()] == [first.id]
    rejected = await queue.reject(first.id, "slack:U0ADMIN")
    assert rejected.status == "rejected" and await queue.pending() == []
    assert await queue.thumbs_down(reply_id) is None  # still once per answer
    again = await queue.mark_wrong(reply_id, "No crypto, sorry.", "slack:U0AGENT")
    assert again.id != first.id and again.source == "agent"


async def test_only_bot_answers_can_be_marked(runtime: Runtime) -> None:
    queue = Corrections(runtime.store)
    outcome = await runtime.engine.handle(message("Can I pay with bitcoin?"))
    with pytest.raises(CorrectionError, match="not an answer of the bot"):
        await queue.mark_wrong(outcome.inbound_id, "x", "a")  # the customer's own message
    with pytest.raises(CorrectionError, match="empty"):
        await queue.mark_wrong(int(outcome.reply.raw["reply_id"]), "  ", "a")  # type: ignore[union-attr]
    assert await queue.thumbs_down(999_999) is None


async def test_decisions_are_once_and_a_bare_thumbs_down_needs_an_answer(
    runtime: Runtime,
) -> None:
    queue, entries = Corrections(runtime.store), runtime.knowledge.entries
    reply_id, _, _ = await answer(runtime.engine, "Can I pay with bitcoin?")
    correction = await queue.thumbs_down(reply_id)
    assert correction is not None
    assert "none yet" in describe(correction)[-1]
    with pytest.raises(CorrectionError, match="no proposed answer"):
        await queue.approve(correction.id, "cli:me", entries)
    change = await queue.approve(correction.id, "cli:me", entries, answer="No crypto.")
    assert change.action == "add" and change.new.answer == {"en": "No crypto."}
    with pytest.raises(CorrectionError, match="was approved by cli:me"):
        await queue.approve(correction.id, "cli:you", entries, answer="x")
    with pytest.raises(CorrectionError, match="was approved"):
        await queue.reject(correction.id, "cli:you")
    with pytest.raises(CorrectionError, match="no correction #42"):
        await queue.reject(42, "cli:me")


async def test_update_needs_the_entry_the_bot_answered_from(runtime: Runtime) -> None:
    queue = Corrections(runtime.store)
    outcome = await runtime.engine.handle(message("asdf qwerty zxcv?"))
    assert outcome.analysis is not None and not outcome.analysis.answered
    reply_id = int(outcome.reply.raw["reply_id"])  # type: ignore[union-attr]
    correction = await queue.mark_wrong(reply_id, "Please write to help@ondo.test.", "a")
    assert correction.entry_id is None
    with pytest.raises(CorrectionError, match="from no entry"):
        await queue.approve(correction.id, "b", runtime.knowledge.entries, mode="update")
    reply_id, _, _ = await answer(runtime.engine, "Do you ship to Jeju island?")
    stale = await queue.mark_wrong(reply_id, "Yes.", "a")
    others = [e for e in runtime.knowledge.entries if e.id != "shipping-jeju-islands"]
    with pytest.raises(CorrectionError, match="no longer in the knowledge base"):
        await queue.approve(stale.id, "b", others, mode="update")


# --- approving changes what the running bot answers -------------------------------------------


@pytest.mark.parametrize("language", ["en", "ko"])
async def test_approved_new_entry_is_answered_at_once_without_restart(
    runtime: Runtime, language: str
) -> None:
    question, wrong_entry, right = WRONG_MATCH[language]
    engine, queue = runtime.engine, Corrections(runtime.store)
    reply_id, before, entry = await answer(engine, question)
    assert entry == wrong_entry and right not in before
    correction = await queue.mark_wrong(reply_id, right, "slack:U0AGENT")
    change = await queue.approve(correction.id, "slack:U0ADMIN", runtime.knowledge.entries)
    assert change.action == "add" and change.entry_id == f"correction-{correction.id}"
    assert change.new.questions == {language: (question,)}
    assert change.new.category == "payment"  # the matched entry's category
    assert await kb_live.refresh(runtime.store, runtime.knowledge)
    _, after, entry = await answer(engine, question)  # the same engine, no restart
    assert entry == change.entry_id and right in after
    # The entry that was wrongly matched still answers its own questions.
    own = next(e for e in runtime.knowledge.entries if e.id == wrong_entry)
    _, _, still = await answer(engine, own.questions[language][0])
    assert still == wrong_entry
    assert not await kb_live.refresh(runtime.store, runtime.knowledge)  # nothing new


@pytest.mark.parametrize("language", ["en", "ko"])
async def test_update_replaces_the_answer_and_keeps_what_it_replaced(
    runtime: Runtime, language: str
) -> None:
    question, entry_id, right = STALE_ANSWER[language]
    engine, queue = runtime.engine, Corrections(runtime.store)
    old = next(e for e in runtime.knowledge.entries if e.id == entry_id)
    reply_id, before, entry = await answer(engine, question)
    assert entry == entry_id and before
    correction = await queue.mark_wrong(reply_id, right, "discord:202")
    change = await queue.approve(
        correction.id, "discord:200", runtime.knowledge.entries, mode="update"
    )
    assert change.action == "update" and change.old == old
    other = "ko" if language == "en" else "en"
    assert change.new.answer == {**old.answer, language: right}
    assert change.new.answer[other] == old.answer[other]
    assert question in change.new.questions[language]
    await kb_live.refresh(runtime.store, runtime.knowledge)
    _, after, entry = await answer(engine, question)
    assert entry == entry_id and right in after
    [recorded] = await queue.history(entry_id)
    assert (recorded.changed_by, recorded.correction_id) == ("discord:200", correction.id)
    assert recorded.old == old and recorded.new == change.new
    assert await queue.history("nothing-like-this") == []


async def test_approved_entry_survives_a_restart(
    sample_runtime_factory: RuntimeFactory, tmp_path: Path
) -> None:
    first = sample_runtime_factory(tmp_path / "ondo.db")
    question, _, right = WRONG_MATCH["en"]
    queue = Corrections(first.store)
    reply_id, _, _ = await answer(first.engine, question)
    correction = await queue.mark_wrong(reply_id, right, "a")
    change = await queue.approve(correction.id, "b", first.knowledge.entries)
    first.close()
    second = sample_runtime_factory(tmp_path / "ondo.db")
    assert change.new in second.knowledge.entries
    assert second.knowledge.version == await second.store.knowledge_version()
    _, after, entry = await answer(second.engine, question)
    assert entry == change.entry_id and right in after


async def test_a_change_made_through_another_handle_reaches_the_running_bot(
    runtime: Runtime,
) -> None:
    """``ondo kb review`` in another process: its own SQLiteStore on the same file."""
    question, _, right = WRONG_MATCH["ko"]
    reply_id, _, _ = await answer(runtime.engine, question)
    other = SQLiteStore.open(runtime.settings.db_path)
    try:
        queue = Corrections(other)
        correction = await queue.thumbs_down(reply_id)
        assert correction is not None
        await queue.approve(correction.id, "cli:me", runtime.knowledge.entries, answer=right)
    finally:
        other.close()
    rebuilt = asyncio.Event()
    loop = asyncio.get_running_loop()
    knowledge = runtime.knowledge
    real_sync = knowledge.sync

    def sync(version: object, extra: Callable[[], Sequence[Entry]]) -> bool:
        done = real_sync(version, extra)
        loop.call_soon_threadsafe(rebuilt.set)
        return done

    knowledge.sync = sync  # type: ignore[method-assign]
    stop = asyncio.Event()
    watcher = asyncio.create_task(kb_live.watch(runtime.store, knowledge, stop, interval=0.05))
    try:
        await asyncio.wait_for(rebuilt.wait(), 30)
    finally:
        stop.set()
        await asyncio.wait_for(watcher, 5)
    _, after, _ = await answer(runtime.engine, question)
    assert right in after


async def test_questions_enter_the_knowledge_base_redacted_and_are_stored_sealed(
    sample_runtime_factory: RuntimeFactory, tmp_path: Path
) -> None:
    key = generate_key()
    runtime = sample_runtime_factory(tmp_path / "sealed.db", encryption_key=key)
    assert isinstance(runtime.store.cipher, FernetCipher)
    queue = Corrections(runtime.store)
    question = "Can I pay with bitcoin? Call me at 010-1234-5678"
    reply_id, _, _ = await answer(runtime.engine, question)
    correction = await queue.mark_wrong(reply_id, "No crypto.", "a")
    raw = runtime.store._db.execute(
        "SELECT question, bot_answer, proposed_answer FROM corrections"
    ).fetchone()
    assert all(value.startswith(PREFIX) for value in raw), raw
    assert correction.question == question
    assert "010-1234-5678" not in correction.shown_question
    assert "010-1234-5678" not in "\n".join(describe(correction))
    change = await queue.approve(correction.id, "b", runtime.knowledge.entries)
    assert "010-1234-5678" not in change.new.questions["en"][0]


# --- the knowledge base's swap -----------------------------------------------------------------


def test_sync_rebuilds_once_per_version_and_keeps_the_old_index_on_failure(
    fake_embedders: Sequence[Embedder],
) -> None:
    faq = Entry("a", "refund", {"en": ("How do I get a refund?",)}, {"en": "Refund page."})
    knowledge = KnowledgeBase([faq], fake_embedders)
    added = Entry("b", "shipping", {"en": ("Where is my parcel?",)}, {"en": "Tracking page."})
    assert knowledge.sync(1, lambda: [added])
    assert [e.id for e in knowledge.entries] == ["a", "b"]
    assert not knowledge.sync(1, lambda: [])  # already built for version 1
    override = Entry("a", "refund", {"en": ("How do I get a refund?",)}, {"en": "New page."})
    assert knowledge.sync(2, lambda: [override])
    assert [e.answer["en"] for e in knowledge.entries] == ["New page."]  # files + stored only

    def broken() -> list[Entry]:
        raise RuntimeError("database gone")

    with pytest.raises(RuntimeError):
        knowledge.sync(3, broken)
    assert knowledge.version == 2
    assert knowledge.search_sync("refund").best is not None


def test_admins_setting() -> None:
    assert parse_admins(" slack:U1, discord:42;slack:U2 ") == {
        "slack:U1",
        "discord:42",
        "slack:U2",
    }
    assert Settings.from_env({"ONDO_ADMINS": "slack:U1"}, dotenv=None).admins == {"slack:U1"}
    assert Settings.from_env({}, dotenv=None).admins == frozenset()
    for bad in ("U1", "teams:U1", "discord:abc", "slack:"):
        with pytest.raises(SettingsError, match="ONDO_ADMINS"):
            parse_admins(bad)
