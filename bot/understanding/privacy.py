"""Find and redact personal data (PII) in customer messages before they are stored or sent.

Kinds: ``email``, ``rrn`` (Korean resident / foreigner registration number with a real date,
any date when the customer calls it 주민번호, or its back seven digits after "주민번호
뒷자리"), ``card`` (13-19 digits, Luhn-valid), ``phone`` and ``account`` (bank account: dashed
groups of 10-14 digits, a bare 10-14 digit run next to 계좌/은행/account/bank, or a checksummed
IBAN). Overlaps resolve by precedence email > rrn > card > phone > account, except that a
*bare* digit run next to an account word is read as an account even when it also passes Luhn
or starts with a date (unless "card"/"주민" is said too).

Deliberately *not* redacted, because they identify the shop, a parcel or an order rather than
a person: the shop's order numbers (``ORD-20261127-0001``, ``20261127-123456``; kept, and
reported by :func:`find_order_numbers` so they can be marked), anything right after an
order / tracking / courier / invoice / coupon / gift-card / barcode / business-number label,
Korean service numbers (``1588-0000``, ``1577 1234``), toll-free ``080`` numbers and ``050x``
safe numbers, Korean product barcodes (bare 13 digits starting 880 with a valid EAN check
digit) and URLs. Those labels never hide an e-mail address or a phone number. Dates, times,
prices and version numbers never match the patterns in the first place.

Every pattern is linear in the length of the text (no unbounded quantifiers next to each other
over the same characters): this runs on every message, and a message can be long.
"""

from __future__ import annotations

import bisect
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

ORDER_KIND: Final = "order"
"""The kind of the spans :func:`find_order_numbers` returns; never redacted."""

_PRECEDENCE: Final = ("email", "rrn", "card", "phone", "account")
# Labels describe what follows them, but a customer's e-mail address or phone number after
# one ("주문번호 010-...") is still theirs.
_NEVER_PROTECTED: Final = frozenset({"email", "phone"})


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
# "주민번호 뒷자리 1234567": the back half alone, which is what forms often ask for.
_RRN_BACK = re.compile(
    r"(?:주민|외국인)[^0-9\n]{0,12}?뒷\s?(?:자리|번호)[^0-9\n]{0,8}?(?P<back>[1-8]\d{6})(?![0-9])",
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

# Korean numbers: mobile 01x, Seoul 02, regional 031-064, VoIP 070. Toll-free 080 and safe
# numbers 050x are left out on purpose (see the module docstring). An opening parenthesis
# belongs to the number only when it closes around the area code: "(02)123-4567".
_KR_AREA = r"(?:1[016789]|2|3[1-3]|4[1-4]|5[1-5]|6[1-4]|70)"
_KR_SEP = r"(?: ?[.-] ?| )?"
_KR_PHONE = re.compile(
    r"(?<![0-9+])(?<![0-9]-)"
    rf"(?:(?:\+|00)82[ -]?(?:\(0\)[ -]?)?(?:\({_KR_AREA}\)|{_KR_AREA})"
    rf"|\(0{_KR_AREA}\)|0{_KR_AREA})"
    rf"{_KR_SEP}\d{{3,4}}{_KR_SEP}\d{{4}}(?![0-9])",
    _A,
)
# Other countries need the +country-code prefix; digit count is checked afterwards.
_INTL_PHONE = re.compile(
    r"(?<![A-Za-z0-9+])\+(?!82)[1-9]\d{0,2}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?![0-9])", _A
)
# North American numbers without +1: (415) 555-0100, 415-555-0100, 415.555.0100. The exchange
# may start with any digit: customers type fictional (555) 123-4567 numbers too.
_NANP = re.compile(
    r"(?<![0-9+-])(?:1[ .-])?(?:\([2-9]\d{2}\) ?|[2-9]\d{2}[.-])\d{3}[.-]\d{4}(?![0-9-])",
    _A,
)
_INTL_DIGITS = (8, 15)

_ACCOUNT_DASHED = re.compile(r"(?<![A-Za-z0-9-])\d{2,6}(?:-\d{1,8}){1,3}(?![A-Za-z0-9-])", _A)
_ACCOUNT_PLAIN = re.compile(r"(?<![A-Za-z0-9])\d{10,14}(?![A-Za-z0-9])", _A)
_ACCOUNT_DIGITS = (10, 14)
_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])", _A
)
_ISO_DATE = re.compile(r"(?:19|20)\d{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?!\d)", _A)

