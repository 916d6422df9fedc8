"""The handoff as agents get it, through the router: the LLM's summary and suggested reply
(real openai client, fake server) with their fallbacks, past resolutions, and Send's rules."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
import pytest_asyncio

from bot.app import Runtime
from bot.conversation.brief import Brief
from bot.conversation.drafting import DRAFT_TEXTS, draft_reply
from bot.conversation.engine import HandoffTicket
from bot.conversation.routing import MemoryCustomers, MemoryDesk, Router
from bot.conversation.suggestions import send_suggestion
from bot.conversation.summarizer import finish_ticket
from bot.responder.composer import ComposerResponder
from bot.responder.llm import LLMResponder
from bot.responder.prompts import LANGUAGE_NAMES
from bot.types import Emotion, Language, Message
from tests.fakes.openai_server import FakeOpenAI

ORDER = "ORD-20261120-0042"
PHONE = "010-2345-6789"
TURNS: dict[Language, tuple[str, str]] = {
    "ko": (
        f"주문번호 {ORDER} 배송이 아직 안 왔어요. 연락처는 {PHONE}예요",
        "일주일째 안 오는데 진짜 화나네요. 당장 환불해 주세요!",
    ),
    "en": (
        f"My order {ORDER} hasn't arrived yet. Call me at {PHONE}",
        "This is ridiculous, a whole week and still nothing. I'm furious, refund me now!",
    ),
}
PROSE: dict[Language, str] = {
    "ko": f"고객은 주문 {ORDER}의 환불을 원합니다. "
    "봇이 환불 확인 방법을 안내했지만 화가 나 있습니다.",
    "en": f"The customer wants a refund for order {ORDER}. The bot explained how to check it, "
    "but they are angry.",
}
REPLY: dict[Language, str] = {
    "ko": "고객님, 기다리시게 해서 죄송합니다. 환불 진행 상황을 지금 확인하고 있습니다.",
    "en": "I'm sorry for the wait. I'm checking where your refund is right now.",
}


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI()
    await fake.start()
    yield fake
    await fake.stop()


@pytest_asyncio.fixture
async def llm(server: FakeOpenAI) -> AsyncIterator[LLMResponder]:
    responder = LLMResponder.from_settings(
        api_key="test-key",
        base_url=server.base_url,
        model="fake-model",
        fallback=ComposerResponder(),
    )
    yield responder
    await responder.aclose()


def answering(language: Language, prose: str | None = None, reply: str | None = None) -> Any:
    """A fake-server answer: the prose to the summary request, the reply to the other."""

    def answer(body: Mapping[str, Any]) -> str:
        system = str(body["messages"][0]["content"])
        if "note a human" in system:
            return prose if prose is not None else PROSE[language]
        return reply if reply is not None else REPLY[language]

    return answer


def message(key: str, text: str, n: int) -> Message:
    return Message("discord", key, "u1", text, time.time(), f"{key}-{n}")


async def hand_over(
    runtime: Runtime, language: Language, *, agent_language: Language | None = None
) -> tuple[Router, MemoryDesk, MemoryCustomers, str]:
    """A Discord customer writes both turns of ``language``; agents sit at a memory desk."""
    router = Router(runtime.engine, handoff_channel="slack:C0AGENTS")
    desk = MemoryDesk("slack", agent_language=agent_language)
    customers = MemoryCustomers("discord")
    router.set_desk(desk)
    router.add_customer_side(customers)
    key = f"discord:g:c:{language}-{time.monotonic_ns()}"
    for n, text in enumerate(TURNS[language]):
        await router.customer_message(message(key, text, n))
    assert len(desk.tickets) == 1
    return router, desk, customers, key


async def offline_ticket(runtime: Runtime, language: Language) -> HandoffTicket:
    """The ticket the engine made (with its brief), before the router finished it."""
    router = Router(runtime.engine, handoff_channel="slack:C0AGENTS")
    key = f"discord:g:c:offline-{time.monotonic_ns()}"
    outcome = None
    for n, text in enumerate(TURNS[language]):
        outcome = await router.customer_message(message(key, text, n))
    assert outcome is not None and outcome.handoff is not None
    assert outcome.handoff.brief is not None
    return outcome.handoff


# --- the LLM's summary and reply -----------------------------------------------------------


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_llm_writes_the_prose_and_the_reply_from_redacted_text_only(
    runtime: Runtime, server: FakeOpenAI, llm: LLMResponder, language: Language
) -> None:
    ticket = await offline_ticket(runtime, language)
    server.set_faults(answer=answering(language))
    done = await finish_ticket(ticket, store=runtime.store, responder=llm)

    label = "요약" if language == "ko" else "Summary"
    assert f"{label}: {PROSE[language]}" in done.summary
    # The extractive facts and steps stay beside the prose.
    assert ORDER in done.summary and "refund-not-received" in done.summary
    assert "  1. " in done.summary
    assert done.suggestion == REPLY[language] and done.brief is None
    stored = await runtime.store.handoff_by_id(ticket.id)
    assert stored is not None and stored.summary == done.summary
    assert await runtime.store.suggestion_of(ticket.id) == REPLY[language]

    assert len(server.requests) == 2
    sent = json.dumps(server.requests, ensure_ascii=False)
    assert PHONE not in sent and ("[전화번호]" if language == "ko" else "[PHONE]") in sent
    for request in server.requests:
        system, user = request["messages"]
        assert system["role"] == "system" and LANGUAGE_NAMES[language] in system["content"]
        assert user["role"] == "user" and user["content"].startswith("<handoff>")
        assert TURNS[language][1] in user["content"] and ORDER in user["content"]
        assert TURNS[language][1] not in system["content"]  # customer text only as data


BAD_ANSWERS = {
    "a link": "Please log in at https://refund-help.example/login to continue.",
    "a phone number": "Call the customer back on 010-9999-8888 today.",
    "an invented order number": "The customer wants a refund for ORD-20260101-9999.",
    "a claimed refund": "We have refunded the customer already.",
    "the wrong language": None,
    "far too much": "word " * 400,
}


@pytest.mark.parametrize("bad", sorted(BAD_ANSWERS))
@pytest.mark.parametrize("language", ["ko", "en"])
async def test_unusable_answers_fall_back_to_the_offline_summary_and_draft(
    runtime: Runtime, server: FakeOpenAI, llm: LLMResponder, language: Language, bad: str
) -> None:
    ticket = await offline_ticket(runtime, language)
    text = BAD_ANSWERS[bad] or PROSE["en" if language == "ko" else "ko"]
    server.set_faults(answer=answering(language, text, text))
    done = await finish_ticket(ticket, store=runtime.store, responder=llm)
    assert done.summary == ticket.summary  # the extractive one
    assert done.suggestion == ticket.suggestion == draft_reply(ticket.brief)  # type: ignore[arg-type]
    assert len(server.requests) == 2


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_server_errors_and_slowness_fall_back_within_the_deadline(
    runtime: Runtime, server: FakeOpenAI, llm: LLMResponder, language: Language
) -> None:
    ticket = await offline_ticket(runtime, language)
    server.set_faults(error_rate=1.0, status=503)
    done = await finish_ticket(ticket, store=runtime.store, responder=llm)
    assert (done.summary, done.suggestion) == (ticket.summary, ticket.suggestion)

    server.set_faults(timeout_rate=1.0, stall=10.0, answer=answering(language))
    started = time.monotonic()
    done = await finish_ticket(ticket, store=runtime.store, responder=llm, deadline=0.5)
    assert time.monotonic() - started < 3.0
    assert (done.summary, done.suggestion) == (ticket.summary, ticket.suggestion)
    # Four failures in a row: the shared breaker is open, the next ticket does not ask.
    assert llm.breaker.is_open
    asked = len(server.requests)
    await finish_ticket(ticket, store=runtime.store, responder=llm)
    assert len(server.requests) == asked


async def test_the_customer_is_told_before_the_slow_summary_is_written(
    runtime: Runtime, server: FakeOpenAI, llm: LLMResponder
) -> None:
    runtime.engine.responder = llm
    customers = MemoryCustomers("discord")
    told_first: list[bool] = []

    class WatchingDesk(MemoryDesk):
        async def open_ticket(self, ticket: HandoffTicket) -> str | None:
            told_first.append(any(customers.senders[ticket.conversation_key].sent))
            return await super().open_ticket(ticket)

    router = Router(runtime.engine, handoff_channel="slack:C0AGENTS")
    router.set_desk(WatchingDesk("slack"))
    router.add_customer_side(customers)
    server.queue_delay(0.3, PROSE["ko"])
    server.queue_delay(0.3, REPLY["ko"])
    await router.customer_message(message("discord:g:c:slow", "상담원 연결해 주세요", 0))
    assert told_first == [True]
    [notice] = customers.senders["discord:g:c:slow"].sent
    assert "상담원" in notice.text


# --- the offline draft and the agents' line -------------------------------------------------


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_offline_draft_is_in_the_customers_language_with_the_answer(
    runtime: Runtime, language: Language
) -> None:
    _, desk, _, _ = await hand_over(runtime, language)
    [ticket] = desk.tickets
    draft = ticket.suggestion
    assert draft is not None
    for key in ("greeting", "closing"):
        assert DRAFT_TEXTS[key][language] in draft
    assert ORDER in draft and PHONE not in draft
    [entry] = [e for e in runtime.knowledge.entries if e.id == "refund-not-received"]
    assert entry.answer_in(language) in draft
    opener = "불편을 드려 정말 죄송합니다." if language == "ko" else "I'm really sorry"
    assert opener in draft  # the tone for an angry customer


def test_draft_without_an_entry_or_order_says_it_will_check() -> None:
    for language in ("ko", "en"):
        brief = Brief(language, "asked_for_human", "other", Emotion("neutral", 0.9), "", (), None)  # type: ignore[arg-type]
        draft = draft_reply(brief)
        assert draft.split("\n") == [
            DRAFT_TEXTS["greeting"][language],  # type: ignore[index]
            DRAFT_TEXTS["check"][language],  # type: ignore[index]
            DRAFT_TEXTS["closing"][language],  # type: ignore[index]
        ]


def test_draft_texts_exist_in_both_languages() -> None:
    for key, texts in DRAFT_TEXTS.items():
        assert set(texts) == {"ko", "en"}, key
        assert all(texts.values()), key


@pytest.mark.parametrize(("agents", "line"), [("en", "[EN] "), ("ko", "[KO] "), (None, None)])
async def test_agents_line_only_when_their_language_differs(
    runtime: Runtime, agents: Language | None, line: str | None
) -> None:
    for customer in ("ko", "en"):
        _, desk, _, _ = await hand_over(runtime, customer, agent_language=agents)  # type: ignore[arg-type]
        summary = desk.tickets[0].summary
        expected = line is not None and agents != customer
        assert (summary.splitlines()[-1].startswith(line or "-")) is expected
        if expected and agents == "en":
            assert "Reason: the customer is angry" in summary
            assert "Customer wants: " in summary and f"Order numbers: {ORDER}" in summary


# --- past handoffs ------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_summary_shows_how_similar_handoffs_were_resolved(
    runtime: Runtime, language: Language
) -> None:
    router, desk, _, key = await hand_over(runtime, language)
    ref = f"slack:ticket-{desk.tickets[0].id}"
    agent_text = "Refund re-run in the console; call back on 010-7777-8888 if needed."
    result = await router.agent_message(
        platform="slack", event_id="e1", thread_ref=ref, agent="U1", text=agent_text
    )
    assert result == "relayed"
    assert await router.resolve(key, "U1")

    _, later, _, _ = await hand_over(runtime, language)
    summary = later.tickets[0].summary
    title = (
        "비슷한 지난 상담의 처리 (refund):"
        if language == "ko"
        else ("How similar handoffs were resolved (refund):")
    )
    assert title in summary
    past = summary.split(title, 1)[1].splitlines()[1]
    assert f"#{desk.tickets[0].id}" in past and "Refund re-run in the console" in past
    assert "010-7777-8888" not in summary


# --- sending --------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_send_reaches_the_customer_once_and_only_while_the_handoff_is_open(
    runtime: Runtime, language: Language
) -> None:
    router, desk, customers, key = await hand_over(runtime, language)
    handoff_id = desk.tickets[0].id
    draft = desk.tickets[0].suggestion
    sender = customers.senders[key]
    told = len(sender.sent)

    first = await send_suggestion(router, platform="slack", handoff_id=handoff_id, agent="U1")
    assert first.result == "relayed" and first.text == draft
    again = await send_suggestion(router, platform="slack", handoff_id=handoff_id, agent="U1")
    edited = await send_suggestion(
        router, platform="slack", handoff_id=handoff_id, agent="U1", text="edited"
    )
    assert (again.result, edited.result) == ("duplicate", "duplicate")
    assert [r.text for r in sender.sent[told:]] == [draft]
    assert (await runtime.store.conversation(key, "discord")).state == "human"

    # Resolved, then handed over again: the old handoff's suggestion is not sent any more.
    assert await router.resolve(key, "U1")
    await router.customer_message(message(key, TURNS[language][1], 99))
    newer = await runtime.store.current_handoff(key)
    assert newer is not None and newer.id != handoff_id
    closed = await send_suggestion(router, platform="slack", handoff_id=handoff_id, agent="U1")
    assert closed.result == "closed"
    missing = await send_suggestion(router, platform="slack", handoff_id=9999, agent="U1")
    assert missing.result == "not_a_ticket"
