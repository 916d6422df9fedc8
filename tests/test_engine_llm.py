"""The whole engine replying through the real openai client and a fake server on loopback."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import pytest_asyncio

from bot.app import Runtime
from bot.responder.composer import ComposerResponder
from bot.responder.llm import LLMResponder
from tests.chat import Chat
from tests.fakes.openai_server import FakeOpenAI


@pytest_asyncio.fixture
async def llm_runtime(sample_runtime_factory: object) -> AsyncIterator[tuple[Runtime, FakeOpenAI]]:
    server = FakeOpenAI()
    base_url = await server.start()
    build = sample_runtime_factory
    assert callable(build)
    runtime: Runtime = build()
    responder = LLMResponder.from_settings(
        api_key="test-key", base_url=base_url, model="fake-model", fallback=ComposerResponder()
    )
    runtime.engine.responder = responder
    yield runtime, server
    await responder.aclose()
    await server.stop()


def _sent(server: FakeOpenAI) -> str:
    return json.dumps(server.requests, ensure_ascii=False)


async def test_personal_data_is_redacted_before_the_llm(
    llm_runtime: tuple[Runtime, FakeOpenAI],
) -> None:
    runtime, server = llm_runtime
    server.queue("환불은 주문 내역 페이지에서 신청하실 수 있어요.")
    chat = Chat(runtime.engine)
    outcome = await chat.say(
        "환불 요청하려면 어떻게 해야 하나요? 제 번호는 010-2345-6789, "
        "메일은 lee@example.com, 카드는 4111-1111-1111-1111 이에요"
    )
    assert outcome.reply is not None
    assert outcome.reply.text == "환불은 주문 내역 페이지에서 신청하실 수 있어요."
    sent = _sent(server)
    for secret in ("010-2345-6789", "lee@example.com", "4111-1111-1111-1111"):
        assert secret not in sent
    assert "[전화번호]" in sent and "[이메일]" in sent and "[카드번호]" in sent
    system = server.requests[0]["messages"][0]["content"]
    assert "refund-how-to" in system and "3~5" in system  # grounded in the retrieved entry
    assert re.search(r"Korean|한국어", system)


async def test_angry_english_message_gets_tone_instruction_and_history(
    llm_runtime: tuple[Runtime, FakeOpenAI],
) -> None:
    runtime, server = llm_runtime
    server.queue("You can track it from your order history.")
    server.queue("I'm sorry about the wait.")
    chat = Chat(runtime.engine)
    await chat.say("Where can I track my order?")
    await chat.say("It has been a week, this is frustrating. How long does shipping take?")
    second = server.requests[-1]["messages"]
    assert "apolog" in second[0]["content"].lower()
    roles = [m["role"] for m in second]
    assert roles[0] == "system" and roles[-1] == "user" and "assistant" in roles


async def test_llm_failure_falls_back_to_the_offline_answer(
    llm_runtime: tuple[Runtime, FakeOpenAI],
) -> None:
    runtime, server = llm_runtime
    for _ in range(4):
        server.queue_status(500)
    outcome = await Chat(runtime.engine).say("Where can I track my order?")
    assert outcome.action == "replied" and outcome.reply is not None
    assert "Order history" in outcome.reply.text  # the knowledge base's own answer


async def test_handoff_notice_never_depends_on_the_llm(
    llm_runtime: tuple[Runtime, FakeOpenAI],
) -> None:
    runtime, server = llm_runtime
    outcome = await Chat(runtime.engine).say("상담원 연결해 주세요")
    assert outcome.reply is not None and "상담원" in outcome.reply.text
    assert server.requests == []
