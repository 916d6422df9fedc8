"""Reading a mail (adapters/email/parse.py): Korean charsets, RFC 2047 headers, HTML to text,
quoted history and signatures cut, attachments noted and never read, hostile bytes refused in
one line (ko, en). The sample mails are in tests/data/mail/."""

from __future__ import annotations

import base64
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.email.charsets import decode_bytes, decode_header_text
from adapters.email.parse import (
    MAX_MAIL_BYTES,
    MAX_TEXT_CHARS,
    Attachment,
    InboundMail,
    MailError,
    parse_mail,
)
from adapters.email.quotes import new_text

MAIL = Path(__file__).parent / "data" / "mail"


def load(name: str) -> InboundMail:
    return parse_mail((MAIL / name).read_bytes())


def mail(headers: str, body: bytes | str = b"Hello\r\n") -> bytes:
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return headers.replace("\n", "\r\n").encode("utf-8") + b"\r\n" + raw


# --- plain mail, headers ----------------------------------------------------------------


def test_plain_utf8_korean() -> None:
    m = load("plain_utf8_ko.eml")
    assert m.subject == "주문한 상품이 아직 안 왔어요"
    assert (m.from_name, m.from_address) == ("김민지", "minji@example.com")
    assert m.to == ("support@ondo.example",)
    assert m.message_id == "<ko-plain-1@mail.example.com>"
    assert m.in_reply_to is None and m.references == ()
    assert m.text.startswith("안녕하세요.\n지난주에 주문한 운동화가")
    assert m.language == "ko"
    assert m.date is not None and m.date.utcoffset() is not None
    assert m.date.isoformat() == "2026-12-07T15:00:00+09:00"

    assert "@" not in repr(m) and "김민지" not in repr(m) and "운동화" not in repr(m)


def test_plain_english_with_q_encoded_headers_and_reply_to() -> None:
    m = load("plain_en.eml")
    assert m.subject == "Where is my order? – café"
    assert m.from_name == "José Smith"
    assert m.from_address == "jose.smith@example.net"  # lower-cased
    assert m.reply_to == "jose.work@example.org"
    assert m.cc == ("partner@example.net",)
    assert m.language == "en"
    assert "my order 4412 has not arrived yet" in m.text


@pytest.mark.parametrize(
    ("name", "subject", "sender", "words"),
    [
        ("euckr_cp949.eml", "똠 환불 문의", "박똠이", "똠방각하 님, 햏 주문 건"),
        ("iso2022kr.eml", "배송 조회", "이수진", "주문번호는 5521입니다."),
        ("ks_c_5601.eml", "교환 신청", "최교환", "사이즈가 작아요. 햏"),
        ("undeclared_8bit.eml", "배송 문의", "nobody-declared", "배송이 늦어요. 똠"),
    ],
)
def test_korean_charsets(name: str, subject: str, sender: str, words: str) -> None:
    m = load(name)
    assert m.subject == subject
    assert m.from_name == sender
    assert words in m.text
    assert "\ufffd" not in m.text + m.subject
    assert m.language == "ko"


def test_mislabelled_and_broken_bytes_are_read_as_far_as_they_go() -> None:
    m = load("mislabelled.eml")  # says UTF-8, is CP949 with junk bytes
    assert m.subject == "잘못"
    assert "라벨이 틀린 메일입니다." in m.text
    odd = load("unknown_charset.eml")  # unknown charset, broken base64
    assert odd.from_address == "odd@example.com"
    assert isinstance(odd.text, str)


def test_decode_bytes_prefers_the_declared_charset_then_utf8_then_cp949() -> None:
    assert decode_bytes("똠".encode("cp949"), "euc-kr") == "똠"
    assert decode_bytes("똠".encode("cp949"), "EUC-KR") == "똠"
    assert decode_bytes("한글".encode(), None) == "한글"
    assert decode_bytes("한글".encode("cp949"), None) == "한글"
    assert decode_bytes("한글".encode("cp949"), "utf-8") == "한글"
    assert decode_bytes(b"\xff\xfe\xfd", "no-such").count("\ufffd") >= 1


