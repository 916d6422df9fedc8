"""Near misses of the escalation cues: what must not hand a conversation to a person, and
what must, in Korean and English (suite ``nearmiss``).

The pairs are ``tests/data/near_misses.yaml`` (written for Ondo, not from any data set): a
product question, compliment, story, name or homograph that must not escalate beside a
message that must, with its reason. Both go through the engine's decision path: normalise,
redact, the shipped ``TrainedEmotionDetector``, ``decide``. The baseline, measured in the
same run, is the same path with the cue lists as they were before issue 15: substring
matches for the sensitive topics and for asking for a person, and the emotion cue tables
matched as substrings (the trained model reads those cue points, as it did then). The old
lists are frozen here and nowhere else; the product does not use them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.common import Config, Models, progress
from bench.table import Row, pct
from bot.conversation.escalation import decide
from bot.types import Emotion, Escalation, Language
from bot.understanding.emotion import (
    CueLexicon,
    CuePoints,
    CueSets,
    cue_emotion,
    cue_pattern,
    cue_points,
    escalates,
)
from bot.understanding.emotion_model import (
    TrainedEmotionDetector,
    clip,
    combine,
    cue_vector,
    default_detector,
    plain_request,
)
from bot.understanding.normalize import for_analysis
from bot.understanding.privacy import redact, without_identifiers
from knowledge.language import detect_language

TABLE = Path(__file__).resolve().parent.parent / "tests" / "data" / "near_misses.yaml"

# --- the cue lists before issue 15, frozen (baseline only) ---------------------------------

_HANGUL = "\uac00-\ud7a3"
_Rows = tuple[tuple[float, tuple[str, ...]], ...]


def _table(rows: Any) -> _Rows:
    return tuple((weight, tuple(parts)) for weight, parts in rows)


_OLD_ANGER = _table(
    [
        (
            1.0,
            [
                r"\bsh[i1]t+\w*",
                r"\bwtf\b",
                r"\bstfu\b",
                r"\bpiss(?:ed|ing)?\b",
                r"\bfurious\b",
                r"\bscam\w*",
                r"\brip-?\s?off\b",
                r"\bripped\s+(?:me\s+|us\s+)?off\b",
                r"\bworst\b",
                r"\boutrag\w*",
                r"\bdisgust\w*",
                r"\bthie(?:f|ves)\b",
                r"\bcrooks?\b",
                r"\bidiot\w*",
                r"\bmoron\w*",
                r"\bstupid\b",
                r"\basshole\w*",
                r"\bthanks?\s+(?:you\s+)?for\s+nothing\b",
                r"\bscrew\s+(?:you|this|that|your)\b",
                r"\bgo\s+to\s+hell\b",
                r"\binfuriat\w*",
                r"\blivid\b",
                r"씨발|씨바|씨팔|시발(?!점|역)|ㅅㅂ|ㅆㅂ|ㅆㅃ|좆|병신|ㅂㅅ|븅신|새끼|ㅅㄲ",
                r"꺼져|닥쳐|엿\s*(?:같|먹)|지랄|ㅈㄹ|염병",
                r"빡(?:치|쳐|침|쳤|친|돌)",
                r"최악|쓰레기|거지\s*같|개판|개\s*같",
                # 사기 is also "to buy" + nominalizer: 사기 전에, 사기 위해, 사기가 어렵다.
                r"사기(?!\s*(?:전|위해|위한|로\s*(?:했|결정|마음)|가\s*(?:어렵|힘들|쉽|싫|좀)"
                r"|싫|좋|힘들|어렵|쉽|편|불편|망설))",
            ],
        ),
        (
            0.9,
            [
                # 장난감 (toy) never matches: a verb ending must follow 장난.
                r"장난(?:하|해|치|쳐|함|질|까)",
                r"열\s*받|열불",
            ],
        ),
        (
            0.8,
            [
                r"\bridiculous\b",
                r"\bunacceptable\b|\b(?:not|isn'?t|is\s+not)\s+acceptable\b",
                r"\buseless\b",
                r"\bincompetent\b",
                r"\bpathetic\b",
                r"\bangry\b",
                r"\bmad\b",
                r"\bhate\b(?!\s+to\b)",
                r"\bterrible\b",
                r"\bhorrible\b",
                r"\bawful\b",
                r"\bgarbage\b",
                r"\btrash\b",
                r"\b(?:a|what\s+a|such\s+a)\s+joke\b",
                r"\bare\s+you\s+(?:kidding|joking|serious)\b",
                r"\bkidding\s+me\b",
                r"\bfed\s+up\b",
                r"\bsick\s+(?:and\s+tired\s+)?of\b",
                r"\bhad\s+enough\b",
                r"\bwhat\s+the\s+(?:hell|heck)\b",
                r"\bliars?\b|\blying\b|\blied\b",
                r"\bclueless\b",
                r"\babsurd\b",
                r"\brude\b",
                r"\bdisrespect\w*",
                r"\benraged\b",
                r"짜증",
                # 화 must start a word: 전화나, 대화나, 영화나 are not anger.
                rf"화(?:(?<![{_HANGUL}]화)|(?<=진짜화|너무화|정말화|완전화)|(?<=개화))"
                r"\s*(?:가\s*)?(?:나|났|납|남|난)",
                r"어이\s*(?:가\s*)?없|어이\s*상실|어처구니",
                r"미쳤|미친(?!\s*듯)",
                r"무책임|무능|한심|우롱|이\s*따위|그\s*따위|이딴|그딴",
                r"양심\s*(?:이\s*)?(?:없|어디)",
                r"뭐\s*하자는|뭐\s*하는\s*(?:거|짓|회사|곳|겁)",
                r"말이\s*(?:되|돼)(?:냐|나|니|요\s*\?|\s*\?)|말도\s*안\s*(?:되|돼)",
                r"내\s*놔|책임\s*져|책임\s*지세요",
                r"가만\s*(?:안|있지\s*않|두지\s*않|안\s*둬)|두고\s*(?:보|봐)",
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
                r"\bcrap\w*",
                r"\bannoy\w*",
                r"\bfrustrat\w*",
                r"\binsane\b",
                r"\bnonsense\b",
                r"\bunbelievable\b",
                r"너무\s*하(?:네|시|다|잖|는|세)",
                r"ㅡㅡ|ㅡ_ㅡ|-_-|-\.-",
                r"구려|구림|구리네|구린",
                r"똑바로|무시\s*하",
            ],
        ),
        (0.5, [r"\bdamn\w*", r"\byou\s+people\b", r"답답", r"억울", r"불친절"]),
    ]
)

# Swear words that often just intensify ("fucking awesome", "존나 좋아"): anger on their
# own, a positive amplifier when a positive cue follows closely.
_OLD_SWEAR_INTENSIFIER = _table([(1.0, [r"\bf+u+c+k+\w*|\bfreaking\b|존나|졸라|ㅈㄴ"])])

_OLD_DISAPPOINTMENT = _table(
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
_OLD_ISSUE = _table(
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
                r"파손|깨져|깨졌|고장|불량|망가|누락|오배송|찢어|하자",
                r"잘못\s*(?:왔|온|배송|보내)",
            ],
        ),
    ]
)

_OLD_POSITIVE = _table(
    [
        (
            1.0,
            [
                r"\blove\b|\bloved\b|\bloving\b",
                r"\bawesome\b|\bamazing\b|\bexcellent\b|\bperfect\w*|\bwonderful\b",
                r"\bfantastic\b|\bbrilliant\b|\boutstanding\b|\bsuperb\b",
                r"최고|완벽|훌륭|짱",
            ],
        ),
        (0.9, [r"\bappreciat\w*", r"만족|감동|행복|덕분"]),
        (
            0.8,
            [
                r"\bgreat\b|\bhappy\b|\bglad\b|\bsatisfied\b|\bhelpful\b|\bhelped\b",
                r"친절|기뻐|기쁘|기쁜",
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
_OLD_THANKS = _table([(0.9, [r"\bthank\w*|\bthx\b|\bty\b", r"감사|고마|고맙|땡큐"])])
# Positive phrases built from a negation, so they skip the negation check.
_OLD_NEGATED_PRAISE = _table(
    [
        (1.0, [r"\bcan'?t\s+thank\s+(?:you|u)\s+enough\b"]),
        (0.6, [r"\bnot\s+bad\b", r"나쁘지\s*않"]),
    ]
)

OLD_CUE_SETS: CueSets = (
    ("praise", _OLD_NEGATED_PRAISE),
    ("anger", _OLD_ANGER),
    ("swear", _OLD_SWEAR_INTENSIFIER),
    ("disappointment", _OLD_DISAPPOINTMENT),
    ("issue", _OLD_ISSUE),
    ("positive", _OLD_POSITIVE),
    ("thanks", _OLD_THANKS),
)
OLD_LEXICON = CueLexicon(OLD_CUE_SETS, morphemes=False)

_OLD_STAFF_EN = (
    r"(?:a\s+|an\s+|the\s+|some\s+|your\s+|one\s+of\s+your\s+)?"
    r"(?:real\s+|actual\s+|live\s+|human\s+)?"
    r"(?:human(?:\s+being)?|person|agent|representative|rep|operator|someone|somebody"
    r"|manager|supervisor|staff(?:\s+member)?|employee|customer\s+service)\b"
)
_OLD_STAFF_KO = (
    r"(?:상담\s*(?:원|사|직원)|직원|매니저|관리자|책임자|담당자|사장|윗\s*사람|실제\s*사람"
    r"|진짜\s*사람|사람)"
)
_OLD_BOT = r"(?:a|the|this|your)?\s*(?:bot|robot|machine|chatbot|ai)\b"


# Patterns are lower-case and run on lower-cased text (see cue_pattern).
_OLD_HUMAN_REQUEST = cue_pattern(
    rf"\b(?:talk|speak|chat)\s+(?:to|with)\s+{_OLD_STAFF_EN}",
    rf"\b(?:connect|transfer|put|pass|forward)\s+me\s+(?:through\s+)?(?:to|with)\s+{_OLD_STAFF_EN}",
    r"\b(?:want|need|get|give\s+me|request)\s+(?:a\s+|an\s+)?(?:real\s+|actual\s+|live\s+)?"
    r"(?:human|agent|representative|rep|operator|manager|supervisor)\b",
    r"\b(?:real|actual|live)\s+(?:human|person|agent)\b",
    r"^\W*(?:human|agent|representative|operator)\W*(?:please|pls|now)?\W*$",
    r"\b(?:human|agent|representative|operator)\s*,?\s*(?:please|pls)\b",
    r"\b(?:can|could|would)\s+(?:someone|somebody|a\s+person|an\s+agent)\s+(?:please\s+)?"
    r"call\s+me\b",
    r"\bcall\s+me\s+back\b",
    rf"{_OLD_STAFF_EN}\s+(?:i|we)\s+(?:can|could|might)\s+(?:talk|speak|chat)\b",
    rf"\b(?:not|no\s+more|stop)\s+(?:talking\s+to\s+)?{_OLD_BOT}",
    rf"\b(?:don'?t|do\s+not)\s+want\s+(?:to\s+(?:talk|speak|chat)\s+(?:to|with)\s+)?{_OLD_BOT}",
    # Korean: a staff word, an optional particle, then a connect / talk / call / swap verb.
    rf"{_OLD_STAFF_KO}(?:\s*분)?(?:\s*님)?\s*(?:(?:이랑|랑|하고|과|와|한테|에게|께|으로|로|을|를)\s*)?"
    r"(?:좀\s*)?(?:직접\s*)?(?:연결|바꿔|바꾸|불러|부르|통화|얘기|이야기|대화|채팅|챗|상담\s*(?:받|하)"
    r"|나와|나오|요청)",
    r"상담\s*(?:원|사)(?:\s*님)?\s*(?:좀\s*)?(?:요|주세요|부탁|원해|원합|[!?.]*$)",
    r"(?:전화|유선|통화)\s*(?:로\s*)?(?:상담|연락)\s*(?:을\s*|좀\s*)?"
    r"(?:원해|원합|받고\s*싶|하고\s*싶|요청|부탁|해\s*주|주세요|가능|연결)",
    r"전화\s*(?:좀\s*)?(?:주세요|해\s*주세요|해\s*주실|주실\s*수|부탁)",
    r"(?:챗\s*)?봇\s*(?:말고|이랑\s*(?:말|얘기)\s*안|싫)|(?:기계|로봇|ai)\s*말고",
    flags=re.MULTILINE,
)
# Context that turns a match into something other than a request: a declined offer, a past
# event ("상담원이랑 통화했는데"), or staff as the subject ("checked by a real person").
_OLD_NOT_A_REQUEST_BEFORE = re.compile(
    r"\b(?:don'?t|do\s+not|no\s+need\s+to|won'?t|never)\s+"
    r"(?:need\s+to\s+|want\s+to\s+|have\s+to\s+)?[\w\s]{0,10}$"
    r"|\bby\s+(?:a|an|the)?\s*$",
    re.IGNORECASE,
)
_OLD_NOT_A_REQUEST_AFTER = re.compile(
    r"^\S{0,2}\s*(?:은|는)?\s*(?:안\s*해도|안\s*하셔도|하지\s*않아도|필요\s*없|괜찮|됐어요)"
    r"|^\s*(?:했|하셨|해\s*봤|했었|됐었|줬|주셨|해\s*줬|했는데)"
)
_OLD_BOT_WORDS = re.compile(r"bot|robot|machine|chatbot|\bai\b|봇|기계|로봇")

_OLD_SENSITIVE = cue_pattern(
    r"\blawyers?\b|\battorneys?\b|\bsolicitors?\b|\blawsuits?\b|\blitigation\b",
    r"\bsmall[\s-]+claims?\b|\bchargebacks?\b|\bcharge\s+back\b|\bpolice\b|\bcops\b",
    r"\bbbb\b|\bbetter\s+business\s+bureau\b|\bftc\b|\battorney\s+general\b",
    r"\bfair\s+trade\s+commission\b|\bkftc\b|\bkorea\s+consumer\s+agency\b",
    r"\btrading\s+standards\b|\bombudsman\b|\bjournalists?\b|\breporters?\b",
    r"\bthe\s+press\b|\bthe\s+media\b",
    r"\blegal\s+(?:action|proceedings?|steps|advice|team)\b",
    r"\bconsumer\s+(?:protection|affairs|agency|council)\b",
    r"\bnews\s+(?:outlet|station|channel)\b",
    r"\bsue\s+(?:you|your|the|this|them|ondo)\b|\bsuing\b|\bsued\b",
    r"\bin\s+court\b|\bto\s+court\b",
    r"\bdisput\w*\b[^.!?]{0,40}\b(?:bank|card|credit|charge|transaction|payment|paypal)",
    r"\bbank\b[^.!?]{0,30}\bdisput|\bcard\s+(?:company|issuer)\b[^.!?]{0,30}\bdisput",
    r"\bcredit\s+card\b[^.!?]{0,30}\bdisput|\bpaypal\b[^.!?]{0,30}\bdisput",
    r"\bfile\s+a\s+dispute\b|\bopen\s+a\s+dispute\b|\braise\s+a\s+dispute\b",
    r"\breport\w*\b[^.!?]{0,30}\bfraud\b|\bfraud\b[^.!?]{0,20}\breport",
    r"\breport\s+(?:you|this|your\s+company|this\s+company|ondo)\s+to\b",
    r"소비자\s*(?:원(?!가)|보호원|보호\s*센터|상담\s*센터)|공정위|공정\s*거래",
    # 고소하다 also means "savory"; only the legal senses.
    r"고소(?:장|를|까지|당|각|할게|할께|할\s*거|할\s*겁|할\s*테|하겠|합니다|할\s*예정|하려|하러"
    r"|하기로|해\s*버|\s+(?:하|할|진행|접수|준비|들어))",
    r"고발|소송|변호사|법무\s*법인|법적\s*(?:조치|대응|절차|책임|처리)|법원|경찰",
    r"카드사[^.!?]{0,15}(?:이의|지급\s*정지|민원|신고|취소\s*요청)|이의\s*제기|지급\s*정지",
    r"차지백|내용\s*증명|금감원|금융\s*감독원|국민\s*신문고|민원",
    r"1372(?<![0-9]1372)(?![0-9])\s*(?:소비자|에|로|상담|신고)",
    # 전기자전거 (e-bike) and 기자재 (equipment) contain 기자.
    r"언론|기자(?<!전기자)(?!재)|방송국|방송사|제보",
)
# "sue" only in lower case after a modal, so "Can Sue call me?" is about a colleague; this
# one runs on the original text.
_OLD_SUE = re.compile(
    r"\b(?:i'?ll|i\s+will|i\s+am\s+going\s+to|i'?m\s+going\s+to|gonna|going\s+to|to|can"
    r"|could|should|will|i)\s+(?-i:sue|SUE)\b",
    re.IGNORECASE,
)
# 신고 (a report to an authority) counts unless it is a customs/tax declaration or a report
# about the customer's own lost or stolen things.
_OLD_REPORT = re.compile(r"신고(?!서|\s*대행|가)")
_OLD_REPORT_EXEMPT = re.compile(
    r"(?:세관|통관|관세|수입|분실|도난|전입|소득|세금|부가세)[^.!?]{0,6}$"
)


def old_asks_for_human(text: str) -> bool:
    """The old ``asks_for_human``: a staff word and a verb of contact, as substrings.

    Questions about staff in general ("does a human check my return?") and declined offers
    ("I don't need to talk to an agent", "상담원 연결은 필요 없어요") are not requests.
    """
    text = text.lower()
    for m in _OLD_HUMAN_REQUEST.finditer(text):
        before = text[max(0, m.start() - 25) : m.start()]
        after = text[m.end() : m.end() + 12]
        # "don't want a bot" is itself a request for a person; "don't want an agent" is not.
        declined = _OLD_NOT_A_REQUEST_BEFORE.search(before) and not _OLD_BOT_WORDS.search(m.group())
        if declined or _OLD_NOT_A_REQUEST_AFTER.search(after):
            continue
        return True
    return False


def old_is_sensitive(text: str) -> bool:
    """The old ``is_sensitive``: any word of the legal, police or press field, as substrings.

    Negation is ignored on purpose: "I don't want to sue" still puts legal action on the table.
    """
    if _OLD_SUE.search(text):
        return True
    text = text.lower()
    if _OLD_SENSITIVE.search(text):
        return True
    return any(
        not _OLD_REPORT_EXEMPT.search(text[max(0, m.start() - 12) : m.start()])
        for m in _OLD_REPORT.finditer(text)
    )


def old_decide(text: str, emotion: Emotion) -> Escalation:
    """``decide`` as it was, for an answered message: sensitive > asked > angry."""
    if old_is_sensitive(text):
        return Escalation(True, "sensitive")
    if old_asks_for_human(text):
        return Escalation(True, "asked_for_human")
    if escalates(emotion):
        return Escalation(True, "angry")
    return Escalation.none()


def read_with(
    detector: TrainedEmotionDetector,
    text: str,
    language: Language,
    points: Callable[[str], CuePoints],
) -> Emotion:
    """``TrainedEmotionDetector.read(...).emotion`` with the cue points of ``points``."""
    model = detector.models[language]
    text = clip(text)
    cues = points(text)
    vector = cue_vector(cues)
    raw = model.linear.scores(text)
    anger = model.mixer.anger(raw, vector)
    four = model.mixer.four(raw, vector)
    if not any(ch.isalnum() for ch in text) and cue_emotion(cues).label == "neutral":
        four = np.asarray([0.0, 1.0, 0.0, 0.0])
    plain = plain_request(text, cues, language)
    return combine(anger, four, cues, plain, detector.threshold)


Decision = Callable[[str], Escalation]


def shipped(detector: TrainedEmotionDetector) -> Decision:
    """The engine's path for one answered customer message (``Engine.analyze``)."""

    def run(text: str) -> Escalation:
        text = for_analysis(text) or text
        language = detect_language(text)
        redacted = redact(text, language)
        meaning = without_identifiers(redacted) or redacted
        emotion = detector.detect(meaning, language)
        return decide(redacted, emotion, answered=True, consecutive_misses=0)

    return run


