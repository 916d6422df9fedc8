"""find_pii / redact: what is personal data, what is not, and which kind wins an overlap."""

from __future__ import annotations

import itertools
import re

import pytest

from bot.types import Language
from bot.understanding.privacy import PLACEHOLDERS, PiiSpan, find_pii, redact, without_identifiers

# (text, language, kind, the personal data inside text)
POSITIVES: list[tuple[str, Language, str, str]] = [
    # Korean phones: mobile, landline, VoIP, +82
    ("010-1234-5678로 연락주세요", "ko", "phone", "010-1234-5678"),
    ("번호는 01012345678 입니다", "ko", "phone", "01012345678"),
    ("010 1234 5678 으로 전화 주세요", "ko", "phone", "010 1234 5678"),
    ("010.1234.5678", "ko", "phone", "010.1234.5678"),
    ("+82 10-1234-5678", "ko", "phone", "+82 10-1234-5678"),
    ("+821012345678 로 문자 주세요", "ko", "phone", "+821012345678"),
    ("tel:+82-10-1234-5678", "en", "phone", "+82-10-1234-5678"),
    ("집 전화 02-123-4567", "ko", "phone", "02-123-4567"),
    ("(02) 1234-5678", "ko", "phone", "(02) 1234-5678"),
    ("031-1234-5678로 배송 전에 연락 바랍니다", "ko", "phone", "031-1234-5678"),
    ("0311234567", "ko", "phone", "0311234567"),
    ("051-123-4567", "ko", "phone", "051-123-4567"),
    ("070-1234-5678", "ko", "phone", "070-1234-5678"),
    ("011-123-4567", "ko", "phone", "011-123-4567"),
    ("+82 2-123-4567", "en", "phone", "+82 2-123-4567"),
    ("제 번호는 010-9876-5432입니다", "ko", "phone", "010-9876-5432"),
    # International phones
    ("Call me at +1 415 555 0100 please", "en", "phone", "+1 415 555 0100"),
    ("+1-415-555-0100", "en", "phone", "+1-415-555-0100"),
    ("call me on +1 (415) 555-0100", "en", "phone", "+1 (415) 555-0100"),
    ("My number is (415) 555-0100.", "en", "phone", "(415) 555-0100"),
    ("reach me at 415-555-0100", "en", "phone", "415-555-0100"),
    ("UK mobile +44 20 7946 0958", "en", "phone", "+44 20 7946 0958"),
    ("+81 3-1234-5678", "en", "phone", "+81 3-1234-5678"),
    # Emails
    ("hong.gildong@naver.com 으로 보내주세요", "ko", "email", "hong.gildong@naver.com"),
    ("메일은hong@gmail.com으로 보내주세요", "ko", "email", "hong@gmail.com"),
    ("john.doe+orders@example.co.uk", "en", "email", "john.doe+orders@example.co.uk"),
    ("write to support_team@company.io today", "en", "email", "support_team@company.io"),
    ("email: a.b-c@sub.domain.com.", "en", "email", "a.b-c@sub.domain.com"),
    ("01012345678@naver.com", "ko", "email", "01012345678@naver.com"),
    # Cards (Luhn-valid)
    ("카드번호 4111 1111 1111 1111", "ko", "card", "4111 1111 1111 1111"),
    ("4111-1111-1111-1111", "en", "card", "4111-1111-1111-1111"),
    ("card 4111111111111111 exp 12/28", "en", "card", "4111111111111111"),
    ("5500 0000 0000 0004", "en", "card", "5500 0000 0000 0004"),
    ("Amex 378282246310005", "en", "card", "378282246310005"),
    ("3782 822463 10005", "en", "card", "3782 822463 10005"),
    ("6011 1111 1111 1117", "en", "card", "6011 1111 1111 1117"),
    ("Diners 30569309025904", "en", "card", "30569309025904"),
    ("5105-1051-0510-5100 으로 결제했어요", "ko", "card", "5105-1051-0510-5100"),
    ("카드 4111 1111 1111 1111 3개월 할부", "ko", "card", "4111 1111 1111 1111"),
    ("visa 4222222222222", "en", "card", "4222222222222"),
    ("6212345678901234569", "en", "card", "6212345678901234569"),
    ("JCB 3530111333300000", "en", "card", "3530111333300000"),
    # Resident registration numbers
    ("주민번호 900101-1234567", "ko", "rrn", "900101-1234567"),
    ("9001011234567", "ko", "rrn", "9001011234567"),
    ("900101 1234567", "ko", "rrn", "900101 1234567"),
    ("850515-2345678", "ko", "rrn", "850515-2345678"),
    ("010203-3456789", "ko", "rrn", "010203-3456789"),
    ("000229-3234567", "ko", "rrn", "000229-3234567"),
    ("외국인등록번호 900101-5234567", "ko", "rrn", "900101-5234567"),
    ("주민번호 851231-1234567 입니다", "ko", "rrn", "851231-1234567"),
    ("my RRN is 900101-2234567", "en", "rrn", "900101-2234567"),
    # Bank accounts
    ("신한 110-123-456789 로 환불해주세요", "ko", "account", "110-123-456789"),
    ("123-456789-01-012", "ko", "account", "123-456789-01-012"),
    ("카카오뱅크 3333-01-1234567", "ko", "account", "3333-01-1234567"),
    ("우리은행 1002-123-456789", "ko", "account", "1002-123-456789"),
    ("계좌번호 3333011234567 입니다", "ko", "account", "3333011234567"),
    ("account 1234567890", "en", "account", "1234567890"),
    ("bank account no. 12345678901234", "en", "account", "12345678901234"),
    ("국민은행 123456-01-234567", "ko", "account", "123456-01-234567"),
    ("농협 301-1234-5678-11", "ko", "account", "301-1234-5678-11"),
    ("환불 계좌: 카카오뱅크 3333-12-3456789", "ko", "account", "3333-12-3456789"),
    ("please refund to account 110123456789", "en", "account", "110123456789"),
    ("입금 계좌 1002123456789", "ko", "account", "1002123456789"),
    ("1234567890123 계좌로 보내주세요", "ko", "account", "1234567890123"),
]

