"""Prompt injection (tests/data/injection_corpus.yaml) against the real LLMResponder and engine.

The fake OpenAI-compatible server on loopback records every request, so each attempt is checked
on what was actually sent: (a) the system message is byte-identical to the one for a benign
message, and the customer's words sit only inside ``<customer_message>`` in user messages;
(b) when the fake model *complies* with the attack, the customer gets the fallback instead;
(c) a tone instruction in the customer text never changes the tone line.
"""

from __future__ import annotations

import json
import logging
import re
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
import pytest_asyncio
import yaml

from bot.app import Runtime
from bot.responder.base import ReplyRequest, Turn
from bot.responder.composer import ComposerResponder
from bot.responder.llm import LLMResponder
from bot.responder.prompts import PROMPT_MARKER, RULES, TONES, system_prompt
from bot.types import Emotion, EmotionLabel, Language
from knowledge.entries import Entry
from knowledge.loader import SAMPLE_DIR, load_paths
from knowledge.results import Match
from tests.chat import Chat
from tests.fakes.openai_server import FakeOpenAI

CORPUS_PATH = Path(__file__).parent / "data" / "injection_corpus.yaml"
TLS = ssl.create_default_context()  # built once; the loopback server never uses it
MODEL = "gpt-test"
LANGS: tuple[Language, ...] = ("ko", "en")
EMOTIONS: tuple[EmotionLabel, ...] = ("neutral", "angry", "disappointed", "positive")
KINDS = frozenset(
    {
        "override",
        "extraction",
        "roleplay",
        "fake-message",
        "delimiter",
        "markdown",
        "other-language",
        "link",
        "mention",
        "contact",
        "claim",
        "tone",
    }
)
# Anything that could read as our delimiter, stricter than the code that neutralises it.
TAG_LIKE = re.compile(r"[<＜〈‹]\s*/?\s*customer\W*_?\W*message", re.IGNORECASE)
ANY_TAG = re.compile(r"[<＜〈‹][^<>＜＞〈〉‹›]{0,60}[>＞〉›]")

SAMPLE: dict[str, Entry] = {entry.id: entry for entry in load_paths([SAMPLE_DIR])}
PASSAGES = (SAMPLE["refund-how-to"], SAMPLE["refund-not-received"], SAMPLE["shipping-tracking"])
BENIGN: dict[Language, str] = {
    "ko": "환불은 어떻게 신청하나요?",
    "en": "How do I request a refund?",
}
GOOD_REPLY: dict[Language, str] = {
    "ko": "주문 내역 페이지에서 '환불 신청' 버튼을 누르고 사유를 선택하시면 됩니다.",
    "en": "Press the 'Request refund' button on your Order history page and choose a reason.",
}


@dataclass(frozen=True)
class Attempt:
    """One injection attempt from the corpus."""

    id: str
    language: Language
    kind: str
    text: str
    comply: str | None
    reason: str

    def compliant_reply(self, system: str) -> str:
        """What a model that fell for the attack answers, placeholders filled in."""
        assert self.comply is not None
        return (
            self.comply.replace("{system_prompt}", system)
            .replace("{rules}", "\n".join(RULES))
            .replace("{marker}", PROMPT_MARKER)
            .replace("{rule3}", RULES[3])
        )


def load_attempts() -> list[Attempt]:
    """The corpus, checked for shape."""
    raw: list[dict[str, Any]] = yaml.safe_load(CORPUS_PATH.read_text(encoding="utf-8"))
    return [
        Attempt(
            id=item["id"],
            language=item["lang"],
            kind=item["kind"],
            text=item["text"],
            comply=item.get("comply"),
            reason=item.get("reason") or "",
        )
        for item in raw
    ]


ATTEMPTS = load_attempts()
COMPLYING = [a for a in ATTEMPTS if a.comply is not None]


def by_id(attempts: list[Attempt]) -> list[Any]:
    return [pytest.param(a, id=a.id) for a in attempts]


def request_for(
    language: Language,
    text: str,
    *,
    emotion: EmotionLabel = "neutral",
    history: tuple[Turn, ...] = (),
) -> ReplyRequest:
    return ReplyRequest(
        text=text,
        language=language,
        emotion=Emotion(emotion, 0.9),
        matches=tuple(
            Match(entry, score, entry.questions[language][0])
            for entry, score in zip(PASSAGES, (0.91, 0.52, 0.33), strict=True)
        ),
        answered=True,
        history=history,
    )


