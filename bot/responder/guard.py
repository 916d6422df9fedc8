"""Is this model text safe to send? An allow-list check of everything a model writes.

A model's answer may only state facts that the passages it was given state: numbers, amounts,
dates and times, phone, card and account numbers, order numbers, links and host names on any
top-level domain, e-mail addresses, mentions and channel links, messenger ids, street
addresses and people's names. Both sides are normalised first (NFKC, invisible and bidi
controls removed, every Unicode digit made ASCII, obfuscated links such as
``evil [.] example``, ``hxxp://`` or ``www dot evil dot com`` rejoined), so a fact cannot be
smuggled past the comparison by its spelling. A host with a non-ASCII letter (a look-alike) is
refused outright. A claim that an action was taken ("I've refunded", "환불 처리했습니다",
"Refunded ✅") is refused unless a passage makes the same claim; a promise of one ("I will
waive", "환불해 드리겠습니다") unless a passage speaks of that action; "I promise" and
"guarantee" unless a passage does. The reply must be in the request's language, bounded in
length by the passages, must not echo or paraphrase its instructions, and must not be internal
text (an injected check).

:func:`refusal` answers with the reason (a short phrase for a log line, never the text) or
``None``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from bot.responder.prompts import echoes_instructions, instruction_references
from bot.types import Language
from bot.understanding.privacy import find_order_numbers, find_pii
from knowledge.text import normalise

ABSOLUTE_MAX_CHARS = 1500
"""No answer is longer than this, whatever the passages."""
MIN_MAX_CHARS = 400
"""An answer may always be this long (a short passage still allows a friendly reply)."""
PASSAGE_FACTOR = 2
"""...and otherwise at most this many times the passages' length."""
MAX_RUNS = 6
"""A passage's grouped number is also read in stretches of up to this many of its groups."""
ECHO_NGRAM = 4
ECHO_SHARED = 2
"""Sharing this many word 4-grams with the instructions makes an answer a paraphrase of them."""


@dataclass(frozen=True)
class Grounds:
    """What a model's text is checked against.

    ``passages`` is the only source of facts; ``instructions`` the prompt's own text (an answer
    that repeats it leaks it); ``staff_text`` says whether a text is internal knowledge.
    """

    passages: str
    language: Language
    instructions: str = ""
    max_chars: int | None = None
    staff_text: Callable[[str], bool] | None = None


def shares_text(texts: Iterable[str], *, words: int = 6) -> Callable[[str], bool]:
    """A ``staff_text`` check: whether a text repeats ``words`` consecutive words of any of
    ``texts`` (e.g. the knowledge base's staff-only entries and agent steps)."""
    grams = frozenset(g for t in texts for g in _ngrams(normalise(t), words))

    def check(text: str) -> bool:
        return not grams.isdisjoint(_ngrams(normalise(text), words))

    return check


def refusal(text: str, grounds: Grounds) -> str | None:
    """Why ``text`` must not be sent on these ``grounds``, or ``None`` when it may be."""
    limit = min(
        ABSOLUTE_MAX_CHARS,
        max(MIN_MAX_CHARS, PASSAGE_FACTOR * len(grounds.passages)),
        grounds.max_chars or ABSOLUTE_MAX_CHARS,
    )
    # The echo first: a leaked prompt is long, and the log should say it was a leak.
    if echoes_instructions(normalise(text)) or echoes_instructions(text):
        return "reply echoes the system prompt"
    if len(text) > limit:
        return "too long"
    said, allowed = _facts(text), _facts(grounds.passages)
    if instruction_references(said.plain) - instruction_references(allowed.plain):
        return "reply talks about its instructions"
    if grounds.instructions and _paraphrases(said.plain, allowed.plain, grounds.instructions):
        return "reply paraphrases its instructions"
    reason = said.excess_over(allowed)
    if reason is not None:
        return reason
    if grounds.staff_text is not None and grounds.staff_text(text):
        return "reply contains internal (staff) text"
    if not _in_language(said, allowed, grounds.language):
        return f"reply not in {'Korean' if grounds.language == 'ko' else 'English'}"
    return None


# --- normalisation --------------------------------------------------------------------------

_SPACE = re.compile(r"\s+")


_SCHEME = re.compile(r"\b[h][\s]*[tx][\s]*[tx][\s]*p[\s]*(s?)[\s]*(?::|\[:\]|\(:\))[\s]*/[\s]*/")
_BRACKET_DOT = re.compile(
    r"\s*(?:\[\s*(?:\.|dot)\s*\]|\(\s*(?:\.|dot)\s*\)|\{\s*(?:\.|dot)\s*\})\s*"
)
_WORD_DOT = re.compile(r"(?<=[a-z0-9])\s*(?:\s(?:dot|닷|쩜|점)\s|닷|쩜)\s*(?=[a-z0-9])")
_SPACED_DOT = re.compile(
    r"(?<=[a-z0-9])\s+\.\s*(?=[a-z0-9])|(?<=[a-z0-9])\.\s+(?="
    + (r"(?:com|net|org|io|kr|co|me|app|dev|ai|xyz|shop|site|link|ly|gg|example|info|biz|top)\b)")
)
_BRACKET_AT = re.compile(r"\s*(?:\[\s*at\s*\]|\(\s*at\s*\)|\{\s*at\s*\})\s*")
_SPACED_SLASH = re.compile(r"(?<=[a-z0-9])\s+/\s*(?=[a-z0-9])")
# "w w w . e v i l . c o m": four or more single characters each followed by one space.
_SPELLED = re.compile(r"(?<![\w.])(?:[a-z0-9.:/@-] ){3,}[a-z0-9.:/@-](?![\w.])")