def baseline(detector: TrainedEmotionDetector) -> Decision:
    """The same path with the old substring cue lists."""

    def run(text: str) -> Escalation:
        text = for_analysis(text) or text
        language = detect_language(text)
        redacted = redact(text, language)
        meaning = without_identifiers(redacted) or redacted
        emotion = read_with(detector, meaning, language, lambda t: cue_points(t, OLD_LEXICON))
        return old_decide(redacted, emotion)

    return run


@dataclass(frozen=True)
class Pair:
    """A message that must not escalate beside one that must, for ``reason``."""

    quiet: str
    fires: str
    reason: str
    kind: str


def load(path: Path = TABLE) -> dict[str, list[Pair]]:
    """The near-miss pairs per language (``ko``, ``en``)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {
        language: [Pair(p["quiet"], p["fires"], p["reason"], p["kind"]) for p in pairs]
        for language, pairs in data.items()
    }


@dataclass(frozen=True)
class Score:
    """How one decision path does on one language's pairs."""

    false_fires: int
    hits: int
    pairs: int
    by_reason: dict[str, tuple[int, int, int]]
    """Per expected reason: (false fires on its quiet texts, hits, pairs)."""

    def false_cell(self) -> str:
        """``3.8 % (4 / 105)``."""
        return f"{pct(self.false_fires / self.pairs)} ({self.false_fires} / {self.pairs})"

    def hit_cell(self) -> str:
        """``100.0 % (105 / 105)``."""
        return f"{pct(self.hits / self.pairs)} ({self.hits} / {self.pairs})"

    def breakdown(self, hits: bool) -> str:
        """Per reason: ``sensitive 2/46 · angry 1/38 · asked_for_human 0/21``."""
        return " · ".join(
            f"{reason} {hit if hits else false}/{n}"
            for reason, (false, hit, n) in self.by_reason.items()
        )


