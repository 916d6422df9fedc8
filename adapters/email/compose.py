"""The answer to a mail, as a mail in the customer's thread, and the thread a mail belongs to.

:func:`reply_to` writes To (the mail's Reply-To, else its From), "Re: <subject>" (never
"Re: Re:"), In-Reply-To and References so the customer's client threads it, a Message-ID of
our domain (made from a token, so a retry re-sends the same one), and Auto-Submitted:
auto-replied (RFC 3834). The body is text/plain UTF-8: the answer, then an attribution line
("On …, … wrote:" / "… 님이 작성:") over the customer's new text quoted, so the answer reads in
context without the whole history again. No customer value can add a header: CR, LF and other
controls are flattened, names are RFC 2047-encoded by the ``email`` package.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from adapters.email.parse import InboundMail, MailError
from knowledge.language import Language

MAX_REFERENCES = 10
"""References kept: the thread's first and the most recent (RFC 5322 §3.6.4)."""
MAX_SUBJECT_CHARS = 200
MAX_QUOTE_CHARS = 2000
_REPLY_PREFIX = re.compile(
    r"^\s*(?:re|aw|sv|antw|회신|답장|답신|답변)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*", re.IGNORECASE
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]+")
_TOKEN_SAFE = re.compile(r"[^A-Za-z0-9]")
_DOMAIN_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9\-]{1,63})*")
_ADDRESS_RE = re.compile(r"[^@\s<>(),;:\"\[\]\\]{1,64}@[A-Za-z0-9.\-]{1,253}")
_NO_SUBJECT: dict[Language, str] = {"ko": "문의하신 내용", "en": "Your message"}
_WEEKDAYS_KO = "월화수목금토일"


def one_line(value: str) -> str:
    """``value`` on one line: CR, LF and other controls become spaces (no header injection)."""
    return " ".join(_CONTROL.sub(" ", value).split())


def base_subject(subject: str) -> str:
    """``subject`` without its reply prefixes ("Re:", "RE[2]:", "회신:", "답장:" …, stacked)."""
    subject = one_line(subject)
    while True:
        stripped = _REPLY_PREFIX.sub("", subject, count=1)
        if stripped == subject:
            return subject
        subject = stripped


def reply_subject(subject: str, language: Language) -> str:
    """ "Re: " and the base subject, capped; a subject-less mail gets a neutral one."""
    base = base_subject(subject)[:MAX_SUBJECT_CHARS] or _NO_SUBJECT[language]
    return f"Re: {base}"


def message_id_for(token: str, domain: str) -> str:
    """A Message-ID of ``domain`` made from ``token``: the same token, the same Message-ID."""
    digest = hashlib.sha256(token.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def thread_root(mail: InboundMail) -> str:
    """The thread's stable id: the first References entry, else In-Reply-To, else Message-ID."""
    if mail.references:
        return mail.references[0]
    if mail.in_reply_to:
        return mail.in_reply_to
    return mail.message_id


def _references(mail: InboundMail) -> list[str]:
    chain = list(mail.references)
    if mail.in_reply_to and mail.in_reply_to not in chain:
        chain.append(mail.in_reply_to)
    if mail.message_id not in chain:
        chain.append(mail.message_id)
    if len(chain) > MAX_REFERENCES:
        chain = chain[:1] + chain[-(MAX_REFERENCES - 1) :]
    return chain


def _attribution(mail: InboundMail, language: Language) -> str:
    name = one_line(mail.from_name)[:80] or mail.from_address
    if mail.date is None:
        return f"{name}님이 작성:" if language == "ko" else f"{name} wrote:"
    when = mail.date
    if language == "ko":
        half = "오전" if when.hour < 12 else "오후"
        hour = when.hour % 12 or 12
        day = _WEEKDAYS_KO[when.weekday()]
        stamp = f"{when.year}년 {when.month}월 {when.day}일 ({day}) {half} {hour}:{when.minute:02d}"
        return f"{stamp}, {name}님이 작성:"
    stamp = f"{when:%a, %b} {when.day}, {when.year} at {when:%H:%M}"
    return f"On {stamp}, {name} wrote:"


def _body(mail: InboundMail, text: str, language: Language, quote: bool) -> str:
    body = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not quote or not mail.text:
        return body + "\n"
    original = mail.text[:MAX_QUOTE_CHARS]
    quoted = "\n".join(f"> {line}" if line else ">" for line in original.split("\n"))
    return f"{body}\n\n{_attribution(mail, language)}\n{quoted}\n"


def reply_to(
    mail: InboundMail,
    text: str,
    *,
    from_address: str,
    from_name: str,
    domain: str,
    language: Language,
    token: str | None = None,
    now: datetime | None = None,
    quote: bool = True,
) -> EmailMessage:
    """The answer ``text`` to ``mail`` as a mail from the support address, in its thread.

    ``token`` (say, the inbound Message-ID and the reply's number) makes the Message-ID, so a
    retry sends the same one; without it the Message-ID is random. ``now`` is the Date (the
    clock's time when not given). Raises :class:`MailError`
    when there is no address to answer or our own values are unusable.
    """
    recipient = (mail.reply_to or mail.from_address).strip()
    if not _ADDRESS_RE.fullmatch(recipient):
        raise MailError("the mail has no address to answer")
    if not _DOMAIN_RE.fullmatch(domain) or not _ADDRESS_RE.fullmatch(from_address):
        raise MailError("the support address or the Message-ID domain is not valid")
    reply = EmailMessage()
    reply["From"] = Address(display_name=one_line(from_name), addr_spec=from_address)
    to_name = one_line(mail.from_name)[:80] if recipient == mail.from_address else ""
    reply["To"] = Address(display_name=to_name, addr_spec=recipient)
    reply["Subject"] = reply_subject(mail.subject, language)
    reply["Date"] = format_datetime(now if now is not None else datetime.now(UTC))
    made = token if token is not None else secrets.token_hex(16)
    reply["Message-ID"] = message_id_for(made, domain)
    reply["In-Reply-To"] = mail.message_id
    reply["References"] = " ".join(_references(mail))
    reply["Auto-Submitted"] = "auto-replied"
    reply.set_content(_body(mail, text, language, quote), subtype="plain", charset="utf-8")
    return reply
