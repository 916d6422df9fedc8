"""The answer as a mail (adapters/email/compose.py): in the customer's thread (In-Reply-To,
References, "Re:" once), a Message-ID that a retry repeats, Auto-Submitted: auto-replied, names
RFC 2047-encoded and no header injection from customer values (ko, en)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.email.compose import (
    MAX_REFERENCES,
    base_subject,
    message_id_for,
    reply_subject,
    reply_to,
    thread_root,
)
from adapters.email.loops import why_not_answer
from adapters.email.parse import InboundMail, MailError, parse_mail
from knowledge.language import Language

MAIL = Path(__file__).parent / "data" / "mail"
SUPPORT = "support@ondo.example"
DOMAIN = "ondo.example"
NOW = datetime(2026, 12, 8, 0, 30, tzinfo=UTC)


def load(name: str) -> InboundMail:
    return parse_mail((MAIL / name).read_bytes())


def answer(mail: InboundMail, text: str, language: Language, **kw: object) -> bytes:
    message = reply_to(
        mail,
        text,
        from_address=SUPPORT,
        from_name="온도 고객센터" if language == "ko" else "Ondo Support",
        domain=DOMAIN,
        language=language,
        now=NOW,
        **kw,  # type: ignore[arg-type]
    )
    return message.as_bytes(policy=policy.SMTP)


def test_korean_answer_in_the_thread() -> None:
    mail = load("gmail_ko_quoted.eml")
    raw = answer(mail, "불편을 드려 죄송합니다. 환불을 도와드릴게요.", "ko", token="t-1")
    back = parse_mail(raw)
    assert back.subject == "Re: 주문한 상품이 아직 안 왔어요"  # "Re: Re:" never
    assert back.to == ("minji@example.com",)
    assert back.from_name == "온도 고객센터" and back.from_address == SUPPORT
    assert back.in_reply_to == "<ko-gmail-2@mail.example.com>"
    assert back.references == (
        "<ko-plain-1@mail.example.com>",
        "<reply-1@ondo.example>",
        "<ko-gmail-2@mail.example.com>",
    )
    assert back.auto_submitted == "auto-replied"
    assert back.message_id == message_id_for("t-1", DOMAIN)
    assert back.text == "불편을 드려 죄송합니다. 환불을 도와드릴게요."  # our quote cut again
    assert "님이 작성:" in back.full_text and "> 아직도 안 왔어요. 환불해 주세요." in back.full_text
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()  # names and subject RFC 2047-encoded
    assert b"=?utf-8?" in head
    assert b'Content-Type: text/plain; charset="utf-8"' in head


def test_english_answer_goes_to_reply_to() -> None:
    mail = load("plain_en.eml")
    back = parse_mail(answer(mail, "Your parcel ships today.", "en", token="t-2"))
    assert back.to == ("jose.work@example.org",)
    assert back.subject == "Re: Where is my order? – café"
    assert back.references == ("<en-plain-1@mail.example.net>",)
    assert "On Mon, Dec 7, 2026 at 06:00, José Smith wrote:" in back.full_text
    assert back.text == "Your parcel ships today."


def test_a_retry_resends_the_same_message_id() -> None:
    mail = load("plain_en.eml")
    first = reply_to(
        mail,
        "a",
        from_address=SUPPORT,
        from_name="O",
        domain=DOMAIN,
        language="en",
        token="reply:<en-plain-1@mail.example.net>:1",
    )
    again = reply_to(
        mail,
        "a",
        from_address=SUPPORT,
        from_name="O",
        domain=DOMAIN,
        language="en",
        token="reply:<en-plain-1@mail.example.net>:1",
    )
    other = reply_to(
        mail,
        "a",
        from_address=SUPPORT,
        from_name="O",
        domain=DOMAIN,
        language="en",
        token="reply:<en-plain-1@mail.example.net>:2",
    )
    random = reply_to(mail, "a", from_address=SUPPORT, from_name="O", domain=DOMAIN, language="en")
    assert first["Message-ID"] == again["Message-ID"] != other["Message-ID"]
    assert random["Message-ID"].endswith("@ondo.example>")
    assert "en-plain" not in first["Message-ID"]  # the token is hashed, not shown


def test_our_own_answer_coming_back_is_never_answered() -> None:
    back = parse_mail(answer(load("plain_utf8_ko.eml"), "답변", "ko", token="x"))
    assert why_not_answer(back, our_addresses={SUPPORT}, our_message_ids={DOMAIN}) in {
        "own_address",
        "own_message_id",
    }
    forwarded = replace(back, from_address="relay@example.com")
    assert why_not_answer(forwarded, our_addresses={SUPPORT}, our_message_ids={DOMAIN}) == (
        "own_message_id"
    )
    anonymous = replace(forwarded, message_id="<x@elsewhere.example>")
    assert why_not_answer(anonymous, our_addresses={SUPPORT}) == "auto_submitted"


@pytest.mark.parametrize(
    ("subject", "base"),
    [
        ("Re: Re: RE: order", "order"),
        ("RE[2]: order", "order"),
        ("Re(3): order", "order"),
        ("회신: 교환 문의", "교환 문의"),
        ("답장: RE: 회신: 환불", "환불"),
        ("Aw: Sv: Antw: order", "order"),
        ("Fwd: order", "Fwd: order"),
        ("Regarding order", "Regarding order"),
        ("Re：전각 콜론", "전각 콜론"),
    ],
)
def test_reply_prefixes_never_stack(subject: str, base: str) -> None:
    assert base_subject(subject) == base
    assert reply_subject(subject, "en") == f"Re: {base}"


def test_a_mail_without_subject_gets_a_neutral_one() -> None:
    assert reply_subject("", "ko") == "Re: 문의하신 내용"
    assert reply_subject("  Re:  ", "en") == "Re: Your message"


def test_no_header_injection_from_customer_values() -> None:
    mail = load("header_injection.eml")
    evil = replace(
        mail,
        subject="환불\r\nBcc: victim@example.com\r\n\r\nbody",
        from_name="Evil\nBcc: victim@example.com",
    )
    raw = answer(evil, "답변", "ko", token="t")
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert message.get_all("Bcc") is None
    assert [k for k in message if k.lower() == "to"] == ["To"]
    assert message["To"].addresses[0].addr_spec == "evil@example.com"
    assert "\n" not in str(message["Subject"]) and "\r" not in str(message["Subject"])
    assert str(message["Subject"]).startswith("Re: 환불 Bcc: victim@example.com")


@pytest.mark.parametrize(
    "address", ["", "not-an-address", "a@b.example\r\nBcc: c@d.example", "<a@b.example>"]
)
def test_no_address_to_answer_is_a_mail_error(address: str) -> None:
    mail = replace(load("plain_en.eml"), reply_to=None, from_address=address)
    with pytest.raises(MailError, match="no address to answer"):
        reply_to(mail, "x", from_address=SUPPORT, from_name="O", domain=DOMAIN, language="en")


def test_our_own_values_are_checked() -> None:
    mail = load("plain_en.eml")
    with pytest.raises(MailError):
        reply_to(
            mail, "x", from_address=SUPPORT, from_name="O", domain="bad domain\r\n", language="en"
        )
    with pytest.raises(MailError):
        reply_to(mail, "x", from_address="nobody", from_name="O", domain=DOMAIN, language="en")


def test_references_are_trimmed_keeping_the_root() -> None:
    refs = tuple(f"<r{i}@example.com>" for i in range(40))
    mail = replace(load("plain_en.eml"), references=refs, in_reply_to=refs[-1])
    back = parse_mail(answer(mail, "ok", "en", token="t"))
    assert len(back.references) == MAX_REFERENCES
    assert back.references[0] == "<r0@example.com>"
    assert back.references[-1] == "<en-plain-1@mail.example.net>"
    assert back.references[-2] == "<r39@example.com>"


def test_in_reply_to_missing_from_references_is_added() -> None:
    mail = replace(load("plain_en.eml"), references=(), in_reply_to="<parent@example.com>")
    back = parse_mail(answer(mail, "ok", "en", token="t"))
    assert back.references == ("<parent@example.com>", "<en-plain-1@mail.example.net>")


def test_korean_attribution_in_the_senders_time() -> None:
    kst = timezone(timedelta(hours=9))
    mail = replace(load("plain_utf8_ko.eml"), date=datetime(2026, 12, 7, 15, 5, tzinfo=kst))
    back = parse_mail(answer(mail, "답변", "ko", token="t"))
    assert "2026년 12월 7일 (월) 오후 3:05, 김민지님이 작성:" in back.full_text


def test_without_quote_the_body_is_the_answer_only() -> None:
    raw = answer(load("plain_en.eml"), "Just this.\r\nAnd this.", "en", token="t", quote=False)
    back = parse_mail(raw)
    assert back.full_text == "Just this.\nAnd this."


def test_date_header_from_the_given_clock() -> None:
    message = BytesParser(policy=policy.default).parsebytes(
        answer(load("plain_en.eml"), "ok", "en", token="t")
    )
    assert message["Date"].datetime == NOW


def test_thread_root() -> None:
    first = load("plain_utf8_ko.eml")
    follow = load("gmail_ko_quoted.eml")
    assert thread_root(first) == "<ko-plain-1@mail.example.com>"
    assert thread_root(follow) == "<ko-plain-1@mail.example.com>"  # the same conversation
    only_parent = replace(follow, references=())
    assert thread_root(only_parent) == "<reply-1@ondo.example>"
    # our answer's own thread root is the customer's first mail too
    ours = parse_mail(answer(follow, "답변", "ko", token="t"))
    assert thread_root(ours) == "<ko-plain-1@mail.example.com>"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120), st.text(max_size=60), st.text(max_size=200))
def test_no_customer_value_adds_a_header(subject: str, name: str, text: str) -> None:
    mail = replace(load("plain_en.eml"), subject=subject, from_name=name, reply_to=None)
    raw = answer(mail, text or "ok", "en", token="fuzz")
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert sorted(message.keys()) == sorted(
        [
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "In-Reply-To",
            "References",
            "Auto-Submitted",
            "Content-Type",
            "Content-Transfer-Encoding",
            "MIME-Version",
        ]
    )
    assert message["To"].addresses[0].addr_spec == "jose.smith@example.net"
    assert raw.split(b"\r\n\r\n", 1)[0].isascii()