def deobfuscated(text: str) -> str:
    """Normalised, casefolded ``text`` with spelled-out or broken-up links, hosts and e-mail
    addresses joined back together ("evil . example / pay" -> "evil.example/pay")."""
    text = normalise(text).casefold()
    text = _SPELLED.sub(lambda m: m.group().replace(" ", ""), text)
    text = _SCHEME.sub(lambda m: f"http{m.group(1)}://", text)
    text = _BRACKET_DOT.sub(".", text)
    text = _WORD_DOT.sub(".", text)
    text = _SPACED_DOT.sub(".", text)
    text = _BRACKET_AT.sub("@", text)
    text = re.sub(r"\bwww\s+(?=[a-z0-9-]+\.)", "www.", text)
    return _SPACED_SLASH.sub("/", text)


# --- facts ----------------------------------------------------------------------------------

_URL = re.compile(r"[a-z][a-z0-9+.-]{1,15}://[^\s<>\"'`]+|www\.[^\s<>\"'`]+")
_URL_TRAILING = ".,;:!?'\")]}>/"
_HOST = re.compile(r"(?<![\w.-])(?:[\w-]+\.)+[\w-]+")
_TLD = re.compile(r"(?:[a-z]{2,63}|xn--[a-z0-9-]+)")
_HANGUL_TAIL = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]+$")
_EMAIL = re.compile(r"[a-z0-9.+_-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+")
_MENTION = re.compile(
    r"<\s*[@#!][^>\s]*>|(?<![\w.])@\s?(?:here|everyone|channel|all)(?![a-z0-9_])"
    r"|(?<![\w.@])@[a-z0-9_][\w.]{1,}"
)
_MESSENGER_STRONG = (
    r"(?:kakao\s?talk|kakao|카카오톡|카톡|카카오|telegram|텔레그램|텔레|whats\s?app|왓츠앱"
    r"|wechat|위챗|open\s?chat|오픈\s?채팅방?|signal|시그널|line|라인|skype|스카이프"
    r"|instagram|인스타그램|인스타|discord|디스코드|messenger|메신저|dm)"
)
_MESSENGER = re.compile(
    _MESSENGER_STRONG + r"(?:\s+(?:us|me|at|on|via|to|our|my))*\s*"
    r"(?:(?:id|아이디|계정|account|handle)(?:\s+is)?\s*[:：=]?\s*|[:：=]\s*|\s+@"
    r"|\s+(?=[a-z0-9._-]*[0-9_]))(@?[a-z0-9][a-z0-9._-]{2,})"
)
_NUMBER = re.compile(r"\d+(?:(?:\s?[.\-–—~/:()+]\s?|,(?=\d)|[ \t])\d+)*")
_RUN = re.compile(r"\d+")
_UNIT_AFTER = re.compile(
    r"\s?(?:%|퍼센트|원|만|천|억|달러|불|시간|시|분|초|영업일|일|주|개월|달|년"
    r"|krw|usd|won|dollars?|percent|am\b|pm\b|a\.m|p\.m|hours?|hrs?|minutes?|mins?|days?"
    r"|business|weeks?|months?|years?)",
)
_CURRENCY_BEFORE = re.compile(r"(?:[$₩€£¥]|krw|usd|us\$)\s?$")
_KO_MAN = re.compile(r"(\d+)\s?만(?:\s?(\d+)\s?천)?")
_KO_CHEON = re.compile(r"(?<![\d만])(\d+)\s?천")
_PHONE = re.compile(
    r"^(?:\+?\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)|\d{1,4})[\s.-]?\d{3,4}[\s.-]?\d{4}$|^1[5-9]\d{2}[\s.-]?\d{4}$"
)
# Terms that change what a customer gets ("전액", "in full", "free of charge", "today"):
# facts like numbers, allowed only when a passage says them.
_TERMS: dict[str, re.Pattern[str]] = {
    "full": re.compile(r"in full|full(?:y)?\s+refund|the (?:full|entire|whole) amount|전액|全額"),
    "free": re.compile(
        r"free of charge|for free|at no (?:extra |additional )?(?:cost|charge)"
        r"|no charge|무료|공짜|무상"
    ),
    "today": re.compile(r"\b(?:today|tonight|tomorrow)\b|오늘|내일|금일|당일"),
    "extra": re.compile(
        r"\b(?:bonus|extra|additional)\s+(?:credit|points?|coupon|voucher|compensation)"
        r"|goodwill|추가\s?(?:적립|보상|쿠폰|포인트)|보상금"
    ),
}
_KO_ADDRESS = re.compile(
    r"(?:[가-힣]+(?:특별시|광역시|시|도)\s+)?[가-힣]+(?:구|군|시)\s+[가-힣0-9]+(?:로|길|동|읍|면|리)\s?\d+"
    r"|[가-힣]{2,}(?:로|길)\s?(?:\d{2,4}(?:-\d{1,4})?|\d-\d{1,4})(?=[\s,.]|$)"
    r"(?!\s?(?:일|영업일|시간|분|원|개|%))"
    r"|[가-힣0-9]+(?:로|길)\s?\d+(?:-\d+)?\s?(?:번지|호|층)"
    r"|[가-힣]+(?:대로|번길)\s?\d+(?:-\d+)?"
    r"|\d+동\s?\d+호"
    r"|[가-힣]+동\s?\d+(?:-\d+)?\s?번지"
)
_EN_ADDRESS = re.compile(
    r"\b\d{1,6}\s+(?:[A-Z][a-z]+\s+){1,3}(?:St|Street|Ave|Avenue|Rd|Road|Blvd|Boulevard|Lane|Ln"
    r"|Drive|Dr|Way|Court|Ct|Place|Pl|Terrace|Square|Sq|Highway|Hwy)\b"
    r"|\b(?:Apt|Apartment|Suite|Unit)\.?\s?#?\d+\b|\bP\.?\s?O\.?\s?Box\s+\d+"
)
_SURNAMES = (
    "김이박최정강조윤장임한오서신권황안송류유홍전고문양손배백허남심노하곽성차주우구민진지엄채원천방공현"
    "함변염여추도소석선설마길연위표명기반왕금옥육인맹제모탁국어은편용예경봉사부"
)
# "김철수님", "철수 씨", "김철수 고객님", "고객님 김철수님": a surname syllable first; with a
# space before 고객 only full three-syllable names, since "이번 고객님" is no one.
_KO_NAME = re.compile(
    rf"(?<![가-힣])([{_SURNAMES}][가-힣]{{1,2}})(?:고객님|님|씨)"
    rf"|(?<![가-힣])([{_SURNAMES}][가-힣]{{2}})\s(?:고객님|님|씨|고객(?![가-힣]))"
    rf"|(?:고객님|고객|회원님)\s?,?\s?([{_SURNAMES}][가-힣]{{1,2}})\s?(?:님|씨|,)"
)
_NOT_NAMES = frozenset(
    [
        "고객",
        "기사",
        "택배기사",
        "이용자",
        "주문자",
        "구매자",
        "선생",
        "사장",
        "회원",
        "신청자",
        "수령인",
        "수령자",
        "문의자",
        "작성자",
        "관리자",
        "점장",
        "부장",
        "과장",
        "대리",
        "팀장",
        "실장",
        "원장",
        "소장",
        "이사",
        "상담원",
        "담당자",
        "판매자",
        "사용자",
        "가입자",
        "주인",
        "손님",
        "어머님",
        "아버님",
        "부모님",
        "형님",
        "누님",
        "대표",
        "기사님",
        "고객센",
        "여러분",
        "당신",
        "본인",
        "배송기사",
        "고객님",
        "회원님",
        "상담사",
        "직원",
        "사모님",
        "따님",
        "아드님",
        "선배",
        "후배",
        "주문",
        "고객분",
        "분",
        "이분",
        "그분",
        "저분",
    ]
)
_NOT_NAME_ENDINGS = ("자", "장", "한", "는", "운", "은", "인", "의", "을", "던", "된", "신")
_EN_NAME = re.compile(
    r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Sir|Madam)\.?\s+([A-Z][a-z]+)"
    r"|\b(?:Hi|Hello|Dear|Hey|Thanks|Thank you),?\s+([A-Z][a-z]+)\b"
    r"|\b(?:customer|client|buyer|member|shopper|user|colleague|agent)\s+(?:named\s+)?([A-Z][a-z]+)"
    r"|\b(?:named|name is|name's)\s+([A-Z][a-z]+)"
)
_NOT_EN_NAMES = frozenset(
    [
        "there",
        "team",
        "again",
        "all",
        "everyone",
        "customer",
        "friend",
        "friends",
        "folks",
        "so",
        "for",
        "very",
        "and",
        "you",
        "we",
        "our",
        "i",
        "it",
        "the",
        "a",
        "an",
        "this",
        "that",
        "support",
        "service",
        "care",
        "ondo",
    ]
)