NEGATIVES: list[str] = [
    # the shop's order numbers
    "주문번호 20261127-123456 배송 조회 부탁드려요",
    "ORD-20261127-0001 언제 와요?",
    "Order ORD-20261127-0042 hasn't arrived",
    "order number: 20261127123456",
    "20261127-123456 주문 취소해주세요",
    "주문번호: 20261127-123456, 금액 45,000원",
    "Invoice #20261127-0009",
    "운송장번호 123456789012",
    "tracking number 1Z999AA10123456784",
    "사업자등록번호 123-45-67890",
    "예약번호 123-456",
    # prices, quantities, sizes
    "가격이 30,000원이에요",
    "$25.99 was charged twice",
    "₩1,250,000 결제했어요",
    "1250000원 환불해주세요",
    "3개 주문했어요",
    "qty 100",
    "사이즈 270mm",
    "50% 할인 쿠폰",
    "Size 10, width 2E",
    # dates and times
    "2026-11-27에 주문했어요",
    "2026.11.27 배송 예정",
    "delivered on 11/27/2026",
    "2026년 11월 27일",
    "2026-11-27 14:30:00",
    "14:30에 도착했어요",
    "10:00~18:00 운영",
    # company numbers: service, toll-free, proxy
    "1588-0000으로 전화했는데 안 받아요",
    "Call 1577-1234 for support",
    "고객센터 1544 1234",
    "080-123-4567 수신거부",
    "0505-123-4567 안심번호로 연락 왔어요",
    # cards that fail Luhn
    "4111 1111 1111 1112",
    "4111-1111-1111-1121",
    "1234567812345678",
    # versions, addresses, codes, links
    "v1.2.3 앱에서 오류가 나요",
    "iOS 17.1.2 version",
    "App version 2.10.14",
    "192.168.0.1",
    "우편번호 06234",
    "zip code 94105",
    "ISBN 978-89-1234-567-8",
    "model SM-S928N",
    "https://shop.example.com/orders/4111111111111111",
    # long digit runs without an account label
    "1234567890",
    "12345678901234",
]


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def test_tables_are_big_enough() -> None:
    assert len(POSITIVES) >= 60
    assert len(NEGATIVES) >= 40
    assert {lang for _, lang, _, _ in POSITIVES} == {"ko", "en"}


@pytest.mark.parametrize(("text", "language", "kind", "pii"), POSITIVES)
def test_redacts_personal_data(text: str, language: Language, kind: str, pii: str) -> None:
    assert pii in text  # the table itself is consistent
    out = redact(text, language)
    assert PLACEHOLDERS[kind][language] in out
    assert pii not in out
    if _digits(pii):
        assert _digits(pii) not in _digits(out)


@pytest.mark.parametrize(("text", "language", "kind", "pii"), POSITIVES)
def test_find_pii_reports_kind_and_span(text: str, language: Language, kind: str, pii: str) -> None:
    spans = find_pii(text)
    assert [s.kind for s in spans] == [kind]
    (span,) = spans
    assert span.text == pii == text[span.start : span.end]


