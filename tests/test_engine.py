"""Whole conversations through the real engine, sample shop and bundled models."""

from __future__ import annotations

import re

import pytest

from bot.app import Runtime
from bot.conversation.engine import MAX_TEXT_CHARS
from bot.conversation.handoff import InvalidTransition
from tests.chat import Chat

HANGUL = re.compile(r"[\uac00-\ud7a3]")


async def test_korean_refund_question_is_answered_in_korean(runtime: Runtime) -> None:
    chat = Chat(runtime.engine)
    outcome = await chat.say("환불 요청하려면 어떻게 해야 하나요?")
    assert outcome.action == "replied"
    assert outcome.analysis is not None
    assert outcome.analysis.matches[0].entry.id == "refund-how-to"
    assert outcome.analysis.intent == "refund"
    assert outcome.analysis.answered
    assert outcome.reply is not None
    assert "환불 신청" in outcome.reply.text and "3~5" in outcome.reply.text
    assert chat.sender.sent == [outcome.reply]
    assert await chat.state() == "bot"


async def test_english_tracking_question_is_answered_in_english(runtime: Runtime) -> None:
    chat = Chat(runtime.engine)
    outcome = await chat.say("Where can I track my order?")
    assert outcome.analysis is not None and outcome.reply is not None
    assert outcome.analysis.matches[0].entry.id == "shipping-tracking"
    assert outcome.analysis.language == "en"
    assert not HANGUL.search(outcome.reply.text)


@pytest.mark.parametrize(
    ("text", "opener"),
    [
        ("환불 언제 해주는데 진짜 장난하냐?? 짜증나 죽겠네!!!", "죄송합니다"),
        ("WHERE IS MY REFUND?! This is ridiculous, worst shop ever!!!", "sorry"),
    ],
)
async def test_angry_customer_is_handed_over_with_apology_and_summary(
    runtime: Runtime, text: str, opener: str
) -> None:
    chat = Chat(runtime.engine)
    outcome = await chat.say(text)
    assert outcome.analysis is not None and outcome.reply is not None
    assert outcome.analysis.emotion.label == "angry"
    assert outcome.analysis.escalation.reason == "angry"
    assert opener in outcome.reply.text
    assert outcome.handoff is not None
    assert outcome.handoff.intent == "refund"
    assert "refund" in outcome.handoff.summary
    if outcome.analysis.answered:  # the agent sees what the bot already told the customer
        answer = outcome.analysis.matches[0].entry.answer_in(outcome.analysis.language)
        assert answer[:20] in outcome.handoff.summary
    assert await chat.state() == "waiting_human"


async def test_handoff_agent_relay_and_return_to_bot_korean(runtime: Runtime) -> None:
    engine = runtime.engine
    chat = Chat(engine)
    first = await chat.say("상담원 연결해 주세요")
    assert first.analysis is not None and first.reply is not None
    assert first.analysis.escalation.reason == "asked_for_human"
    assert "상담원" in first.reply.text  # the customer is told a person is coming
    assert await chat.state() == "waiting_human"

    # While a person has the conversation the bot stays silent and relays.
    waiting = await chat.say("주문번호 ORD-20261127-0001 인데요, 제 번호는 010-1234-5678 이에요")
    assert waiting.action == "relayed" and waiting.reply is None
    assert waiting.relay_text is not None
    assert "010-1234-5678" not in waiting.relay_text and "[전화번호]" in waiting.relay_text
    assert "ORD-20261127-0001" in waiting.relay_text

    relayed = await engine.agent_message(chat.key, "agent-kim", "안녕하세요, 상담원 김입니다.")
    assert relayed.text == "안녕하세요, 상담원 김입니다."
    assert await chat.state() == "human"
    assert (await chat.say("네 감사합니다")).action == "relayed"

    notice = await engine.resolve(chat.key, "agent-kim")
    assert notice is not None and HANGUL.search(notice.text)
    assert await chat.state() == "bot"
    # Stale context is cleared: the next question starts fresh with the bot.
    after = await chat.say("배송 조회는 어디서 해요?")
    assert after.action == "replied"
    assert after.analysis is not None
    assert after.analysis.matches[0].entry.id == "shipping-tracking"
    assert len(chat.sender.sent) == 2  # the handoff notice and this answer only
    assert (await engine.store.conversation(chat.key, "test")).misses == 0