def test_rfc2047_words_b_and_q_and_mixed() -> None:
    b = "=?utf-8?B?" + base64.b64encode("환불 요청".encode()).decode() + "?="
    q = "=?utf-8?Q?caf=C3=A9?="
    assert decode_header_text(f"{b} now") == "환불 요청 now"
    assert decode_header_text(f"Re: {q}") == "Re: café"
    assert (
        decode_header_text("=?euc-kr?B?" + base64.b64encode("햏".encode("cp949")).decode() + "?=")
        == "햏"
    )
    assert decode_header_text("=?x-bogus?B?7ZmY67aI?=") == "환불"  # unknown charset: UTF-8
    assert isinstance(decode_header_text("=?utf-8?B?!!!?= =?utf-8?Q?=ZZ?="), str)
    assert decode_header_text(None) == ""


def test_header_values_never_carry_line_breaks() -> None:
    m = load("header_injection.eml")
    for value in (m.subject, m.from_name):
        assert "\r" not in value and "\n" not in value
    assert m.subject.startswith("환불")
    assert m.from_address == "evil@example.com"


def test_an_encoded_comma_in_a_name_does_not_split_the_address() -> None:
    name = "=?utf-8?B?" + base64.b64encode("김, 민지".encode()).decode() + "?="
    m = parse_mail(mail(f"From: {name} <minji@example.com>\nSubject: x\n"))
    assert (m.from_name, m.from_address) == ("김, 민지", "minji@example.com")


def test_raw_8bit_headers_are_read_as_utf8_or_cp949() -> None:
    raw = (
        b"From: " + "김민지".encode("cp949") + b" <m@example.com>\r\n"
        b"Subject: " + "환불 똠".encode() + b"\r\n\r\nhi"
    )
    m = parse_mail(raw)
    assert (m.from_name, m.subject) == ("김민지", "환불 똠")


def test_a_mail_without_message_id_gets_a_stable_one() -> None:
    raw = (MAIL / "no_message_id.eml").read_bytes()
    first, second = parse_mail(raw), parse_mail(raw)
    assert first.message_id == second.message_id
    assert first.message_id.endswith("@ondo.invalid>")


def test_references_and_in_reply_to() -> None:
    m = load("gmail_ko_quoted.eml")
    assert m.in_reply_to == "<reply-1@ondo.example>"
    assert m.references == ("<ko-plain-1@mail.example.com>", "<reply-1@ondo.example>")


# --- bodies ---------------------------------------------------------------------------------


def test_html_only_becomes_text_without_script_or_style() -> None:
    m = load("html_only.eml")
    assert m.html_only
    assert "환불 부탁드립니다." in m.text
    assert "https://shop.example.com/orders/77" in m.text  # the link kept as text
    for hidden in ("alert", "cookie", "color", "display:none", "<p>", "pixel.gif"):
        assert hidden not in m.full_text
    assert m.language == "ko"  # the URL does not make it English


def test_multipart_alternative_prefers_the_text_part() -> None:
    m = load("alternative.eml")
    assert m.text == "Do you have this jacket in size L? (plain part)"
    assert not m.html_only


def test_attachments_are_noted_never_read() -> None:
    m = load("attachments.eml")
    assert m.text == "사진과 영수증을 첨부했어요. 확인 부탁드려요."
    names = {a.filename: a for a in m.attachments}
    assert set(names) == {"photo.png", "영수증.pdf", "setup.exe", "notes.txt"}
    assert names["setup.exe"] == Attachment("setup.exe", "application/octet-stream", 52)
    assert names["photo.png"].content_type == "image/png"
    assert names["영수증.pdf"].content_type == "application/pdf"
    # no attachment's bytes reach the text the bot reads
    for inside in ("MZ", "PDF", "PNG", "injected", "not the body"):
        assert inside not in m.full_text


def test_a_bounce_notes_the_returned_mail_without_reading_it() -> None:
    m = load("bounce_dsn.eml")
    assert m.is_report and m.return_path == "<>"
    assert m.content_type == "multipart/report"
    assert "the original reply" not in m.full_text
    assert [a.content_type for a in m.attachments] == ["message/rfc822"]


def test_a_broken_multipart_is_read_as_text() -> None:
    m = load("malformed_mime.eml")
    assert "text under a boundary that is never declared" in m.text


