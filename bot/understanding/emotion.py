"""Baseline emotion detection from lexical cues, for Korean and English customer messages.

Each message is scanned for anger, disappointment and positive cues (both lexicons always:
customers code-switch), with simple negation handling. English cues match on word boundaries;
Korean cues only as whole words by kiwipiepy morphemes (:mod:`bot.understanding.words`), so
기자 in 연기자 or 시발 in 출시발표 is no cue. Anger words that are only named (a colleague
asking how to handle angry customers, "I'm such an idiot") count as negated anger.
Punctuation runs, ALL CAPS and intensifiers (진짜, 너무, "so") only amplify a label that the
cues already chose. The label's score is ``1 - exp(-points)``, so one strong anger cue
(1.0 point) scores 0.63 and a lone weak one (0.5 point) scores 0.39, on either side of
:data:`ANGER_THRESHOLD`.

The shipped detector, :class:`bot.understanding.emotion_model.TrainedEmotionDetector`, reads these
cue points as features next to its trained n-gram model and keeps the cue verdicts as a floor.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from bot.types import Emotion, Language
from bot.understanding.senses import angry_heat, sarcastic_not_even
from bot.understanding.words import Words, covering, is_syllable, words

ANGER_THRESHOLD = 0.5
"""Score at/above which an ``"angry"`` label should hand the conversation to a person.

