"""The offline composer: tone opener, the knowledge base's answer, closing or handoff notice."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import get_args

import pytest

from bot.responder.base import ReplyRequest
from bot.responder.composer import SUGGEST_MIN_SCORE, ComposerResponder, compose
from bot.texts import TEXTS
from bot.types import Emotion, EmotionLabel, EscalationReason, Language
from knowledge.entries import Entry
from knowledge.results import Match

LANGS: tuple[Language, ...] = ("ko", "en")
MOODS: tuple[EmotionLabel, ...] = get_args(EmotionLabel)
REASONS: tuple[EscalationReason, ...] = get_args(EscalationReason)
HANGUL = re.compile(r"[\uac00-\ud7a3]")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")

REFUND = Entry(
    id="refund-how",
    category="refund",
    questions={"ko": ("환불은 어떻게 하나요?",), "en": ("How do I get a refund?",)},
    answer={
        "ko": "주문 내역에서 '환불 신청'을 누르시면 됩니다. 카드는 3~5영업일 걸립니다.",
        "en": "Press 'Request refund' on the Order history page. Cards take 3–5 business days.",
    },
)
EN_ONLY = Entry(
    id="gift-wrap",
    category="promotion",
    questions={"en": ("Do you gift wrap?",)},
    answer={"en": "Gift wrapping costs 2,000 KRW per order."},
)
KO_ONLY = Entry(
    id="jeju-fee",
    category="shipping",
    questions={"ko": ("제주도 배송비는요?",)},
    answer={"ko": "제주·도서산간은 3,000원이 추가됩니다."},
)
POLICY_KO = Entry(
    id="운영#환불-승인-권한",
    category="policy",
    questions={"ko": ("환불 승인 권한",)},
    answer={"ko": "100,000원 이하는 상담원이 직접 승인합니다."},
    source="운영지침.md § 환불 승인 권한",
    kind="policy",
)
POLICY_EN = Entry(
    id="ops#refund-approval-limits",
    category="policy",
    questions={"en": ("Refund approval limits",)},
    answer={"en": "Agents may approve refunds of up to 100,000 KRW."},
    source="ops.md § Refund approval limits",
    kind="policy",
)


def request(
    language: Language,
    *,
    mood: EmotionLabel = "neutral",
    entry: Entry | None = REFUND,
    score: float = 0.9,
    answered: bool = True,
    handoff: bool = False,
    reason: EscalationReason | None = None,
    question: str | None = None,
) -> ReplyRequest:
    matches: tuple[Match, ...] = ()
    if entry is not None:
        shown = question or entry.all_questions()[0][1]
        matches = (Match(entry, score, shown),)
    return ReplyRequest(
        text="...",
        language=language,
        emotion=Emotion(mood, 0.8),
        matches=matches,
        answered=answered,
        handoff=handoff,
        escalation_reason=reason,
    )


def suggests(reply: str, language: Language) -> bool:
    """Whether ``reply`` contains a "did you mean" sentence."""
    return TEXTS["unsure.suggest"][language].split("{")[0] in reply


def other(language: Language) -> Language:
    return "en" if language == "ko" else "ko"


# --- opener and closing ----------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGS)
@pytest.mark.parametrize("mood", MOODS)
def test_opener_and_closing_per_emotion(language: Language, mood: EmotionLabel) -> None:
    lines = compose(request(language, mood=mood)).split("\n")
    answer = REFUND.answer[language]
    if mood == "neutral":
        assert lines == [answer, TEXTS["closing.neutral"][language]]
    else:
        assert lines == [
            TEXTS[f"opener.{mood}"][language],
            answer,
            TEXTS[f"closing.{mood}"][language],
        ]


@pytest.mark.parametrize(("language", "apology"), [("ko", "죄송합니다"), ("en", "sorry")])
def test_angry_customer_gets_an_apology_first(language: Language, apology: str) -> None:
    first = compose(request(language, mood="angry")).split("\n")[0]
    assert apology in first


@pytest.mark.parametrize("language", LANGS)
def test_neutral_has_no_opener(language: Language) -> None:
    reply = compose(request(language, mood="neutral", answered=False, entry=None))
    for mood in ("angry", "disappointed", "positive"):
        assert TEXTS[f"opener.{mood}"][language] not in reply
    assert reply == TEXTS["unsure"][language]


# --- answered --------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGS)
def test_answer_in_the_request_language_only(language: Language) -> None:
    reply = compose(request(language))
    assert REFUND.answer[language] in reply
    assert REFUND.answer[other(language)] not in reply
    assert TEXTS["unsure"][language] not in reply


@pytest.mark.parametrize(("language", "entry"), [("ko", EN_ONLY), ("en", KO_ONLY)])
def test_answer_falls_back_to_the_other_language(language: Language, entry: Entry) -> None:
    reply = compose(request(language, entry=entry))
    assert entry.answer[other(language)] in reply
    assert reply.endswith(TEXTS["closing.neutral"][language])


@pytest.mark.parametrize(("language", "entry"), [("ko", POLICY_KO), ("en", POLICY_EN)])
def test_policy_answer_cites_its_source(language: Language, entry: Entry) -> None:
    reply = compose(request(language, entry=entry))
    assert reply.split("\n") == [
        entry.answer[language],
        TEXTS["source"][language].format(source=entry.source),
        TEXTS["closing.neutral"][language],
    ]


@pytest.mark.parametrize("language", LANGS)
def test_faq_answer_has_no_source_line(language: Language) -> None:
    sourced = replace(REFUND, source="faq.yaml")
    reply = compose(request(language, entry=sourced))
    assert "faq.yaml" not in reply


# --- not answered ----------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGS)
@pytest.mark.parametrize("mood", MOODS)
def test_unsure_offers_a_person(language: Language, mood: EmotionLabel) -> None:
    reply = compose(request(language, mood=mood, answered=False, score=0.1))
    assert TEXTS["unsure"][language] in reply
    assert REFUND.answer[language] not in reply
    assert ("상담원" if language == "ko" else "person") in reply
    assert TEXTS[f"closing.{mood}"][language] not in reply
    assert not suggests(reply, language)


@pytest.mark.parametrize("language", LANGS)
@pytest.mark.parametrize(
    ("score", "suggested"),
    [(SUGGEST_MIN_SCORE - 0.01, False), (SUGGEST_MIN_SCORE, True), (0.49, True), (0.1, False)],
)
def test_did_you_mean_only_above_the_score_bar(
    language: Language, score: float, suggested: bool
) -> None:
    # The match shows an English question; a Korean customer still sees the Korean one.
    reply = compose(
        request(language, answered=False, score=score, question="How do I get a refund?")
    )
    suggestion = TEXTS["unsure.suggest"][language].format(question=REFUND.questions[language][0])
    assert (suggestion in reply) is suggested
    assert suggests(reply, language) is suggested
    assert reply.startswith(TEXTS["unsure"][language])


@pytest.mark.parametrize(("language", "entry"), [("ko", POLICY_KO), ("en", POLICY_EN)])
def test_policy_match_is_never_suggested(language: Language, entry: Entry) -> None:
    reply = compose(request(language, entry=entry, answered=False, score=0.49))
    assert reply == TEXTS["unsure"][language]


def test_suggestion_falls_back_to_the_matched_question() -> None:
    reply = compose(request("ko", entry=EN_ONLY, answered=False, score=0.4))
    assert '"Do you gift wrap?"' in reply


# --- handoff ---------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGS)
@pytest.mark.parametrize("reason", REASONS)
def test_handoff_notice_per_reason(language: Language, reason: EscalationReason) -> None:
    reply = compose(request(language, answered=False, handoff=True, reason=reason, score=0.4))
    notice = TEXTS[f"handoff.{reason}"][language]
    assert reply.endswith(notice)
    assert TEXTS["unsure"][language] not in reply
    assert not suggests(reply, language)
    for other_reason in REASONS:
        if other_reason != reason:
            assert TEXTS[f"handoff.{other_reason}"][language] not in reply
    if language == "ko":
        assert HANGUL.search(notice)
        assert "상담원" in notice


@pytest.mark.parametrize("language", LANGS)
def test_handoff_without_reason_says_a_person_is_coming(language: Language) -> None:
    reply = compose(request(language, answered=False, handoff=True, entry=None))
    assert reply == TEXTS["handoff.asked_for_human"][language]


@pytest.mark.parametrize("language", LANGS)
def test_answered_and_handed_off(language: Language) -> None:
    reply = compose(request(language, mood="angry", handoff=True, reason="angry"))
    assert reply.split("\n") == [
        TEXTS["opener.angry"][language],
        REFUND.answer[language],
        TEXTS["handoff.angry"][language],
    ]


# --- language purity -------------------------------------------------------------------------


KO_CASES = [
    {"mood": mood, "answered": answered, "handoff": handoff, "reason": reason, "entry": entry}
    for mood in MOODS
    for answered, handoff, reason in [
        (True, False, None),
        (False, False, None),
        *[(False, True, r) for r in REASONS],
        (True, True, "angry"),
    ]
    for entry in (REFUND, POLICY_KO, KO_ONLY, None)
]


@pytest.mark.parametrize("case", KO_CASES)
def test_no_english_sentence_in_a_korean_reply(case: dict[str, object]) -> None:
    reply = compose(request("ko", score=0.4, **case))  # type: ignore[arg-type]
    assert HANGUL.search(reply)
    assert not LATIN_WORD.search(reply.replace(".md", "")), reply


@pytest.mark.parametrize("language", LANGS)
async def test_responder_matches_compose(language: Language) -> None:
    req = request(language, mood="disappointed")
    assert await ComposerResponder().reply(req) == compose(req)
