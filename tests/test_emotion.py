"""CueEmotionDetector: labelled Korean and English sentences, anger scores, negation."""

from __future__ import annotations

import pytest

from bot.types import Emotion, EmotionLabel, Language
from bot.understanding.emotion import (
    ANGER_THRESHOLD,
    CueEmotionDetector,
    EmotionDetector,
    blank_formulas,
    cue_emotion,
    cue_points,
    escalates,
)

DETECTOR: EmotionDetector = CueEmotionDetector()

KO: list[tuple[str, EmotionLabel]] = [
    # angry
    ("배송 언제 와요?? 진짜 짜증나네", "angry"),
    ("씨발 환불 언제 해줘", "angry"),
    ("ㅅㅂ 장난하냐 진짜", "angry"),
    ("이게 말이 되냐고요!! 최악이네", "angry"),
    ("완전 사기네요. 돈 돌려주세요", "angry"),
    ("열받아서 못 참겠네요", "angry"),
    ("도대체 일을 어떻게 하는 거예요? 어이가 없네", "angry"),
    ("개빡치네 진짜", "angry"),
    ("다시는 여기서 안 삽니다", "angry"),
    ("존나 느리네 배송", "angry"),
    ("진짜화나네", "angry"),
    ("환불 안 해주면 진짜 가만 안 있어요", "angry"),
    # disappointed
    ("배송이 너무 늦어요 ㅠㅠ", "disappointed"),
    ("실망이에요", "disappointed"),
    ("기대했는데 아쉽네요", "disappointed"),
    ("속상해요 ㅜㅜ", "disappointed"),
    ("선물용이었는데 파손돼서 왔어요 ㅠ", "disappointed"),
    ("사이즈가 안 맞아서 슬프네요", "disappointed"),
    ("품질이 좋지 않네요", "disappointed"),
    ("안 좋아요", "disappointed"),
    ("만족스럽지 않네요", "disappointed"),
    # positive
    ("감사합니다! 덕분에 해결됐어요", "positive"),
    ("배송 빨라서 좋아요", "positive"),
    ("상담원분 너무 친절하셨어요 최고!", "positive"),
    ("만족합니다 ㅎㅎ", "positive"),
    ("고마워요~", "positive"),
    ("정말 감사드려요 😊", "positive"),
    ("존나 좋아요", "positive"),
    # neutral
    ("환불 요청하려면 어떻게 해야 하나요?", "neutral"),
    ("배송지 변경 가능한가요?", "neutral"),
    ("주문 취소하고 싶어요", "neutral"),
    ("영수증 발급해 주세요", "neutral"),
    ("교환 절차 알려주세요", "neutral"),
    ("이 제품 재입고 언제 되나요?", "neutral"),
    ("확인해주시면 감사하겠습니다", "neutral"),
    ("전화나 문자로 연락주세요", "neutral"),
    ("장난감 주문했는데 언제 와요?", "neutral"),
    ("사기 전에 사이즈 물어볼게요", "neutral"),
    ("화난 건 아니고 그냥 궁금해서요", "neutral"),
]

