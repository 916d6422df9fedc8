"""An SMS webhook's form into a :class:`bot.types.Message`, and the carriers' keywords.

Twilio posts ``MessageSid``, ``AccountSid``, ``From``, ``To``, ``Body`` and ``NumMedia`` (and
may add fields at any time). The message id is the ``MessageSid``: a redelivery of the same
SMS is recorded once. Neither number goes into the message: the conversation key seals both
and the user is a pseudonym (:mod:`adapters.twilio.identity`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from multidict import MultiDict

from adapters.twilio.identity import E164_RE, PhoneBook
from bot.types import Message

MAX_BODY_CHARS = 1600
"""Twilio's longest message; a longer ``Body`` is not an SMS."""
_SID_RE = re.compile(r"(SM|MM)[0-9a-fA-F]{32}")

Keyword = Literal["stop", "start", "help"]
STOP_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
)
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP", "INFO"})


class SmsError(ValueError):
    """The form is no SMS webhook; the message says what is wrong (never a number)."""


@dataclass(frozen=True)
class SmsIn:
    """One inbound SMS."""

    sid: str
    customer: str
    shop: str
    body: str
    media: int


def parse_sms(form: MultiDict[str]) -> SmsIn:
    """The SMS in ``form``; raises :class:`SmsError`."""
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    if not _SID_RE.fullmatch(sid):
        raise SmsError("MessageSid is missing or not a Twilio message sid")
    customer, shop = form.get("From", ""), form.get("To", "")
    if not E164_RE.fullmatch(customer):
        raise SmsError("From is not an E.164 phone number")
    if not E164_RE.fullmatch(shop):
        raise SmsError("To is not an E.164 phone number")
    body = form.get("Body", "")
    if len(body) > MAX_BODY_CHARS:
        raise SmsError(f"Body is longer than an SMS ({MAX_BODY_CHARS} characters)")
    media = form.get("NumMedia", "0")
    return SmsIn(sid, customer, shop, body, int(media) if media.isdecimal() else 0)


def to_message(sms: SmsIn, phones: PhoneBook, now: float) -> Message:
    """The platform-free message of ``sms`` (a picture alone is an empty text)."""
    return Message(
        platform="sms",
        conversation_key=phones.key_for("sms", sms.customer, sms.shop),
        user=phones.user_for(sms.customer),
        text=sms.body,
        timestamp=now,
        message_id=sms.sid,
        raw={"media": sms.media},
    )


def keyword(text: str) -> Keyword | None:
    """The carriers' keyword ``text`` is (the whole message, any case, trailing marks
    ignored): ``stop``, ``start`` or ``help``; ``None`` for any other text."""
    word = re.sub(r"[\s.!?]+$", "", text.strip()).upper()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return None
