"""A message as the cue lexicons read it: Korean morphemes with their offsets, and moods.

Korean cue words hide inside other words (기자 in 연기자, 제보 in 이제보기) and share their
spelling with others (신고 "a report" and 신고 "wearing", from 신다; 고소하다 "to sue" and
"savory"). The lexicons find candidates with fast regexes on the text; this module says
whether a candidate is a whole word, which morpheme it is, and what the predicate that
follows it does: a request, an intent, a past event, a modifier of a noun, hearsay …

Only the sentences that hold a candidate are analysed, each once per process (a small cache),
with one shared kiwipiepy instance loaded on first use: a message with no Korean cue costs
nothing, a short one with a cue about a millisecond.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from knowledge.morphology import tokenize

# Sentences end at terminal punctuation or a line break; a long run without one is cut at a
# space so that one pathological message never costs more than its candidates' windows.
_SENTENCE_END = re.compile(r"(?<=[.!?。？！\n])\s*")
_MAX_SENTENCE = 160

# Slang intensifiers the analyzer may keep in one morpheme with the word they intensify, and
# suffixes that make a noun of a cue word without changing what it says.
_PREFIXES = frozenset({"개", "핵", "존", "졸", "왕", "개개"})
_SUFFIXES = frozenset(
    {"감", "적", "스럽", "스러", "스런", "심", "성", "질", "꾼", "쟁이", "들", "움"}
)


def warm_up() -> None:
    """Load the analyzer now (a second or two), rather than on the first Korean cue."""
    _analyse("신고할게요")


@dataclass(frozen=True, slots=True)
class Token:
    """One morpheme: its lemma form, its kiwipiepy tag and its characters in the message."""

    form: str
    tag: str
    start: int
    end: int

    @property
    def pos(self) -> str:
        """The tag without kiwipiepy's irregular-conjugation suffix (``VV-I`` -> ``VV``)."""
        return self.tag.split("-", 1)[0]

    def has(self, lemma: str) -> bool:
        """Whether this is ``lemma``: a form, or ``form/TAG`` with a tag prefix (``신고/NN``)."""
        form, _, tag = lemma.partition("/")
        return self.form == form and self.pos.startswith(tag)


