"""The handoff summary: labels in the customer's language, only what was given, clipped."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.conversation.brief import Brief, Line, render_summary
from bot.conversation.facts import Facts, Shift, emotion_path, extract_facts
from bot.types import Emotion, EscalationReason, Language
from knowledge.entries import Entry

REFUND = Entry(
    id="refund-how",
    category="refund",
    questions={"ko": ("환불은 어떻게 하나요?",), "en": ("How do I get a refund?",)},
    answer={"ko": "환불 신청을 눌러 주세요.", "en": "Press Request refund."},
    agent_steps=("Look up the order.", "Create the refund in the admin console."),
)
KO_HISTORY = (
    Line("customer", "배송이 아직 안 왔어요", "disappointed"),
    Line("bot", "조회해 보니 출고가 지연되고 있어요."),
    Line("customer", "환불해 주세요 진짜 짜증나네", "angry"),
)
EN_HISTORY = (
    Line("customer", "My parcel hasn't arrived", "disappointed"),
    Line("bot", "It looks like the shipment is delayed."),
    Line("agent", "Hi, I'm checking this now."),
    Line("customer", "Just refund me, this is ridiculous", "angry"),
)


def summary(
    language: Language = "ko",
    *,
    reason: EscalationReason = "angry",
    history: tuple[Line, ...] = KO_HISTORY,
    entry: Entry | None = REFUND,
    wants: str = "환불해 주세요",
    **kw: int,
) -> str:
    brief = Brief(language, reason, "refund", Emotion("angry", 0.914), wants, history, entry)
    return render_summary(brief, **kw)


def test_korean_summary_exactly() -> None:
    assert summary("ko").split("\n") == [
        "[상담원 연결 요청] 사유: 고객이 화가 났어요",
        "고객 요청: 환불해 주세요",
        "의도: refund · 감정: angry (0.91)",
        "감정 변화: disappointed → angry (2번째 메시지)",
        "봇의 마지막 답변: 조회해 보니 출고가 지연되고 있어요.",
        "최근 메시지:",
        "  - 고객: 배송이 아직 안 왔어요",
        "  - 봇: 조회해 보니 출고가 지연되고 있어요.",
        "  - 고객: 환불해 주세요 진짜 짜증나네",
        "권장 처리 단계 (refund-how):",
        "  1. Look up the order.",
        "  2. Create the refund in the admin console.",
    ]


def test_english_summary_exactly() -> None:
    text = summary("en", reason="asked_for_human", history=EN_HISTORY, wants="Refund me")
    assert text.split("\n") == [
        "[Handoff request] Reason: the customer asked for a person",
        "Customer wants: Refund me",
        "Intent: refund · Emotion: angry (0.91)",
        "Emotion over the conversation: disappointed → angry (message 2)",
        "Bot's last answer: It looks like the shipment is delayed.",
        "Recent messages:",
        "  - customer: My parcel hasn't arrived",
        "  - bot: It looks like the shipment is delayed.",
        "  - agent: Hi, I'm checking this now.",
        "  - customer: Just refund me, this is ridiculous",
        "Suggested steps (refund-how):",
        "  1. Look up the order.",
        "  2. Create the refund in the admin console.",
    ]


@pytest.mark.parametrize(
    ("language", "reason", "expected"),
    [
        ("ko", "angry", "고객이 화가 났어요"),
        ("ko", "asked_for_human", "고객이 상담원을 요청했어요"),
        ("ko", "no_answer", "봇이 연속으로 답하지 못했어요"),
        ("ko", "sensitive", "민감한 사안(법적 조치·신고·지급정지 등)"),
        ("en", "angry", "the customer is angry"),
        ("en", "asked_for_human", "the customer asked for a person"),
        ("en", "no_answer", "the bot could not answer twice in a row"),
        ("en", "sensitive", "a sensitive matter (legal, regulator, chargeback)"),
    ],
)
def test_reason_text(language: Language, reason: EscalationReason, expected: str) -> None:
    first = summary(language, reason=reason).split("\n")[0]
    label = "사유" if language == "ko" else "Reason"
    assert first.endswith(f"{label}: {expected}")


@pytest.mark.parametrize(
    ("language", "trend_label"), [("ko", "감정 변화"), ("en", "Emotion over the conversation")]
)
def test_trend_needs_two_customer_emotions(language: Language, trend_label: str) -> None:
    one = (Line("customer", "환불", "angry"), Line("bot", "네"), Line("customer", "빨리", None))
    assert trend_label not in summary(language, history=one)
    three = (*one, Line("customer", "왜", "neutral"), Line("agent", "확인 중", "angry"))
    turn = "3번째 메시지" if language == "ko" else "message 3"
    assert f"{trend_label}: angry → neutral ({turn})\n" in summary(language, history=three)
    steady = (Line("customer", "a", "neutral"), Line("customer", "b", "neutral"))
    assert trend_label not in summary(language, history=steady)  # no change, no noise


@pytest.mark.parametrize(
    ("language", "none"), [("ko", "봇의 마지막 답변: 없음"), ("en", "Bot's last answer: none")]
)
def test_no_bot_answer_yet(language: Language, none: str) -> None:
    assert none in summary(language, history=(Line("customer", "상담원 연결해 주세요", "neutral"),))


@pytest.mark.parametrize("language", ["ko", "en"])
def test_recent_messages_are_limited_and_clipped(language: Language) -> None:
    long_ko = "환불 " * 100  # 300 characters
    history = (
        *(Line("customer", f"메시지 {i}", "neutral") for i in range(10)),
        Line("customer", long_ko, "angry"),
    )
    text = summary(language, history=history, max_recent=3)
    recent = [line for line in text.split("\n") if line.startswith("  - ")]
    assert len(recent) == 3
    assert recent[0].endswith("메시지 8")
    assert recent[1].endswith("메시지 9")
    clipped = recent[2].split(": ", 1)[1]
    assert len(clipped) == 160
    assert clipped.endswith("…")
    assert clipped == ("환불 " * 100).strip()[:159] + "…"
    assert "메시지 7" not in text


@pytest.mark.parametrize("language", ["ko", "en"])
def test_wants_is_clipped_and_flattened(language: Language) -> None:
    wants = "refund\n\nplease   now " + "x" * 300
    line = summary(language, wants=wants).split("\n")[1]
    value = line.split(": ", 1)[1]
    assert value.startswith("refund please now x")
    assert len(value) == 200
    assert value.endswith("…")


@pytest.mark.parametrize("language", ["ko", "en"])
def test_no_steps_section_without_steps(language: Language) -> None:
    no_steps = Entry(REFUND.id, REFUND.category, REFUND.questions, REFUND.answer)
    for entry in (None, no_steps):
        text = summary(language, entry=entry)
        assert "refund-how" not in text
        assert "  1. " not in text


@pytest.mark.parametrize("language", ["ko", "en"])
def test_unknown_role_is_shown_as_is(language: Language) -> None:
    text = summary(language, history=(Line("system", "handoff opened"),))
    assert "  - system: handoff opened" in text


def test_nothing_beyond_what_was_given() -> None:
    # Neither answers, questions nor the entry's category leak into the summary.
    text = summary("ko") + summary("en", history=EN_HISTORY)
    for leaked in (*REFUND.answer.values(), *REFUND.questions["ko"], *REFUND.questions["en"]):
        assert leaked not in text


# --- facts, the emotion over the conversation, the LLM's prose, the agents' line -----------


@pytest.mark.parametrize(
    ("text", "orders", "amounts", "dates"),
    [
        (
            "주문번호 20261127123456, ORD-20261120-0042 두 건이요. 3만 5천원, 12,000원 결제. "
            "11월 20일에 주문, 연락처 010-1234-5678",
            ("20261127123456", "ORD-20261120-0042"),
            ("3만 5천원", "12,000원"),
            ("11월 20일",),
        ),
        (
            "Order ORD-20261120-0042 cost $45.99 (plus 20 dollars shipping) on Nov 20th, "
            "delivered 2026-11-25. Phone 010-1234-5678",
            ("ORD-20261120-0042",),
            ("$45.99", "20 dollars"),
            ("Nov 20th", "2026-11-25"),
        ),
    ],
)
def test_facts_are_found_once_in_order(
    text: str, orders: tuple[str, ...], amounts: tuple[str, ...], dates: tuple[str, ...]
) -> None:
    facts = extract_facts([text, text])  # twice: each fact once
    assert (facts.order_numbers, facts.amounts, facts.dates) == (orders, amounts, dates)
    assert "010-1234-5678" not in str(facts)
    assert extract_facts(["안녕하세요", "hello there, version 1.2"]) == Facts()


def test_emotion_path_keeps_only_the_changes_with_their_turns() -> None:
    path = emotion_path(["neutral", None, "neutral", "disappointed", "angry", "angry"])
    assert path == (Shift("neutral", 1), Shift("disappointed", 4), Shift("angry", 5))
    assert emotion_path([None, None]) == ()


def _brief(language: Language, **changes: object) -> Brief:
    brief = Brief(
        language,
        "angry",
        "refund",
        Emotion("angry", 0.9),
        "환불해 주세요" if language == "ko" else "Refund me",
        KO_HISTORY if language == "ko" else EN_HISTORY,
        REFUND,
        facts=Facts(("ORD-20261120-0042",), ("35,000원",), ("11월 20일",)),
        path=(Shift("neutral", 1), Shift("angry", 3)),
        answered_entries=("shipping-delayed",),
    )
    return replace(brief, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "ko",
            [
                "[상담원 연결 요청] 사유: 고객이 화가 났어요",
                "요약: 고객은 환불을 원하고 화가 나 있습니다.",
                "의도: refund · 감정: angry (0.90)",
                "감정 변화: neutral → angry (3번째 메시지)",
                "주문번호: ORD-20261120-0042",
                "금액: 35,000원 · 날짜: 11월 20일",
                "봇이 이미 안내한 답변: shipping-delayed",
                "권장 처리 단계 (refund-how):",
                "  1. Look up the order.",
                "  2. Create the refund in the admin console.",
            ],
        ),
        (
            "en",
            [
                "[Handoff request] Reason: the customer is angry",
                "Summary: The customer wants a refund and is angry.",
                "Intent: refund · Emotion: angry (0.90)",
                "Emotion over the conversation: neutral → angry (message 3)",
                "Order numbers: ORD-20261120-0042",
                "Amounts: 35,000원 · Dates: 11월 20일",
                "Bot already answered from: shipping-delayed",
                "Suggested steps (refund-how):",
                "  1. Look up the order.",
                "  2. Create the refund in the admin console.",
            ],
        ),
    ],
)
def test_prose_replaces_the_messages_and_keeps_facts_and_steps(
    language: Language, expected: list[str]
) -> None:
    prose = expected[1].split(": ", 1)[1]
    assert render_summary(_brief(language), prose=prose).split("\n") == expected


def test_agents_line_in_the_other_language() -> None:
    text = render_summary(_brief("ko"), agent_language="en")
    assert text.split("\n")[-1] == (
        "[EN] Reason: the customer is angry · Customer wants: How do I get a refund? "
        "(refund-how) · Intent: refund · Emotion: neutral → angry · "
        "Order numbers: ORD-20261120-0042"
    )
    no_entry = render_summary(_brief("en", entry=None), agent_language="ko").split("\n")[-1]
    assert no_entry.startswith(
        "[KO] 사유: 고객이 화가 났어요 · 고객 요청: 고객의 말은 위 원문 참고"
    )
    assert render_summary(_brief("ko"), agent_language="ko") == render_summary(_brief("ko"))


@pytest.mark.parametrize(
    ("language", "said", "files"),
    [
        (
            "ko",
            "사진 보냈는데 아직 답이 없어요. " * 20,
            "📎 첨부 파일 2개(메일함에 있고 열어 보지 않음): photo.png (이미지, 9 KB), "
            "영수증.pdf (PDF, 37 KB)",
        ),
        (
            "en",
            "I sent photos and still no answer. " * 20,
            "📎 2 attachment(s), left unopened in the mailbox: photo.png (image, 9 KB), "
            "receipt.pdf (PDF, 37 KB)",
        ),
    ],
)
def test_files_are_a_line_of_their_own_however_long_the_text(
    language: Language, said: str, files: str
) -> None:
    """A long mail's text is cut in the ticket; the files that came with it still show."""
    text = f"{said}\n\n{files}"
    facts = extract_facts([text, text])
    assert facts.files == (files,)
    history = (Line("customer", text, "angry"),)
    shown = render_summary(_brief(language, wants=text, history=history, facts=facts))
    lines = shown.splitlines()
    assert lines.count(files) == 1
    assert all("📎" not in line for line in lines if line != files)
    assert extract_facts(["no files here"]).files == ()