Chosen from the held-out precision/recall of the trained detector in both languages
(``bench/README.md``, "Escalation threshold"); the cue detector's scores use the same scale.
"""

_MIN_POINTS = 0.5  # cue points a label needs before it beats "neutral"
_NEGATED_POSITIVE_POINTS = 0.8

_HANGUL = "\uac00-\ud7a3"


def _top_level_branches(pattern: str) -> list[str]:
    branches: list[str] = []
    depth, start, i, in_class = 0, 0, 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch in "()":
            depth += 1 if ch == "(" else -1
        elif ch == "|" and depth == 0:
            branches.append(pattern[start:i])
            start = i + 1
        i += 1
    branches.append(pattern[start:])
    return branches


_SPECIAL = frozenset("\\()[].^$|*+?{")
_QUANTIFIERS = frozenset("*+?{")


def _first_char(branch: str) -> str | None:
    """The literal every match of ``branch`` starts with, if it is that simple."""
    if branch and branch[0] not in _SPECIAL and branch[1:2] not in _QUANTIFIERS:
        return branch[0]
    return None


def _by_first_char(branches: Iterable[str]) -> str:
    # Python's re tries each alternative in turn at every position. Grouping alternatives
    # under their shared first character ("s(?:cam|hit|...)") behind a one-class lookahead
    # lets most positions fail after a single comparison.
    buckets: dict[str, list[str]] = {}
    loose: list[str] = []
    for branch in branches:
        first = _first_char(branch)
        if first is not None:
            buckets.setdefault(first, []).append(branch[1:])
        elif branch:
            loose.append(branch)
    alternatives = list(loose)
    if buckets:
        gate = "".join(re.escape(first) for first in buckets)
        grouped = "|".join(f"{first}(?:{'|'.join(rests)})" for first, rests in buckets.items())
        alternatives.append(f"(?=[{gate}])(?:{grouped})")
    return "|".join(alternatives)


def _word_led(branch: str) -> bool:
    return branch.startswith("\\b")


def cue_pattern(*parts: str, flags: int = 0) -> re.Pattern[str]:
    """Compile regex alternatives into one equivalent, faster regex for *lower-cased* text.

    The ``\\b`` that starts each English alternative is hoisted into one shared check and
    the alternatives are grouped by first character, so scanning a 500-character message
    stays in the tens of microseconds. A ``\\b``-led alternative must continue with a word
    character. Among alternatives that match at the same position, which one wins may
    differ from ``"|".join(parts)``; the matched positions do not.
    """
    branches = [b for part in parts for b in _top_level_branches(part)]
    words = [b[2:] for b in branches if _word_led(b)]
    others = [b for b in branches if not _word_led(b)]
    alternatives = [f"(?<!\\w)(?:{_by_first_char(words)})"] if words else []
    if others:
        alternatives.append(_by_first_char(others))
    return re.compile("|".join(alternatives), flags)


def _first_chars(parts: Iterable[str]) -> frozenset[str] | None:
    """Characters any match of ``parts`` can start with, or None when not that simple."""
    chars: set[str] = set()
    for branch in (b for part in parts for b in _top_level_branches(part)):
        first = _first_char(branch[2:] if _word_led(branch) else branch)
        if first is None:
            return None
        chars.add(first)
    return frozenset(chars)


@dataclass(frozen=True)
class Ko:
    """A Korean cue with conditions on its morphemes (every Korean cue must be whole words:
    it starts where a morpheme starts and does not end inside a noun, :meth:`Words.whole`).

    ``lemmas``: the morpheme at its start must be one of these (``사기/NNG``, not 사- "buy" +
    -기); ``inside``: it may also sit inside one longer morpheme (개새끼, 씨발놈), but still not
    straddle two (출시|발표 is not 시발); ``unless_before``: the morpheme right before it
    cancels it (전원이 꺼져요 "the power turns off" is not 꺼져 "get lost"); ``sense``: a check
    of the sentence that says whether the cue means the emotion (:mod:`bot.understanding.senses`:
    열 받다 as anger, not heat).
    """

    pattern: str
    lemmas: tuple[str, ...] = ()
    inside: bool = False
    unless_before: tuple[str, ...] = ()
    sense: Callable[[Words, int, int], bool] | None = None


Part = str | Ko
_Rows = tuple[tuple[float, tuple[Part, ...]], ...]


def _table(rows: Iterable[tuple[float, Iterable[Part]]]) -> _Rows:
    return tuple((weight, tuple(parts)) for weight, parts in rows)


def _pattern(part: Part) -> str:
    return part.pattern if isinstance(part, Ko) else part


_ANGER = _table(
    [
        (
            1.0,
            [
                r"\bsh[i1]t+(?!ake)\w*",  # not shiitake
                r"\bwtf\b",
                r"\bstfu\b",
                r"\bpiss(?:ed|ing)?\b",
                r"(?<!fast & )(?<!fast and )\bfurious\b(?!\s+\d)",  # not the film
                r"\bscam(?!pi)\w*",  # not scampi
                r"\brip-?\s?off\b",
                r"\bripped\s+(?:me\s+|us\s+)?off\b",
                r"\bworst\b(?!\s+case)",
                r"\boutrag\w*",
                r"\bdisgust\w*",
                r"\bthie(?:f|ves)\b",
                r"\bcrooks?\b",
                r"\bidiot\w*",
                r"\bmoron\w*",
                r"\bstupid\b(?!\s+question)",
                r"\basshole\w*",
                r"\bthanks?\s+(?:you\s+)?for\s+nothing\b",
                r"\bscrew\s+(?:you|this|that|your)\b",
                r"\bgo\s+to\s+hell\b",
                r"\binfuriat\w*",
                r"\blivid\b",
                Ko(r"씨발|씨바|씨팔|시발(?!점|역)|좆|병신|븅신", inside=True),
                r"ㅅㅂ|ㅆㅂ|ㅆㅃ|ㅂㅅ|ㅅㄲ|ㅈㄹ",
                # 새끼 is also "young animal" and the little finger or toe.
                Ko(
                    r"새끼(?!\s*(?:고양이|강아지|손가락|발가락|손톱|발톱|오리|곰|돼지|거북|토끼"
                    r"|물고기|새|양|줄))",
                    inside=True,
                ),
                Ko(r"꺼져(?![요서도버있])", unless_before=("이/JKS", "가/JKS")),
                r"닥쳐|엿\s*(?:같|먹)|지랄|염병",
                r"빡(?:치|쳐|침|쳤|친|돌)",
                r"최악(?!\s*(?:의\s*)?(?:경우|상황|시나리오))",
                r"쓰레기(?!\s*(?:봉투|봉지|통|분리|수거|처리|배출|종량제|집게|버리|버릴|버려|를\s*버"
                r"|줍|분류))",
                r"거지\s*같|개판|개\s*같",
                # 사기 is also "to buy" + nominalizer: 사기 전에, 사기 위해, 사기가 어렵다.
                Ko(
                    r"사기(?!\s*(?:전|위해|위한|로\s*(?:했|결정|마음)|가\s*(?:어렵|힘들|쉽|싫|좀)"
                    r"|싫|좋|힘들|어렵|쉽|편|불편|망설))",
                    lemmas=("사기/NNG",),
                ),
            ],
        ),
        (
            0.9,
            [
                # 장난감 (toy) never matches: a verb ending must follow 장난.
                # Not 장난치다가 "while playing" or 장난치면서.
                Ko(
                    r"장난(?:하|해|치|쳐|함|질|까)(?!다가|면서|고\s*놀)",
                    lemmas=("장난/NNG", "장난치/VV"),
                ),
                # 열 받다 "get angry", not "take heat" (열 받으면 변형되나요?).
                Ko(r"열\s*(?:이\s*)?받", sense=angry_heat),
                r"열불",
                # Rhetorical blame: "how are you going to take responsibility?", "are you sane?"
                r"책임\s*(?:질|지실|지시겠)\s*(?:거|건|겁|꺼|껀|래)",
                r"제정신\s*(?:이\s*)?(?:아니|아냐|아님|없)|제정신",
                r"사람\s*(?:을\s*)?(?:가지고|갖고)\s*(?:장난|놀)",
                r"악질",
            ],
        ),
        (
            0.8,
            [
                r"\bridiculous\b",
                # "Is it unacceptable to …?" asks about a rule.
                r"(?<!is it )(?<!would it be )(?<!is that )\bunacceptable\b"
                r"|\b(?:not|isn'?t|is\s+not)\s+acceptable\b",
                r"\b(?:what\s+a|such\s+a|a\s+complete|a\s+total|an\s+absolute)\s+mess\b",
                r"\buseless\b",
                r"\bincompetent\b",
                r"\bpathetic\b",
                r"\bangry\b(?!\s+(?:birds?|face|faces|emoji|emojis|stickers?)\b)",
                r"\bmad\b(?!\s+(?:scientist|hatter|max|libs?|men)\b)",
                r"\bhate\b(?!\s+to\b)",
                r"\bterrible\b(?!\s+twos)",
                r"\bhorrible\b",
                r"\bawful\b(?!\s+lot)",
                r"\bgarbage\b(?!\s+(?:bags?|disposals?|cans?|bins?|trucks?|day|collection))",
                r"\btrash\b(?!\s+(?:bags?|cans?|bins?|compactors?|day))",
                r"\b(?:a|what\s+a|such\s+a|a\s+(?:complete|total|absolute|bad|sick))\s+joke\b"
                r"(?!\s+(?:gifts?|books?|shop|present|cards?|items?|toys?|candle|mugs?|t?-?shirts?))",
                r"\bare\s+you\s+(?:kidding|joking|serious)\b",
                r"\bkidding\s+me\b",
                r"\bfed\s+up\b",
                r"\bsick\s+(?:and\s+tired\s+)?of\b",
                r"\bhad\s+enough\b(?!\s+(?:time|money|space|room|stock|sleep|food|coffee)\b)",
                r"\bwhat\s+the\s+(?:hell|heck)\b",
                r"\bliars?\b|\blied\b",
                r"\blying\b(?!\s+(?:flat|down|around|on|in|there|face|under|next|sideways)\b)",
                r"\bclueless\b",
                r"\babsurd\b",
                r"\brude\b",
                r"\bdisrespect\w*",
                r"\benraged\b",
                # Rhetorical blame questions.
                r"\byou(?:'ve|\s+have)?\s+(?:got|gotta|must|have\s+to)\s+be\s+(?:kidding|joking)\b",
                r"\byou\s+can'?t\s+be\s+serious\b",
                r"\bwho(?:'s|\s+is)\s+(?:going\s+to\s+be\s+|gonna\s+be\s+)?responsible\s+for"
                r"\s+(?:this|that)(?:\s+mess)?\s*(?:[?!.]|$)",
                r"\bhow\s+(?:are\s+you\s+(?:going\s+to|gonna)|will\s+you|do\s+you\s+(?:plan|intend"
                r"|expect)\s+to)\s+(?:fix|make\s+up\s+for|make\s+(?:this|it)\s+right|explain"
                r"|justify|compensate)\b",
                r"\b(?:do|does)\s+(?:you|u|anyone|anybody|your\s+(?:staff|team|people|agents?))\s+"
                r"(?:guys\s+|people\s+)?(?:even|actually)\s+(?:read|listen|care|know|check)\b",
                # "Are you even reading my messages?", "did anyone even look at the photos?": the
                # customer's own case (not "did you even read the post?").
                r"\b(?:did|are|were|have|has|is|can)\s+(?:you|u|anyone|anybody|someone"
                r"|your\s+(?:staff|team|people|agents?))\s+(?:guys\s+|people\s+)?(?:even|actually)\s+"
                r"(?:read\w*|listen\w*|check\w*|look\w*|bother\w*|pay\w*\s+attention)"
                r"(?:\s+(?:to|at|into|on))?(?:\s+(?:this|it|these|them))?(?:\s*(?:[?!.]|$)"
                r"|\s+(?:my|our|me|us|what\s+i|anything"
                r"|a\s+(?:word|thing)|the\s+(?:messages?|emails?|photos?|pictures?|order|complaint"
                r"|ticket|chat|conversation|notes?|request|tracking)\b))",
                # "the third time you've lost my order", "… I've had to ask".
                r"\b(?:second|third|fourth|fifth|sixth|tenth|umpteenth|nth|\d+(?:st|nd|rd|th))\s+"
                r"time\s+(?:(?:that\s+)?(?:you|your\s+\w+)(?:'ve|\s+have|\s+guys(?:\s+have)?)?\s+"
                r"(?:\w+\s+){0,2}?(?:lost|cancel\w*|charged|overcharged|ignored|messed|screwed|forgot"
                r"|missed|delayed|failed|(?:sent|shipped|delivered)\s+(?:me\s+|us\s+)?(?:the\s+|a\s+)?"
                r"(?:wrong|broken|damaged|incorrect|defective))|i(?:'ve|\s+have)\s+(?:had\s+to|asked"
                r"|called|contacted|emailed|messaged|complained|reported|chased|explained)"
                r"|this\s+(?:has\s+)?happen\w*|it(?:'s|\s+has)\s+happened)\b",
                r"\bwhat\s+(?:kind|sort)\s+of\s+(?:a\s+)?(?:company|business|store|shop|service"
                r"|seller|operation|outfit|customer\s+service|support)\s+(?:is\s+this|(?:just\s+"
                r"|even\s+|still\s+)?(?:ignores?|doesn'?t|does\s+not|won'?t|can'?t|refuses?|treats?"
                r"|lies|charges?|keeps?|never|fails?|leaves?|scams?|takes?\s+(?:my|your|people'?s)"
                r"\s+money|sends?\s+(?:the\s+)?wrong))\b",
                r"\b(?:don'?t|do\s+not)\s+(?:you\s+)?(?:dare\s+)?tell\s+me\s+to\s+(?:be\s+patient"
                r"|calm\s+down|relax|wait|chill|be\s+calm|be\s+understanding)\b",
                r"\bhow\s+hard\s+(?:is\s+it|can\s+it\s+be)\s+to\b",
                r"\bhow\s+many\s+(?:more\s+)?times\s+do\s+i\s+(?:have|need)\s+to\b",
                r"\bare\s+you\s+(?:guys\s+|people\s+)?(?:for\s+real|out\s+of\s+your\s+minds?)\b",
                r"짜증",
                # 화 "anger" + 나다, not 전화나, 대화나, 영화나.
                Ko(r"화\s*(?:가\s*)?(?:나|났|납|남|난)", lemmas=("화/NNG", "화나/VV", "화나/VA")),
                r"어이\s*(?:가\s*)?없|어이\s*상실|어처구니",
                r"무책임|무능력|무능|한심|우롱|이\s*따위|그\s*따위|이딴|그딴",
                r"양심\s*(?:이\s*)?(?:없|어디)",
                r"뭐\s*하자는|뭐\s*하는\s*(?:거|짓|회사|곳|겁)",
                r"말이\s*(?:되|돼)(?:냐|나|니|요\s*\?|\s*\?)|말도\s*안\s*(?:되|돼)",
                r"내\s*놔|책임\s*져|책임\s*지세요",
                r"가만\s*(?:안|있지\s*않|두지\s*않|안\s*둬)|두고\s*(?:보|봐)",
                r"\bwhat(?:'s|\s+is)\s+wrong\s+with\s+(?:you|your\s+(?:company|people|staff|team"
                r"|store|service))\b",
                r"(?:어쩔|어떡할|어떻게\s*하실)\s*(?:거|건|겁|꺼|껀)",
                r"누구\s*(?:맘|마음)\s*대로",
                r"이게\s*최선(?:이에요|이예요|입니까|이냐|이야|인가요|이세요|\s*[?？])",
                r"몇\s*번(?:을|이나|째)\s*(?:말|얘기|이야기|전화|문의|연락|요청)",
                # "이게 몇 번째예요?", "몇 번째 누락인지 아세요?"; not "몇 번째 주문인지 확인".
                r"이게\s*몇\s*번\s*째|몇\s*번\s*째(?:예요|에요|야|냐|입니까|인가요|이에요|냐고|\s*[?？])"
                r"|몇\s*번\s*째[가-힣\s]{0,10}?(?:인지|이냐|냐)\s*(?:아세요|알아요|아시|알아|아냐|모르"
                r"|몰라)",
                # "it's not like you refund me" (see senses.sarcastic_not_even).
                Ko(r"(?:것|거)\s*도\s*아니(?:고|구|잖)", sense=sarcastic_not_even),
                r"악성\s*(?:업체|판매자|기업|회사|쇼핑몰|셀러|사이트|장사)",
            ],
        ),
        (
            0.7,
            [
                # Threats to leave.
                r"\bnever\s+again\b",
                r"\bnever\s+(?:buy|buying|order|ordering|shop|shopping|use|using|come|coming)"
                r"\b[^.!?]{0,30}?\bagain\b",
                r"\b(?:take|taking)\s+my\s+(?:business|money)\s+elsewhere\b",
                r"\b(?:lost|losing)\s+(?:a|another|me\s+as\s+a)\s+customer\b",
                r"\bi'?m\s+done\s+with\s+(?:you|this|your)\b",
                r"\blast\s+time\s+i(?:'ll|\s+will)?\s+(?:buy|order|shop)\w*",
                r"다시는|다신|두\s*번\s*다시|불매",
                r"다른\s*(?:곳|데|쇼핑몰|사이트)(?:에서|으로|로)\s*(?:살|사|주문|구매|갈)",
                r"탈퇴(?:할게|합니다|해버|할래|하겠다)",
                r"황당|기가\s*막",
            ],
        ),
        (
            0.6,
            [
                r"\bcrap(?!pie|s\b)\w*",
                r"\bannoy\w*",
                r"\bfrustrat\w*",
                r"\binsane\b",
                r"\bnonsense\b",
                r"\bunbelievable\b",
                r"너무\s*하(?:네|시|다|잖|는|세)",
                r"ㅡㅡ|ㅡ_ㅡ|-_-|-\.-",
                r"구려|구림|구리네|구린",
                r"똑바로|무시\s*하",
                r"\bthis\s+mess\b",
            ],
        ),
        (0.5, [r"\bdamn\w*", r"\byou\s+people\b", r"답답", r"억울", r"불친절"]),
    ]
)

# Swear words that often just intensify ("fucking awesome", "존나 좋아"): anger on their
# own, a positive amplifier when a positive cue follows closely.
_SWEAR_INTENSIFIER = _table(
    [
        (1.0, [r"\bf+u+c+k+\w*|\bfreaking\b|존나|졸라|ㅈㄴ"]),
        # 미쳤다 is also praise slang: "미쳤다 이 핏 진짜 대박", "대박 진짜 미쳤어요".
        (
            0.8,
            [
                r"미쳤|미친(?!\s*(?:듯|가성비|퀄리티|품질|맛|핏|디자인|색감|착용감|가격|비주얼|성능"
                r"|음질|화질))"
            ],
        ),
    ]
)
_SWEAR_REACH = 15  # characters between the swear word and the positive cue it intensifies

_DISAPPOINTMENT = _table(
    [
        (1.0, [r"\bdisappoint\w*", r"실망"]),
        (
            0.9,
            [
                r"\blet\s+(?:me\s+|us\s+)?down\b",
                r"\bsad\b|\bsadly\b|\bsadden\w*",
                r"속상|슬프|슬퍼|슬픈|슬픔|서운",
            ],
        ),
        (
            0.8,
            [
                r"\bunhappy\b",
                r"\bupset\b",
                r"\bexpected\s+(?:much\s+)?(?:better|more)\b",
                r"\bwaste\s+of\s+(?:money|time)\b",
                r"아쉽|아쉬워|아쉬운|아쉬웠|아쉬움",
                r"기대(?:했는데|했던|했지만|와\s*달|\s*이하|에\s*못)",
                r"우울|허탈|허무|눈물",
                r"돈\s*(?:이\s*)?아깝|돈\s*아까",
                r"ㅠ{2,}|ㅜ{2,}|ㅠ[._ㅡ]ㅠ|ㅜ[._ㅡ]ㅜ",
                r":'?\(|😢|😞|😭|☹|🙁|😔|😥|😓|💔",
            ],
        ),
        (
            0.7,
            [
                r"\bwas\s+(?:really\s+|so\s+)?looking\s+forward\b",
                r"\bbummer\b",
                r"\bregret\w*",
                r"\bnot\s+worth\b",
                r"후회",
            ],
        ),
        (
            0.6,
            [
                r"\bunfortunate\w*",
                r"\btoo\s+bad\b",
                r"\b(?:what|such)\s+a\s+shame\b",
                r"별로(?:네|예요|에요|였|이었|다|임|이네|더라|인)",
            ],
        ),
        (
            0.5,
            [
                r"\b(?:i\s+)?(?:had\s+)?hoped\b|\bi\s+was\s+hoping\b",
                r"\bsigh\b",
                r"불만(?!족)",
                r"(?<![ㅠㅜ])[ㅠㅜ](?![ㅠㅜ])",
                r"에휴|하아+|휴우",
            ],
        ),
    ]
)

# Problem reports: not an emotion by themselves (a calm "my parcel arrived damaged" stays
# neutral), but with an intensifier or a sad emoticon they tip the message to disappointed.
_ISSUE = _table(
    [
        (
            0.4,
            [
                r"\blate\b|\bdelay\w*|\bslow\b",
                r"\bbroken\b|\bdamaged\b|\bdefective\b|\bfaulty\b|\bmissing\b",
                r"\bwrong\s+(?:item|size|colou?r|product|order|address)\b",
                r"\bstill\s+(?:hasn'?t|haven'?t|not|no|waiting)\b",
                r"\bnever\s+(?:arrived|came|received|got)\b",
                r"\b(?:hasn'?t|didn'?t|not)\s+(?:arrived|come|shipped|received)\b",
                r"늦(?:어|었|네|게|는|고|다|음|잖)|느려|느림|느리",
                r"안\s*(?:와|왔|오|옴|온)|아직(?:도)?\s*(?:안|못)",
                r"파손|깨져|깨졌|고장|불량|망가|누락|오배송|찢어",
                Ko(r"하자", lemmas=("하자/NNG",)),  # a defect, not 하- + -자 "let's"
                r"잘못\s*(?:왔|온|배송|보내)",
            ],
        ),
    ]
)

_POSITIVE = _table(
    [
        (
            1.0,
            [
                r"\blove\b|\bloved\b|\bloving\b",
                r"\bawesome\b|\bamazing\b|\bexcellent\b|\bperfect\w*|\bwonderful\b",
                r"\bfantastic\b|\bbrilliant\b|\boutstanding\b|\bsuperb\b",
                r"최고|완벽|훌륭|짱",
                # Praise slang: "the value for money is insane" (before 미쳤 reads as anger).
                r"(?:가성비|퀄리티|품질|맛|핏|디자인|색감|착용감|가격|비주얼|성능|음질|화질)\s*"
                r"(?:이|가|은|는)?\s*(?:진짜\s*|완전\s*|개\s*)?(?:미쳤|미친|실화)",
                r"미친\s*(?:가성비|퀄리티|품질|맛|핏|디자인|색감|착용감|가격|비주얼|성능|음질|화질)",
            ],
        ),
        (0.9, [r"\bappreciat\w*", r"만족|감동|행복|덕분"]),
        (
            0.8,
            [
                r"\bgreat\b|\bhappy\b|\bglad\b|\bsatisfied\b|\bhelpful\b|\bhelped\b",
                r"친절|기뻐|기쁘|기쁜",
                r"대박(?!\s*(?:늦|느리|느려|비싸|비쌈|짜증|화나|실망|별로|사건|사고))",
                r"좋(?:아|았|네|습|다|은|더라|던|음|고|군|구나|더|지)",
            ],
        ),
        (
            0.7,
            [
                r"사랑|해결(?:됐|되었|돼서|됐네|되어서)",
                r"😊|🙂|😄|😁|😍|🥰|👍|❤|💕|🙏",
            ],
        ),
        (
            0.6,
            [
                r"\bgood\b|\bnice\b|\bsolved\b|\bresolved\b|\bworks\s+now\b",
                r"\b(?:fast|quick)\s+(?:delivery|shipping|response|reply|help)\b",
                r"\b(?:was|arrived|came)\s+(?:so\s+|really\s+|very\s+)?(?:fast|quick|early)\b",
                r"다행|굿|빠르(?:네|다|고)|빨라서|빨랐|빠른\s*배송",
            ],
        ),
        (0.5, [r"\bcool\b", r"\^\^|:\)|:-\)|:d\b", r"수고\s*많"]),
        (0.4, [r"ㅎㅎ+"]),
    ]
)

# Thanks: positive, but "no thanks" is a polite refusal, not disappointment.
_THANKS = _table([(0.9, [r"\bthank\w*|\bthx\b|\bty\b", r"감사|고마|고맙|땡큐"])])
# Positive phrases built from a negation, so they skip the negation check.
_NEGATED_PRAISE = _table(
    [
        (1.0, [r"\bcan'?t\s+thank\s+(?:you|u)\s+enough\b"]),
        (0.6, [r"\bnot\s+bad\b", r"나쁘지\s*않"]),
    ]
)

# Anger words named, not felt: a colleague asking how to handle angry customers, a customer
# blaming themselves ("I'm such an idiot"), a question whether a text is a scam, and compounds
# where the word is a term (악성 재고 "dead stock"). They count as negated anger: the trained
# model's anger alone does not escalate them (``combine`` in emotion_model.py).
_MENTION = _table(
    [
        (
            1.0,
            [
                r"\b(?:deal(?:ing)?\s+with|handl(?:e|ing)|calm(?:ing)?(?:\s+down)?|respond(?:ing)?"
                r"\s+to|repl(?:y|ying)\s+to|manag(?:e|ing)|de-?escalat\w*|serv(?:e|ing)|train\w*"
                r"\s+(?:\w+\s+)?(?:for|on))\s+(?:an?\s+|the\s+|these\s+|those\s+)?(?:really\s+|very\s+)?"
                r"(?:angry|furious|abusive|rude|upset|irate|difficult|hostile|aggressive|mad"
                r"|annoyed|frustrated|toxic)\s+(?:customers?|clients?|callers?|buyers?|users?"
                r"|people|guests?|shoppers?)\b",
                r"\bi(?:'m|\s+am|\s+was|\s+feel\s+like)\s+(?:such\s+|so\s+|a\s+total\s+"
                r"|a\s+complete\s+|an\s+absolute\s+)?(?:an?\s+)?(?:idiot|moron|stupid|dumb|dummy)\b",
                r"\bmy\s+(?:own\s+)?(?:stupid|dumb|idiotic)\s+(?:mistake|fault|error)\b",
                r"\b(?:a|this|my|the)\s+(?:stupid|dumb|silly)\s+question\b",
                # Praise as regret: "I hate that I waited so long to buy this".
                r"\bhate\s+(?:that|how)\s+i\s+(?:waited|(?:didn'?t|did\s+not|never|hadn'?t)\s+"
                r"(?:buy|bought|try|tried|find|found|get|got|order|ordered|discover\w*)|only\s+"
                r"(?:just\s+)?(?:found|discovered|tried)|took\s+so\s+long)\b"
                r"|\bhate\s+how\s+much\s+i\s+(?:love|like|need|want)\b",
                r"\b(?:he|she|they|my\s+\w+|the\s+kids?|kids)\s+(?:is|are|'s|'re|was|were|got"
                r"|gets?)\s+(?:so\s+|really\s+)?(?:sick|tired)\s+of\b",
                r"\bscam\s+(?:emails?|texts?|calls?|messages?|links?|sites?|websites?|alerts?"
                r"|warnings?|notices?|prevention|awareness|protection|filters?|detection|tips?)\b"
                r"|\bphishing\b",
                r"(?:악성|진상|화난|성난|분노한|불만|블랙)\s*(?:고객|손님|민원인|민원|구매자|이용자"
                r"|유저|컨슈머|소비자|리뷰|댓글|클레임|컴플레인)(?=[^.!?]{0,15}(?:응대|대응|대처|상대"
                r"|처리|관리|다루|매뉴얼|교육|방법|어떻게|요령|가이드|규정|정책))",
                r"악성\s*(?:재고|코드|종양|채무|부채|루머|댓글|민원)",
                # Self-deprecation: "useless me", 무능력한 저도 …
                r"(?:무능력한|무능한|멍청한|바보\s*같은|한심한)\s*(?:저|제|나|내)(?=도|가|는|를|\s|$)",
            ],
        )
    ]
)

# Every cue in one regex, one pass per message. Where two cues overlap, the earlier one wins,
# and at the same position the one listed first: "thanks for nothing" is anger, not thanks,
# and 불친절 is one anger cue rather than also a negated 친절.
CueKind = Literal[
    "mention", "praise", "anger", "swear", "disappointment", "issue", "positive", "thanks"
]
CueSets = tuple[tuple[CueKind, _Rows], ...]
CUE_SETS: CueSets = (
    ("mention", _MENTION),
    ("praise", _NEGATED_PRAISE),
    ("anger", _ANGER),
    ("swear", _SWEAR_INTENSIFIER),
    ("disappointment", _DISAPPOINTMENT),
    ("issue", _ISSUE),
    ("positive", _POSITIVE),
    ("thanks", _THANKS),
)
"""The cue tables, in precedence order: (kind, ((weight, alternatives), ...))."""
_MAX_CUES = 40  # points saturate long before; bounds the work on pathological input

_Found = tuple[CueKind, float, int, int]
"""A cue found in a message: kind, weight, start, end."""


class CueLexicon:
    """Finds the cues of :data:`CUE_SETS` (or of other tables) in a lower-cased message.

    One regex of every alternative finds candidates; a candidate starting with a Hangul
    syllable counts only as whole words (:mod:`bot.understanding.words`), with the conditions
    of its :class:`Ko`. ``morphemes=False`` matches substrings, as the lexicon did before
    (benchmarks measure that as a baseline).
    """

    def __init__(self, sets: CueSets, *, morphemes: bool = True) -> None:
        self.morphemes = morphemes
        rows = tuple((kind, weight, parts) for kind, table in sets for weight, parts in table)
        patterns = [_pattern(p) for _, _, parts in rows for p in parts]
        self._any = cue_pattern(*patterns)
        self._rows = tuple(
            (kind, weight, cue_pattern(*map(_pattern, parts)), _first_chars(map(_pattern, parts)))
            for kind, weight, parts in rows
        )
        # Every alternative that can start with a syllable, in table order, for Korean.
        self._korean = tuple(
            (kind, weight, cue_pattern(_pattern(part)), _first_chars([_pattern(part)]), part)
            for kind, weight, parts in rows
            for part in parts
            if _may_start_korean(_pattern(part))
        )

    def find(self, text: str) -> list[_Found]:
        """The cues of ``text`` (lower-cased, formulas blanked), in order, not overlapping."""
        found: list[_Found] = []
        reading: Words | None = None
        pos = 0
        while len(found) < _MAX_CUES and (m := self._any.search(text, pos)) is not None:
            start = m.start()
            hit: _Found | None
            if self.morphemes and is_syllable(text[start]):
                reading = reading or words(text)
                hit = self._korean_at(text, start, reading)
            else:
                row = self._row(text, start)
                hit = (*row, start, m.end()) if row is not None else None
            if hit is None:
                pos = start + 1
                continue
            found.append(hit)
            pos = max(hit[3], start + 1)
        return found

    def _row(self, text: str, start: int) -> tuple[CueKind, float] | None:
        """Kind and weight of the first cue row that matches at ``start``."""
        first = text[start]
        for kind, weight, pattern, firsts in self._rows:
            if (firsts is None or first in firsts) and pattern.match(text, start):
                return kind, weight
        return None  # unreachable while the candidate regex is built from the same rows

    def _korean_at(self, text: str, start: int, reading: Words) -> _Found | None:
        first = text[start]
        for kind, weight, pattern, firsts, part in self._korean:
            if firsts is not None and first not in firsts:
                continue
            m = pattern.match(text, start)
            if m is not None and m.end() > start and _accepts(part, reading, start, m.end()):
                return kind, weight, start, m.end()
        return None


def _may_start_korean(pattern: str) -> bool:
    firsts = _first_chars([pattern])
    return firsts is None or any(is_syllable(ch) for ch in firsts)


def _accepts(part: Part, reading: Words, start: int, end: int) -> bool:
    """Whether the Korean cue ``part`` found at ``text[start:end]`` is whole words."""
    ko = part if isinstance(part, Ko) else None
    if ko is not None and ko.inside:
        tokens = reading.sentence(start)
        i = covering(tokens, start)
        if i is not None and tokens[i].start < start:
            # Inside one longer morpheme (개새끼) counts; straddling two (출시|발표) does not.
            return tokens[i].end >= end and reading.text[start:end] in tokens[i].form
        return True
    if not reading.whole(start, end):
        return False
    if ko is None:
        return True
    at = reading.index(start)
    if at is None:
        if ko.lemmas:
            return False
    else:
        tokens, i = at
        if ko.lemmas and not any(
            t.has(lemma) for t in tokens if t.start == start for lemma in ko.lemmas
        ):
            return False
        if i and any(tokens[i - 1].has(lemma) for lemma in ko.unless_before):
            return False
    return ko.sense is None or ko.sense(reading, start, end)


LEXICON = CueLexicon(CUE_SETS)
"""The shipped cue lexicon."""


# Politeness formulas that contain positive words but carry no emotion; blanked out first.
_FORMULAS = cue_pattern(
    r"(?:\b(?:would|will)|'d)\s+(?:really\s+)?(?:be\s+)?(?:great|nice|appreciated|wonderful"
    r"|perfect|helpful|awesome)\b",
    r"(?:\bwould|'d)\s+(?:really\s+)?(?:appreciate|love|like)\b",
    r"\bappreciate\s+(?:it\s+)?if\b",
    r"\bhave\s+a\s+(?:good|nice|great|lovely|wonderful)\s+(?:day|one|weekend|evening|night)\b",
    r"\bgood\s+(?:morning|afternoon|evening|day|night)\b",
    r"\bthanks?\s+(?:you\s+)?in\s+advance\b",
    # A polite refusal, but not "no, thank you for your help".
    r"\bno,?\s+(?:thanks|thx|thank\s+you)\b(?!\s+(?:for|so|very|a\s+lot))",
    r"좋겠|좋을\s*(?:것|거)\s*같|감사하겠|미리\s*감사|좋은\s*(?:하루|주말|저녁|밤)",
    r"부탁(?:드|합)|수고\s*하세요|수고\s*하십시오",
)

_NEGATION_BEFORE = re.compile(
    r"(?:\b(?:not|no|hardly|barely|nothing|without|cannot)|n'?t)(?:\s+[\w']+){0,2}\s+$"
    r"|\bnever\s+$"
    rf"|(?:^|[^{_HANGUL}]|진짜|너무|정말|완전|전혀|별로|하나도|좀)(?:안|못)\s*$"
    r"|불$",
)
_NEGATION_AFTER = re.compile(
    rf"^[{_HANGUL}]{{0,3}}?(?:지|진|지는|지도)\s*(?:않|못|말|마)"
    r"|^\s*(?:않|못\s*(?:하|했|해|함))"
    # "최악은 아니에요" negates, but "아니면" (or), "~이 아니라" and "사기 아니에요?" do not.
    rf"|^[{_HANGUL}]{{0,4}}?\s*(?:(?:건|게|거|것은|것도|은|는|이|가)\s*)?"
    rf"아니(?!라|면|냐|[{_HANGUL}]{{0,3}}\s*\?)"
    rf"|^[{_HANGUL}]{{0,2}}\s*(?:안|못)\s*(?:나|났|납|날|해|했|함|하)"
    # "사기당한 줄 알았는데 …": what the customer thought, and it was not so.
    rf"|^[{_HANGUL}]{{0,4}}?\s*줄\s*알았",
)
_NEGATION_REACH_BEFORE = 30
_NEGATION_REACH_AFTER = 12

_QUESTION = re.compile(rf"\?|(?:나요|까요|는지요|인가요|을까|할까|되나|하나)(?![{_HANGUL}])")
_CLAUSE_BREAK = re.compile(r"[.!?,;\n]")

_EXCLAIM_RUN = re.compile(r"!{2,}")
_INTERROBANG = re.compile(r"\?!|!\?")
_QUESTION_RUN = re.compile(r"\?{2,}")
_INTENSIFIER_KO = re.compile(
    r"진짜|정말|너무|완전|도대체|대체|아주|엄청|매우|되게|겁나|개(?=빡|짜증|열받|어이|답답|구려|느려|늦)"
)
_INTENSIFIER_EN = cue_pattern(
    r"\b(?:so|very|really|extremely|totally|absolutely|completely|seriously|utterly"
    r"|incredibly|such)\b"
)
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z']*")
# Acronyms and redaction placeholders ([PHONE]) in caps are not shouting.
_ACRONYM = re.compile(
    r"USA|UK|EU|UPS|DHL|USPS|FEDEX|EMS|SKU|FAQ|ASAP|ORD|ID|OK|PM|AM|TV|PC|USB|SMS|URL|KST|CJ|LG"
    r"|SK|KT|API|PDF|ETA|VAT|RMA|COD|DM|CS|QR|IOS|AI|APP|XL|XXL|EMAIL|PHONE|CARD|RRN|ACCOUNT"
)
# ALL CAPS with no positive cue reads as shouting; with !!/??/?! it is anger on its own.
_SHOUT_POINTS = 0.4
_SHOUT_WITH_PUNCT_POINTS = 0.5


@dataclass
class CuePoints:
    """Lexicon evidence in one message: cue points per emotion, amplifiers, shouting."""

    anger: float = 0.0
    disappointment: float = 0.0
    positive: float = 0.0
    amplifier: float = 0.0
    shouting: bool = False
    """Most Latin words in capitals (acronyms and placeholders aside)."""
    negated_anger: float = 0.0
    """Points of anger cues that were negated ("I'm not angry", "짜증 안 나요") or only named
    ("how do I handle angry customers?", 악성 고객 대응)."""


def _negated(text: str, start: int, end: int) -> bool:
    before = text[max(0, start - _NEGATION_REACH_BEFORE) : start]
    after = text[end : end + _NEGATION_REACH_AFTER]
    return bool(_NEGATION_BEFORE.search(before) or _NEGATION_AFTER.search(after))


def blank_formulas(text: str) -> str:
    """Blank out politeness formulas ("would be great", 감사하겠습니다) in *lower-cased* text.

    They contain positive words but carry no emotion; the offsets of the rest stay put.
    """
    return _FORMULAS.sub(lambda m: " " * len(m.group(0)), text)


def _capitals(text: str) -> tuple[bool, bool]:
    """Return (shouting, emphasis): most Latin words in caps, or one emphatic caps word."""
    words = _LATIN_WORD.findall(text)
    caps = [w for w in words if len(w) >= 2 and w.isupper() and not _ACRONYM.fullmatch(w)]
    shouting = len(caps) >= 2 and len(caps) >= 0.6 * len(words)
    emphasis = not shouting and any(len(w) >= 3 for w in caps)
    return shouting, emphasis


def _amplifier(text: str) -> float:
    punct = 0.0
    run = max((len(m) for m in _EXCLAIM_RUN.findall(text)), default=0)
    if run >= 3:
        punct += 0.3
    elif run == 2:
        punct += 0.2
    if _INTERROBANG.search(text):
        punct += 0.25
    if _QUESTION_RUN.search(text):
        punct += 0.15
    words = min(0.3, 0.15 * len(_INTENSIFIER_KO.findall(text)))
    words += min(0.3 - words, 0.1 * len(_INTENSIFIER_EN.findall(text)))
    return min(punct, 0.4) + max(words, 0.0)


def _score(points: float) -> float:
    return round(1.0 - math.exp(-points), 3)


def _intensifies(text: str, start: int, end: int, positives: list[tuple[int, int]]) -> bool:
    """Whether the swear word at ``text[start:end]`` only intensifies a positive cue in its
    clause: one that follows closely, or in Korean also one just before (대박 진짜 미쳤다)."""
    for s, e in positives:
        if end <= s <= end + _SWEAR_REACH and not _CLAUSE_BREAK.search(text, end, s):
            return True
        before = start - _SWEAR_REACH <= e <= start and is_syllable(text[start])
        if before and not _CLAUSE_BREAK.search(text, e, start):
            return True
    return False


def cue_points(raw_text: str, lexicon: CueLexicon = LEXICON) -> CuePoints:
    """Score ``raw_text`` against the cue lexicons (both languages, negation-aware)."""
    # Patterns are written lower-case; str.lower() may change the length (İ), which is fine
    # because every offset below indexes this same string.
    text = blank_formulas(raw_text.replace("\u2019", "'").lower())
    pts = CuePoints(amplifier=_amplifier(text))
    is_question = bool(_QUESTION.search(text))
    # A positive word in a question ("is it good for winter?") is not satisfaction.
    positive_factor = 0.5 if is_question else 1.0

    cues = lexicon.find(text)
    positives: list[tuple[int, int]] = []
    for kind, weight, start, end in cues:
        if kind == "praise":
            pts.positive += weight * positive_factor
            positives.append((start, end))
        elif kind in ("positive", "thanks"):
            if not _negated(text, start, end):
                pts.positive += weight * positive_factor
                positives.append((start, end))
            elif kind == "positive":
                # "not happy", "안 좋아요"; but "no thanks" is only a polite refusal.
                pts.disappointment += _NEGATED_POSITIVE_POINTS
    for kind, weight, start, end in cues:
        if kind == "mention":
            pts.negated_anger += weight
        elif kind == "swear":
            if _intensifies(text, start, end, positives):
                pts.amplifier += 0.2
            else:
                pts.anger += weight
        elif kind in ("anger", "disappointment", "issue"):
            if _negated(text, start, end):
                if kind == "anger":
                    pts.negated_anger += weight
            elif kind == "anger":
                pts.anger += weight
            else:
                pts.disappointment += weight

    shouting, emphasis = _capitals(raw_text)
    pts.shouting = shouting
    if shouting and pts.positive < _MIN_POINTS:
        loud = _EXCLAIM_RUN.search(text) or _INTERROBANG.search(text) or _QUESTION_RUN.search(text)
        pts.anger += _SHOUT_WITH_PUNCT_POINTS if loud else _SHOUT_POINTS
    elif shouting or emphasis:
        pts.amplifier += 0.3 if shouting else 0.15
    return pts


class EmotionDetector(Protocol):
    """Anything that can label a customer message with an emotion."""

    def detect(self, text: str, language: Language) -> Emotion:
        """Return the emotion of ``text``, written in ``language``."""
        ...


class CueEmotionDetector:
    """Deterministic lexicon/cue detector: the offline baseline, no model needed."""

    def detect(self, text: str, language: Language) -> Emotion:
        """Label ``text`` positive, neutral, disappointed or angry, with a 0..1 score.

        Both lexicons are always consulted, so ``language`` does not change the result; it
        is part of the interface for detectors that need it.
        """
        return cue_emotion(cue_points(text))


def cue_emotion(p: CuePoints) -> Emotion:
    """The cue detector's label and score for the cue points ``p`` of one message."""
    if p.anger >= _MIN_POINTS and p.anger >= 0.7 * p.positive and p.anger >= 0.6 * p.disappointment:
        return Emotion("angry", _score(p.anger + p.amplifier + 0.15 * p.disappointment))
    if p.disappointment >= _MIN_POINTS and p.disappointment >= 0.7 * p.positive:
        return Emotion("disappointed", _score(p.disappointment + p.amplifier + 0.15 * p.anger))
    if p.positive >= _MIN_POINTS:
        return Emotion("positive", _score(p.positive + p.amplifier))
    strongest = max(p.anger, p.disappointment, p.positive)
    return Emotion("neutral", round(max(0.5, 0.9 - 0.6 * strongest), 3))


def escalates(emotion: Emotion) -> bool:
    """True when ``emotion`` is anger strong enough to hand the conversation to a person."""
    return emotion.label == "angry" and emotion.score >= ANGER_THRESHOLD
