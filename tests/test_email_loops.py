"""Mail never answered (adapters/email/loops.py): our own mail coming back, bounces,
auto-replies and out-of-office (ko, en), lists, bulk, an empty Return-Path, noreply senders,
and a per-sender rate limit on a controllable clock (RFC 3834)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from adapters.email.loops import REASONS, SenderRate, why_not_answer
from adapters.email.parse import InboundMail, parse_mail

MAIL = Path(__file__).parent / "data" / "mail"
OURS = {"support@ondo.example", "Help@Ondo.Example"}
DOMAIN = "ondo.example"


def load(name: str) -> InboundMail:
    return parse_mail((MAIL / name).read_bytes())


def why(mail: InboundMail, rate: SenderRate | None = None) -> str | None:
    return why_not_answer(mail, our_addresses=OURS, our_message_ids={DOMAIN}, rate=rate)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("own_reply.eml", "own_address"),
        ("own_reply_forwarded.eml", "own_message_id"),
        ("bounce_dsn.eml", "bounce"),
        ("ooo_en.eml", "auto_submitted"),
        ("ooo_en_subject_only.eml", "out_of_office"),
        ("ooo_ko.eml", "out_of_office"),
        ("bulk.eml", "precedence"),
        ("list.eml", "mailing_list"),
        ("noreply.eml", "noreply_sender"),
    ],
)
def test_sample_mails_not_answered(name: str, reason: str) -> None:
    assert reason in REASONS
    assert why(load(name)) == reason


@pytest.mark.parametrize(
    "name",
    [
        "plain_utf8_ko.eml",
        "plain_en.eml",
        "gmail_ko_quoted.eml",  # a customer's reply to our mail: In-Reply-To is ours, fine
        "gmail_en_quoted.eml",
        "euckr_cp949.eml",
        "html_only.eml",
        "attachments.eml",
    ],
)
def test_customers_mail_is_answered(name: str) -> None:
    assert why(load(name)) is None


def test_header_rules_one_by_one() -> None:
    base = load("plain_en.eml")
    cases: list[tuple[InboundMail, str | None]] = [
        (replace(base, auto_submitted="auto-generated"), "auto_submitted"),
        (replace(base, auto_submitted="auto-replied; owner-email=x"), "auto_submitted"),
        (replace(base, auto_submitted="no"), None),
        (replace(base, auto_submitted="No"), None),
        (replace(base, auto_reply_headers=("x-autorespond",)), "auto_reply_header"),
        (replace(base, precedence="Bulk"), "precedence"),
        (replace(base, precedence="junk"), "precedence"),
        (replace(base, precedence="list"), "precedence"),
        (replace(base, precedence="first-class"), None),
        (replace(base, list_id="<news.example.com>"), "mailing_list"),
        (replace(base, list_unsubscribe="<mailto:u@example.com>"), "mailing_list"),
        (replace(base, return_path="<>"), "empty_return_path"),
        (replace(base, return_path="< >"), "empty_return_path"),
        (replace(base, return_path="<jose@example.net>"), None),
        (replace(base, is_report=True), "bounce"),
        (replace(base, from_address="postmaster@example.net"), "bounce"),
        (replace(base, from_address="mailer-daemon@example.net"), "bounce"),
        (replace(base, reply_to="support@ondo.example"), "own_address"),
        (replace(base, from_address="help@ondo.example"), "own_address"),
        (replace(base, message_id="<abc@ONDO.example>"), "own_message_id"),
        (replace(base, message_id="<abc@notondo.example>"), None),
    ]
    for mail, reason in cases:
        assert why(mail) == reason, mail


@pytest.mark.parametrize(
    "sender",
    [
        "noreply@example.com",
        "no-reply@example.com",
        "no_reply@example.com",
        "donotreply@example.com",
        "do-not-reply@example.com",
        "noreply-abc123@example.com",
        "bounces+abc@example.com",
    ],
)
def test_noreply_senders(sender: str) -> None:
    assert why(replace(load("plain_en.eml"), from_address=sender)) == "noreply_sender"


@pytest.mark.parametrize(
    "sender", ["norah@example.com", "replyguy@example.com", "noel@example.com"]
)
def test_names_like_noreply_are_customers(sender: str) -> None:
    assert why(replace(load("plain_en.eml"), from_address=sender)) is None


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: Re: order",
        "Automatic reply: question",
        "Auto-Reply: away",
        "Autoreply",
        "Vacation reply",
        "자동 회신: 문의",
        "자동응답 메일입니다",
        "[부재중] 12월 10일까지",
        "부재 중 알림",
    ],
)
def test_out_of_office_subjects(subject: str) -> None:
    assert why(replace(load("plain_en.eml"), subject=subject)) == "out_of_office"


@pytest.mark.parametrize(
    "subject", ["Re: office chair refund", "회신: 자동차 용품 문의", "Where is my order?"]
)
def test_ordinary_subjects_pass(subject: str) -> None:
    assert why(replace(load("plain_en.eml"), subject=subject)) is None


def test_exact_own_message_ids() -> None:
    mail = replace(load("plain_en.eml"), message_id="<sent-1@mx.provider.example>")
    sent = {"<sent-1@mx.provider.example>"}
    assert why_not_answer(mail, our_addresses=OURS, our_message_ids=sent) == "own_message_id"
    assert why_not_answer(mail, our_addresses=OURS) is None


def test_rate_limit_per_sender_per_hour() -> None:
    clock = Clock()
    rate = SenderRate(limit=3, window=3600, clock=clock)
    ko, en = load("plain_utf8_ko.eml"), load("plain_en.eml")
    kos = [replace(ko, message_id=f"<ko-{i}@mail.example.kr>") for i in range(6)]
    assert [why(kos[i], rate) for i in range(4)] == [None, None, None, "rate_limited"]
    assert why(en, rate) is None  # another sender has a budget of its own
    clock.now += 3599
    assert why(kos[4], rate) == "rate_limited"
    clock.now += 2
    assert why(kos[5], rate) is None  # the first one left the window


def test_the_same_mail_read_again_uses_no_budget() -> None:
    """A redelivery (a restart, a second copy in the mailbox) is admitted again, uncounted:
    the record dedupes it, and the sender's next new mail is still answered."""
    rate = SenderRate(limit=2, clock=Clock())
    ko = load("plain_utf8_ko.eml")
    first, second, third = (replace(ko, message_id=f"<k{i}@mail.example.kr>") for i in range(3))
    assert why(first, rate) is None
    assert [why(first, rate) for _ in range(5)] == [None] * 5
    assert why(second, rate) is None
    assert why(third, rate) == "rate_limited"
    assert why(first, rate) is None  # still the same mail


def test_an_ignored_mail_does_not_use_the_budget() -> None:
    rate = SenderRate(limit=1, clock=Clock())
    en = load("plain_en.eml")
    assert why(replace(en, precedence="bulk"), rate) == "precedence"
    assert why(en, rate) is None
    assert why(replace(en, message_id="<next@mail.example.com>"), rate) == "rate_limited"


def test_rate_keeps_hashes_not_addresses() -> None:
    rate = SenderRate(limit=2, clock=Clock(), max_senders=5)
    for i in range(20):
        assert rate.admit(f"Person{i}@Example.com")
    assert rate.admit("PERSON19@example.com ")  # same sender, case and space aside
    assert not rate.admit("person19@example.com")
    key = SenderRate.key("person19@example.com")
    assert len(key) == 32 and "@" not in key and "person" not in key
    assert not any("@" in k for k in rate._seen)
    assert len(rate._seen) <= 6  # a flood of distinct senders does not grow without end