@dataclass(frozen=True)
class _Facts:
    """The facts a text states, each normalised so that equal facts compare equal."""

    plain: str
    links: str
    urls: frozenset[str]
    hosts: frozenset[str]
    bad_hosts: frozenset[str]
    emails: frozenset[str]
    mentions: frozenset[str]
    messengers: frozenset[str]
    numbers: tuple[tuple[str, str], ...]
    """(digits joined, the number as written) of every number worth checking."""
    number_forms: frozenset[str]
    orders: frozenset[str]
    terms: frozenset[str]
    addresses: frozenset[str]
    names: frozenset[str]
    done: frozenset[str]
    done_by_me: frozenset[str]
    """Actions the speaker says they took themselves ("I've cancelled your order"): the bot
    takes none, so only a passage that says the same in the first person allows one."""
    done_anyhow: frozenset[str]
    """Also the actions said to be done only under a condition: what a passage may allow."""
    promised: frozenset[str]
    promised_outright: frozenset[str]
    """Promised as the speaker's own doing ("for you", "제가 ... 해 드릴게요"): a passage must
    promise the same, not merely speak of the action."""
    promised_anyhow: frozenset[str]
    mentioned: frozenset[str]

    def excess_over(self, allowed: _Facts) -> str | None:
        """The first kind of fact this text states that ``allowed`` does not, as a reason."""
        if self.mentions - allowed.mentions:
            return "reply contains a mention not in the passages"
        if self.emails - allowed.emails:
            return "reply contains an email address not in the passages"
        if self.bad_hosts:
            return "reply contains a URL with a look-alike or non-ASCII host"
        if self.hosts - allowed.hosts or not all(
            any(url == ok or ok.startswith(url) for ok in allowed.urls) for url in self.urls
        ):
            return "reply contains a URL not in the passages"
        if self.messengers - allowed.messengers:
            return "reply contains a messenger contact not in the passages"
        unknown = [
            written
            for digits, written in self.numbers
            if not _number_allowed(digits, written, allowed.number_forms)
        ]
        if self.orders - allowed.orders:
            return "reply contains an order number not in the passages"
        kinds = [_number_kind(written) for written in unknown]
        for kind in ("a phone number", "a card, account or ID number"):
            if kind in kinds:
                return f"reply contains {kind} not in the passages"
        if self.done_by_me - allowed.done_by_me:
            return "reply contains a claim of an action the bot cannot take"
        if self.done - allowed.done_anyhow:
            return "reply contains a claim of an action the bot cannot take"
        promises = (self.promised - allowed.mentioned) | (
            self.promised_outright - allowed.promised_anyhow
        )
        if promises:
            return "reply contains a promise (claim) the passages do not make"
        if self.terms - allowed.terms:
            return "reply contains terms (claim) the passages do not give"
        if {a for a in self.addresses if a not in allowed.plain}:
            return "reply contains an address not in the passages"
        if unknown:
            return "reply contains a number, amount or date not in the passages"
        if {n for n in self.names if n not in allowed.plain}:
            return "reply contains a person's name not in the passages"
        return None