@pytest.mark.parametrize("text", NEGATIVES)
def test_leaves_non_personal_numbers_alone(text: str) -> None:
    assert find_pii(text) == []
    assert redact(text, "ko") == text
    assert redact(text, "en") == text


@pytest.mark.parametrize(
    ("kind", "ko", "en"),
    [
        ("email", "[이메일]", "[EMAIL]"),
        ("phone", "[전화번호]", "[PHONE]"),
        ("card", "[카드번호]", "[CARD]"),
        ("rrn", "[주민등록번호]", "[RRN]"),
        ("account", "[계좌번호]", "[ACCOUNT]"),
    ],
)
def test_placeholders(kind: str, ko: str, en: str) -> None:
    assert PLACEHOLDERS[kind] == {"ko": ko, "en": en}


def test_redact_defaults_to_english() -> None:
    assert redact("010-1234-5678") == "[PHONE]"


def test_full_korean_message() -> None:
    text = (
        "주문번호 20261127-123456 환불 요청합니다. 연락처 010-1234-5678, "
        "이메일 hong@naver.com, 환불 계좌는 신한 110-123-456789 입니다. 금액 30,000원"
    )
    assert redact(text, "ko") == (
        "주문번호 20261127-123456 환불 요청합니다. 연락처 [전화번호], "
        "이메일 [이메일], 환불 계좌는 신한 [계좌번호] 입니다. 금액 30,000원"
    )


def test_full_english_message() -> None:
    text = (
        "Order ORD-20261127-0001 was charged $25.99 twice on card 4111 1111 1111 1111. "
        "Call me at +1 415 555 0100 or john@example.com."
    )
    assert redact(text, "en") == (
        "Order ORD-20261127-0001 was charged $25.99 twice on card [CARD]. "
        "Call me at [PHONE] or [EMAIL]."
    )


def test_spans_are_ordered_and_disjoint() -> None:
    text = "a@b.co 900101-1234567 4111111111111111 010-1234-5678 110-123-456789"
    spans = find_pii(text)
    assert [s.kind for s in spans] == ["email", "rrn", "card", "phone", "account"]
    for left, right in itertools.pairwise(spans):
        assert left.end <= right.start
    assert all(text[s.start : s.end] == s.text for s in spans)


def test_rrn_beats_card_when_both_match() -> None:
    # 9001011234563 is a valid RRN date *and* passes Luhn.
    assert find_pii("9001011234563") == [PiiSpan("rrn", 0, 13, "9001011234563")]


def test_rrn_beats_account() -> None:
    assert [s.kind for s in find_pii("900101-1234567")] == ["rrn"]


def test_phone_beats_account() -> None:
    assert [s.kind for s in find_pii("010-1234-5678")] == ["phone"]


def test_email_swallows_the_digits_inside_it() -> None:
    assert [s.kind for s in find_pii("01012345678@naver.com")] == ["email"]


def test_rrn_requires_a_real_date() -> None:
    for bad in ("901301-1234567", "900132-1234567", "010229-3234567", "900101-9234567"):
        assert "rrn" not in [s.kind for s in find_pii(bad)]
    assert [s.kind for s in find_pii("960229-1234567")] == ["rrn"]  # 1996 was a leap year


def test_luhn_valid_digits_next_to_an_account_label_are_an_account() -> None:
    # 4111111111111111 passes Luhn, but the customer calls it an account.
    assert [s.kind for s in find_pii("계좌 4111111111111111")] == ["card"]  # 16 digits > 14
    assert [s.kind for s in find_pii("account 30569309025904")] == ["account"]
    assert [s.kind for s in find_pii("card account 30569309025904")] == ["card"]


def test_redaction_keeps_surrounding_text() -> None:
    assert redact("전화: 010-1234-5678!", "ko") == "전화: [전화번호]!"
    assert redact("Thanks (415) 555-0100.", "en") == "Thanks [PHONE]."


def test_empty_text() -> None:
    assert find_pii("") == []
    assert redact("", "ko") == ""


@pytest.mark.parametrize(
    ("redacted", "plain"),
    [
        ("주문번호 ORD-20261127-0042 배송이 안 왔어요", "주문번호 배송이 안 왔어요"),
        ("제 번호는 [전화번호] 이고 메일은 [이메일]입니다", "제 번호는 이고 메일은 입니다"),
        ("Call [PHONE] about order 20261127-123456 please", "Call about order please"),
        ("[CARD]", ""),
    ],
)
def test_without_identifiers_keeps_only_the_words(redacted: str, plain: str) -> None:
    assert without_identifiers(redacted) == plain
