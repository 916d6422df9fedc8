"""Opt-out requests in Korean and English: what must fire, and the near misses that must not."""

from __future__ import annotations

from datetime import date

import pytest

from bot.journeys.optout import opt_out_confirmation, opt_out_request

KO_FIRE = [
    "수신거부",
    "수신 거부",
    "수신거부요",
    "수신거부합니다",
    "수신 거부할게요",
    "수신거부 해 주세요",
    "수신거부 했는데 왜 또 와요",
    "광고 수신 거부",
    "마케팅 수신 동의 철회합니다",
    "그만 보내",
    "그만 보내세요",
    "이제 그만 보내주세요",
    "그만 좀 보내라",
    "보내지 마세요",
    "메시지 보내지 마",
    "광고 보내지 마세요",
    "이런 거 보내지 마세요",
    "문자 그만 받을래요",
    "더 이상 광고 받고 싶지 않아요",
    "더 이상 연락하지 마세요",
    "광고 그만",
    "알림 꺼 주세요",
    "구독 취소할게요",
    "앞으로 이런 메시지 보내지 마세요!",
    "STOP 해 주세요",
    "광고 문자 사절",
    "문자 사절",
    "메시지 그만 보내 주세요",
    "이제 메시지 안 받고 싶어요",
    "더는 연락 안 하셨으면 좋겠어요",
    "연락 안 해 주셨으면 해요",
    "알림 그만",
    "이런 메시지 받기 싫어요",
    "연락 그만하세요",
    "그만 연락하세요",
    "디엠 그만 보내요",
    "카톡 보내지 마세요",
    "메시지 차단해 주세요",
    "구독 해지해 주세요",
    "수신거부 어떻게 해요?",
    "광고 메시지 그만 좀",
    "스톱",
    "그만보내세요",
    "쿠폰 문자 그만 보내주세요",
]
KO_QUIET = [
    "배송을 멈춰 주세요",
    "그만 보내도 되나요 주문 확인 메일을?",
    "선물 포장해서 보내지 마세요",
    "택배 보내지 마세요",
    "수신거부 안 할게요",
    "수신거부 취소해 주세요",
    "수신거부 해제하고 싶어요",
    "수신거부하면 쿠폰은 못 받나요?",
    "친구가 수신거부 하라던데",
    "주문한 거 언제 보내 주세요?",
    "빨리 보내 주세요",
    "택배 안 받을래요",
    "환불은 안 받을래요",
    "연락 주세요",
    "연락처 알려 주세요",
    "사진 보내 드릴게요",
    "이제 그만",
    "교환 신청을 취소할게요",
    "결제를 멈추고 싶어요",
    "보내 주신 상품 잘 받았어요",
    "영수증 그만 챙겨도 되나요?",
    "선물은 따로 보내지 마세요",
    "반품 택배 보내도 되나요?",
    "그만 보내도 돼요?",
    "수신거부는 안 돼요",
    "수신거부를 왜 해요",
    "배송 알림은 계속 받고 싶어요",
    "문자 잘 받았어요",
    "쿠폰 보내 주세요",
    "연락이 안 와요",
    "전화 연락 안 받으세요?",
    "교환품 보내지 마시고 환불해 주세요",
    "수신거부 안 했어요",
    "알림 켜 주세요",
    "메일로 보내 주세요",
    "",
]
EN_FIRE = [
    "stop sending me ads",
    "stop sending me",
    "Stop sending me emails about sales",
    "don't send me anything",
    "stop",
    "STOP",
    "Stop.",
    "stop please",
    "please stop",
    "STOPALL",
    "unsubscribe",
    "Unsubscribe me",
    "opt out",
    "opt-out",
    "stop sending me these",
    "Stop texting me",
    "please stop these ads",
    "stop all messages",
    "how do I stop these messages?",
    "can I unsubscribe?",
    "I want to opt out of marketing",
    "don't message me again",
    "Do not contact me",
    "no more emails",
    "remove me from your mailing list",
    "take me off the list",
    "just stop",
    "stop it",
    "STOP STOP",
    "opt me out",
    "please opt me out of marketing",
    "stop spamming me",
    "I don't want these messages anymore",
    "no more ads please",
]
EN_QUIET = [
    # Sending a thing that is not messages: a complaint or an order.
    "stop sending me the wrong size",
    "Stop sending me the same order twice",
    "don't send me the blue one",
    "don't send me the wrong item again",
    "don't stop the order",
    "stop by the store",
    "I'll stop by the store tomorrow",
    "the bus stop is far",
    "my package stopped moving",
    "can you stop the delivery?",
    "please stop my order",
    "I can't stop smiling",
    "non-stop shipping please",
    "I don't want to unsubscribe",
    "don't unsubscribe me",
    "opt out of the warranty",
    "how do I opt out of the extended warranty?",
    "when will you stop charging me twice",
    "please send me the invoice",
    "message me when it ships",
    "stop this order please",
    "where is my order",
    "thanks, the offer was great",
    "contact me about the refund",
    "I'm not going to unsubscribe",
    "what happens if I unsubscribe?",
    "it won't stop leaking",
    "where's the stop button on the blender",
    "do not stop my subscription",
    "I don't want these shoes anymore",
    "cancel my order",
    "don't send the package yet",
    "I want to stop my order",
    "please don't stop sending updates",
    "I'll opt for the red one",
    "",
]


@pytest.mark.parametrize("text", KO_FIRE)
def test_korean_opt_out_fires(text: str) -> None:
    assert opt_out_request(text, "ko"), text


@pytest.mark.parametrize("text", KO_QUIET)
def test_korean_near_miss_is_quiet(text: str) -> None:
    assert not opt_out_request(text, "ko"), text


@pytest.mark.parametrize("text", EN_FIRE)
def test_english_opt_out_fires(text: str) -> None:
    assert opt_out_request(text, "en"), text


@pytest.mark.parametrize("text", EN_QUIET)
def test_english_near_miss_is_quiet(text: str) -> None:
    assert not opt_out_request(text, "en"), text


def test_both_languages_are_read_whatever_the_conversation_language() -> None:
    assert opt_out_request("수신거부", "en")
    assert opt_out_request("unsubscribe", "ko")
    assert opt_out_request("stop", None)


def test_hostile_input_is_bounded() -> None:
    assert not opt_out_request("가" * 100_000 + " stop sending", "ko")
    assert not opt_out_request("\x00\x01\u200b", "en")


def test_the_confirmation_names_the_sender_the_category_and_the_day() -> None:
    on = date(2026, 12, 7)
    ko = opt_out_confirmation("marketing", "ko", "온도마켓", on)
    assert ko.startswith("[온도마켓] 2026년 12월 7일, 광고성 메시지 수신거부가 처리되었습니다.")
    en = opt_out_confirmation("review_request", "en", "Ondo\nMarket", on)
    assert en.startswith("[Ondo Market] Done: you are unsubscribed from review requests as of")
    assert "2026-12-07" in en