EN: list[tuple[str, EmotionLabel]] = [
    # angry
    ("THIS IS THE WORST SERVICE EVER!!!", "angry"),
    ("What the hell is wrong with you people?!", "angry"),
    ("This is ridiculous, I've been waiting for 3 weeks!!", "angry"),
    ("You guys are a scam", "angry"),
    ("Absolutely unacceptable. I want a refund NOW.", "angry"),
    ("I'm so pissed off right now", "angry"),
    ("wtf where is my package", "angry"),
    ("Your support is useless and incompetent", "angry"),
    ("I will never order from you again!", "angry"),
    ("I'm fed up with these delays", "angry"),
    ("thanks for nothing", "angry"),
    ("fucking useless service", "angry"),
    # disappointed
    ("That's disappointing, I was looking forward to it", "disappointed"),
    ("I'm a bit sad the color is different", "disappointed"),
    ("Unfortunately the item arrived damaged :(", "disappointed"),
    ("I expected better quality for the price", "disappointed"),
    ("I'm not happy with the fit", "disappointed"),
    ("The delivery is so late :(", "disappointed"),
    ("This was a waste of money", "disappointed"),
    ("I'm not angry, just disappointed", "disappointed"),
    # positive
    ("Thank you so much, that helped!", "positive"),
    ("Great service, thanks!", "positive"),
    ("I love the jacket, it fits perfectly", "positive"),
    ("Awesome, my order arrived early", "positive"),
    ("You've been very helpful, I appreciate it", "positive"),
    ("Perfect, that's exactly what I needed", "positive"),
    ("I can't thank you enough", "positive"),
    ("This is fucking awesome", "positive"),
    ("THANK YOU SO MUCH!!!", "positive"),
    # neutral
    ("Where can I track my order?", "neutral"),
    ("I'd like to cancel my order please", "neutral"),
    ("Can I change my shipping address?", "neutral"),
    ("How do I return an item?", "neutral"),
    ("Do you ship to Canada?", "neutral"),
    ("What is your refund policy?", "neutral"),
    ("Is this jacket good for winter?", "neutral"),
    ("It would be great if you could check my order", "neutral"),
    ("No thanks, I'm fine", "neutral"),
    ("My package arrived damaged.", "neutral"),
    ("Good morning, where is my order?", "neutral"),
    ("Please call me at [PHONE] or write to [EMAIL]", "neutral"),
]


@pytest.mark.parametrize(("text", "label"), KO)
def test_korean_labels(text: str, label: EmotionLabel) -> None:
    assert DETECTOR.detect(text, "ko").label == label


@pytest.mark.parametrize(("text", "label"), EN)
def test_english_labels(text: str, label: EmotionLabel) -> None:
    assert DETECTOR.detect(text, "en").label == label


def test_tables_are_big_enough() -> None:
    assert len(KO) >= 25
    assert len(EN) >= 25


@pytest.mark.parametrize(
    ("text", "language"), [(t, "ko") for t, _ in KO] + [(t, "en") for t, _ in EN]
)
def test_scores_are_probabilities(text: str, language: Language) -> None:
    score = DETECTOR.detect(text, language).score
    assert 0.0 <= score <= 1.0


@pytest.mark.parametrize("label", ["angry", "disappointed", "positive"])
def test_scores_are_independent_of_the_language_argument(label: EmotionLabel) -> None:
    for text, expected in KO + EN:
        if expected == label:
            assert DETECTOR.detect(text, "ko") == DETECTOR.detect(text, "en")


FURIOUS: list[tuple[str, Language]] = [
    ("THIS IS THE WORST SERVICE EVER!!!", "en"),
    ("What the hell is wrong with you people?!", "en"),
    ("You are all useless, incompetent scammers!!", "en"),
    ("wtf, where is my refund???", "en"),
    ("I'm furious. Never buying from you again.", "en"),
    ("WHERE IS MY ORDER!!!", "en"),
    ("씨발 진짜 장난하냐", "ko"),
    ("배송 언제 와요?? 진짜 짜증나네", "ko"),
    ("최악이에요!! 다시는 안 삽니다", "ko"),
    ("개빡치네 진짜 사기 아니에요?", "ko"),
    ("이게 말이 돼요?? 어이가 없네", "ko"),
    ("열받아 죽겠네 도대체 언제 와!!", "ko"),
]

CALM: list[tuple[str, Language]] = [
    ("환불 요청하려면 어떻게 해야 하나요?", "ko"),
    ("배송 조회는 어디서 하나요?", "ko"),
    ("도대체 언제 와요?", "ko"),  # an intensifier alone does not decide
    ("답답하네요", "ko"),  # weak anger: labelled, but not enough to escalate
    ("불친절하네요", "ko"),
    ("Where can I track my order?", "en"),
    ("I'd like to cancel my order please", "en"),
    ("WHERE IS MY ORDER???", "en"),  # shouting: angry, but below the threshold
    ("HELLO I WANT TO CANCEL MY ORDER", "en"),
    ("I'm a bit annoyed", "en"),
]