@lru_cache(maxsize=256)
def _facts(text: str) -> _Facts:
    plain = _SPACE.sub(" ", normalise(text)).strip()
    folded = plain.casefold()
    links = deobfuscated(text)
    urls = {u.rstrip(_URL_TRAILING) for u in _URL.findall(links)}
    hosts: set[str] = set()
    bad_hosts: set[str] = set()
    for raw in _HOST.findall(links):
        host = _HANGUL_TAIL.sub("", raw).strip("-_")
        labels = host.split(".")
        if len(labels) < 2 or not _TLD.fullmatch(labels[-1]) or not all(labels):
            continue
        if not host.isascii() or host.startswith("xn--") or ".xn--" in host:
            bad_hosts.add(host)
        else:
            hosts.add(host.removeprefix("www."))
    numbers, forms = _numbers(plain)
    quoted = _without_reported_quotes(folded)
    done, promised, outright = _claims(quoted)
    done_anyhow, promised_anyhow, _ = _claims(quoted, conditions=False)
    return _Facts(
        plain=folded,
        links=links,
        urls=frozenset(urls),
        hosts=frozenset(hosts),
        bad_hosts=frozenset(bad_hosts),
        emails=frozenset(_EMAIL.findall(links)),
        mentions=frozenset(_SPACE.sub("", m) for m in _MENTION.findall(links)),
        messengers=frozenset(m.lstrip("@") for m in _MESSENGER.findall(links)),
        numbers=tuple(numbers),
        number_forms=frozenset(forms),
        orders=frozenset(s.text.casefold() for s in find_order_numbers(plain)),
        terms=frozenset(name for name, pattern in _TERMS.items() if pattern.search(quoted)),
        addresses=frozenset(
            _SPACE.sub(" ", m.group()).casefold()
            for pattern in (_KO_ADDRESS, _EN_ADDRESS)
            for m in pattern.finditer(plain)
        ),
        names=frozenset(_names(plain)),
        done=frozenset(done),
        done_by_me=frozenset(_done_by_me(quoted)),
        done_anyhow=frozenset(done_anyhow),
        promised=frozenset(promised),
        promised_outright=frozenset(outright),
        promised_anyhow=frozenset(promised_anyhow),
        mentioned=frozenset(_mentioned(folded)),
    )