_ACCOUNT_CONTEXT = re.compile(
    r"계좌|은행|뱅크|농협|우체국|새마을금고|신협|수협|입금|예금주|\baccount|\bacct\b|\bbank|\biban\b",
    re.IGNORECASE,
)
_CARD_CONTEXT = re.compile(r"카드|\bcard|\bvisa\b|\bmaster|\bamex\b", re.IGNORECASE)
_RRN_CONTEXT = re.compile(
    r"주민|외국인\s?등록|생년월일|\bresident|\brrn\b|\bssn\b|\balien\s+registration",
    re.IGNORECASE,
)
_CONTEXT_BEFORE = 20
_CONTEXT_AFTER = 12
_RRN_CONTEXT_BEFORE = 32

# What follows one of these labels is the shop's or a courier's number, not the customer's.
_ORDER_LABELS = r"주문\s?번호|\border\s?(?:number|no\.?|#|id)(?![A-Za-z])"
_OTHER_LABELS = (
    r"송장\s?번호|운송장(?:\s?번호)?|사업자\s?(?:등록\s?)?번호|상품\s?(?:번호|코드)"
    r"|모델\s?(?:명|번호)|인보이스|쿠폰\s?(?:번호|코드)?|상품권\s?(?:번호)?|기프티콘(?:\s?번호)?"
    r"|바코드(?:\s?번호)?|문의\s?번호|접수\s?번호|예약\s?번호"
    r"|(?:CJ\s?)?대한통운|(?:한진|롯데|로젠|우체국|경동|CU|GS)\s?택배"
    r"|\b(?:tracking(?:\s(?:number|no\.?|id|code))?|waybill"
    r"|invoice(?:\s(?:number|no\.?))?|business\sregistration(?:\s(?:number|no\.?))?"
    r"|model(?:\s(?:number|no\.?))?|gift\s?card(?:\s(?:number|code|no\.?))?"
    r"|coupon(?:\s(?:code|number))?|voucher(?:\s(?:code|number))?|promo(?:tion)?\s?code"
    r"|barcode|ean|isbn|sku|cj\slogistics|hanjin|fedex|ups|usps|dhl)(?![A-Za-z])"
)
# Bounded separators between a label and its value (": ", "는 ", " #"), so that a label
# followed by thousands of spaces cannot make the match backtrack.
_LABEL_SEP = r"(?:\s{0,3}(?:은|는|이|가|:|#|\.|=)){0,2}\s{0,3}"
# The value: one token with a digit in it, plus any further space-separated digit groups
# ("6789 1234 5678"); "CJ Logistics tracking no. 6789-..." skips the word to the next label.
_LABEL_VALUE = r"(?=[A-Za-z-]{0,20}\d)[A-Za-z0-9][A-Za-z0-9-]*(?: \d{2,6}(?![A-Za-z0-9-]))*"
_ORDER_ID = (
    r"(?<![A-Za-z0-9])ORD-?\d{8}-?\d{4,6}(?![A-Za-z0-9])"
    r"|(?<![0-9])20\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])-\d{4,6}(?![0-9])"
)
_FLAGS = re.IGNORECASE | re.ASCII
_OTHER_LABELLED = re.compile(rf"(?:{_OTHER_LABELS}){_LABEL_SEP}{_LABEL_VALUE}", _FLAGS)
_PROTECTED = re.compile(
    rf"{_ORDER_ID}"
    rf"|(?:{_ORDER_LABELS}|{_OTHER_LABELS}){_LABEL_SEP}{_LABEL_VALUE}"
    r"|(?<![0-9])(?<![0-9][ -])(?:1[5-9]\d{2}|080|050\d)[ -]?\d{3,4}(?:[ -]?\d{4})?"
    r"(?![0-9])(?![ -][0-9])"
    r"|https?://\S+|www\.\S+",
    _FLAGS,
)
_ORDER = re.compile(
    rf"{_ORDER_ID}|(?:{_ORDER_LABELS}){_LABEL_SEP}(?P<labelled>{_LABEL_VALUE})", _FLAGS
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


def _ean13_ok(number: str) -> bool:
    digits = [int(ch) for ch in number]
    weighted = sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits[:12]))
    return len(digits) == 13 and (10 - weighted % 10) % 10 == digits[12]


