"""detect_language: Korean when Hangul is a meaningful share of the letters, else English."""

from __future__ import annotations

import pytest

from bot.types import Language
from knowledge.language import detect_language

CASES: list[tuple[str, Language]] = [
    # Korean
    ("환불 요청하려면 어떻게 해야 하나요?", "ko"),
    ("배송 언제 와요??", "ko"),
    ("ㅋㅋㅋㅋ", "ko"),
    ("ㅠㅠ", "ko"),
    ("ㅠㅠ ok", "ko"),
    ("AirPods Pro 2세대 환불하고 싶어요", "ko"),
    ("갤럭시 S24 Ultra 주문했는데 아직 안 왔어요", "ko"),
    ("주문번호 ORD-20261127-0001 배송 조회 부탁드려요", "ko"),
    ("I ordered a Samsung Galaxy, 배송 언제 와요?", "ko"),
    ("Nike Air Max 270 사이즈 교환 가능한가요", "ko"),
    ("감사합니다!", "ko"),
    ("네", "ko"),
    ("ᄒᄒ", "ko"),  # conjoining jamo
    ("ﾡﾡ", "ko"),  # halfwidth jamo
    # English
    ("Where can I track my order?", "en"),
    ("I'd like to cancel my order please", "en"),
    ("kimchi 김치 order", "en"),
    ("I want to order 김치 and some rice cakes", "en"),
    ("THIS IS THE WORST SERVICE EVER!!!", "en"),
    ("Thanks a lot, 감사", "en"),
    ("Merci beaucoup", "en"),
    ("注文はいつ届きますか", "en"),
    # No letters at all
    ("", "en"),
    ("   ", "en"),
    ("👍🙏😊", "en"),
    ("010-1234-5678", "en"),
    ("30,000", "en"),
    ("?!?!", "en"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_detect_language(text: str, expected: Language) -> None:
    assert detect_language(text) == expected


def test_long_korean_message_with_english_product_names() -> None:
    text = (
        "안녕하세요, 지난주에 Apple Watch Series 9 GPS 45mm Midnight Aluminium Case 를 "
        "주문했는데 아직 배송이 시작되지 않았어요. 확인 부탁드립니다."
    )
    assert detect_language(text) == "ko"


def test_english_message_with_one_korean_word() -> None:
    assert detect_language("Could you check whether my 떡볶이 order has shipped yet?") == "en"