async def test_handoff_and_return_english(runtime: Runtime) -> None:
    engine = runtime.engine
    chat = Chat(engine)
    first = await chat.say("Can I talk to a real person please?")
    assert first.analysis is not None and first.reply is not None
    assert first.analysis.escalation.reason == "asked_for_human"
    assert "person" in first.reply.text
    assert first.handoff is not None and "Handoff request" in first.handoff.summary
    assert await engine.take_over(chat.key, "agent-lee")
    assert await chat.state() == "human"
    assert (await chat.say("Hello?")).action == "relayed"
    notice = await engine.resolve(chat.key, "agent-lee")
    assert notice is not None and "back" in notice.text
    handoff = await engine.store.current_handoff(chat.key)
    assert handoff is None  # resolved
    assert await engine.resolve(chat.key, "agent-lee") is None  # nothing left to resolve


async def test_agent_message_without_handoff_is_refused(runtime: Runtime) -> None:
    chat = Chat(runtime.engine)
    await chat.say("Where can I track my order?")
    with pytest.raises(InvalidTransition):
        await runtime.engine.agent_message(chat.key, "agent", "hi")


async def test_duplicate_delivery_never_yields_a_second_reply(runtime: Runtime) -> None:
    chat = Chat(runtime.engine)
    first = await chat.say("Where can I track my order?", message_id="slack-evt-1")
    second = await chat.say("Where can I track my order?", message_id="slack-evt-1")
    assert first.action == "replied"
    assert second.action == "duplicate"
    assert len(chat.sender.sent) == 1
    assert await runtime.store.count_replies(first.inbound_id) == 1


async def test_duplicate_across_restart(sample_runtime_factory: object, tmp_path: object) -> None:
    build = sample_runtime_factory
    assert callable(build)
    first_runtime = build()
    chat = Chat(first_runtime.engine)
    await chat.say("배송비 얼마예요?", message_id="discord-42")
    db = first_runtime.settings.db_path
    first_runtime.close()
    from pathlib import Path

    restarted = build(Path(db))
    again = Chat(restarted.engine, key=chat.key)
    outcome = await again.say("배송비 얼마예요?", message_id="discord-42")
    assert outcome.action == "duplicate"
    assert again.sender.sent == []


async def test_failed_send_is_not_lost_and_retry_answers_once(runtime: Runtime) -> None:
    chat = Chat(runtime.engine)
    chat.sender.fail_next = 1
    with pytest.raises(ConnectionError):
        await chat.say("How long does a refund take?", message_id="evt-9")
    retried = await chat.say("How long does a refund take?", message_id="evt-9")
    assert retried.action == "replied"
    assert len(chat.sender.sent) == 1
    assert await runtime.store.count_replies(retried.inbound_id) == 1


async def test_bot_does_not_talk_over_an_agent(runtime: Runtime) -> None:
    engine = runtime.engine
    chat = Chat(engine)
    await chat.say("I want to speak to an agent")
    await engine.agent_message(chat.key, "agent", "I'm here.")
    outcome = await chat.say("Where can I track my order?")
    assert outcome.action == "relayed"
    assert len(chat.sender.sent) == 1  # only the handoff notice


@pytest.mark.parametrize(
    ("first", "second", "language"),
    [
        ("양자역학의 불확정성 원리를 설명해줘", "비트코인 시세 전망 알려줘", "ko"),
        ("Explain the plot of Hamlet to me", "What's a good recipe for lasagna?", "en"),
    ],
)
async def test_two_misses_in_a_row_escalate_no_answer(
    runtime: Runtime, first: str, second: str, language: str
) -> None:
    chat = Chat(runtime.engine)
    one = await chat.say(first)
    assert one.analysis is not None and one.reply is not None
    assert not one.analysis.answered and not one.analysis.escalation.escalate
    assert one.analysis.intent == "other"
    assert one.analysis.language == language
    two = await chat.say(second)
    assert two.analysis is not None
    assert two.analysis.escalation.reason == "no_answer"
    assert two.handoff is not None