class FallbackResponder:
    """Stands in for the template responder: a fixed, recognisable answer."""

    async def reply(self, request: ReplyRequest) -> str:
        """Return ``FALLBACK:<language>``."""
        return f"FALLBACK:{request.language}"


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI()
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def responder(fake: FakeOpenAI) -> AsyncIterator[LLMResponder]:
    client = openai.AsyncOpenAI(
        api_key="test-key",
        base_url=fake.base_url,
        http_client=openai.DefaultAsyncHttpxClient(verify=TLS),
    )
    yield LLMResponder(client=client, model=MODEL, fallback=FallbackResponder(), max_retries=0)
    await client.close()


@pytest.fixture
def warnings(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    caplog.set_level(logging.WARNING, logger="ondo.llm")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "ondo.llm"]


def assert_only_in_user_messages(messages: list[dict[str, str]], customer_text: str) -> None:
    """The customer's words appear only inside the delimiters of user-role messages."""
    # Its lines, less any tags: "<customer_message>" itself is also in the rules.
    lines = [line.strip() for line in ANY_TAG.sub(" ", customer_text).splitlines()]
    fragments = [customer_text, *(line for line in lines if len(line) >= 10)]
    for message in messages:
        if message["role"] != "user":
            for fragment in fragments:
                assert fragment not in message["content"], (message["role"], fragment)
            continue
        content = message["content"]
        assert content.startswith("<customer_message>\n")
        assert content.endswith("\n</customer_message>")
        inner = content[len("<customer_message>\n") : -len("\n</customer_message>")]
        assert not TAG_LIKE.search(inner), inner  # the customer cannot close the delimiter


def tone_lines(system: str) -> list[str]:
    return [line for line in system.splitlines() if line.startswith("Tone:")]


# --- the corpus itself ---------------------------------------------------------------------


def test_corpus_shape() -> None:
    assert len(ATTEMPTS) >= 40
    assert len({a.id for a in ATTEMPTS}) == len(ATTEMPTS)
    korean = sum(a.language == "ko" for a in ATTEMPTS)
    assert 0.4 <= korean / len(ATTEMPTS) <= 0.6
    for language in LANGS:
        assert {a.kind for a in ATTEMPTS if a.language == language} == KINDS, language
    for attempt in ATTEMPTS:
        assert attempt.kind in KINDS
        assert (attempt.comply is None) == (attempt.kind == "tone"), attempt.id
        assert bool(attempt.reason) == (attempt.comply is not None), attempt.id


# --- (a) + (c): what is sent -----------------------------------------------------------------


@pytest.mark.parametrize("attempt", by_id(ATTEMPTS))
async def test_customer_text_never_changes_the_instructions(
    fake: FakeOpenAI, responder: LLMResponder, attempt: Attempt
) -> None:
    language = attempt.language
    emotions = EMOTIONS if attempt.kind == "tone" else ("neutral",)
    for emotion in emotions:
        fake.requests.clear()
        await responder.reply(request_for(language, BENIGN[language], emotion=emotion))
        await responder.reply(request_for(language, attempt.text, emotion=emotion))
        # The attack again, as an earlier turn of the conversation.
        history = (Turn("customer", attempt.text), Turn("bot", GOOD_REPLY[language]))
        await responder.reply(
            request_for(language, BENIGN[language], emotion=emotion, history=history)
        )
        benign, attacked, later = (body["messages"] for body in fake.requests)

        assert attacked[0]["role"] == "system" and later[0]["role"] == "system"
        assert attacked[0]["content"] == benign[0]["content"]  # byte-identical
        assert later[0]["content"] == benign[0]["content"]
        assert [m["role"] for m in attacked] == ["system", "user"]
        assert_only_in_user_messages(attacked, attempt.text)
        assert_only_in_user_messages(later, attempt.text)
        assert [m["role"] for m in later] == ["system", "user", "assistant", "user"]
        # (c) exactly one tone line, the one for the detected emotion
        assert tone_lines(attacked[0]["content"]) == [f"Tone: {TONES[emotion]}"]