def _iban_ok(iban: str) -> bool:
    compact = iban.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rotated = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rotated)) % 97 == 1


def _rrn_date_ok(m: re.Match[str]) -> bool:
    century = 1900 if m["g"] in "1256" else 2000
    year, month, day = century + int(m["yy"]), int(m["mm"]), int(m["dd"])
    if not 1 <= month <= 12 or day < 1:
        return False
    if month == 2 and day == 29:
        return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return day <= _DAYS_IN_MONTH[month - 1]


def _near(
    pattern: re.Pattern[str], text: str, start: int, end: int, before: int = _CONTEXT_BEFORE
) -> bool:
    window = text[max(0, start - before) : start] + " " + text[end : end + _CONTEXT_AFTER]
    return pattern.search(window) is not None


def _rrn_candidates(text: str) -> list[tuple[str, int, int]]:
    found: list[tuple[str, int, int]] = []
    for m in _RRN.finditer(text):
        said_rrn = _near(_RRN_CONTEXT, text, m.start(), m.end(), _RRN_CONTEXT_BEFORE)
        bare = m.group().isdigit()
        if not said_rrn and (
            not _rrn_date_ok(m)
            # A bare 13-digit run next to "계좌"/"account" whose first six digits happen to
            # be a date is an account number.
            or (bare and _near(_ACCOUNT_CONTEXT, text, m.start(), m.end()))
            # Korean product barcodes are 880 + 9 digits + an EAN-13 check digit.
            or (bare and m.group().startswith("880") and _ean13_ok(m.group()))
        ):
            continue
        found.append(("rrn", m.start(), m.end()))
    found += [("rrn", m.start("back"), m.end("back")) for m in _RRN_BACK.finditer(text)]
    return found


def _card_candidates(text: str) -> list[tuple[str, int, int]]:
    found: list[tuple[str, int, int]] = []
    for m in _CARD.finditer(text):
        if not _luhn_ok(m.group()):
            continue
        # A run of account length next to "계좌"/"account" is an account number that happens
        # to pass Luhn (one in ten do), unless the customer also says "card".
        if (
            _digits(m.group()) <= _ACCOUNT_DIGITS[1]
            and _near(_ACCOUNT_CONTEXT, text, m.start(), m.end())
            and not _near(_CARD_CONTEXT, text, m.start(), m.end())
        ):
            continue
        found.append(("card", m.start(), m.end()))
    return found


def _phone_candidates(text: str) -> list[tuple[str, int, int]]:
    found = [("phone", m.start(), m.end()) for m in _KR_PHONE.finditer(text)]
    found += [("phone", m.start(), m.end()) for m in _NANP.finditer(text)]
    low, high = _INTL_DIGITS
    found += [
        ("phone", m.start(), m.end())
        for m in _INTL_PHONE.finditer(text)
        if low <= _digits(m.group()) <= high
    ]
    return found


def _account_candidates(text: str) -> list[tuple[str, int, int]]:
    low, high = _ACCOUNT_DIGITS
    found = [
        ("account", m.start(), m.end())
        for m in _ACCOUNT_DASHED.finditer(text)
        if low <= _digits(m.group()) <= high and not _ISO_DATE.match(m.group())
    ]
    found += [
        ("account", m.start(), m.end())
        for m in _ACCOUNT_PLAIN.finditer(text)
        if _near(_ACCOUNT_CONTEXT, text, m.start(), m.end())
    ]
    found += [("account", m.start(), m.end()) for m in _IBAN.finditer(text) if _iban_ok(m.group())]
    return found


