"""Decide when a conversation goes to a person: legal risk, an explicit ask, anger, or misses."""

from __future__ import annotations

import re

from bot.types import Emotion, Escalation
from bot.understanding.emotion import cue_pattern, escalates

NO_ANSWER_LIMIT = 2
"""Consecutive unanswered messages (this one included) after which a person takes over."""

_STAFF_EN = (
    r"(?:a\s+|an\s+|the\s+|some\s+|your\s+|one\s+of\s+your\s+)?"
    r"(?:real\s+|actual\s+|live\s+|human\s+)?"
    r"(?:human(?:\s+being)?|person|agent|representative|rep|operator|someone|somebody"
    r"|manager|supervisor|staff(?:\s+member)?|employee|customer\s+service)\b"
)
_STAFF_KO = (
    r"(?:상담\s*(?:원|사|직원)|직원|매니저|관리자|책임자|담당자|사장|윗\s*사람|실제\s*사람"
    r"|진짜\s*사람|사람)"
)
_BOT = r"(?:a|the|this|your)?\s*(?:bot|robot|machine|chatbot|ai)\b"


# Patterns are lower-case and run on lower-cased text (see cue_pattern).
_HUMAN_REQUEST = cue_pattern(
    rf"\b(?:talk|speak|chat)\s+(?:to|with)\s+{_STAFF_EN}",
    rf"\b(?:connect|transfer|put|pass|forward)\s+me\s+(?:through\s+)?(?:to|with)\s+{_STAFF_EN}",
    r"\b(?:want|need|get|give\s+me|request)\s+(?:a\s+|an\s+)?(?:real\s+|actual\s+|live\s+)?"
    r"(?:human|agent|representative|rep|operator|manager|supervisor)\b",
    r"\b(?:real|actual|live)\s+(?:human|person|agent)\b",
    r"^\W*(?:human|agent|representative|operator)\W*(?:please|pls|now)?\W*$",
    r"\b(?:human|agent|representative|operator)\s*,?\s*(?:please|pls)\b",
    r"\b(?:can|could|would)\s+(?:someone|somebody|a\s+person|an\s+agent)\s+(?:please\s+)?"
    r"call\s+me\b",
    r"\bcall\s+me\s+back\b",
    rf"{_STAFF_EN}\s+(?:i|we)\s+(?:can|could|might)\s+(?:talk|speak|chat)\b",
    rf"\b(?:not|no\s+more|stop)\s+(?:talking\s+to\s+)?{_BOT}",
    rf"\b(?:don'?t|do\s+not)\s+want\s+(?:to\s+(?:talk|speak|chat)\s+(?:to|with)\s+)?{_BOT}",
    # Korean: a staff word, an optional particle, then a connect / talk / call / swap verb.
    rf"{_STAFF_KO}(?:\s*분)?(?:\s*님)?\s*(?:(?:이랑|랑|하고|과|와|한테|에게|께|으로|로|을|를)\s*)?"
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
_NOT_A_REQUEST_BEFORE = re.compile(
    r"\b(?:don'?t|do\s+not|no\s+need\s+to|won'?t|never)\s+"
    r"(?:need\s+to\s+|want\s+to\s+|have\s+to\s+)?[\w\s]{0,10}$"
    r"|\bby\s+(?:a|an|the)?\s*$",
    re.IGNORECASE,
)
_NOT_A_REQUEST_AFTER = re.compile(
    r"^\S{0,2}\s*(?:은|는)?\s*(?:안\s*해도|안\s*하셔도|하지\s*않아도|필요\s*없|괜찮|됐어요)"
    r"|^\s*(?:했|하셨|해\s*봤|했었|됐었|줬|주셨|해\s*줬|했는데)"
)
_BOT_WORDS = re.compile(r"bot|robot|machine|chatbot|\bai\b|봇|기계|로봇")

_SENSITIVE = cue_pattern(
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
_SUE = re.compile(
    r"\b(?:i'?ll|i\s+will|i\s+am\s+going\s+to|i'?m\s+going\s+to|gonna|going\s+to|to|can"
    r"|could|should|will|i)\s+(?-i:sue|SUE)\b",
    re.IGNORECASE,
)
# 신고 (a report to an authority) counts unless it is a customs/tax declaration or a report
# about the customer's own lost or stolen things.
_REPORT = re.compile(r"신고(?!서|\s*대행|가)")
_REPORT_EXEMPT = re.compile(r"(?:세관|통관|관세|수입|분실|도난|전입|소득|세금|부가세)[^.!?]{0,6}$")


def asks_for_human(text: str) -> bool:
    """True when the customer explicitly asks to talk to, or be connected to, a person.

    Questions about staff in general ("does a human check my return?") and declined offers
    ("I don't need to talk to an agent", "상담원 연결은 필요 없어요") are not requests.
    """
    text = text.lower()
    for m in _HUMAN_REQUEST.finditer(text):
        before = text[max(0, m.start() - 25) : m.start()]
        after = text[m.end() : m.end() + 12]
        # "don't want a bot" is itself a request for a person; "don't want an agent" is not.
        declined = _NOT_A_REQUEST_BEFORE.search(before) and not _BOT_WORDS.search(m.group())
        if declined or _NOT_A_REQUEST_AFTER.search(after):
            continue
        return True
    return False


def is_sensitive(text: str) -> bool:
    """True for legal threats, regulators, police, chargebacks and press: always a person's job.

    Negation is ignored on purpose: "I don't want to sue" still puts legal action on the table.
    """
    if _SUE.search(text):
        return True
    text = text.lower()
    if _SENSITIVE.search(text):
        return True
    return any(
        not _REPORT_EXEMPT.search(text[max(0, m.start() - 12) : m.start()])
        for m in _REPORT.finditer(text)
    )


def decide(text: str, emotion: Emotion, *, answered: bool, consecutive_misses: int) -> Escalation:
    """Decide whether this message hands the conversation to a person, and why.

    Precedence: ``sensitive`` > ``asked_for_human`` > ``angry`` (label angry with score at or
    above :data:`bot.understanding.emotion.ANGER_THRESHOLD`) > ``no_answer`` (unanswered, and
    ``consecutive_misses``, which already counts this message, is at least
    :data:`NO_ANSWER_LIMIT`).
    """
    if is_sensitive(text):
        return Escalation(True, "sensitive")
    if asks_for_human(text):
        return Escalation(True, "asked_for_human")
    if escalates(emotion):
        return Escalation(True, "angry")
    if not answered and consecutive_misses >= NO_ANSWER_LIMIT:
        return Escalation(True, "no_answer")
    return Escalation.none()