def score(pairs: Sequence[Pair], decision: Decision) -> Score:
    """False fires on the quiet texts (any escalation) and hits on the firing ones (the
    expected reason)."""
    by_reason: dict[str, list[int]] = {}
    false_fires = hits = 0
    for pair in pairs:
        false = decision(pair.quiet).escalate
        hit = decision(pair.fires).reason == pair.reason
        false_fires += false
        hits += hit
        counts = by_reason.setdefault(pair.reason, [0, 0, 0])
        counts[0] += false
        counts[1] += hit
        counts[2] += 1
    return Score(
        false_fires, hits, len(pairs), {r: (c[0], c[1], c[2]) for r, c in by_reason.items()}
    )


_NAMES = {"ko": "Korean", "en": "English"}


def suite(cfg: Config, models: Models) -> list[Row]:
    """Near-miss false-fire and hit rates per language: shipped path vs the old cue lists."""
    del cfg, models  # the table is small and read whole; no sentence model is involved
    detector = default_detector()
    table = load()
    rows: list[Row] = []
    protocol = (
        "`tests/data/near_misses.yaml`: pairs of a message that must not escalate (product "
        "question, compliment, story, name, topic, homograph) and one that must, with its "
        "reason (sensitive / angry / asked_for_human), written for Ondo; each through the "
        "engine's path for an answered customer message (normalise, redact, the shipped "
        "detector, `decide`). *False fires* = quiet messages that escalate for any reason; "
        "*hits* = firing messages that escalate for the expected reason. Baseline in the same "
        "run: the same path with the cue lists before issue 15 (substring sensitive-topic and "
        "person-request patterns, emotion cue tables as substrings feeding the same model), "
        "frozen in `bench/near_miss.py`."
    )
    for language, pairs in table.items():
        progress(f"nearmiss: {language}, {len(pairs)} pairs")
        new = score(pairs, shipped(detector))
        old = score(pairs, baseline(detector))
        name = _NAMES.get(language, language)
        rows.append(
            Row(
                benchmark=f"Near misses, {name} ({len(pairs)} pairs)",
                metric="false fires on must-not texts (lower is better)",
                ondo=f"{new.false_cell()}: {new.breakdown(hits=False)}",
                lexical=f"old substring cues {old.false_cell()}: {old.breakdown(hits=False)}",
                dense="— (no embedding)",
                anchor="—",
                target="0 %",
                protocol=protocol,
            )
        )
        rows.append(
            Row(
                benchmark=f"Near misses, {name} ({len(pairs)} pairs)",
                metric="hits on must-fire texts, right reason",
                ondo=f"{new.hit_cell()}: {new.breakdown(hits=True)}",
                lexical=f"old substring cues {old.hit_cell()}: {old.breakdown(hits=True)}",
                dense="— (no embedding)",
                anchor="—",
                target="100 %",
            )
        )
    return rows
