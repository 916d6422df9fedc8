"""asks_for_human, is_sensitive and decide: who hands the conversation to a person, and why."""

from __future__ import annotations

import pytest

from bot.conversation.escalation import NO_ANSWER_LIMIT, asks_for_human, decide, is_sensitive
from bot.types import Emotion, Escalation, EscalationReason, Language
from bot.understanding.emotion import ANGER_THRESHOLD, CueEmotionDetector

HUMAN_REQUESTS = [
    # English
    "let me talk to a human",
    "Can I speak to a real person please?",
    "I want to talk to an agent",
    "Connect me to a representative",
    "transfer me to your manager",
    "I need to speak with someone",
    "agent please",
    "Human!",
    "AGENT",
    "I want a human",
    "Can I get a live agent?",
    "I don't want to talk to a bot",
    "Can someone call me back?",
    "Could someone from your team call me back?",
    "Could you call me when you're free?",
    "Can you call me when a manager is available?",
    "Can I speak to someone real please",
    "Can I talk to somebody in charge?",
    "Get me a manager. Now.",
    "I need your supervisor",
    # Korean
    "상담원 연결해주세요",
    "상담원 연결",
    "사람이랑 얘기하고 싶어요",
    "직원 바꿔",
    "상담사",
    "상담사랑 통화하고 싶어요",
    "매니저 불러",
    "책임자 나오라고 하세요",
    "전화 상담 원해요",
    "전화 주세요",
    "챗봇 말고 사람이요",
    "실제 사람이랑 대화하고 싶어요",
    "담당자 연결 부탁드립니다",
]

NOT_HUMAN_REQUESTS = [
    "Does a human check my return?",
    "Is my return checked by a real person?",
    "I need a person to sign for the package",
    "I don't need to talk to an agent, thanks",
    "I talked to an agent yesterday",
    "Who is the agent handling my case?",
    "Where can I track my order?",
    "Could you call me when it's back in stock?",  # a product question, not a person
    "Can you call me once my order ships?",
    "Could you call me as soon as the blue one is available?",
    "I need the manager's email address for an invoice",
    "상담사가 안내해준 대로 했는데 안 돼요",
    "상담원 연결은 필요 없어요",
    "담당자한테 얘기했는데 답이 없어요",
    "전화 상담 시간이 어떻게 되나요?",
    "사람이 많아서 배송이 늦나요?",
    "환불 요청하려면 어떻게 해야 하나요?",
    "직원분이 친절하셨어요",
]

SENSITIVE = [
    # English
    "I'm going to sue you",
    "I'LL SUE YOU",
    "I'll contact my lawyer",
    "My attorney will hear about this",
    "I'm considering legal action",
    "I'll file a chargeback",
    "I'm disputing this charge with my bank",
    "I will open a dispute with PayPal",
    "I'm calling the police",
    "I will report this fraud",
    "reporting you to the BBB",
    "See you in small claims court",
    "I'll report you to the FTC",
    "I'm telling a journalist about this",
    "I reported you guys to the consumer protection agency.",
    "I'm reporting your store to the BBB",
    # Korean
    "한국소비자원에 신고할게요",
    "소비자원에 접수하겠습니다",
    "공정위에 신고하겠습니다",
    "공정거래위원회에 민원 넣을게요",
    "고소하겠습니다",
    "고발할 거예요",
    "소송 걸겠습니다",
    "변호사랑 상의해볼게요",
    "법적 조치 취하겠습니다",
    "경찰에 신고합니다",
    "카드사에 이의제기 할게요",
    "카드사에 지급정지 요청했어요",
    "신고할게요",
    "1372에 신고할게요",
    "언론에 제보하겠습니다",
    "기자한테 제보할 거예요",
    "변호사 통해서 법적으로 처리하겠습니다",
    "법적으로 대응하겠습니다",
    "변호사 통해서 대응할게요",
    "이거 기자한테 다 말할거야",
    "변호사 통해 정식으로 청구하겠습니다",
    "기자님께 말씀드릴게요",
]