@pytest.mark.parametrize(("text", "language"), FURIOUS)
def test_furious_messages_reach_the_anger_threshold(text: str, language: Language) -> None:
    emotion = DETECTOR.detect(text, language)
    assert emotion.label == "angry"
    assert emotion.score >= ANGER_THRESHOLD
    assert escalates(emotion)


@pytest.mark.parametrize(("text", "language"), CALM)
def test_calm_messages_stay_below_the_anger_threshold(text: str, language: Language) -> None:
    emotion = DETECTOR.detect(text, language)
    assert not (emotion.label == "angry" and emotion.score >= ANGER_THRESHOLD)
    assert not escalates(emotion)


def test_weak_anger_is_labelled_but_does_not_escalate() -> None:
    emotion = DETECTOR.detect("답답하네요", "ko")
    assert emotion.label == "angry"
    assert emotion.score < ANGER_THRESHOLD


def test_shouting_raises_the_anger_score() -> None:
    calm = DETECTOR.detect("this is the worst service", "en")
    loud = DETECTOR.detect("THIS IS THE WORST SERVICE EVER!!!", "en")
    assert calm.label == loud.label == "angry"
    assert loud.score > calm.score
    assert loud.score >= 0.8


def test_korean_intensifiers_amplify_but_do_not_decide() -> None:
    plain = DETECTOR.detect("짜증나네요", "ko")
    intensified = DETECTOR.detect("진짜 너무 짜증나네요", "ko")
    assert plain.label == intensified.label == "angry"
    assert intensified.score > plain.score
    assert DETECTOR.detect("진짜 너무 정말 궁금해요", "ko").label == "neutral"


def test_exclamation_runs_amplify() -> None:
    one = DETECTOR.detect("This is ridiculous.", "en")
    three = DETECTOR.detect("This is ridiculous!!!", "en")
    assert three.score > one.score


@pytest.mark.parametrize(
    ("text", "language", "label"),
    [
        ("최고예요", "ko", "positive"),
        ("최악이에요", "ko", "angry"),
        ("최고는 아니에요", "ko", "disappointed"),
        ("최악은 아니에요", "ko", "neutral"),
        ("I'm happy with it", "en", "positive"),
        ("I'm not happy with it", "en", "disappointed"),
        ("not the worst", "en", "neutral"),
        ("I'm not angry", "en", "neutral"),
        ("I don't hate it", "en", "neutral"),
        ("It wasn't helpful", "en", "disappointed"),
        ("좋아요", "ko", "positive"),
        ("안 좋아요", "ko", "disappointed"),
        ("안좋아요", "ko", "disappointed"),
        ("좋지 않아요", "ko", "disappointed"),
        ("만족해요", "ko", "positive"),
        ("불만족이에요", "ko", "disappointed"),
        ("짜증 안 나요", "ko", "neutral"),
        ("Not bad at all", "en", "positive"),
        ("나쁘지 않네요", "ko", "positive"),
    ],
)
def test_negation(text: str, language: Language, label: EmotionLabel) -> None:
    assert DETECTOR.detect(text, language).label == label


def test_neutral_scores_are_confident_without_cues() -> None:
    assert DETECTOR.detect("Where can I track my order?", "en") == Emotion("neutral", 0.9)
    assert DETECTOR.detect("", "en") == Emotion("neutral", 0.9)
    neutral = DETECTOR.detect("My package arrived damaged.", "en")
    assert neutral.label == "neutral"
    assert 0.5 <= neutral.score < 0.9


def test_detection_is_deterministic() -> None:
    text = "배송 언제 와요?? 진짜 짜증나네"
    assert DETECTOR.detect(text, "ko") == DETECTOR.detect(text, "ko")


def test_escalates_needs_the_angry_label() -> None:
    assert escalates(Emotion("angry", ANGER_THRESHOLD))
    assert not escalates(Emotion("angry", ANGER_THRESHOLD - 0.01))
    assert not escalates(Emotion("disappointed", 1.0))