def _numbers(plain: str) -> tuple[list[tuple[str, str]], set[str]]:
    """The numbers worth checking in ``plain`` and every form in which it states numbers: each
    run of digits and each joined stretch of a grouped number (``010-1234-5678`` gives
    ``01012345678``, ``010|1234|5678``, ``1234`` ...), plus Korean 만/천 amounts as digits."""
    checked: list[tuple[str, str]] = []
    forms: set[str] = set()
    lowered = plain.casefold()
    for m in _NUMBER.finditer(lowered):
        runs = _RUN.findall(m.group())
        forms.add("".join(runs))
        forms.add("|".join(str(int(r)) for r in runs))
        # Stretches of at most MAX_RUNS groups (a phone or account number has fewer), which
        # keeps this linear in the length of the text.
        for i in range(len(runs)):
            for j in range(i + 1, min(len(runs), i + MAX_RUNS) + 1):
                forms.add("".join(runs[i:j]))
                forms.add("|".join(str(int(r)) for r in runs[i:j]))
        digits = "".join(runs)
        unit = _UNIT_AFTER.match(lowered, m.end()) or _CURRENCY_BEFORE.search(lowered, 0, m.start())
        if len(digits) >= 2 or unit:
            checked.append((digits, m.group()))
    for m in _KO_MAN.finditer(lowered):
        value = int(m.group(1)) * 10_000 + int(m.group(2) or 0) * 1_000
        forms.add(str(value))
        checked.append((str(value), m.group()))
    for m in _KO_CHEON.finditer(lowered):
        forms.add(str(int(m.group(1)) * 1_000))
    return checked, forms


def _number_allowed(digits: str, written: str, forms: frozenset[str]) -> bool:
    if digits in forms:
        return True
    runs = _RUN.findall(written)
    return "|".join(str(int(r)) for r in runs) in forms


def _number_kind(written: str) -> str:
    kinds = {span.kind for span in find_pii(written)}
    if "phone" in kinds or _PHONE.match(written.strip()):
        return "a phone number"
    if kinds & {"card", "account", "rrn"} or len("".join(_RUN.findall(written))) >= 9:
        return "a card, account or ID number"
    return "a number"


def _names(plain: str) -> Iterator[str]:
    for m in _KO_NAME.finditer(plain):
        name = m.group(1) or m.group(2) or m.group(3)
        if name and name not in _NOT_NAMES and not name.endswith(_NOT_NAME_ENDINGS):
            yield name
    for m in _EN_NAME.finditer(plain):
        name = next(g for g in m.groups() if g)
        if name.casefold() not in _NOT_EN_NAMES:
            yield name.casefold()


# --- claims and promises ---------------------------------------------------------------------