@pytest.mark.parametrize("yes", ["네", "yes please", "네, 연결해 주세요", "Yes, please."])
async def test_accepting_the_offer_of_a_person_hands_over(runtime: Runtime, yes: str) -> None:
    chat = Chat(runtime.engine)
    miss = await chat.say(
        "화성 여행 패키지 있나요?" if yes.startswith("네") else "Do you sell trips to Mars?"
    )
    assert miss.analysis is not None and not miss.analysis.answered
    accepted = await chat.say(yes)
    assert accepted.analysis is not None
    assert accepted.analysis.escalation.reason == "asked_for_human"


@pytest.mark.parametrize(
    "text", ["변호사 통해서 법적 조치 하겠습니다", "I'm filing a chargeback with my bank"]
)
async def test_sensitive_topics_escalate(runtime: Runtime, text: str) -> None:
    outcome = await Chat(runtime.engine).say(text)
    assert outcome.analysis is not None
    assert outcome.analysis.escalation.reason == "sensitive"


async def test_empty_message_gets_a_polite_reply(runtime: Runtime) -> None:
    chat = Chat(runtime.engine)
    outcome = await chat.say("   ")
    assert outcome.action == "replied" and outcome.reply is not None
    assert "empty" in outcome.reply.text
    assert outcome.analysis is not None and not outcome.analysis.escalation.escalate


async def test_huge_message_is_cut_and_answered(runtime: Runtime) -> None:
    chat = Chat(runtime.engine)
    text = "환불 요청하려면 어떻게 해야 하나요? " + "가" * (MAX_TEXT_CHARS * 3)
    outcome = await chat.say(text)
    assert outcome.action == "replied" and outcome.reply is not None
    assert "too_long" in outcome.notes
    assert "너무 길어" in outcome.reply.text


async def test_personal_data_never_reaches_the_summary(runtime: Runtime) -> None:
    chat = Chat(runtime.engine)
    await chat.say("제 이메일은 kim@example.com 이고 카드번호는 4111 1111 1111 1111 이에요")
    outcome = await chat.say("상담원 바꿔주세요. 전화번호 010-9876-5432 로 연락 주세요")
    assert outcome.handoff is not None
    summary = outcome.handoff.summary
    for secret in ("kim@example.com", "4111 1111 1111 1111", "010-9876-5432"):
        assert secret not in summary
    assert "[이메일]" in summary and "[전화번호]" in summary


@pytest.mark.parametrize(
    ("question", "outburst", "wants"),
    [
        ("Where can I track my order?", "I am furious, this is the third time!!", "Customer wants"),
        ("배송 조회는 어디서 하나요?", "진짜 화나네요 벌써 세 번째예요!!", "고객 요청"),
    ],
)
async def test_a_handoff_brief_does_not_guess_what_an_outburst_is_about(
    runtime: Runtime, question: str, outburst: str, wants: str
) -> None:
    chat = Chat(runtime.engine)
    await chat.say(question)
    outcome = await chat.say(outburst)
    assert outcome.handoff is not None and outcome.analysis is not None
    assert not outcome.analysis.answered
    summary = outcome.handoff.summary
    # The agent reads the customer's own words, not the question of a weakly matched entry,
    # and no steps of an entry the customer never asked about.
    assert f"{wants}: {outcome.analysis.redacted}" in summary
    assert "agent_steps" not in summary and "1. " not in summary


@pytest.mark.parametrize(
    ("with_identifier", "without"),
    [
        ("주문번호 ORD-20261127-0042 배송이 아직도 안 왔어요", "배송이 아직도 안 왔어요"),
        ("Order ORD-20261127-0042 still hasn't arrived", "My order still hasn't arrived"),
        ("제 번호는 010-1234-5678 이에요. 배송이 언제 오나요?", "배송이 언제 오나요?"),
        ("I'm at jamie@example.com, when will my parcel arrive?", "When will my parcel arrive?"),
    ],
)
async def test_identifiers_do_not_change_how_a_message_is_read(
    runtime: Runtime, with_identifier: str, without: str
) -> None:
    # An order number read as "positive" thanked a customer whose parcel was late; the
    # [전화번호] placeholder matched the phone-number FAQ.
    engine = runtime.engine
    a, b = await engine.analyze(with_identifier), await engine.analyze(without)
    assert a.emotion.label == b.emotion.label
    assert a.matches[0].entry.id == b.matches[0].entry.id
    assert a.answered == b.answered