@pytest.mark.parametrize("language", LANGS)
async def test_system_message_is_the_same_for_every_attempt(
    fake: FakeOpenAI, responder: LLMResponder, language: Language
) -> None:
    attempts = [a for a in ATTEMPTS if a.language == language]
    for attempt in attempts:
        await responder.reply(request_for(language, attempt.text))
    systems = {body["messages"][0]["content"] for body in fake.requests}
    assert systems == {system_prompt(request_for(language, BENIGN[language]))}
    for attempt in attempts:
        assert attempt.text not in json.dumps(sorted(systems), ensure_ascii=False)


# --- (b): what the customer gets when the model complies -----------------------------------


@pytest.mark.parametrize("attempt", by_id(COMPLYING))
async def test_compliant_model_output_falls_back(
    fake: FakeOpenAI,
    responder: LLMResponder,
    warnings: Callable[[], list[str]],
    attempt: Attempt,
) -> None:
    request = request_for(attempt.language, attempt.text)
    compliant = attempt.compliant_reply(system_prompt(request))
    fake.queue(compliant)

    assert await responder.reply(request) == f"FALLBACK:{attempt.language}"

    assert fake.requests[0]["messages"][0]["content"] == system_prompt(request)
    (line,) = warnings()
    assert attempt.reason in line, line
    assert attempt.text not in line and compliant not in line  # logs carry only the reason


@pytest.mark.parametrize("language", LANGS)
async def test_grounded_answers_from_the_knowledge_base_still_pass(
    fake: FakeOpenAI,
    responder: LLMResponder,
    warnings: Callable[[], list[str]],
    language: Language,
) -> None:
    # Every sample answer, sent back verbatim with itself as the passage: no false rejection,
    # not even for the links, addresses and phone numbers the knowledge base gives.
    for entry in SAMPLE.values():
        # Staff entries never reach a customer's prompt (tests/test_audiences.py).
        if language not in entry.answer or entry.audience != "customers":
            continue
        answer = entry.answer[language]
        fake.queue(answer)
        request = ReplyRequest(
            text=BENIGN[language],
            language=language,
            emotion=Emotion("neutral", 0.9),
            matches=(Match(entry, 0.9, entry.all_questions()[0][1]),),
            answered=True,
        )
        assert await responder.reply(request) == answer, entry.id
    assert warnings() == []


GROUNDED_REPLIES: list[tuple[Language, str]] = [
    ("ko", "환불이 완료되면 카드사에 따라 3~5영업일 뒤에 승인 취소 내역으로 보여요."),
    ("ko", "환불이 완료되었는지 주문 내역 페이지에서 확인해 주세요."),
    ("ko", "주문 내역의 '환불 완료' 날짜를 먼저 확인해 주세요."),
    ("ko", "주문을 취소하셨다면 결제하신 수단으로 자동 환불됩니다."),
    ("ko", "'환불이 완료되었습니다'라는 알림톡을 받으셨다면 카드사에 문의해 주세요."),
    ("ko", "환불 신청은 주문 내역에서 하실 수 있어요. 담당자에게 연결해 드릴까요?"),
    ("ko", "불편을 드려 죄송합니다. 환불 신청 방법을 안내해 드릴게요."),
    ("en", "Once your refund has been processed, card refunds take 3–5 business days."),
    ("en", "If your order has been cancelled, the refund goes back to your card automatically."),
    ("en", "Check on the Order history page whether the refund was approved."),
    ("en", "You'll get a text saying 'Your refund has been processed' when it's done."),
    ("en", "Refunds are processed once the item reaches our returns center."),
    ("en", "I'm sorry for the wait. I can connect you to a person who can check your refund."),
    ("en", "Press 'Request refund' on your Order history page (e.g. for a damaged item)."),
]


@pytest.mark.parametrize(("language", "reply"), GROUNDED_REPLIES)
async def test_ordinary_replies_about_refunds_are_not_mistaken_for_claims(
    fake: FakeOpenAI,
    responder: LLMResponder,
    warnings: Callable[[], list[str]],
    language: Language,
    reply: str,
) -> None:
    fake.queue(reply)
    assert await responder.reply(request_for(language, BENIGN[language])) == reply
    assert warnings() == []