# Action word -> the action it names; the same action in both languages.
_EN_DONE_VERBS: dict[str, str] = {
    "refunded": "refund",
    "reimbursed": "refund",
    "credited": "credit",
    "deposited": "credit",
    "transferred": "credit",
    "waived": "waive",
    "approved": "approve",
    "granted": "approve",
    "accepted": "approve",
    "confirmed": "approve",
    "cancelled": "cancel",
    "canceled": "cancel",
    "compensated": "compensate",
    "reshipped": "reship",
    "resent": "reship",
    "re-sent": "reship",
    "expedited": "expedite",
    "upgraded": "expedite",
    "processed": "process",
    "completed": "process",
    "handled": "process",
    "issued": "issue",
    "reversed": "reverse",
    "voided": "reverse",
    "changed": "change",
    "updated": "change",
    "removed": "waive",
    "applied": "issue",
    "initiated": "process",
    "submitted": "process",
    "arranged": "reship",
    "shipped": "reship",
    "dispatched": "reship",
    "swapped": "reship",
    "replaced": "reship",
    "exchanged": "reship",
    "deleted": "delete",
    "closed": "delete",
    "extended": "extend",
    "skipped": "waive",
    "restored": "restore",
    "reinstated": "restore",
    "unlocked": "restore",
    "reactivated": "restore",
    "reset": "restore",
}
_EN_BASE_VERBS: dict[str, str] = {
    "refund": "refund",
    "reimburse": "refund",
    "credit": "credit",
    "deposit": "credit",
    "transfer": "credit",
    "waive": "waive",
    "approve": "approve",
    "grant": "approve",
    "cancel": "cancel",
    "compensate": "compensate",
    "reship": "reship",
    "resend": "reship",
    "re-send": "reship",
    "expedite": "expedite",
    "upgrade": "expedite",
    "process": "process",
    "issue": "issue",
    "reverse": "reverse",
    "void": "reverse",
    "change": "change",
    "update": "change",
    "remove": "waive",
    "apply": "issue",
    "cover": "waive",
    "comp": "waive",
    "return your money": "refund",
    "pay you": "credit",
    "pay back": "refund",
    "swap": "reship",
    "replace": "reship",
    "exchange": "reship",
    "delete": "delete",
    "close": "delete",
    "extend": "extend",
    "skip": "waive",
    "restore": "restore",
    "reinstate": "restore",
    "unlock": "restore",
    "reactivate": "restore",
}
_EN_NOUNS = (
    r"refunds?|orders?|payments?|charges?|fees?|returns?|exchanges?|cancellations?|replacements?"
    r"|credits?|requests?|claims?|compensation|coupons?|vouchers?|address|shipping|money|amount"
    r"|account|case|ticket|deposit|reimbursement|points?|discount"
)
_ADVERBS = (
    r"(?:(?:just|already|now|successfully|fully|personally|manually|also|officially|gone ahead and"
    r"|went ahead and|go ahead and|make an exception and|immediately|gladly|happily|definitely"
    r"|certainly|make sure to"
    r"|be sure to|quickly|automatically|instantly)\s+)*"
)
_EN_DONE_FIRST = re.compile(
    r"\b(?:i|we)(?:\s*['’]ve|\s+have|\s+had|\s*['’]d)?\s+"
    + _ADVERBS
    + r"("
    + "|".join(sorted(_EN_DONE_VERBS, key=len, reverse=True))
    + r")\b"
)
_EN_DONE_STATE = re.compile(
    r"\b(?:your|the|this|that|its)\s+(?:[\w-]+\s+){0,3}?(?:" + _EN_NOUNS + r")\s+"
    r"(?:(?:has|have|had)\s+(?:now\s+|already\s+|just\s+|officially\s+)*been"
    r"|was|were|is now|is|are)\s+"
    + _ADVERBS
    + r"("
    + "|".join(sorted(_EN_DONE_VERBS, key=len, reverse=True))
    + r"|done|complete|taken care of|sorted|settled|on its way|on the way)\b"
)
_EN_DONE_SHORT = re.compile(
    r"(?:^|[\n.!?:]\s*)(?:full\s+|partial\s+)?(refunded|refund (?:issued|approved|completed|"
    r"processed|sent|done|confirmed)|credited|waived|approved|cancell?ed|processed|done|completed)"
    r"\s*(?:[!.]\s*)?(?:[✅✔☑👍💸🎉]|$)"
    r"|[✅✔☑]\s*(refund|credit|cancel|approv|waiv)"
    r"|\b(?:full\s+|partial\s+)?(?:refund|cancellation|return|exchange|payment|order|fee|credit"
    r"|compensation)s?\s+(?:has\s+been\s+|is\s+)?(issued|approved|completed|confirmed|processed"
    r"|done|cancell?ed|refunded|waived|credited|granted)\b"
    r"(?!\s+(?:once|when|if|within|after|by|in\s\d))"
    r"|^(confirmed|approved|done)\b"
    r"|\b(?:refund|payment|money|transfer|credit)\s+(?:has\s+|have\s+)?(?:gone|went)\s+(through)"
)
_EN_PROMISE = re.compile(
    r"\b(?:i|we)(?:\s*['’]ll|\s+will|\s+shall|\s+am going to|\s*['’]m going to|\s+are going to"
    r"|\s*['’]re going to|\s+can|\s+could|\s+would be happy to|\s*['’]d be happy to"
    r"|\s+promise to|\s+guarantee to)\s+"
    + _ADVERBS
    + r"("
    + "|".join(sorted(_EN_BASE_VERBS, key=len, reverse=True))
    + r")\b"
)
_EN_PROMISE_OBJECT = re.compile(
    r"\b(?:i|we)(?:\s*['’]ll|\s+will|\s+can|\s+am going to|\s*['’]m going to|\s+are going to)\s+"
    + _ADVERBS
    + r"(?:give|send|offer|get|issue)\s+you\s+(?:a\s+|an\s+|the\s+|your\s+)?(?:full\s+|partial\s+"
    r"|free\s+|new\s+|special\s+)?(refund|replacement|discount|coupon|voucher|credit|compensation"
    r"|money back|points)"
)
# "I'll update you", "we'll transfer you to a person": not the action.
_NOT_THE_ACTION = re.compile(r"\s+(?:you|u)\b")
_EN_PROMISE_WORDS = re.compile(
    r"\b(?:i|we)\s+(?:promise|guarantee|assure you|swear|give you (?:my|our) word)\b"
    r"|\bguarantee[ds]?\b|\byou have (?:my|our) word\b|\brest assured\b"
    r"|\b100\s?%\s+(?:sure|certain|guaranteed)\b|\bi\s+personally\s+(?:make sure|ensure)\b"
)
_CONDITIONAL = re.compile(
    r"\b(?:if|once|when|whenever|after|until|unless|whether|before|as soon as|in case)\b"
)
_TRAILING_CONDITION = re.compile(
    r"[^.!?\n;]{0,40}?\b(?:within|once|after|when|if|as soon as|in \d|by the|automatically)\b"
)
_PRESENT = re.compile(r"\s(?:is|are)\s(?!now\b)")
_SENTENCE_END = re.compile(r"[.!?\n;:]")
# Reported text: a quoted phrase that a word of saying introduces or a quote particle follows.
_REPORTED = re.compile(
    r"(?:saying|says|say|reads|read|called|labell?ed|marked|shows?|status|message|text|notice"
    r"|notification|button)\s*:?\s*['\"‘’“”「『][^'\"‘’“”「」『』\n]{1,80}['\"‘’“”」』]"
    r"|['\"‘’“”「『][^'\"‘’“”「」『』\n]{1,80}['\"‘’“”」』]\s?(?:라는|이라는|라고|이라고|문구|버튼"
    r"|상태|알림|문자|메시지|날짜|date|button|status|page|message|notification|label|tab|text)"
)

