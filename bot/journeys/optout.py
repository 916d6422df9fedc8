"""Whether a customer's message asks to stop journey messages: "수신거부", "그만 보내",
"보내지 마세요", "stop", "unsubscribe", "opt out".

Korean is read on kiwipiepy morphemes (:mod:`bot.understanding.words`), so the cue must be a
whole word and the mood of its predicate counts: a request, a statement or a will fires
("그만 보내세요", "문자 안 받을래요"); a question whether something may stop ("그만 보내도
되나요 주문 확인 메일을?"), a condition ("수신거부하면 쿠폰은요?"), hearsay and a negated
cue ("수신거부 안 할게요") do not. A verb of sending, receiving or stopping fires only about
messages: with a message noun (문자, 광고, 알림 …) or with no other object, so "선물 포장해서
보내지 마세요" (don't gift-wrap it), "택배 보내지 마세요" and "배송을 멈춰 주세요" (stop the
delivery: a support request, not an opt-out) do not. Undoing an opt-out ("수신거부 취소") is
not one.

English matches on word boundaries: "stop" alone or with messages ("stop texting me", "please
stop these ads"), "unsubscribe", "opt out" (of messages, or of nothing named), "don't message
me", "remove me from your list"; not "don't stop the order", "stop by the store", "the bus
stop", "opt out of the warranty", "I don't want to unsubscribe". "cancel", "end" and "quit"
alone, opt-out words of SMS, are not: in a shop's chat they are about an order. Both
languages are always checked: customers mix them ("STOP 해 주세요").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import date
from itertools import pairwise

from bot.journeys.definitions import Category, plain
from bot.types import Language
from bot.understanding.words import Token, Words, chain, mood, words

MAX_TEXT = 2000
"""Characters read: an opt-out is short; a long message is read only this far."""

CATEGORY_NAMES: Mapping[Language, Mapping[Category, str]] = {
    "ko": {
        "marketing": "광고성 메시지",
        "review_request": "리뷰 요청 메시지",
        "transactional": "주문·배송 알림",
    },
    "en": {
        "marketing": "marketing messages",
        "review_request": "review requests",
        "transactional": "order and delivery updates",
    },
}


def opt_out_confirmation(category: Category, language: Language, shop_name: str, on: date) -> str:
    """The reply that confirms an opt-out: who processed it, what, and when — the result
    notice 정보통신망법 제50조 asks for when a customer withdraws consent."""
    shop = plain(shop_name, 80) or "Ondo"
    what = CATEGORY_NAMES[language][category]
    if language == "ko":
        return (
            f"[{shop}] {on.year}년 {on.month}월 {on.day}일, {what} 수신거부가 처리되었습니다. "
            "앞으로 보내 드리지 않을게요."
        )
    return (
        f"[{shop}] Done: you are unsubscribed from {what} as of {on.isoformat()}. "
        "We won't send you any more."
    )


# --- Korean ------------------------------------------------------------------------------

_NOUN_CUE = re.compile(
    r"수신\s*(?:거부|거절|차단|중지|중단|해지|철회)"
    r"|(?:광고|마케팅|홍보)\s*(?:문자|메시지|메세지|메일|알림)?\s*(?:수신\s*)?(?:동의\s*)?"
    r"(?:거부|차단|사절|중단|철회)"
    r"|구독\s*(?:취소|해지|중지|중단)"
    r"|(?:문자|메시지|메세지|광고|알림|디엠)\s*(?:사절|차단|거부)"
)
_VERB_HINT = re.compile(r"보내|받|연락|그만|멈|꺼|끄|끊|사절")
_MESSAGE_NOUNS = frozenset(
    {
        "메시지",
        "메세지",
        "문자",
        "광고",
        "알림",
        "알람",
        "메일",
        "이메일",
        "연락",
        "디엠",
        "dm",
        "톡",
        "카톡",
        "푸시",
        "홍보",
        "마케팅",
        "뉴스레터",
        "소식",
        "쿠폰",
        "혜택",
        "이벤트",
        "안내",
        "스팸",
    }
)
_MESSAGE_WORD = re.compile("|".join(sorted(_MESSAGE_NOUNS, key=len, reverse=True)))
# Nouns that name no object: "더 이상", "앞으로", "다음부터", "이런 거".
_FILLER_NOUNS = frozenset({"이상", "앞", "다음", "번", "거", "것", "건", "제발", "이제", "부터"})
_UNDO = frozenset({"취소", "철회", "해제", "해지", "풀"})
_STOP_VERBS = frozenset({"멈추", "끄", "끊", "중단", "중지"})
_FIRING_MOODS = frozenset({"request", "statement", "bare", "intent"})


def opt_out_request(text: str, language: Language | None = None) -> bool:
    """Whether ``text`` asks to stop receiving journey messages (see the module docstring).
    ``language`` is the conversation's; both languages are checked whatever it is."""
    if not text:
        return False
    lowered = unicodedata.normalize("NFKC", text[:MAX_TEXT]).lower()
    return _english(lowered) or _korean(lowered)