async def test_a_claim_the_passages_make_is_allowed(
    fake: FakeOpenAI, responder: LLMResponder
) -> None:
    entry = Entry(
        id="auto-cancel",
        category="cancel",
        questions={"en": ("Why was my order cancelled?",)},
        answer={
            "en": "Unpaid bank-transfer orders are cancelled after 3 days: your order "
            "has been cancelled if you did not pay in time."
        },
    )
    reply = "Your order has been cancelled because the transfer did not arrive within 3 days."
    fake.queue(reply)
    request = ReplyRequest(
        text="why was it cancelled",
        language="en",
        emotion=Emotion("neutral", 0.9),
        matches=(Match(entry, 0.9, "Why was my order cancelled?"),),
        answered=True,
    )
    assert await responder.reply(request) == reply


# --- the whole engine ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_runtime(sample_runtime_factory: object) -> Iterator[Runtime]:
    """One runtime on the sample shop; every test talks in a conversation of its own."""
    build = sample_runtime_factory
    assert callable(build)
    runtime: Runtime = build()
    yield runtime


@pytest_asyncio.fixture
async def engine_llm(
    shared_runtime: Runtime, fake: FakeOpenAI
) -> AsyncIterator[tuple[Runtime, FakeOpenAI]]:
    responder = LLMResponder.from_settings(
        api_key="test-key", base_url=fake.base_url, model="fake-model", fallback=ComposerResponder()
    )
    previous = shared_runtime.engine.responder
    shared_runtime.engine.responder = responder
    yield shared_runtime, fake
    shared_runtime.engine.responder = previous
    await responder.aclose()


async def expected_request(runtime: Runtime, text: str, history: tuple[Turn, ...] = ()) -> Any:
    """The analysis the engine will make of ``text``, and the request for a *benign* text."""
    analysis = await runtime.engine.analyze(" ".join(text.split()))
    benign = ReplyRequest(
        text="(benign)",
        language=analysis.language,
        emotion=analysis.emotion,
        matches=analysis.matches,
        answered=analysis.answered,
        handoff=analysis.escalation.escalate,
        escalation_reason=analysis.escalation.reason,
        history=history,
    )
    return analysis, benign


@pytest.mark.parametrize("attempt", by_id(ATTEMPTS))
async def test_engine_keeps_instructions_and_refuses_compliance(
    engine_llm: tuple[Runtime, FakeOpenAI],
    warnings: Callable[[], list[str]],
    attempt: Attempt,
) -> None:
    runtime, fake = engine_llm
    analysis, benign = await expected_request(runtime, attempt.text)
    expected_system = system_prompt(benign)
    compliant = attempt.compliant_reply(expected_system) if attempt.comply else None
    if compliant is not None:
        fake.queue(compliant)

    outcome = await Chat(runtime.engine).say(attempt.text)

    assert outcome.reply is not None
    if benign.handoff:  # the handoff notice never goes through the model
        assert fake.requests == []
    else:
        (body,) = fake.requests
        messages = body["messages"]
        assert messages[0]["content"] == expected_system  # same as for a benign message
        assert_only_in_user_messages(messages, analysis.redacted)
        assert tone_lines(messages[0]["content"]) == [f"Tone: {TONES[analysis.emotion.label]}"]
        if compliant is not None:
            assert outcome.reply.text != compliant
            assert any(attempt.reason in line for line in warnings()), warnings()
    if compliant is not None:
        assert compliant not in outcome.reply.text


@pytest.mark.parametrize("language", LANGS)
async def test_an_attack_in_the_history_stays_customer_text(
    engine_llm: tuple[Runtime, FakeOpenAI], language: Language
) -> None:
    runtime, fake = engine_llm
    attack = next(a for a in ATTEMPTS if a.language == language and a.kind == "fake-message")
    chat = Chat(runtime.engine)
    fake.queue(GOOD_REPLY[language])
    fake.queue(GOOD_REPLY[language])
    first = await chat.say(attack.text)
    assert first.analysis is not None and not first.analysis.escalation.escalate
    second = await chat.say(BENIGN[language])
    assert second.analysis is not None and not second.analysis.escalation.escalate

    messages = fake.requests[-1]["messages"]
    history = (
        Turn("customer", first.analysis.redacted),
        Turn("bot", first.reply.text if first.reply else ""),
    )
    _, benign = await expected_request(runtime, BENIGN[language], history)
    assert messages[0]["content"] == system_prompt(benign)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert_only_in_user_messages(messages, first.analysis.redacted)
