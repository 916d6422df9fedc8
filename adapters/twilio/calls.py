"""A voice webhook's form and query: the call, what the caller said or pressed, where the
call is in its flow.

Twilio posts ``CallSid``, ``AccountSid``, ``From``, ``To`` and ``CallStatus`` on every voice
webhook, ``SpeechResult`` / ``Digits`` after a ``<Gather>``, ``DialCallStatus`` after a
``<Dial>``. The flow's own state (the language, the turn, silences so far) rides in the query
of the URLs Ondo gives Twilio, which Twilio signs with the rest: it cannot be forged.

A call's conversation key is ``voice:<CallSid>`` (no number in it); the user is the caller's
pseudonym (:meth:`adapters.twilio.identity.PhoneBook.user_for`, the same as their SMS one, so
consent is shared). Each turn's message id is ``<CallSid>:<turn>``: a redelivered callback is
the same message, recorded and answered once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from multidict import MultiDict

from adapters.twilio.identity import E164_RE, PhoneBook
from bot.types import Language, Message

PLATFORM = "voice"
MAX_SPEECH_CHARS = 2000
"""A ``SpeechResult`` longer than this is no one's sentence."""
MAX_TURNS = 200
MAX_SILENCES = 2
"""After this many silent prompts in a row the call ends politely."""
_CALL_SID_RE = re.compile(r"CA[0-9a-fA-F]{32}")
_DIGITS_RE = re.compile(r"[0-9*#]{0,8}")


class CallError(ValueError):
    """The form or query is no voice webhook's; the message says what (never a number)."""


@dataclass(frozen=True)
class CallIn:
    """One voice webhook: the call and what came with it."""

    sid: str
    caller: str
    shop: str
    status: str
    speech: str
    digits: str

    @property
    def key(self) -> str:
        """The call's conversation key."""
        return f"{PLATFORM}:{self.sid}"


@dataclass(frozen=True)
class Step:
    """Where the call is: its language, the turn being gathered, silences so far."""

    language: Language = "ko"
    turn: int = 1
    silent: int = 0


def parse_call(form: MultiDict[str]) -> CallIn:
    """The call in ``form``; raises :class:`CallError`."""
    sid = form.get("CallSid", "")
    if not _CALL_SID_RE.fullmatch(sid):
        raise CallError("CallSid is missing or not a Twilio call sid")
    shop = form.get("To", "")
    if not E164_RE.fullmatch(shop):
        raise CallError("To is not an E.164 phone number")
    speech = form.get("SpeechResult", "")
    if len(speech) > MAX_SPEECH_CHARS:
        raise CallError(f"SpeechResult is longer than {MAX_SPEECH_CHARS} characters")
    digits = form.get("Digits", "")
    if not _DIGITS_RE.fullmatch(digits):
        raise CallError("Digits holds something no keypad sends")
    # A withheld number ("anonymous", a SIP or client identity) is still a caller.
    caller = form.get("From", "")
    return CallIn(sid, caller, shop, form.get("CallStatus", "")[:40], speech.strip(), digits)


def parse_step(query: Mapping[str, str]) -> Step:
    """The flow's state in a callback URL's query; raises :class:`CallError`."""
    language = query.get("lang", "ko")
    if language not in ("ko", "en"):
        raise CallError("lang must be ko or en")
    turn, silent = query.get("turn", "1"), query.get("silent", "0")
    if not turn.isdecimal() or not 1 <= int(turn) <= MAX_TURNS:
        raise CallError(f"turn must be a number from 1 to {MAX_TURNS}")
    if not silent.isdecimal() or int(silent) > MAX_SILENCES:
        raise CallError(f"silent must be a number from 0 to {MAX_SILENCES}")
    return Step("ko" if language == "ko" else "en", int(turn), int(silent))


def user_of(call: CallIn, phones: PhoneBook) -> str:
    """The caller's pseudonymous user id (their SMS one; for a withheld number, the call's)."""
    who = call.caller if E164_RE.fullmatch(call.caller) else f"call:{call.sid}"
    return phones.user_for(who)


def to_message(call: CallIn, text: str, step: Step, phones: PhoneBook, now: float) -> Message:
    """The platform-free message of one turn of ``call`` saying ``text``."""
    return Message(
        platform=PLATFORM,
        conversation_key=call.key,
        user=user_of(call, phones),
        text=text,
        timestamp=now,
        message_id=f"{call.sid}:{step.turn}",
        raw={"language": step.language},
    )