def _korean(text: str) -> bool:
    if not any("\uac00" <= ch <= "\ud7a3" for ch in text):
        return False
    w = words(text)
    for m in _NOUN_CUE.finditer(text):
        if w.starts(m.start()) and _noun_cue_fires(w, m.start(), m.end()):
            return True
    seen: set[int] = set()
    for m in _VERB_HINT.finditer(text):
        tokens = w.sentence(m.start())
        if not tokens or id(tokens) in seen:
            continue
        seen.add(id(tokens))
        if _verb_fires(tokens, text):
            return True
    return False


def _noun_cue_fires(w: Words, start: int, end: int) -> bool:
    """수신거부 …: fires unless undone (취소), negated (안 하다, 하지 않다/말다), asked why
    (수신거부를 왜 해요), reported, or the predicate after it is a condition or hearsay."""
    tokens = w.sentence(start)
    near = [i for i, t in enumerate(tokens) if t.start >= end][:3]
    if any(tokens[i].form in _UNDO for i in near[:2]):
        return False
    head = next((i for i in near if tokens[i].has("하")), None)
    between = near if head is None else [i for i in near if i < head]
    if any(tokens[i].form in ("안", "못", "왜") and tokens[i].pos == "MAG" for i in between):
        return False
    if head is None:
        return True
    links = chain(tokens, head)
    if _negated(links):
        return False
    if any(t.form in ("라고", "다고", "래", "라") and t.pos == "EC" for t in links):
        return False  # reported: 친구가 수신거부 하라던데 "a friend told me to opt out"
    return mood(tokens, head) not in ("conditional", "hearsay")


def _verb_fires(tokens: Sequence[Token], text: str) -> bool:
    for i, token in enumerate(tokens):
        form = token.form
        if form == "그" and text[token.start : token.start + 2] == "그만":
            form = "그만"  # the analyzer sometimes reads 그만 as 그 + 만
        if token.pos not in ("VV", "NNG") and form != "그만":
            continue
        links = chain(tokens, i)
        before = tokens[max(0, i - 3) : i]
        after = tokens[i + 1 : i + 2]
        stop_word = any(t.form in ("그만", "그만하") for t in before)
        negated = _negated(links) or any(t.form in ("안", "못") for t in before[-1:])
        if form == "보내" or (form == "주" and any(t.form == "연락" for t in before)):
            wanted = stop_word or negated
        elif form == "받":
            if any(t.form in ("시", "세요", "으세요", "십시오") for t in links):
                continue  # 안 받으세요? — the honorific makes the other person the receiver
            unwilling = stop_word or negated or _unwilling(tokens, i, links)
            wanted = unwilling and _about_messages(tokens, i, text, required=True)
        elif form == "연락" and token.pos == "NNG":
            if any(t.form in ("안", "그만") for t in after):
                # 연락 안 하다, 연락 그만하다: the predicate is the 하 after the adverb.
                head = next(
                    (k for k in range(i + 2, min(i + 4, len(tokens))) if tokens[k].has("하")), None
                )
                if head is not None and _wished_or_asked(tokens, head):
                    return True
                continue
            wanted = stop_word or _negated(links)
        elif form in _STOP_VERBS:
            wanted = _about_messages(tokens, i, text, required=True)
        elif form == "그만":
            # 광고 그만, 알림 그만요: no verb of its own after it.
            rest = [t for t in tokens[i + 1 :] if t.pos[:1] in ("V", "N") and t.form != "만"]
            wanted = not rest and _about_messages(tokens, i, text, required=True)
            if wanted:
                return True
            continue
        else:
            continue
        if not wanted or not _about_messages(tokens, i, text, required=False):
            continue
        if _wished_or_asked(tokens, i):
            return True
    return False


