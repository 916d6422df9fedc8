"""Which sense a Korean cue has in its sentence, where the morphemes alone do not say.

열 받다 is "to get angry" and also "to take heat" (a pan that takes heat, 열 받으면 변형되나요?);
~는 것도 아니고 is a sarcastic complaint about what the shop does not do (환불을 해주는 것도
아니고 연락도 없고) and also a plain "neither … nor" (싼 것도 아니고 비싼 것도 아니고 적당해요)
or the customer's own modesty (매일 쓰는 것도 아니고 가끔 쓸 거라 …). Each check takes the
message's :class:`Words` and the cue's span and says whether the cue means the emotion.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.understanding.words import Token, Words, chain, covering, mood

# Heat, materials and where a thing is kept: the sentence is about taking heat.
_HEAT = re.compile(
    r"온도|고온|뜨거|뜨겁|가열|내열|직사광선|햇빛|햇볕|전자\s*레인지|오븐|에어\s*프라이어"
    r"|식기\s*세척기|건조기|다리미|난로|히터|화기|불\s*(?:위|에|가까이)|변형|변색|뒤틀|휘어|휘지"
    r"|녹(?:아|나|을|는|지|았|으)|소재|재질|코팅|플라스틱|실리콘|스텐|유리|보관|차\s*안"
)
_PLACES = frozenset({"곳", "부분", "데", "장소", "환경", "위치", "쪽"})


def angry_heat(reading: Words, start: int, end: int) -> bool:
    """Whether 열 받다 at ``text[start:end]`` is anger rather than heat or a row: not "hot
    heat" (뜨거운 열, 고온의 열), not a counted row (두 번째 열 받을 수 있나요?), not "if it
    takes heat" (열 받으면 …), not "a place that takes heat" (열 받는 곳), and no heat,
    material or storage word in the sentence."""
    tokens = reading.sentence(start)
    i = covering(tokens, start)
    if i is None:
        return True
    previous = tokens[i - 1] if i else None
    if previous is not None and (
        previous.pos in ("ETM", "JKG", "MM", "SN", "NR") or previous.form in ("번째", "째")
    ):
        return False  # 뜨거운 열, 고온의 열; 두 번째 열 "the second row", 한 열
    verb = next((k for k in range(i + 1, len(tokens)) if tokens[k].form == "받"), None)
    if verb is not None:
        links = chain(tokens, verb)
        after = verb + len(links) + 1
        if mood(tokens, verb) == "conditional":
            return False
        if (
            links
            and links[-1].pos == "ETM"
            and after < len(tokens)
            and tokens[after].form in _PLACES
        ):
            return False
    sentence = reading.text[tokens[0].start : tokens[-1].end] if tokens else ""
    return not _HEAT.search(sentence)


_FIRST_PERSON = frozenset({"저", "제", "나", "내", "우리", "저희"})
# What follows a sarcastic "it's not like you …": another thing not done, or blame.
_BLAME_AFTER = re.compile(
    r"(?<!문제)(?<!문제\s)(?<!상관)(?<!불만)(?<!이상)(?<!걱정)(?<!부담)없"
    r"|않|안\s|못|뭐|왜|도대체|대체|장난|무시|연락\s*두절|감감"
)


def sarcastic_not_even(reading: Words, start: int, end: int) -> bool:
    """Whether ~는 것도 아니고 at ``text[start:end]`` (starting at 것/거) is a complaint:
    the predicate before it is a verb done for the customer (해주는, 보내준), or is followed
    by more of what was not done or by blame (연락도 없고, 뭐 하는 건지); not an adjective
    (싼 것도 아니고), not the customer's own doing (제가 매일 쓰는 것도 아니고) and not the
    two halves of "neither … nor" with the same verb (쓰는 것도 아니고 안 쓰는 것도 아니고)."""
    tokens = reading.sentence(start)
    i = covering(tokens, start)
    if i is None or i < 2 or tokens[i - 1].pos != "ETM":
        return False
    verb = _predicate_before(tokens, i - 1)
    if verb is None:
        return False
    head = tokens[verb]
    if head.pos not in ("VV", "VX") and not (head.pos == "XSV" and verb):
        return False
    clause = _clause_start(tokens, verb)
    if any(t.pos == "NP" and t.form in _FIRST_PERSON for t in tokens[clause:verb]):
        return False
    others = _not_even_verbs(tokens, i)
    if any(_negation_of(tokens, verb, other) for other in others):
        return False
    benefactive = any(t.form == "주" and t.pos in ("VV", "VX") for t in tokens[verb : i - 1])
    rest = reading.text[end : tokens[-1].end]
    return benefactive or bool(_BLAME_AFTER.search(rest))


def _not_even_verbs(tokens: Sequence[Token], skip: int) -> list[int]:
    """The predicates of the other ~는 것도 아니 in the sentence (not the one at ``skip``)."""
    out = []
    for k in range(2, len(tokens) - 2):
        if (
            k != skip
            and tokens[k].form in ("것", "거")
            and tokens[k - 1].pos == "ETM"
            and tokens[k + 1].form == "도"
            and tokens[k + 2].form == "아니"
            and (verb := _predicate_before(tokens, k - 1)) is not None
        ):
            out.append(verb)
    return out


def _negation_of(tokens: Sequence[Token], a: int, b: int) -> bool:
    """Whether the predicates at ``a`` and ``b`` are one verb, once with 안/못 before it: the
    two halves of "neither … nor" (쓰는 것도 아니고 안 쓰는 것도 아니고)."""

    def negated(k: int) -> bool:
        start = k - 1 if tokens[k].pos == "XSV" else k
        return start > 0 and tokens[start - 1].form in ("안", "못")

    return _lemma(tokens, a) == _lemma(tokens, b) and negated(a) != negated(b)


def _predicate_before(tokens: Sequence[Token], etm: int) -> int | None:
    """Index of the verb or adjective whose modifier ending is at ``etm``: past auxiliaries
    and tense (하 of 해주는, not 주; 보내 of 보내준)."""
    k = etm - 1
    while k >= 0:
        pos = tokens[k].pos
        if pos in ("VV", "VA", "XSV", "XSA", "VCP"):
            return k
        if not (pos in ("VX", "EP") or (pos == "EC" and tokens[k + 1].pos == "VX")):
            return None
        k -= 1
    return None


def _clause_start(tokens: Sequence[Token], k: int) -> int:
    while k > 0 and tokens[k - 1].pos not in ("EC", "EF", "SF", "SP"):
        k -= 1
    return k


def _lemma(tokens: Sequence[Token], k: int) -> str:
    if tokens[k].pos == "XSV" and k:
        return tokens[k - 1].form + tokens[k].form
    return tokens[k].form
