"""Decide when a conversation goes to a person: legal risk, an explicit ask, anger, or misses.

Both cue readers look for an act, not a word. ``sensitive`` is the customer acting or
threatening to act against the shop through the law, a regulator, the police, the press or
the card issuer ("소비자원에 신고하겠습니다", "I'll file a chargeback"), not a product, a
compliment or a story that uses such a word ("a police costume", "운동화 신고 다니기",
"고소한 참기름", "연기자들 연기 최고"). ``asked_for_human`` is a request to talk to a person,
not a past call or a mention of staff. Korean is read by morphemes
(:mod:`bot.understanding.words`): the act's predicate must be the customer's own, now, future,
past or asked, not a modifier of a noun (소송하는 장면) or hearsay (신고했대요). English is
read on word boundaries, with the act needing a first-person subject, an imperative or a
threat around it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.types import Emotion, Escalation
from bot.understanding.emotion import cue_pattern, escalates
from bot.understanding.words import Token, Words, head_before, is_syllable, mood, words

NO_ANSWER_LIMIT = 2
"""Consecutive unanswered messages (this one included) after which a person takes over."""

# --- asking for a person --------------------------------------------------------------------

# A staff or bot word used as a modifier of another noun is not the person or the bot:
# "real human hair", "a human-sized bear", "the live agent feature", "stop the robot vacuum",
# "not machine washable".
_FUNCTION_WORDS = (
    r"(?:please|pls|plz|now|asap|to|who|that|not|instead|i|we|right|a|an|the|my|your|our"
    r"|already|because|and|or|on|at|here|there|rather|for|with|immediately|today|tomorrow"
    r"|about|than|so|this|in|from|again|thanks|thank|regarding|concerning|directly|personally"
    r"|soon|via|by|over|if|when|as|like|then|but)"
)
_NOT_STAFF = rf"(?![\w'’-]|\s+(?!{_FUNCTION_WORDS}\b)(?![a-z]+://)[a-z])"
"""The staff word ends its phrase: no hyphen and no content word follows (punctuation, markup,
an emoji, a function word or the end may)."""
_STAFF_EN = (
    r"(?:(?:a\s+|an\s+|the\s+|some\s+|your\s+|one\s+of\s+your\s+)?"
    r"(?:real\s+|actual\s+|live\s+|human\s+)?"
    r"(?:(?:customer\s+(?:service|support|care)|support|sales|service)\s+)?"
    r"(?:human(?:\s+being)?|person|agent|representative|rep|operator|manager|supervisor"
    r"|staff(?:\s+member)?|employee|team"
    # "someone real", "somebody in charge", "anyone from your team".
    r"|(?:someone|somebody|anyone|anybody)(?:\s+(?:real|else|human|actual|competent|senior"
    r"|in\s+charge|responsible|from\s+(?:your|the)\s+(?:team|company|store|shop|staff)))?)"
    r"|(?:a\s+|the\s+|your\s+)?customer\s+(?:service|support|care))" + _NOT_STAFF
)
_STAFF_KO = (
    r"(?:상담\s*(?:원|사|직원)|직원|매니저|관리자|책임자|담당자|사장|윗\s*사람|실제\s*사람"
    r"|진짜\s*사람|사람)"
)
_BOT = (
    r"(?:an?|the|this|your)?\s*(?:bot|robot|machine|chatbot|ai)(?![\w-])"
    r"(?!\s+(?:vacuums?|cleaners?|mowers?|arms?|toys?|kits?|dogs?|mops?|lawn|wash\w*|dr(?:y|ied"
    r"|yable)|learning|generated|translation|features?|art|images?|parts?|models?|pets?)\b)"
)

# Patterns are lower-case and run on lower-cased text (see cue_pattern).
_HUMAN_REQUEST = cue_pattern(
    rf"\b(?:talk|speak|chat)\s+(?:to|with)\s+{_STAFF_EN}",
    rf"\b(?:connect|transfer|put|pass|forward)\s+me\s+(?:through\s+)?(?:to|with)\s+{_STAFF_EN}",
    # A staff noun may follow "human" or a service word: "a human agent", "a live support rep".
    r"\b(?:want|need|get(?:\s+me)?|give\s+me|bring\s+me|find\s+me|send\s+me|request)\s+"
    r"(?:a\s+|an\s+|your\s+|the\s+)?(?:real\s+|actual\s+|live\s+)?"
    r"(?:(?:human|customer\s+(?:service|support|care)|support|service)\s+)?"
    r"(?:human|agent|representative|rep|operator|manager|supervisor)" + _NOT_STAFF,
    r"\b(?:real|actual|live)\s+(?:human\s+)?(?:human|person|agent|representative|rep)" + _NOT_STAFF,
    r"^\W*(?:human|agent|representative|operator)\W*(?:please|pls|now)?\W*$",
    r"\b(?:human|agent|representative|operator)\s*,?\s*(?:please|pls)\b",
    # "call me back", "call me at …", not "could you call me Jenny".
    r"\b(?:can|could|would|will)\s+(?:(?:someone|somebody|anyone)(?:\s+(?:from|at|in|on)\s+"
    r"(?:your|the)\s+\w+)?|a\s+person|an\s+agent|you|one\s+of\s+you)\s+(?:please\s+)?"
    r"call\s+me\b(?=\s*(?:[?.!,]|$|back|at|on|now|asap"
    r"|today|tomorrow|please|when|as\s+soon|right))",
    r"\bplease\s+call\s+me\s+back\b|^\W*call\s+me\s+back\b"
    r"|\bcall\s+me\s+back\s*,?\s*(?:please|pls|asap|now|today|right\s+away)\b",
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
# A call about the goods, not a person for the customer: "call me when it's back in stock",
# "… once my order ships" (but "call me when you're free", "… when a manager is in").
_CALL_ABOUT_GOODS = re.compile(
    r"\s*(?:back\s+)?(?:when|once|as\s+soon\s+as|if|whenever)\s+"
    r"(?!(?:you|u|someone|somebody|any(?:one|body)|an?\s+(?:person|human|manager|agent|rep))\b)"
    r"(?:[\w']+\s+){0,4}?(?:back\s+in\s+stock|in\s+stock|restock\w*|available|arriv\w*|ship\w*"
    r"|dispatch\w*|deliver\w*|ready|comes?\s+(?:in|back)|out\s+for\s+delivery|on\s+sale"
    r"|released?|launch\w*|here)\b"
)
_CALL_ME = re.compile(r"\bcall\s+me\b")
# What the verb of a Korean request must not be doing: it happened, it describes something
# (사장님 나오는 광고), someone said it, or it only leads into another clause (직원 불러서
# 물어보니, 사람 불러서 설치해야 하나요?, 통화하고 나서 해결됐어요).
_NOT_REQUEST_MOODS = frozenset({"past", "modifier", "hearsay", "connective", "conditional"})


def asks_for_human(text: str) -> bool:
    """True when the customer explicitly asks to talk to, or be connected to, a person.

    Questions about staff in general ("does a human check my return?"), declined offers
    ("I don't need to talk to an agent", "상담원 연결은 필요 없어요"), past calls and staff in a
    story ("직원 불러서 물어보니 …") are not requests.
    """
    text = text.lower()
    reading: Words | None = None
    korean = 0
    for m in _HUMAN_REQUEST.finditer(text):
        before = text[max(0, m.start() - 25) : m.start()]
        after = text[m.end() : m.end() + 12]
        # "don't want a bot" is itself a request for a person; "don't want an agent" is not.
        declined = _NOT_A_REQUEST_BEFORE.search(before) and not _BOT_WORDS.search(m.group())
        if declined or _NOT_A_REQUEST_AFTER.search(after):
            continue
        if _CALL_ME.search(m.group()) and _CALL_ABOUT_GOODS.match(text, m.end()):
            continue
        if is_syllable(text[m.start()]):
            korean += 1
            if korean > _MAX_SENTENCES:
                break
            reading = reading or words(text)
            # "봇 말고 …" asks by refusing the bot; the other Korean requests end in a verb.
            verb = not _BOT_WORDS.search(m.group())
            if not _korean_request(reading, m.start(), m.end() if verb else None):
                continue
        return True
    return False


def _korean_request(reading: Words, start: int, end: int | None) -> bool:
    """Whether the Korean match at ``start`` starts a word and its verb, ending at ``end``
    (if it has one), asks."""
    if not reading.starts(start):
        return False
    if end is None:
        return True
    tokens = reading.sentence(end - 1)
    head = head_before(tokens, end)
    return head is None or mood(tokens, head) not in _NOT_REQUEST_MOODS


# --- legal, regulatory, press and payment-dispute action: English ---------------------------

# A venue word followed by another noun is that noun's modifier ("police costume", "the media
# player", "press conference"), not the institution.
_END_OF_PHRASE = (
    r"(?=\s*(?:[.!?,;:)\]]|$)|\s+(?:on|about|if|and|or|but|because|now|right|to|for|over"
    r"|immediately|today|tonight|tomorrow|again|myself|ourselves|then|unless|so|when|as|after"
    r"|asap|too|this|that|it|you|your|them|first|next|soon|in|at|with|by|before|against"
    r"|instead|already|yet|involved)\b)"
)
_REGULATOR = (
    r"(?:the\s+)?(?:bbb|better\s+business\s+bureau|ftc|federal\s+trade\s+commission"
    r"|(?:state\s+)?attorney\s+general(?:'s\s+office)?|consumer\s+(?:protection|affairs|agency"
    r"|council|rights|ombudsman)(?:\s+(?:agency|office|bureau|board|authority|department))?"
    r"|trading\s+standards|ombudsman|fair\s+trade\s+commission|kftc|korea\s+consumer\s+agency"
    r"|authorities|regulators?|cfpb|citizens\s+advice|action\s+fraud)" + _END_OF_PHRASE
)
_PRESS = (
    r"(?:the\s+)?(?:press|media|news(?:papers?)?|local\s+news|a\s+journalist|journalists"
    r"|a\s+reporter|reporters|a\s+newspaper|(?:tv|news)\s+(?:stations?|channels?|outlets?))"
    + _END_OF_PHRASE
)
_POLICE = r"(?:the\s+)?(?:police|cops)" + _END_OF_PHRASE
_LAWYER = (
    r"(?:my|a|an|our)\s+(?:lawyers?|attorneys?|solicitors?|legal\s+(?:team|counsel|department"
    r"|advis[eo]rs?))" + _END_OF_PHRASE
)
# Threats whatever the subject.
_EN_THREATS = cue_pattern(
    r"\bsee\s+(?:you|u|y'all|you\s+guys)\s+in\s+(?:small[\s-]+claims\s+)?court\b",
    r"\b(?:you'll|you\s+will|you're\s+going\s+to|you\s+are\s+going\s+to|expect\s+to)\s+"
    r"(?:be\s+)?hear(?:ing)?\s+from\s+(?:my|our)\s+(?:lawyers?|attorneys?|solicitors?"
    r"|legal\s+team)\b",
    r"\bexpect\s+a\s+(?:call|letter)\s+from\s+(?:my|our)\s+(?:lawyers?|attorneys?|solicitors?"
    r"|legal\s+team)\b",
    r"\bmy\s+(?:lawyer|attorney|solicitor|legal\s+team)\s+(?:will|'ll|is\s+going\s+to"
    r"|is\s+gonna|shall|is\s+(?:already\s+)?(?:aware|involved|handling|drafting|preparing)"
    r"|has\s+been\s+(?:informed|notified|contacted|copied))\b",
    r"\b(?:this|it)\s+(?:is\s+)?(?:going|goes)\s+(?:to|on)\s+(?:the\s+)?(?:news|press|media)"
    + _END_OF_PHRASE,
    r"\b(?:police|cops|lawyers?|attorneys?)\s+(?:are|is|have\s+been|has\s+been)\s+"
    r"(?:already\s+)?(?:involved|informed|notified|aware)\b",
    r"\b(?:lawsuit|legal\s+action)\s+(?:is\s+)?(?:coming|incoming|on\s+its\s+way)\b",
)
# Acts that are the customer's only with a first-person subject, an imperative or a threat
# in the same clause ("I'm calling the police", "reporting you to the BBB", "… or I'll sue").
_EN_ACTS = cue_pattern(
    r"\bsu(?:e|ing)\s+(?:you|u|your|the|this|them|ondo|y'all|you\s+guys|everyone)\b",
    r"\b(?:take|taking|took|bring|bringing|drag|dragging|haul\w*)\s+(?:you|this|your\s+\w+"
    r"|them|it|ondo|the\s+matter|this\s+matter)\s+to\s+(?:small[\s-]+claims\s+)?court\b",
    r"\b(?:file|filing|filed|go|going|went)\s+(?:a\s+claim\s+)?(?:in|to|with)\s+(?:the\s+)?"
    r"small[\s-]+claims\b",
    r"\b(?:contact\w*|call\w*|get|getting|got|hire|hiring|hired|retain\w*|consult\w*|involv\w*"
    r"|talk\w*\s+(?:to|with)|speak\w*\s+(?:to|with)|spoke\s+(?:to|with)|email\w*|forward\w*\s+"
    r"(?:this|it)\s+to|see|seeing|go\s+to|going\s+to|get\s+in\s+touch\s+with|reach\w*\s+out"
    rf"\s+to)\s+{_LAWYER}",
    r"\blawyer(?:ing)?\s+up\b",
    r"\b(?:take|taking|took|pursue|pursuing|start\w*|begin|beginning|initiat\w*|consider\w*"
    r"|threaten\w*|seek\w*|file|filing|filed|bring\w*|explor\w*)\s+(?:legal\s+(?:action"
    r"|proceedings|steps|recourse|measures)|a\s+(?:class[\s-]+action\s+)?(?:lawsuit|suit"
    r"|legal\s+claim)|(?:a\s+)?class[\s-]+action)\b",
    r"\blegal\s+action\b|\blawsuit\b",
    r"\bcharge[\s-]?backs?\b",
    r"\bcharg(?:e|ing)\s+(?:it|this|that|the\s+(?:payment|order|purchase))\s+back\b",
    r"\bdisput\w*\s+(?:this|the|that|these|those|your|my|a)?\s*(?:\w+\s+)?(?:charges?"
    r"|transactions?|payments?|purchases?|bills?|orders?)\b",
    r"\b(?:open\w*|fil\w+|rais\w+|start\w*|submit\w*)\s+a\s+(?:dispute|claim|complaint)\s+"
    r"(?:with|through|on|via)\s+(?:paypal|my\s+bank|the\s+bank|my\s+(?:credit\s+)?card"
    r"(?:\s+company)?|visa|mastercard|amex|klarna|afterpay)\b",
    r"\b(?:call\w*|contact\w*|tell\w*|ask\w*|get\w*|phon\w*)\s+my\s+(?:bank|credit\s+card"
    r"(?:\s+company)?|card\s+(?:company|issuer|provider)|card)\b[^.!?]{0,40}?\b(?:revers\w*"
    r"|cancel\w*|stop\w*|block\w*|disput\w*|claw\w*|charge\s*back|take\s+(?:it|the\s+money)"
    r"\s+back)",
    r"\brevers\w*\s+the\s+(?:charges?|payments?|transactions?)\b",
    r"\b(?:call\w*|phon\w*|contact\w*|get\w*|involv\w*|go\w*\s+to|went\s+to|tell\w*|alert\w*"
    rf"|notify\w*)\s+{_POLICE}",
    r"\b(?:fil\w+|mak\w+|made|submit\w*)\s+a\s+police\s+report\b",
    r"\breport\w*\s+(?:you(?:\s+(?:guys|people|all))?|y'?all|u|this|your\s+(?:\w+\s+)?\w+|it"
    r"|them|ondo|the\s+\w+|this\s+\w+)?\s*(?:to|with)"
    rf"\s+{_REGULATOR}",
    r"\b(?:fil\w+|lodg\w+|mak\w+|made|submit\w*|open\w*|send\w*|sent)\s+a\s+(?:formal\s+)?"
    rf"(?:complaint|report|claim)\s+(?:with|to|at)\s+{_REGULATOR}",
    r"\b(?:contact\w*|call\w*|writ\w+\s+to|wrote\s+to|complain\w*\s+to|tell\w*|told|go\w*\s+to"
    rf"|went\s+to|escalat\w+\s+(?:this|it)\s+to|notify\w*|alert\w*)\s+{_REGULATOR}",
    r"\b(?:contact\w*|call\w*|tell\w*|told|go\w*\s+to|went\s+to|alert\w*|writ\w+\s+to"
    rf"|wrote\s+to|talk\w*\s+to|reach\w*\s+out\s+to|tip\w*\s+off|send\w*\s+this\s+to)\s+{_PRESS}",
    r"\breport\w*\s+(?:this|you|it|your\s+company|the\s+seller)\s+(?:as|for)\s+(?:a\s+)?"
    r"(?:fraud|scam)\b",
    r"\breport\w*\s+(?:this\s+)?(?:fraud|scam)\b(?!\s+(?:texts?|emails?|calls?|messages?))",
)
_CLAUSE_START = re.compile(r"[.!?;\n]")
_FIRST_PERSON = re.compile(
    r"\b(?:i|we|i'm|i'll|i've|i'd|we're|we'll|we've|we'd|im|ill|ive|me|let's|lets|us|myself)\b"
    r"|\b(?:or|otherwise|else|unless)\b"
)
_FILLER = re.compile(
    r"^(?:\W|\b(?:and|so|then|now|just|ok|okay|fine|well|seriously|honestly|next|also|already"
    r"|plus|gonna|going\s+to|will|i'll|definitely|literally)\b)*$"
)
# "sue" only in lower case after a modal, so "Can Sue call me?" is about a colleague; this
# one runs on the original text.
_SUE = re.compile(
    r"\b(?:i'?ll|i\s+will|i\s+am\s+going\s+to|i'?m\s+going\s+to|gonna|going\s+to|to|can"
    r"|could|should|will|i)\s+(?-i:sue|SUE)\b",
    re.IGNORECASE,
)


def _english_threat(original: str, text: str) -> bool:
    if _SUE.search(original) or _EN_THREATS.search(text):
        return True
    for m in _EN_ACTS.finditer(text):
        clause_start = max((b.end() for b in _CLAUSE_START.finditer(text, 0, m.start())), default=0)
        before = text[clause_start : m.start()]
        if _FIRST_PERSON.search(before) or _FILLER.match(before):
            return True
    return False


# --- legal, regulatory, press and payment-dispute action: Korean ----------------------------

# Candidates: no sentence is analysed unless one of these appears in it.
_KO_HINT = re.compile(
    r"신고|고소|고발|소송|제소|제보|민원|이의|지급\s*정지|차지\s*백|내용\s*증명|법적|법\s*적|법원"
    r"|변호사|법무|로펌|경찰|검찰|소비자|공정|금감원|금융\s*감독|신문고|언론|기자|방송|신문사|1372"
    r"|카드사"
)
_Lemmas = tuple[tuple[str, ...], ...]
# The acts, as morpheme sequences (the analyzer splits some compounds).
_KO_ACTS: _Lemmas = (
    ("신고",),
    ("고소",),
    ("고발",),
    ("소송",),
    ("제소",),
    ("제보",),
    ("민원",),
    ("고소장",),
    ("진정서",),
    ("차지백",),
    ("차지", "백"),
    ("이의제기",),
    ("이의", "제기"),
    ("지급정지",),
    ("지급", "정지"),
    ("내용증명",),
    ("내용", "증명"),
    ("법", "적", "조치"),
    ("법", "적", "대응"),
    ("법", "적", "절차"),
    ("법적", "조치"),
    ("법적", "대응"),
    ("법적", "절차"),
    ("고소각",),
    ("신고각",),
    ("소송각",),
)
# The ones the customer, who reports their own loss or declares goods, is exempt from.
_OWN_REPORTS = frozenset(
    {
        "세관",
        "통관",
        "관세",
        "수입",
        "분실",
        "도난",
        "전입",
        "소득",
        "세금",
        "부가세",
        "출생",
        "사망",
        "혼인",
        "이사",
        "사업자",
        "연말정산",
        "수출",
        "반입",
        "종합소득세",
    }
)
# Institutions: an act only with a verb of contact after them (경찰 부를게요, 변호사 선임,
# 소비자원에 접수), never as a modifier (경찰 코스튬, 변호사 드라마).
_KO_VENUES: _Lemmas = (
    ("소비자원",),
    ("한국소비자원",),
    ("소비자", "원"),
    ("소비자보호원",),
    ("소비자", "보호원"),
    ("소비자", "단체"),
    ("소비자", "상담", "센터"),
    ("소비자상담센터",),
    ("공정위",),
    ("공정", "위"),
    ("공정", "거래", "위원회"),
    ("공정거래위원회",),
    ("경찰",),
    ("경찰서",),
    ("변호사",),
    ("법무", "법인"),
    ("법무법인",),
    ("로펌",),
    ("법원",),
    ("검찰",),
    ("언론",),
    ("언론사",),
    ("기자",),
    ("방송국",),
    ("방송사",),
    ("신문사",),
    ("금감원",),
    ("금융", "감독원"),
    ("금융감독원",),
    ("국민", "신문고"),
    ("국민신문고",),
    ("신문고",),
    ("1372",),
)
_KO_CARD: _Lemmas = (("카드사",), ("카드", "회사"), ("은행",))
_CONTACT_VERBS = frozenset(
    {
        "부르",
        "가",
        "찾아가",
        "연락하",
        "알리",
        "올리",
        "넣",
        "보내",
        "넘기",
        "의뢰하",
        "전화하",
        "말하",
        "이야기하",
        "얘기하",
        "문의하",
        "제출하",
        "가져가",
        "터뜨리",
        "퍼뜨리",
        "뿌리",
        "신고하",
        "고발하",
        "제보하",
        "상의하",
        "상담하",
        "접수하",
        "물어보",
        "묻",
    }
)
_CONTACT_NOUNS = frozenset(
    {
        "신고",
        "제보",
        "민원",
        "고발",
        "고소",
        "소송",
        "접수",
        "연락",
        "전화",
        "상의",
        "상담",
        "선임",
        "의뢰",
        "통화",
        "얘기",
        "이야기",
        "말",
        "말씀",
        "문의",
        "제출",
        "공론화",
        "제기",
        "신청",
        "요청",
    }
)
# Handling a matter: an act after 법적으로 (법적으로 처리하겠습니다) or after going through an
# institution (변호사 통해서 대응할게요).
_HANDLING = frozenset({"처리", "해결", "대응", "조치", "진행", "청구", "정리"})
# What a contact may be about, between the institution and the act.
_CONTACT_OBJECTS = frozenset({"피해", "구제", "피해구제", "결제", "승인", "거래"})
_DISPUTE_NOUNS = frozenset(
    {"이의", "지급", "차지백", "차지", "분쟁", "민원", "신고", "취소", "이의제기", "지급정지"}
)
# What follows an act's noun to make it one: 하다 and the light verbs (소송 걸다, 민원 넣다,
# 법적 조치 취하다), or a noun of plan or progress (고소 준비 중, 법적 대응 예정).
_LIGHT_VERBS = frozenset(
    {
        "하",
        "넣",
        "걸",
        "취하",
        "밟",
        "들어가",
        "보내",
        "올리",
        "때리",
        "치",
        "내",
        "당하",
        "먹이",
        "드리",
        "제기하",
        "진행하",
        "접수하",
        "신청하",
        "요청하",
        "준비하",
        "알아보",
        "고려하",
        "검토하",
    }
)
_ACT_NOUNS = frozenset(
    {
        "진행",
        "접수",
        "신청",
        "요청",
        "제기",
        "준비",
        "예정",
        "계획",
        "생각",
        "고민",
        "검토",
        "고려",
        "착수",
        "의뢰",
        "각",
        "정지",
        "조정",
    }
)
_SKIPPABLE = frozenset(
    {"좀", "바로", "당장", "직접", "꼭", "다", "정식", "정식으로", "그냥", "진짜"}
)
_TASTE = re.compile(r"맛|과자|참기름|들기름|깨|견과|땅콩|냄새|향|빵|라떼|커피|식감|우유|두유|치즈")
_MAX_SENTENCES = 16  # analysed per message: bounds the work on pathological input
# What an act's predicate must not be doing: describing a noun (소송하는 장면, 신고하기 버튼,
# 소송 중인 제품) or someone else's words (친구가 신고했대요).
_NOT_ACT_MOODS = frozenset({"modifier", "hearsay"})


def _lemmas_at(tokens: Sequence[Token], i: int, options: _Lemmas) -> int | None:
    """Index of the last morpheme of the first of ``options`` that starts at ``i``."""
    for option in options:
        end = i + len(option)
        if end <= len(tokens) and all(
            tokens[i + k].form == form and tokens[i + k].pos[:1] in "NXS"
            for k, form in enumerate(option)
        ):
            return end - 1
    return None


def _skip(tokens: Sequence[Token], k: int, *, particles: bool = True) -> int:
    """The index after particles, the honorific 님 and a few adverbs (에, 를, 좀, 바로,
    정식으로) from ``k``."""
    for _ in range(5):
        if k >= len(tokens):
            break
        token = tokens[k]
        adverb = token.form in _SKIPPABLE and (
            token.pos == "MAG"
            or (token.pos == "NNG" and k + 1 < len(tokens) and tokens[k + 1].form == "으로")
        )
        if (
            (particles and token.pos.startswith(("J", "SS")))
            or adverb
            or (token.form == "님" and token.pos == "XSN")
        ):
            k += 1
        else:
            break
    return k


def _predicated(tokens: Sequence[Token], k: int) -> bool:
    """Whether the act whose noun ends before ``k`` is done (not a noun's modifier: 신고 버튼,
    민원 처리 결과), judged by the predicate that follows it."""
    k = _skip(tokens, k)
    if k >= len(tokens) or tokens[k].pos in ("SF", "SP", "SE", "SW") or tokens[k].pos[:1] == "W":
        return True  # the noun alone: "법적 대응.", "고소각"
    token = tokens[k]
    if token.pos in ("XSV", "XSA") or (token.pos == "VV" and token.form in _LIGHT_VERBS):
        return mood(tokens, k) not in _NOT_ACT_MOODS
    if token.pos == "NNG" and token.form in _ACT_NOUNS:
        return mood(tokens, k) not in _NOT_ACT_MOODS
    if token.pos in ("EF", "VCP"):
        return mood(tokens, k - 1) not in _NOT_ACT_MOODS
    return False


def _legally(tokens: Sequence[Token], i: int) -> bool | None:
    """Whether 법적으로 at ``i`` leads into a done act of handling (법적으로 처리하겠습니다,
    not 법적으로 문제없나요?); None when 법적으로 is not there."""
    last = _lemmas_at(tokens, i, (("법", "적"), ("법적",)))
    if last is None or last + 1 >= len(tokens) or tokens[last + 1].form != "으로":
        return None
    k = _skip(tokens, last + 2, particles=False)
    if k < len(tokens) and tokens[k].pos.startswith("NN") and tokens[k].form in _HANDLING:
        # 법적으로 처리된 건가요? asks about the matter, it is not the customer acting.
        passive = k + 1 < len(tokens) and tokens[k + 1].form == "되"
        return not passive and _predicated(tokens, k + 1)
    return False


def _act_at(tokens: Sequence[Token], i: int) -> bool:
    if _legally(tokens, i):
        return True
    last = _lemmas_at(tokens, i, _KO_ACTS)
    if last is None:
        return False
    if tokens[i].form == "신고":
        previous = [t.form for t in tokens[max(0, i - 3) : i] if not t.pos.startswith("J")]
        if previous and previous[-1] in _OWN_REPORTS:
            return False
    return _predicated(tokens, last + 1)


def _contact_after(tokens: Sequence[Token], k: int, nouns: frozenset[str]) -> bool:
    """Whether a verb or noun of contact (in ``nouns``) follows at ``k``, as a done act."""
    k = _skip(tokens, k)
    if k + 1 < len(tokens) and tokens[k].has("통하/VV") and tokens[k + 1].pos == "EC":
        k = _skip(tokens, k + 2)  # 변호사 통해서 연락드릴게요
        if (legal := _legally(tokens, k)) is not None:
            return legal
        nouns = nouns | _HANDLING
    while k < len(tokens) and tokens[k].form in _CONTACT_OBJECTS:
        k += 1  # 피해 구제 신청, 결제 취소 요청
    if k >= len(tokens):
        return False
    token = tokens[k]
    if token.pos == "VV" and token.form in _CONTACT_VERBS and nouns is _CONTACT_NOUNS:
        return mood(tokens, k) not in _NOT_ACT_MOODS
    if token.pos.startswith("NN") and token.form in nouns:
        nxt = k + 1
        while (
            nxt < len(tokens)
            and tokens[nxt].pos == "NNG"
            and tokens[nxt].form in (_ACT_NOUNS | _CONTACT_NOUNS)
        ):
            nxt += 1  # 이의 제기, 지급 정지 요청
        return _predicated(tokens, nxt)
    return False


def _venue_at(tokens: Sequence[Token], i: int) -> bool:
    last = _lemmas_at(tokens, i, _KO_VENUES)
    if last is not None:
        return _contact_after(tokens, last + 1, _CONTACT_NOUNS)
    last = _lemmas_at(tokens, i, _KO_CARD)
    if last is None:
        return False
    return _contact_after(tokens, last + 1, _DISPUTE_NOUNS)


def _sue_at(tokens: Sequence[Token], i: int, sentence: str) -> bool:
    """고소하다 read as the adjective "savory" by the analyzer, but with the will to act
    (고소하겠습니다, 고소할게요) and no food in the sentence."""
    token = tokens[i]
    if token.pos == "VV" and token.form in ("신고하", "고소하", "고발하", "제보하", "소송하"):
        return mood(tokens, i) not in _NOT_ACT_MOODS
    if token.form == "고소하" and token.pos == "VA":
        return mood(tokens, i) == "intent" and not _TASTE.search(sentence)
    return False


def _korean_threat(reading: Words) -> bool:
    seen: set[int] = set()
    for m in _KO_HINT.finditer(reading.text):
        tokens = reading.sentence(m.start())
        if not tokens or tokens[0].start in seen:
            continue
        if len(seen) == _MAX_SENTENCES:
            break
        seen.add(tokens[0].start)
        sentence = reading.text[tokens[0].start : tokens[-1].end]
        for i in range(len(tokens)):
            if _act_at(tokens, i) or _venue_at(tokens, i) or _sue_at(tokens, i, sentence):
                return True
    return False


def is_sensitive(text: str) -> bool:
    """True when the customer takes, or threatens, legal, regulatory, police, press or
    payment-dispute action: always a person's job.

    A word of that field in a product question, a compliment or a story does not count.
    Negation is ignored on purpose: "I don't want to sue" still puts legal action on the table.
    """
    lowered = text.lower()
    if _english_threat(text, lowered):
        return True
    return bool(_KO_HINT.search(lowered)) and _korean_threat(words(lowered))


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