def _wished_or_asked(tokens: Sequence[Token], head: int) -> bool:
    """A request, statement or will at ``head``, or a wish: -었으면 좋겠어요 / -었으면 해요
    "I'd like you (not) to", a condition followed by 좋다 or 하다."""
    if mood(tokens, head) in _FIRING_MOODS:
        return True
    links = chain(tokens, head)
    after = head + len(links) + 1
    return bool(
        links
        and links[-1].pos == "EC"
        and links[-1].form in ("면", "으면")
        and after < len(tokens)
        and (tokens[after].has("좋/VA") or tokens[after].has("하/VV"))
    )


def _negated(links: Sequence[Token]) -> bool:
    forms = [t.form for t in links]
    return any(a == "지" and b in ("말", "않") for a, b in pairwise(forms))


def _unwilling(tokens: Sequence[Token], head: int, links: Sequence[Token]) -> bool:
    """받고 싶지 않다, 받기 싫다."""
    forms = [t.form for t in links]
    if "싶" in forms and ("않" in forms or "없" in forms):
        return True
    following = tokens[head + len(links) + 1 : head + len(links) + 2]
    return any(t.form == "싫" for t in [*links, *following])


def _about_messages(tokens: Sequence[Token], head: int, text: str, *, required: bool) -> bool:
    """Whether the objects before ``head`` are messages: a message noun among them (by its
    letters: the analyzer reads 알림 as 알리 + ㅁ, 디엠 as 디 + 엠), or (when not
    ``required``) no noun that names another thing."""
    if not tokens[:head]:
        return not required
    surface = text[tokens[0].start : tokens[head].start]
    if _MESSAGE_WORD.search(surface):
        return True
    nouns = [
        t.form
        for t in tokens[:head]
        if t.pos in ("NNG", "NNP", "SL") and t.form not in _FILLER_NOUNS
    ]
    return not required and not nouns


# --- English -----------------------------------------------------------------------------