# --- quoted history and signatures ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "new"),
    [
        ("gmail_ko_quoted.eml", "아직도 안 왔어요. 환불해 주세요."),
        ("gmail_en_quoted.eml", "Still nothing. I want a refund now."),
        ("outlook_ko_quoted.eml", "교환 절차를 다시 알려주세요."),
        ("outlook_en_quoted.eml", "Please send me the return label."),
        ("naver_quoted.eml", "주소를 바꾸고 싶어요."),
        ("daum_quoted.eml", "환불 계좌를 알려드릴게요."),
        ("gmail_ko_html.eml", "배송이 아직이에요.\n확인 부탁드려요."),
        ("outlook_en_html.eml", "Please refund the jacket."),
    ],
)
def test_only_the_new_text_counts(name: str, new: str) -> None:
    m = load(name)
    assert m.text == new
    assert len(m.full_text) > 2 * len(m.text)  # the history is still in the whole body


def test_signatures_are_cut_but_hyphen_lists_kept() -> None:
    en = load("signature_en.eml")
    assert en.text == (
        "Could you send me the invoice for order 8812?\n- company name: ACME\n- tax id: on file"
    )
    assert "555" not in en.text and "Purchasing" not in en.text
    ko = load("signature_ko.eml")
    assert ko.text == "영수증을 메일로 받을 수 있을까요?"  # "감사합니다.\n김민지 드림" gone


@pytest.mark.parametrize(
    ("body", "new"),
    [
        # Gmail (ko) with the address wrapped onto its own line
        (
            "네 맞아요\n\n2026년 12월 7일 (월) 오후 3:00, 온도 <\n"
            "support@ondo.example>님이 작성:\n> 이전",
            "네 맞아요",
        ),
        ("네\n\n2026년 12월 7일 월요일, 온도님이 작성하였습니다:\n> 이전", "네"),
        ("새 질문\n\n--------- 원본 메일 ---------\n보낸사람: x\n받는사람: y\n\n옛날", "새 질문"),
        ("바로 답장\n\niPhone에서 보냄", "바로 답장"),
        ("Quick one\n\nSent from my iPhone", "Quick one"),
        (
            "Thanks for the help!\nMy order is late.\n\nBest regards,\nJohn",
            "Thanks for the help!\nMy order is late.",
        ),
        (
            "Inline answer below\n> your question?\nYes, size L.",
            "Inline answer below\nYes, size L.",
        ),
        ("감사합니다.", "감사합니다."),  # a mail that is only thanks keeps it
        # a line that starts like a closing and goes on is the customer still writing
        ("Hi,\nThanks, but where is my refund?", "Hi,\nThanks, but where is my refund?"),
        (
            "문의\n감사합니다. 그런데 환불은 언제 되나요?",
            "문의\n감사합니다. 그런데 환불은 언제 되나요?",
        ),
        ("문의\n감사합니다. 환불 부탁드려요", "문의\n감사합니다. 환불 부탁드려요"),
        ("Order late.\nThanks, John", "Order late."),
        ("배송 문의\n\n고맙습니다!\n이수진 올림", "배송 문의\n\n고맙습니다!"),  # the name goes
    ],
)
def test_quote_and_signature_rules(body: str, new: str) -> None:
    assert new_text(body) == new


def test_a_long_closing_block_is_the_customer_still_writing() -> None:
    body = "주문 문의\n\n감사합니다. 그런데 하나 더요.\n" + "\n".join(
        f"질문 {i}: 이건 어떻게 되나요?" for i in range(8)
    )
    assert "질문 7" in new_text(body)


def test_whitespace_is_tidied() -> None:
    assert new_text("  Hello\u200b   there \r\n\r\n\r\n\r\n  again\xa0 ") == "Hello there\n\nagain"


# --- hostile bytes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"", "empty"),
        (b"   \r\n  ", "empty"),
        (b"just some words, no headers at all", "not a mail"),
        ((MAIL / "no_from.eml").read_bytes(), "no readable From"),
        (b"From: not an address\r\n\r\nhi", "no readable From"),
        (b"\x00\xff\xfe\x80" * 100, "not a mail"),
        (b"From: a@example.com\r\n" + b"X: " + b"y" * (MAX_MAIL_BYTES + 1), "larger than"),
    ],
)
def test_unreadable_mail_is_one_line_error(raw: bytes, says: str) -> None:
    with pytest.raises(MailError) as caught:
        parse_mail(raw)
    message = str(caught.value)
    assert says in message
    assert "\n" not in message and "@" not in message


def test_not_bytes_is_a_mail_error() -> None:
    with pytest.raises(MailError):
        parse_mail("From: a@example.com\r\n\r\nhi")  # type: ignore[arg-type]


