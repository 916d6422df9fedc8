"""Find and redact personal data (PII) in customer messages before they are stored or sent.

Kinds: ``email``, ``rrn`` (Korean resident / foreigner registration number with a real
date), ``card`` (13-19 digits, Luhn-valid), ``phone`` and ``account`` (bank account: dashed
groups of 10-14 digits, or a bare 10-14 digit run next to 계좌/은행/account/bank). Overlaps
resolve by precedence email > rrn > card > phone > account, except that a *bare* digit run
next to an account word is read as an account even when it also passes Luhn or starts with
a date (unless "card"/"주민" is said too).

Deliberately *not* redacted, because they identify the shop or an order rather than a person:
the shop's order numbers (``ORD-20261127-0001``, ``20261127-123456``), anything right after an
order/tracking/invoice/business-number label, Korean service numbers (``1588-0000``,
``1577 1234``), toll-free ``080`` numbers and ``050x`` proxy numbers, and URLs. Dates, times,
prices and version numbers never match the patterns in the first place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from bot.types import Language

PLACEHOLDERS: Final[dict[str, dict[Language, str]]] = {
    "email": {"ko": "[이메일]", "en": "[EMAIL]"},
    "rrn": {"ko": "[주민등록번호]", "en": "[RRN]"},
    "card": {"ko": "[카드번호]", "en": "[CARD]"},
    "phone": {"ko": "[전화번호]", "en": "[PHONE]"},
    "account": {"ko": "[계좌번호]", "en": "[ACCOUNT]"},
}

_PRECEDENCE: Final = ("email", "rrn", "card", "phone", "account")


@dataclass(frozen=True)
class PiiSpan:
    """One piece of personal data: its kind, ``text[start:end]`` and that text."""

    kind: str
    start: int
    end: int
    text: str


_A = re.ASCII  # digits are [0-9]; Hangul next to a number is not a "word" character

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"\.[A-Za-z]{2,}(?![A-Za-z0-9-])",
    _A,
)

# YYMMDD, then the gender/century digit: 1-4 for citizens, 5-8 for registered foreigners.
_RRN = re.compile(
    r"(?<![0-9])(?<![0-9]-)(?P<yy>\d{2})(?P<mm>\d{2})(?P<dd>\d{2}) ?-? ?(?P<g>[1-8])\d{6}(?![0-9])",
    _A,
)

_CARD = re.compile(
    r"(?<![0-9])(?:"
    r"\d{13,19}"
    r"|\d{4}(?P<s1>[ -])\d{4}(?P=s1)\d{4}(?P=s1)\d{1,4}(?:(?P=s1)\d{3})?"
    r"|\d{4}(?P<s2>[ -])\d{6}(?P=s2)\d{4,5}"
    r")(?![0-9])",
    _A,
)

# Korean numbers: mobile 01x, Seoul 02, regional 031-064, VoIP 070. Toll-free 080 and proxy
# 050x are left out on purpose (see the module docstring).
_KR_PHONE = re.compile(
    r"(?<![0-9+])(?<![0-9]-)"
    r"(?:(?:\+|00)82[ -]?(?:\(0\)[ -]?)?\(?|\(?0)"
    r"(?:1[016789]|2|3[1-3]|4[1-4]|5[1-5]|6[1-4]|70)\)?[ .-]?\d{3,4}[ .-]?\d{4}(?![0-9])",
    _A,
)
# Other countries need the +country-code prefix; digit count is checked afterwards.
_INTL_PHONE = re.compile(
    r"(?<![A-Za-z0-9+])\+(?!82)[1-9]\d{0,2}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?![0-9])", _A
)
# North American numbers without +1: (415) 555-0100, 415-555-0100, 415.555.0100.
_NANP = re.compile(
    r"(?<![0-9+-])(?:1[ .-])?(?:\([2-9]\d{2}\) ?|[2-9]\d{2}[.-])[2-9]\d{2}[.-]\d{4}(?![0-9-])",
    _A,
)
_INTL_DIGITS = (8, 15)

_ACCOUNT_DASHED = re.compile(r"(?<![A-Za-z0-9-])\d{2,6}(?:-\d{2,8}){1,3}(?![A-Za-z0-9-])", _A)
_ACCOUNT_PLAIN = re.compile(r"(?<![A-Za-z0-9])\d{10,14}(?![A-Za-z0-9])", _A)
_ACCOUNT_DIGITS = (10, 14)
_ACCOUNT_CONTEXT = re.compile(
    r"계좌|은행|뱅크|농협|우체국|새마을금고|신협|수협|입금|예금주|\baccount|\bacct\b|\bbank|\biban\b",
    re.IGNORECASE,
)
_CARD_CONTEXT = re.compile(r"카드|\bcard|\bvisa\b|\bmaster|\bamex\b", re.IGNORECASE)
_RRN_CONTEXT = re.compile(r"주민|외국인\s*등록|생년월일|\bresident|\brrn\b|\bssn\b", re.IGNORECASE)
_CONTEXT_BEFORE = 20
_CONTEXT_AFTER = 12

# Spans whose contents are never PII: a candidate lying entirely inside one is dropped.
_PROTECTED = re.compile(
    r"\bORD-?\d{8}-?\d{4,6}\b"
    r"|(?<![0-9])20\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])-\d{4,6}(?![0-9])"
    r"|(?:주문\s*번호|order\s*(?:number|no\.?|#|id)|송장\s*번호|운송장(?:\s*번호)?"
    r"|tracking\s*(?:number|no\.?|#)?|사업자\s*(?:등록\s*)?번호|business\s+registration"
    r"(?:\s+(?:number|no\.?))?|상품\s*번호|모델\s*(?:명|번호)|model\s*(?:number|no\.?)?"
    r"|invoice\s*(?:number|no\.?|#)?|인보이스)\s*[:#.]?\s*(?:은|는|이|가)?\s*"
    r"[A-Za-z0-9][A-Za-z0-9-]*"
    r"|(?<![0-9])(?<![0-9][ -])(?:1[5-9]\d{2}|080|050\d)[ -]?\d{3,4}(?:[ -]?\d{4})?"
    r"(?![0-9])(?![ -][0-9])"
    r"|https?://\S+|www\.\S+",
    re.IGNORECASE | re.ASCII,
)

_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _luhn_ok(number: str) -> bool:
    digits = [int(ch) for ch in number if ch.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _rrn_date_ok(m: re.Match[str]) -> bool:
    century = 1900 if m["g"] in "1256" else 2000
    year, month, day = century + int(m["yy"]), int(m["mm"]), int(m["dd"])
    if not 1 <= month <= 12 or day < 1:
        return False
    if month == 2 and day == 29:
        return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return day <= _DAYS_IN_MONTH[month - 1]


def _near(pattern: re.Pattern[str], text: str, start: int, end: int) -> bool:
    window = text[max(0, start - _CONTEXT_BEFORE) : start] + " " + text[end : end + _CONTEXT_AFTER]
    return pattern.search(window) is not None


def _candidates(text: str) -> list[tuple[str, int, int]]:
    found: list[tuple[str, int, int]] = []
    found += [("email", m.start(), m.end()) for m in _EMAIL.finditer(text)]
    for m in _RRN.finditer(text):
        # A bare 13-digit run next to "계좌"/"account" whose first six digits happen to be a
        # date is still an account number, unless the customer also says "주민".
        if not _rrn_date_ok(m) or (
            m.group().isdigit()
            and _near(_ACCOUNT_CONTEXT, text, m.start(), m.end())
            and not _near(_RRN_CONTEXT, text, m.start(), m.end())
        ):
            continue
        found.append(("rrn", m.start(), m.end()))
    for m in _CARD.finditer(text):
        if not _luhn_ok(m.group()):
            continue
        # A bare run of account length next to "계좌"/"account" is an account number that
        # happens to pass Luhn (one in ten do), unless the customer also says "card".
        if (
            m.group().isdigit()
            and len(m.group()) <= _ACCOUNT_DIGITS[1]
            and _near(_ACCOUNT_CONTEXT, text, m.start(), m.end())
            and not _near(_CARD_CONTEXT, text, m.start(), m.end())
        ):
            continue
        found.append(("card", m.start(), m.end()))
    found += [("phone", m.start(), m.end()) for m in _KR_PHONE.finditer(text)]
    found += [("phone", m.start(), m.end()) for m in _NANP.finditer(text)]
    low, high = _INTL_DIGITS
    found += [
        ("phone", m.start(), m.end())
        for m in _INTL_PHONE.finditer(text)
        if low <= _digits(m.group()) <= high
    ]
    low, high = _ACCOUNT_DIGITS
    found += [
        ("account", m.start(), m.end())
        for m in _ACCOUNT_DASHED.finditer(text)
        if low <= _digits(m.group()) <= high
    ]
    found += [
        ("account", m.start(), m.end())
        for m in _ACCOUNT_PLAIN.finditer(text)
        if _near(_ACCOUNT_CONTEXT, text, m.start(), m.end())
    ]
    return found


def find_pii(text: str) -> list[PiiSpan]:
    """Return the personal data in ``text`` as non-overlapping spans, in text order."""
    protected = [(m.start(), m.end()) for m in _PROTECTED.finditer(text)]
    rank = {kind: i for i, kind in enumerate(_PRECEDENCE)}
    chosen: list[tuple[str, int, int]] = []
    for kind, start, end in sorted(_candidates(text), key=lambda c: (rank[c[0]], c[1])):
        if kind != "email" and any(ps <= start and end <= pe for ps, pe in protected):
            continue
        if any(start < e and s < end for _, s, e in chosen):
            continue
        chosen.append((kind, start, end))
    chosen.sort(key=lambda c: c[1])
    return [PiiSpan(kind, start, end, text[start:end]) for kind, start, end in chosen]


def redact(text: str, language: Language = "en") -> str:
    """Replace every PII span in ``text`` with its placeholder in ``language``.

    For example ``redact("010-1234-5678로 연락주세요", "ko")`` gives
    ``"[전화번호]로 연락주세요"``.
    """
    parts: list[str] = []
    last = 0
    for span in find_pii(text):
        parts.append(text[last : span.start])
        parts.append(PLACEHOLDERS[span.kind][language])
        last = span.end
    parts.append(text[last:])
    return "".join(parts)