_KO_NOUNS: dict[str, str] = {
    "환불": "refund",
    "환급": "refund",
    "반환": "refund",
    "입금": "credit",
    "송금": "credit",
    "이체": "credit",
    "지급": "credit",
    "적립": "credit",
    "충전": "credit",
    "면제": "waive",
    "감면": "waive",
    "승인": "approve",
    "취소": "cancel",
    "철회": "cancel",
    "보상": "compensate",
    "배상": "compensate",
    "재발송": "reship",
    "재배송": "reship",
    "교환": "reship",
    "교체": "reship",
    "처리": "process",
    "발급": "issue",
    "할인": "issue",
    "쿠폰": "issue",
    "변경": "change",
    "수정": "change",
    "반품": "process",
    "탈퇴": "delete",
    "삭제": "delete",
    "연장": "extend",
    "복구": "restore",
    "복원": "restore",
}
_KO_NOUN = "(" + "|".join(sorted(_KO_NOUNS, key=len, reverse=True)) + ")"
# Particles and adverbs that may sit between the action and its verb, spaces removed.
_KO_FILL = (
    r"(?:이|가|을|를|은|는|도|건|요청|신청|이미|모두|정상적으로|바로|즉시|전액|방금|완전히"
    r"|무사히|직접|제가|저희가|특별히|예외적으로|오늘|내일|꼭|반드시|금액|비용|전부)*"
)
_KO_AUX = (
    r"(?:처리|완료|승인|접수|진행|지급|발급|적용|신청|면제|환불|취소|보상|입금|확인)?"
    r"(?:가|이|를|을)?"
)
_KO_DONE = re.compile(
    _KO_NOUN
    + _KO_FILL
    + _KO_AUX
    + r"(?:되었|됐|했|하였|해드렸|시켜드렸|드렸|마쳤|끝났|끝냈|완료되었|완료됐|완료했|났)"
    r"(?!는지|다면|으면|을때|을경우|을지|더라도|는데도|다고|다는|던|는데요\?)"
    r"|" + _KO_NOUN + _KO_FILL + r"(?:처리|승인)?완료(?=$|[.!~✅✔]|입니다|이에요|예요)"
)
_KO_PROMISE = re.compile(
    _KO_NOUN
    + _KO_FILL
    + _KO_AUX
    + r"(?:해|시켜|하여)?(?:드리겠|드릴게|드릴께|드리도록|드릴예정|드릴수|드릴것|드릴거|드립니다"
    r"|드려요|주겠|줄게|줄께|해주겠|하겠습니다|하겠어요|할게요|할께요|할예정)"
)
# The speaker doing it themselves, right away: what only a person with the power to do it says.
_FOR_YOU = re.compile(
    r"[^.!?\n]{0,30}?\b(?:for you|on your behalf|myself|personally|right now|right away"
    r"|immediately|today)\b"
)
_KO_MYSELF = re.compile(r"제가|저희가|대신|직접|바로|지금|즉시|오늘")
_KO_PROMISE_WORDS = re.compile(r"약속|보장|장담|틀림없이|책임지고|맹세")
_LEMMA_MENTIONS: dict[str, re.Pattern[str]] = {
    "refund": re.compile(r"refund|reimburs|money back|환불|환급|반환"),
    "credit": re.compile(r"credit|deposit|입금|적립|충전"),
    "waive": re.compile(r"waive|면제|감면"),
    "approve": re.compile(r"approv|grant|승인|허가"),
    "cancel": re.compile(r"cancel|취소|철회"),
    "compensate": re.compile(r"compensat|보상|배상"),
    "reship": re.compile(r"reship|resend|re-send|replacement|exchange|재발송|재배송|교환|교체"),
    "expedite": re.compile(r"expedit|upgrad|빠른 배송"),
    "process": re.compile(r"process|handl|complet|반품|처리|진행|접수"),
    "issue": re.compile(r"issue|발급"),
    "reverse": re.compile(r"revers|void|취소"),
    "change": re.compile(r"chang|updat|변경|수정"),
    "promise": re.compile(r"promise|guarantee|약속|보장"),
    "delete": re.compile(r"delet|close your account|탈퇴|삭제"),
    "extend": re.compile(r"extend|extension|연장"),
    "restore": re.compile(r"restor|reinstat|unlock|reactivat|복원|복구|해제"),
}


def _done_by_me(folded: str) -> set[str]:
    """The actions ``folded`` says its speaker completed, conditions or not ("I've refunded",
    "제가 환불 처리했습니다")."""
    done = {_EN_DONE_VERBS.get(m.group(1), "process") for m in _EN_DONE_FIRST.finditer(folded)}
    compact = _SPACE.sub("", folded)
    for m in _KO_DONE.finditer(compact):
        if _KO_MYSELF.search(compact, max(0, m.start() - 12), m.end()):
            done.add(_KO_NOUNS[m.group(1) or m.group(2)])
    return done


def _without_reported_quotes(folded: str) -> str:
    return _REPORTED.sub(" ", folded)