@lru_cache(maxsize=4096)
def _analyse(sentence: str) -> tuple[tuple[str, str, int, int], ...]:
    tokens = tokenize(sentence)
    return tuple((t.form, t.tag, t.start, t.start + t.len) for t in tokens)


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        if m.end() > start and m.start() > start:
            spans.append((start, m.start()))
            start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    out: list[tuple[int, int]] = []
    for a, b in spans:
        while b - a > _MAX_SENTENCE:
            cut = text.rfind(" ", a + _MAX_SENTENCE // 2, a + _MAX_SENTENCE)
            cut = cut if cut > a else a + _MAX_SENTENCE
            out.append((a, cut))
            a = cut
        out.append((a, b))
    return out


class Words:
    """The Korean morphemes of one (lower-cased) message, analysed sentence by sentence on
    demand. Offsets are indices into the message."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._spans = _sentence_spans(text)
        self._sentences: dict[int, tuple[Token, ...]] = {}

    def sentence(self, pos: int) -> tuple[Token, ...]:
        """The morphemes of the sentence that holds character ``pos``."""
        for i, (a, b) in enumerate(self._spans):
            if a <= pos < b or (pos == b and i == len(self._spans) - 1):
                break
        else:
            return ()
        cached = self._sentences.get(i)
        if cached is None:
            cached = tuple(
                Token(form, tag, a + s, a + e) for form, tag, s, e in _analyse(self.text[a:b])
            )
            self._sentences[i] = cached
        return cached

    def index(self, start: int) -> tuple[tuple[Token, ...], int] | None:
        """The sentence and index of the first morpheme starting at ``start``, if any."""
        tokens = self.sentence(start)
        for i, token in enumerate(tokens):
            if token.start == start:
                return tokens, i
            if token.start > start:
                break
        return None

    def starts(self, pos: int) -> bool:
        """Whether a word starts at ``pos``: no morpheme runs across it (but a slang
        intensifier the analyzer kept attached may precede it: 개|답답)."""
        for token in self.sentence(pos):
            if token.start < pos < token.end and self.text[token.start : pos] not in _PREFIXES:
                return False
            if token.start >= pos:
                break
        return True

    def whole(self, start: int, end: int) -> bool:
        """Whether ``text[start:end]`` is whole words: it starts where a morpheme starts (or
        after a slang intensifier the analyzer kept attached: 개답답) and does not end inside
        a longer noun (but may before a suffix that keeps its meaning: 실망감, 감동적).
        기자 in 연기자, 제보 in 이제보기, 기자 in 기자재 and 사랑 in 사랑니 are not words."""
        if not self.starts(start):
            return False
        for token in self.sentence(start):
            if (
                token.start < end < token.end
                and (token.pos[:1] == "N" or token.pos == "XR")
                and self.text[end : token.end] not in _SUFFIXES
            ):
                return False
            if token.start >= end:
                break
        return True


def words(text: str) -> Words:
    """The morphemes of ``text`` (lower-cased by the caller), analysed lazily."""
    return Words(text)


def is_syllable(char: str) -> bool:
    """Whether ``char`` is a Hangul syllable (not a bare jamo like ㅅ or ㅠ)."""
    return "\uac00" <= char <= "\ud7a3"


def covering(tokens: Sequence[Token], pos: int) -> int | None:
    """Index of the first morpheme whose characters include ``pos``."""
    for i, token in enumerate(tokens):
        if token.start <= pos < token.end:
            return i
    return None


def head_before(tokens: Sequence[Token], end: int) -> int | None:
    """Index of the last content morpheme (noun, verb, adjective, root) starting before
    ``end``: the predicate of a match ending there (불러 of 불러서 is 부르-)."""
    head = None
    for i, token in enumerate(tokens):
        if token.start >= end:
            break
        if token.pos[:1] in ("N", "V", "X") and token.pos not in ("XSN", "XPN"):
            head = i
    return head


# --- what a predicate does -------------------------------------------------------------

Mood = Literal[
    "hearsay",
    "intent",
    "modifier",
    "request",
    "past",
    "conditional",
    "question",
    "connective",
    "statement",
    "bare",
]
"""What the predicate of a cue word does, from its endings:

- ``intent``: future or will (-겠-, -ㄹ게요, -ㄹ 거예요, -려고, -기로, -고 싶다, -ㄹ 예정)
- ``request``: imperative or "for me" (-세요, -어 주다, -라고 하세요)
- ``past``: it happened (-었-)
- ``statement`` / ``question``: present tense, told or asked
- ``conditional``: -면, -려면 ("if I report …")
- ``connective``: a clause that leads into another (-어서, -니까, -는데, -고)
- ``modifier``: it describes a noun (소송하는 장면 "a scene where someone sues", 신고하기 버튼)
- ``hearsay``: someone else said so (-대요, -더라고요, -다고)
- ``bare``: no ending at all (a noun alone: "상담원 연결")
"""

_ENDING_TAGS = frozenset({"EP", "EF", "EC", "ETM", "ETN", "VX", "VCP", "VCN", "XSV", "XSA"})
_CHAIN_NOUNS = frozenset({"거", "것", "건", "겁", "꺼", "터", "수", "줄", "중", "듯", "뻔"})
_INTENT_NOUNS = frozenset({"예정", "계획", "생각", "작정", "준비", "고민", "각", "고려", "검토"})
_PLANS = frozenset({"거", "것", "건", "겁", "꺼", "터"}) | _INTENT_NOUNS
_HEARSAY = frozenset(
    {
        "대요",
        "대",
        "래요",
        "래",
        "ᆫ대요",
        "는대요",
        "ᆫ대",
        "는대",
        "더라",
        "더라고요",
        "더라구요",
        "더라고",
        "던데",
        "던데요",
        "다던데",
        "다던데요",
        "다네요",
        "다네",
        "답니다",
        "다더라",
        "다더라고요",
        "대서",
        "다길래",
        "다고",
        "ᆫ다고",
        "는다고",
        "다는",
        "ᆫ다는",
        "는다는",
        "다며",
        "다면서",
        "더니",
    }
)
_WILL = ("ᆯ게", "을게", "ᆯ께", "을께", "ᆯ래", "을래", "ᆯ란다")
_CONJECTURE = frozenset({"네", "네요", "군", "군요", "지", "지요", "죠", "구나", "구나요"})
_IMPERATIVE = frozenset({"세요", "으세요", "십시오", "으십시오", "라", "으라", "어라", "아라"})
_QUOTED_ORDER = frozenset({"라고", "으라고", "라구", "래서"})
_CONDITIONAL = frozenset({"면", "으면", "려면", "으려면", "거든", "다면", "라면", "ᆫ다면"})
_QUESTION = frozenset(
    {
        "나요",
        "니",
        "냐",
        "나",
        "니까",
        "ᆸ니까",
        "습니까",
        "까",
        "까요",
        "ᆯ까",
        "ᆯ까요",
        "을까",
        "을까요",
        "ᆫ가요",
        "은가요",
        "는가요",
        "는지",
        "ᆫ지",
        "가요",
        "는지요",
        "ᆫ가",
    }
)
_PAST = frozenset({"었", "았", "였", "ᆻ"})


def chain(tokens: Sequence[Token], head: int) -> list[Token]:
    """The endings of the predicate at ``head``: auxiliaries, suffixes, tense and mood
    morphemes, the bound nouns of -ㄹ 거예요 / -ㄹ 수 있다, up to the next content word."""
    out: list[Token] = []
    i = head + 1
    while i < len(tokens) and _continues(tokens, head, i, out):
        out.append(tokens[i])
        i += 1
    return out


def _continues(tokens: Sequence[Token], head: int, i: int, out: Sequence[Token]) -> bool:
    token = tokens[i]
    pos, form = token.pos, token.form
    previous = out[-1].form if out else ""
    return (
        pos in _ENDING_TAGS
        # 소송하고: the analyzer sometimes splits a 하다 verb into noun + verb 하.
        or (i == head + 1 and token.has("하/VV") and tokens[head].pos.startswith("NN"))
        or (pos == "NNB" and form in _CHAIN_NOUNS)
        or (pos == "VA" and form in ("있", "없") and previous in ("수", "줄"))
        or (pos == "JX" and form in ("요", "은", "는", "도"))
        or (pos == "JKB" and form == "로" and previous == "기")
    )


def mood(tokens: Sequence[Token], head: int) -> Mood:
    """What the predicate at ``head`` does (see :data:`Mood`), from its :func:`chain`."""
    links = chain(tokens, head)
    after = head + len(links) + 1
    following = tokens[after] if after < len(tokens) else None
    forms = [t.form for t in links]
    tags = [t.pos for t in links]
    if any(f in _HEARSAY for f, t in zip(forms, tags, strict=True) if t in ("EF", "EC", "ETM")):
        return "hearsay"
    if _intent(links, following):
        return "intent"
    for k, tag in enumerate(tags):
        nxt = links[k + 1].form if k + 1 < len(links) else None
        if tag == "ETM" and nxt not in _CHAIN_NOUNS:
            return "modifier"
        if tag == "ETN" and nxt != "로" and following is not None and following.pos[:1] in "NJ":
            return "modifier"
    past = any(f in _PAST for f, t in zip(forms, tags, strict=True) if t == "EP")
    benefactive = any(t.pos == "VX" and t.form == "주" for t in links)
    if not past and (
        benefactive
        or any(f in _IMPERATIVE for f, t in zip(forms, tags, strict=True) if t == "EF")
        or any(f in _QUOTED_ORDER for f, t in zip(forms, tags, strict=True) if t == "EC")
    ):
        return "request"
    if past:
        return "past"
    last = links[-1] if links else None
    if last is not None and last.pos == "EC" and last.form in _CONDITIONAL:
        return "conditional"
    asked = following is not None and following.form in ("?", "？")
    if asked or any(f in _QUESTION for f, t in zip(forms, tags, strict=True) if t == "EF"):
        return "question"
    if last is not None and last.pos == "EC":
        return "connective"
    if any(t == "EF" for t in tags):
        return "statement"
    return "bare"


def _intent(links: Sequence[Token], following: Token | None) -> bool:
    for k, token in enumerate(links):
        form, pos = token.form, token.pos
        nxt = links[k + 1] if k + 1 < len(links) else following
        if pos == "EP" and form == "겠":
            final = next((t.form for t in links[k + 1 :] if t.pos == "EF"), "")
            if final not in _CONJECTURE:
                return True
        if pos in ("EF", "EC") and form.startswith(_WILL):
            return True
        if pos == "ETM" and form in ("ᆯ", "을") and nxt is not None and nxt.form in _PLANS:
            return True
        if pos == "EC" and form.startswith(("려", "으려")) and form not in _CONDITIONAL:
            return True
        if pos == "JKB" and form == "로" and k and links[k - 1].form == "기":
            return True
        if pos == "ETN" and form == "기" and nxt is not None and nxt.form in ("전", "위하"):
            return True  # 신고하기 전에 "before I report", 고소하기 위해
        if pos == "VX" and form == "싶":
            return True
    return bool(not links and following is not None and following.form in _INTENT_NOUNS)