def _candidates(text: str) -> list[tuple[str, int, int]]:
    return [
        *(("email", m.start(), m.end()) for m in _EMAIL.finditer(text)),
        *_rrn_candidates(text),
        *_card_candidates(text),
        *_phone_candidates(text),
        *_account_candidates(text),
    ]


class _Intervals:
    """Disjoint half-open intervals kept sorted, for overlap tests in O(log n)."""

    def __init__(self, spans: list[tuple[int, int]] | None = None) -> None:
        self._starts = [s for s, _ in spans or ()]
        self._ends = [e for _, e in spans or ()]

    @classmethod
    def merged(cls, spans: list[tuple[int, int]]) -> _Intervals:
        """The union of possibly overlapping ``spans``."""
        out: list[tuple[int, int]] = []
        for start, end in sorted(spans):
            if out and start < out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], end))
            else:
                out.append((start, end))
        return cls(out)

    def covers(self, start: int, end: int) -> bool:
        """Whether one interval contains ``[start, end)`` entirely."""
        i = bisect.bisect_right(self._starts, start) - 1
        return i >= 0 and end <= self._ends[i]

    def overlaps(self, start: int, end: int) -> bool:
        """Whether any interval shares a character with ``[start, end)``."""
        i = bisect.bisect_left(self._ends, start + 1)
        return i < len(self._starts) and self._starts[i] < end

    def add(self, start: int, end: int) -> None:
        """Insert ``[start, end)``, which must not overlap any interval already present."""
        i = bisect.bisect_left(self._starts, start)
        self._starts.insert(i, start)
        self._ends.insert(i, end)


def find_pii(text: str) -> list[PiiSpan]:
    """Return the personal data in ``text`` as non-overlapping spans, in text order."""
    protected = _Intervals([(m.start(), m.end()) for m in _PROTECTED.finditer(text)])
    rank = {kind: i for i, kind in enumerate(_PRECEDENCE)}
    chosen = _Intervals()
    spans: list[tuple[str, int, int]] = []
    for kind, start, end in sorted(_candidates(text), key=lambda c: (rank[c[0]], c[1])):
        if kind not in _NEVER_PROTECTED and protected.covers(start, end):
            continue
        if chosen.overlaps(start, end):
            continue
        chosen.add(start, end)
        spans.append((kind, start, end))
    spans.sort(key=lambda c: c[1])
    return [PiiSpan(kind, start, end, text[start:end]) for kind, start, end in spans]


def find_order_numbers(text: str) -> list[PiiSpan]:
    """The shop's order numbers in ``text``, as spans of kind ``"order"``, in text order.

    They are never redacted (an agent needs them); this marks them, e.g. for a summary. An
    order number is the shop's format (``ORD-20261127-0001``, ``20261127-123456``) or the
    value after an order-number label (``주문번호: 20261127123456``); a value that is
    personal data (``주문번호 010-1234-5678``) or follows another label (``Invoice
    #20261127-0009``) is not one.
    """
    # Neither personal data nor another label's value ("Invoice #20261127-0009").
    taken = _Intervals.merged(
        [(s.start, s.end) for s in find_pii(text)]
        + [(m.start(), m.end()) for m in _OTHER_LABELLED.finditer(text)]
    )
    spans: list[PiiSpan] = []
    for m in _ORDER.finditer(text):
        start, end = m.span("labelled") if m["labelled"] else m.span()
        if not taken.overlaps(start, end):
            spans.append(PiiSpan(ORDER_KIND, start, end, text[start:end]))
    return spans


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


_PLACEHOLDER_RE = re.compile(
    "|".join(re.escape(p) for names in PLACEHOLDERS.values() for p in names.values())
)


def without_identifiers(redacted: str) -> str:
    """``redacted`` text without its placeholders and order numbers, for reading what the
    customer means: an identifier says nothing about their mood or question, yet its
    characters sway the n-gram models (``ORD-20261127-0042`` read as positive, ``[전화번호]``
    matched the phone-number FAQ)."""
    spans = find_order_numbers(redacted)
    kept: list[str] = []
    start = 0
    for span in spans:
        kept.append(redacted[start : span.start])
        start = span.end
    kept.append(redacted[start:])
    return " ".join(_PLACEHOLDER_RE.sub(" ", "".join(kept)).split())