_MESSAGES = (
    r"(?:messages?|msgs?|texts?|dms?|ads?|adverts?|advertising|advertisements?|emails?|"
    r"e-mails?|notifications?|notices|promos?|promotions?|offers?|marketing|spam|newsletters?|"
    r"reminders?|sms)"
)
_DETERMINERS = r"(?:(?:all|the|your|these|those|this|any|such|of|those|more)\s+)*"
_PRONOUN_END = r"(?:this|these|them|it|all|everything|that)\s*(?:please|pls|now)?\s*$"
_CONTACT_VERBS = (
    r"(?:send(?:ing)?|messag(?:e|ing)|text(?:ing)?|contact(?:ing)?|e-?mail(?:ing)?|"
    r"dm(?:ing)?|spam(?:ming)?|ping(?:ing)?|bother(?:ing)?)"
)
_NEGATION = r"(?:don't|dont|do\s+not|never|not|no\s+need\s+to)"
_KOREAN_TAIL = r"(?:\s*(?:해\s*주세요|해\s*줘|해요|해|요|좀|하세요|할게요))?"
_ALONE = re.compile(
    r"(?:please\s+|pls\s+)?"
    r"(?:(?:stop\s*)+|stopall|stop\s+all|unsubscribe|opt[\s-]?out|unsub|스톱|스탑)"
    r"(?:\s+(?:please|pls|now|thanks|thank\s+you))?" + _KOREAN_TAIL
)
_STOP = re.compile(rf"\bstop\s+(?:{_CONTACT_VERBS}\b|{_DETERMINERS}{_MESSAGES}\b|{_PRONOUN_END})")
_SENT_THING = re.compile(
    rf"send(?:ing)?\s+(?:(?:me|us)\b\s*)?(?!(?:me|us|anything)\b)(?!{_DETERMINERS}{_MESSAGES}\b)"
    rf"(?!{_PRONOUN_END})(?!(?:please|pls|now|again|anymore|any\s+more)?\s*$)\S"
)
"""Sending with an object that is not messages ("stop sending me the wrong size", "don't send
me the blue one"): a complaint or an order, not an opt-out."""
_STOP_AT_END = re.compile(r"\b(?:please|pls|just|now)\s+stop\s*$")
_UNSUBSCRIBE = re.compile(
    r"\b(?:unsubscribe|unsub|opt[\s-]?out|opt\s+(?:me|us)\s+out)\b(?P<rest>.{0,40})"
)
_IF_BEFORE = re.compile(r"\b(?:if|whether|when|once)\s+(?:i|we|you)\s+(?:\w+\s+)?$")
_DONT_CONTACT = re.compile(
    rf"\b{_NEGATION}\s+(?:ever\s+)?{_CONTACT_VERBS}\s+(?:me|us)\b"
    rf"|\bno\s+more\s+{_MESSAGES}\b"
    rf"|\b(?:don't|dont|do\s+not)\s+want\s+{_DETERMINERS}{_MESSAGES}\b"
    r"|\b(?:remove|take)\s+me\s+(?:off|from)\s+(?:your|the|this|all)\s+(?:\w+\s+)?lists?\b"
)
_NEGATED_BEFORE = re.compile(rf"\b{_NEGATION}\s+(?:\w+\s+){{0,2}}$")


def _english(text: str) -> bool:
    flat = " ".join(re.sub(r"[^\w'\s-]", " ", text.replace("\u2019", "'")).split())
    if _ALONE.fullmatch(flat):
        return True
    if not re.search(r"[a-z]", flat):
        return False
    for m in _STOP.finditer(flat):
        if not _NEGATED_BEFORE.search(flat[: m.start()]) and not _sends_a_thing(flat, m):
            return True
    end = _STOP_AT_END.search(flat)
    if end and not _NEGATED_BEFORE.search(flat[: end.start()]):
        return True
    for m in _UNSUBSCRIBE.finditer(flat):
        if _NEGATED_BEFORE.search(flat[: m.start()]) or _IF_BEFORE.search(flat[: m.start()]):
            continue
        rest = m["rest"].strip()
        # "opt out of the warranty": an object that is not messages is another opt-out.
        if rest.startswith(("of ", "from ")):
            target = rest.split(" ", 1)[1] if " " in rest else ""
            if not re.match(rf"{_DETERMINERS}(?:{_MESSAGES}\b|{_PRONOUN_END})", target):
                continue
        return True
    contact = _DONT_CONTACT.search(flat)
    return contact is not None and not _sends_a_thing(flat, contact)


def _sends_a_thing(flat: str, cue: re.Match[str]) -> bool:
    """Whether ``cue`` is "send" with an object other than messages."""
    verb = re.search(r"\bsend(?:ing)?\b", cue.group(0))
    return verb is not None and _SENT_THING.match(flat, cue.start() + verb.start()) is not None