def _claims(folded: str, *, conditions: bool = True) -> tuple[set[str], set[str], set[str]]:
    """The actions ``folded`` says were done, those it promises (first person), and those it
    promises as the speaker's own doing; with ``conditions``, not those said under a condition
    ("once your refund has been processed")."""
    done: set[str] = set()
    promised: set[str] = set()
    outright: set[str] = set()
    for pattern in (_EN_DONE_FIRST, _EN_DONE_STATE):
        for m in pattern.finditer(folded):
            # "The refund is processed once it arrives" describes the process, in a passage too.
            present = pattern is _EN_DONE_STATE and _PRESENT.search(m.group())
            if present and _TRAILING_CONDITION.match(folded, m.end()):
                continue
            if _conditional(folded, m, conditions=conditions):
                continue
            done.add(_EN_DONE_VERBS.get(m.group(1), "process"))
    for m in _EN_DONE_SHORT.finditer(folded):
        if m.group(1) or m.group(2):
            done.add(_lemma_of((m.group(1) or m.group(2)).split()[0]))
        elif not _conditional(folded, m, conditions=conditions):
            done.add(_EN_DONE_VERBS.get(m.group(3) or m.group(4) or "", "process"))
    for m in _EN_PROMISE.finditer(folded):
        verb = m.group(1)
        if verb in {"update", "transfer", "change"} and _NOT_THE_ACTION.match(folded, m.end()):
            continue
        if not _conditional(folded, m, conditions=conditions):
            promised.add(_EN_BASE_VERBS[verb])
            if _FOR_YOU.match(folded, m.end()):
                outright.add(_EN_BASE_VERBS[verb])
    for m in _EN_PROMISE_OBJECT.finditer(folded):
        if not _conditional(folded, m, conditions=conditions):
            promised.add(_lemma_of(m.group(1)))
    if _EN_PROMISE_WORDS.search(folded):
        promised.add("promise")
    compact = _SPACE.sub("", folded)
    for m in _KO_DONE.finditer(compact):
        done.add(_KO_NOUNS[m.group(1) or m.group(2)])
    for m in _KO_PROMISE.finditer(compact):
        promised.add(_KO_NOUNS[m.group(1)])
        if _KO_MYSELF.search(compact, max(0, m.start() - 12), m.end()):
            outright.add(_KO_NOUNS[m.group(1)])
    if _KO_PROMISE_WORDS.search(compact):
        promised.add("promise")
    return done, promised, outright


def _lemma_of(word: str) -> str:
    for lemma, pattern in _LEMMA_MENTIONS.items():
        if pattern.match(word):
            return lemma
    return "process"


def _conditional(text: str, m: re.Match[str], *, conditions: bool = True) -> bool:
    """Whether the claim ``m`` is said under a condition earlier in its sentence ("once it
    arrives, your refund is processed") or quoted."""
    if not conditions:
        return False
    start = max((e.end() for e in _SENTENCE_END.finditer(text, 0, m.start())), default=0)
    quoted = m.start() > 0 and text[m.start() - 1] in "'\"‘’“”「」『』"
    return quoted or bool(_CONDITIONAL.search(text, start, m.start()))


def _mentioned(folded: str) -> Iterable[str]:
    return (lemma for lemma, pattern in _LEMMA_MENTIONS.items() if pattern.search(folded))


# --- language and instructions ----------------------------------------------------------------

_HANGUL = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")
_LETTER = re.compile(r"[^\W\d_]")
_LATIN_WORD = re.compile(r"[a-z][a-z'’-]*")
_EN_FUNCTION = frozenset(
    [
        "the",
        "you",
        "your",
        "to",
        "and",
        "is",
        "are",
        "for",
        "of",
        "in",
        "it",
        "we",
        "i",
        "can",
        "on",
        "be",
        "please",
        "will",
        "our",
        "this",
        "that",
        "with",
        "have",
        "has",
        "my",
        "me",
        "if",
        "or",
        "at",
        "from",
        "by",
        "an",
        "as",
        "not",
        "do",
        "does",
    ]
)


def _in_language(said: _Facts, allowed: _Facts, language: Language) -> bool:
    text = said.links
    for fact in (*said.urls, *said.emails, *said.hosts, *said.mentions):
        text = text.replace(fact, " ")
    # Words the passages use (product and page names, "source") don't count as foreign.
    words = set(_LATIN_WORD.findall(allowed.plain)) | {"source", "ok", "okay"}
    text = _LATIN_WORD.sub(
        lambda m: " " if m.group() in words and m.group() not in _EN_FUNCTION else m.group(), text
    )
    hangul = len(_HANGUL.findall(text))
    letters = len(_LETTER.findall(text))
    latin = len(re.findall(r"[a-z]", text))
    other = letters - hangul - latin
    if language == "ko":
        weighted = 2 * hangul
        return letters == 0 or weighted >= 0.6 * (weighted + latin + other)
    if letters and (hangul + other) > 0.1 * letters:
        return False
    # Six or more words of its own and not one English function word: another Latin language.
    latin_words = _LATIN_WORD.findall(text)
    return len(latin_words) < 6 or any(w in _EN_FUNCTION for w in latin_words)


_WORD = re.compile(r"[\w'’]+")


def _ngrams(text: str, n: int = ECHO_NGRAM) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.casefold())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


@lru_cache(maxsize=32)
def _instruction_ngrams(instructions: str) -> frozenset[tuple[str, ...]]:
    return frozenset(_ngrams(normalise(instructions)))


def _paraphrases(plain: str, passages: str, instructions: str) -> bool:
    shared = (_ngrams(plain) & _instruction_ngrams(instructions)) - _ngrams(passages)
    return len(shared) >= ECHO_SHARED