def test_too_many_parts_is_refused() -> None:
    parts = "".join(f"--B\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n" for i in range(300))
    raw = mail(
        "From: a@example.com\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n",
        parts + "--B--\r\n",
    )
    with pytest.raises(MailError, match="MIME parts"):
        parse_mail(raw)


def test_huge_text_is_capped() -> None:
    m = parse_mail(mail("From: a@example.com\nSubject: long\n", "긴 글 " * 5000))
    assert m.truncated
    assert len(m.text) <= MAX_TEXT_CHARS + 1


def test_an_empty_body_is_an_empty_text() -> None:
    m = parse_mail(mail("From: a@example.com\nSubject: =?utf-8?B?7ZmY67aI?=\n", b""))
    assert m.text == "" and m.subject == "환불" and m.language == "ko"


def test_a_huge_html_part_is_converted_only_up_to_its_cap() -> None:
    html = "<p>" + "환불 " * 400_000 + "</p><script>x()</script>"
    m = parse_mail(mail("From: a@example.com\nContent-Type: text/html; charset=utf-8\n", html))
    assert m.html_only and m.truncated and "x()" not in m.full_text


def test_html_too_deep_for_the_converter_still_gives_its_words() -> None:
    html = "<div>" * 100_000 + "<style>p{}</style>환불 &amp; 교환<script>x()</script>"
    m = parse_mail(mail("From: a@example.com\nContent-Type: text/html; charset=utf-8\n", html))
    assert m.text == "환불 & 교환"


# --- fuzzing: whatever the bytes, a mail or one MailError -----------------------------------

_HEADERS = st.sampled_from(
    [
        b"From: a@example.com\r\n",
        b"From: =?utf-8?B?7ZmY?= <b@example.com>\r\n",
        b"Subject: =?euc-kr?B?wM0=?= =?x?Q?=ZZ?=\r\n",
        b"Content-Type: multipart/mixed; boundary=B\r\n",
        b"Content-Type: text/html; charset=iso-2022-kr\r\n",
        b"Content-Type: text/plain; charset=\xff\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"Content-Disposition: attachment; filename*=euc-kr''%B0%A1.exe\r\n",
        b"References: <a@b> <<>> <\r\n",
        b"Date: not a date\r\n",
        b"Message-ID: <\xff@x>\r\n",
    ]
)
_BODIES = st.sampled_from(
    [
        b"--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n--B--\r\n",
        b"--B\r\nContent-Type: message/rfc822\r\n\r\nFrom: x\r\n\r\n--B",
        b"<html><script>x</script><p>\xb0\xa1</p>",
        b"=?=\r\n=ZZ=\r\n====",
        "2026년 12월 7일 님이 작성:\r\n> 옛날".encode(),
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_HEADERS, max_size=8),
    st.one_of(_BODIES, st.binary(max_size=400)),
    st.binary(max_size=60),
)
def test_any_bytes_give_a_mail_or_one_mail_error(
    headers: list[bytes], body: bytes, noise: bytes
) -> None:
    raw = b"".join(headers) + noise + b"\r\n\r\n" + body
    try:
        m = parse_mail(raw)
    except MailError as error:
        assert "\n" not in str(error)
        return
    for value in (m.subject, m.from_name, m.message_id, *m.references):
        assert "\r" not in value and "\n" not in value
    assert len(m.text) <= MAX_TEXT_CHARS + 1


@pytest.mark.parametrize(
    ("sender", "subject", "language"),
    [
        ("김민지 <minji@example.kr>", "", "ko"),
        ("Alex Smith <alex@example.com>", "", "en"),
        ("김민지 <minji@example.kr>", "Photo", "en"),  # the subject speaks first
        ("<minji@example.kr>", "사진 보냅니다", "ko"),
    ],
)
def test_a_mail_without_words_takes_its_language_from_subject_then_sender(
    sender: str, subject: str, language: str
) -> None:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "help@ondo-shop.example"
    message["Subject"] = subject
    message["Message-ID"] = "<photo-only@mail.example>"
    message.set_content("")
    message.add_attachment(b"\x89PNG", maintype="image", subtype="png", filename="a.png")
    parsed = parse_mail(bytes(message))
    assert parsed.text == "" and len(parsed.attachments) == 1
    assert parsed.language == language