@pytest.mark.parametrize(("text", "label"), KO[:5] + EN[:5] + EN[-5:])
def test_cue_emotion_is_the_detector_on_cue_points(text: str, label: EmotionLabel) -> None:
    assert cue_emotion(cue_points(text)) == DETECTOR.detect(text, "en")


def test_cue_points_report_shouting_and_negated_anger() -> None:
    loud = cue_points("WHERE IS MY ORDER")
    assert loud.shouting
    calm = cue_points("I'm not angry")
    assert calm.anger == 0.0 and calm.negated_anger > 0.0
    assert cue_points("짜증 안 나요").negated_anger > 0.0
    assert cue_points("I'm angry").negated_anger == 0.0


def test_politeness_formulas_are_blanked_in_place() -> None:
    text = "no thanks, it would be great if you checked"
    blanked = blank_formulas(text)
    assert len(blanked) == len(text)
    assert "thanks" not in blanked and "great" not in blanked
    assert "checked" in blanked


@pytest.mark.parametrize(
    ("calm", "angry"),
    [
        # 열 받다: anger, or a thing taking heat.
        ("열 받으면 모양이 변하나요?", "진짜 열 받네요"),
        ("뜨거운 열 받아도 괜찮은 소재인가요?", "열받아서 글 씁니다"),
        ("직사광선이나 열 받는 곳에 두면 안 되나요?", "정말 열받는 상황이네요"),
        ("이 냄비는 열 받으면 손잡이도 뜨거워지나요?", "열이 받아서 미치겠어요"),
        ("공연 좌석 두 번째 열 받을 수 있나요?", "열받게 하시네요 진짜"),
        # ~는 것도 아니고: a complaint, or "neither … nor", or the customer's own doing.
        ("싼 것도 아니고 비싼 것도 아니고 적당해요", "환불을 해주는 것도 아니고 연락도 없고"),
        (
            "매일 쓰는 것도 아니고 가끔 쓸 거라 저렴한 걸로 추천해 주세요",
            "연락을 준 것도 아니고 답장도 없네요",
        ),
        ("제가 급한 것도 아니고 천천히 보내주세요", "교환을 해주는 것도 아니고"),
        ("고장난 것도 아니고 문제없어요", "답장을 하는 것도 아니고 전화도 안 받고"),
        ("쓰는 것도 아니고 안 쓰는 것도 아니고 애매해요", "사과를 하는 것도 아니고 뭐 하는 건지"),
        # 미쳤다 as praise slang beside a positive word, and as anger.
        ("미쳤다 이 핏 진짜 대박이에요", "미쳤어요? 왜 이렇게 늦어요"),
        ("대박 진짜 미쳤어요", "미쳤나 진짜"),
        # "사기당한 줄 알았는데": what the customer thought, and it was not so.
        ("사기당한 줄 알았는데 택배가 옆집에 가 있었네요", "사기당했네요 돈 돌려줘요"),
        ("몇 번째 주문인지 확인하고 싶어요", "이게 몇 번째예요"),
    ],
)
def test_korean_cues_are_read_in_their_sense(calm: str, angry: str) -> None:
    assert cue_points(calm).anger == 0.0
    assert escalates(DETECTOR.detect(angry, "ko"))


@pytest.mark.parametrize(
    ("calm", "angry"),
    [
        ("I hate that I waited so long to buy this, it's perfect", "I hate this, it's useless"),
        (
            "This is the second time I've ordered and it's perfect again!",
            "This is the third time you've sent the wrong size",
        ),
        ("What kind of company makes these bags?", "What kind of company ignores its customers?"),
        ("Do you ever restock the blue one?", "Are you even reading my messages?"),
        ("Don't tell me the price yet, I'm browsing", "Don't tell me to be patient"),
        ("The scam warning on your site was helpful", "This is a scam"),
    ],
)
def test_english_cues_are_read_in_their_sense(calm: str, angry: str) -> None:
    assert cue_points(calm).anger == 0.0
    assert escalates(DETECTOR.detect(angry, "en"))
