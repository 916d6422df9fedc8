"""How a message is read: NFKC before analysis, emoji on their own, no thanks for a request,
and a bound on what is stored (ko and en)."""

from __future__ import annotations

import pytest

from bot.app import Runtime
from bot.conversation.engine import MAX_STORED_CHARS, storable
from bot.texts import TEXTS
from bot.understanding.normalize import emoji_emotion, for_analysis, has_words
from tests.chat import Chat

THANKS = (TEXTS["opener.positive"]["ko"], TEXTS["opener.positive"]["en"])


@pytest.mark.parametrize(
    ("wide", "plain"),
    [
        ("ＲＥＦＵＮＤ　ｐｌｅａｓｅ", "REFUND please"),
        ("환불　신청은　어디서　해요？", "환불 신청은 어디서 해요?"),
    ],
)
async def test_full_width_text_is_read_like_plain_text(
    runtime: Runtime, wide: str, plain: str
) -> None:
    assert for_analysis("ＲＥＦＵＮＤ\u200b　ｐｌｅａｓｅ") == "REFUND please"
    read = await runtime.engine.analyze(wide)
    expected = await runtime.engine.analyze(plain)
    assert (read.intent, read.language, read.confidence) == (
        expected.intent,
        expected.language,
        expected.confidence,
    )
    assert [m.entry.id for m in read.matches] == [m.entry.id for m in expected.matches]


@pytest.mark.parametrize("text", ["😡🤬", "😡😡😡", "🤬🤬🤬!!!"])
async def test_angry_emoji_alone_are_anger_and_get_a_person(runtime: Runtime, text: str) -> None:
    outcome = await Chat(runtime.engine).say(text)
    assert outcome.analysis is not None
    assert outcome.analysis.emotion.label == "angry"
    assert outcome.analysis.matches == () and not outcome.analysis.answered
    assert outcome.handoff is not None and outcome.handoff.reason == "angry"


@pytest.mark.parametrize("text", ["👍", "🙂🙂", "😢", "🤔", "…", "!!!"])
async def test_emoji_only_messages_get_no_confident_answer(runtime: Runtime, text: str) -> None:
    outcome = await Chat(runtime.engine).say(text)
    assert outcome.analysis is not None
    assert not outcome.analysis.answered and outcome.analysis.confidence == 0.0
    assert outcome.reply is not None
    if text not in ("👍", "🙂🙂"):  # a thumbs-up may be thanked; nothing else is
        assert not any(outcome.reply.text.startswith(t) for t in THANKS)


def test_emoji_emotion_and_words() -> None:
    assert emoji_emotion("👍😡").label == "angry"
    assert emoji_emotion("😭").label == "disappointed"
    assert emoji_emotion("🎉").label == "positive"
    assert not has_words("😡🤬 !!") and has_words("환불😡") and has_words("refund")


NEUTRAL_REQUESTS = [
    "상담원 연결해 주세요",
    "사람이랑 얘기하고 싶어요",
    "배송 조회 좀 해주세요",
    "환불 어떻게 하나요?",
    "감사합니다 그런데 교환은 언제 되나요?",
    "I want to talk to a person",
    "Please connect me to an agent",
    "Can you help me track my order?",
    "Thanks! How do I change my address?",
    "Could you tell me the return fee?",
]


@pytest.mark.parametrize("text", NEUTRAL_REQUESTS)
async def test_requests_are_not_greeted_with_thanks(runtime: Runtime, text: str) -> None:
    outcome = await Chat(runtime.engine).say(text)
    assert outcome.reply is not None
    assert not any(t in outcome.reply.text for t in THANKS), outcome.reply.text


@pytest.mark.parametrize(
    "text", ["배송이 정말 빨라요, 감사합니다!", "You guys are awesome, thanks!"]
)
async def test_a_compliment_is_still_thanked(runtime: Runtime, text: str) -> None:
    outcome = await Chat(runtime.engine).say(text)
    assert outcome.reply is not None and outcome.analysis is not None
    if outcome.analysis.emotion.label == "positive":
        assert any(outcome.reply.text.startswith(t) for t in THANKS)


async def test_a_huge_message_is_stored_cut_with_a_note(runtime: Runtime) -> None:
    chat = Chat(runtime.engine)
    message = chat.message("환불 " * 30_000)
    kept = storable(message)
    assert len(kept.text) < MAX_STORED_CHARS + 40 and kept.text.endswith("characters cut]")
    outcome = await runtime.engine.handle(message, chat.sender)
    assert outcome.reply is not None
    [stored] = [m for m in await runtime.store.history(chat.key) if m.role == "customer"]
    assert len(stored.text) < MAX_STORED_CHARS + 40