NOT_SENSITIVE = [
    "Where can I track my order?",
    "This is the worst service ever",
    "I want a refund",
    "Can Sue call me?",
    "What is the issue with my order?",
    "세관 신고는 어떻게 하나요?",
    "분실 신고 했어요",
    "이 과자 고소하고 맛있네요",
    "전기자전거 배송 언제 와요?",
    "환불 요청하려면 어떻게 해야 하나요?",
    "카드 결제 취소해주세요",
    "배송이 너무 늦어요 ㅠㅠ",
    "이 제품 국내에서 써도 법적으로 문제없나요?",
    "기자 말로는 이 제품이 좋대요",
    "변호사 통해서 산 집이라 주소가 두 개예요",
    "법적으로 처리된 건가요?",
    "변호사님 추천으로 왔어요",
    "기자님께 감사드려요 기사 보고 왔어요",
    "I'm suing my landlord lol so I need cheap moving boxes",
]


@pytest.mark.parametrize("text", HUMAN_REQUESTS)
def test_asks_for_human(text: str) -> None:
    assert asks_for_human(text) is True


@pytest.mark.parametrize("text", NOT_HUMAN_REQUESTS)
def test_does_not_ask_for_human(text: str) -> None:
    assert asks_for_human(text) is False


@pytest.mark.parametrize("text", SENSITIVE)
def test_is_sensitive(text: str) -> None:
    assert is_sensitive(text) is True


@pytest.mark.parametrize("text", NOT_SENSITIVE)
def test_is_not_sensitive(text: str) -> None:
    assert is_sensitive(text) is False


CALM = Emotion("neutral", 0.9)
FURIOUS = Emotion("angry", 0.9)
MILD_ANGER = Emotion("angry", ANGER_THRESHOLD - 0.05)


@pytest.mark.parametrize(
    ("text", "emotion", "answered", "misses", "expected"),
    [
        # sensitive beats everything
        ("상담원 연결해주세요, 안 그러면 소송할 거예요", FURIOUS, False, 5, "sensitive"),
        ("I want a human or I'll call my lawyer", FURIOUS, False, 5, "sensitive"),
        # asked_for_human beats angry and no_answer
        ("상담원 연결해주세요", FURIOUS, False, 5, "asked_for_human"),
        ("let me talk to a human", CALM, True, 0, "asked_for_human"),
        # angry beats no_answer
        ("이게 뭐예요", FURIOUS, False, 5, "angry"),
        ("This is the worst", Emotion("angry", ANGER_THRESHOLD), True, 0, "angry"),
        # no_answer needs two misses in a row, this one included
        ("배송비 얼마예요?", CALM, False, NO_ANSWER_LIMIT, "no_answer"),
        ("What is the warranty on the blender?", MILD_ANGER, False, 3, "no_answer"),
    ],
)
def test_decide_escalates(
    text: str, emotion: Emotion, answered: bool, misses: int, expected: EscalationReason
) -> None:
    escalation = decide(text, emotion, answered=answered, consecutive_misses=misses)
    assert escalation == Escalation(True, expected)


@pytest.mark.parametrize(
    ("text", "emotion", "answered", "misses"),
    [
        ("배송비 얼마예요?", CALM, False, 1),  # first miss
        ("배송비 얼마예요?", CALM, True, 3),  # answered this time
        ("Where can I track my order?", CALM, True, 0),
        ("답답하네요", MILD_ANGER, True, 0),  # angry but under the threshold
        ("I'm so disappointed", Emotion("disappointed", 1.0), True, 0),
    ],
)
def test_decide_does_not_escalate(text: str, emotion: Emotion, answered: bool, misses: int) -> None:
    assert decide(text, emotion, answered=answered, consecutive_misses=misses) == Escalation.none()


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("THIS IS THE WORST SERVICE EVER!!!", "en", Escalation(True, "angry")),
        ("배송 언제 와요?? 진짜 짜증나네", "ko", Escalation(True, "angry")),
        ("Where can I track my order?", "en", Escalation.none()),
        ("환불 요청하려면 어떻게 해야 하나요?", "ko", Escalation.none()),
    ],
)
def test_decide_with_the_cue_detector(text: str, language: Language, expected: Escalation) -> None:
    emotion = CueEmotionDetector().detect(text, language)
    assert decide(text, emotion, answered=True, consecutive_misses=0) == expected
