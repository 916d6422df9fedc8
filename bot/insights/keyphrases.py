"""Key phrases of reviews, ranked by how much they drive the positive or the negative side.

Candidates per review (each counted once per review):

- Korean, with kiwipiepy morphemes: adjective + noun ("빠른 배송", "친절한 상담" — a VA/VV, or
  a noun/adverb/root + 하다, before an ETM ending), noun + noun ("포장 문제", "교환 지연"),
  and single nouns of two syllables or more. Spacing variants merge ("포장문제" = "포장 문제").
- English, without a tagger: runs of words between stopwords and punctuation; inside a run,
  the last one to three words that end on a word that is not an adjective or adverb ("fast
  delivery", "customer service", "quality"). Case and a plural ``s`` merge.

Ranking is the log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn
2008, "Fightin' Words") between positive and negative reviews, as a z-score; a phrase must be in
at least :data:`MIN_COUNT` reviews of its side and lean to it. A phrase inside (or containing)
a better one with about the same count is left out as a variant.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from bot.types import Language

Side = Literal["positive", "negative"]
MIN_COUNT = 2
"""A key phrase appears in at least this many reviews of its side."""
PRIOR = 10.0
"""Strength of the Dirichlet prior (pseudo-documents spread by overall frequency)."""
MAX_WORDS = 3

_PLACEHOLDER = re.compile(r"\[[^\]\n]{1,20}\]")


@dataclass(frozen=True)
class KeyPhrase:
    """A phrase, how many reviews of its side and of the other side use it, and its z-score."""

    text: str
    count: int
    other: int
    score: float


@dataclass(frozen=True)
class Candidates:
    """The candidate phrases of one review: canonical key -> the surface form it used."""

    phrases: dict[str, str]


def candidates(text: str, language: Language) -> Candidates:
    """The candidate phrases of one (already redacted) review."""
    text = _PLACEHOLDER.sub(" . ", text)
    found = korean_phrases(text) if language == "ko" else english_phrases(text)
    phrases: dict[str, str] = {}
    for key, surface in found:
        phrases.setdefault(key, surface)
    return Candidates(phrases)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# --- Korean ------------------------------------------------------------------------------

_NOUN_TAGS = frozenset({"NNG", "NNP"})
_PREDICATE_TAGS = frozenset({"VA", "VV", "XSA"})
_STOP_NOUNS = _words(
    "감사 생각 정도 이번 다음 하루 오늘 진짜 정말 마음 부분 느낌 자체 처음 다시 나중 "
    "이상 이하 동안 경우 사람 하나"
)
_GENERIC = _words(
    """주문 제품 상품 물건 구매 사용 이용 product products item items thing things purchase
    stuff order"""
)
"""Words every shop review uses: not key phrases on their own, only inside longer ones."""
PHRASE_BONUS = 1.5
"""Phrases of two or more words rank with their z-score times this: they say more than a
lone noun ("빠른 배송" over "배송")."""
_kiwi_lock = threading.Lock()


@cache
def _kiwi() -> Any:
    from kiwipiepy import Kiwi

    return Kiwi()


def korean_phrases(text: str) -> list[tuple[str, str]]:
    """``(key, surface)`` pairs of adjective+noun, noun+noun and noun phrases in ``text``."""
    with _kiwi_lock:  # one Kiwi instance, not safe to share across threads
        tokens = _kiwi().tokenize(text)
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.tag in _NOUN_TAGS or token.tag == "XPN":
            run = _noun_run(tokens, i, text)
            if run and tokens[run[-1] + 1 : run[-1] + 2] and tokens[run[-1] + 1].tag == "XSA":
                run = run[:-1]  # "친절(하다)" is an adjective, not a noun
            out.extend(_noun_phrases(tokens, run))
            i = (run[-1] + 1) if run else i + 1
            continue
        if token.tag == "ETM" and i > 0 and tokens[i - 1].tag in _PREDICATE_TAGS:
            start = i - 1
            if tokens[start].tag == "XSA" and start > 0:
                start -= 1  # the noun/adverb/root before 하다: 친절한, 꼼꼼한
            noun = i + 1
            if (
                noun < len(tokens)
                and tokens[noun].tag in _NOUN_TAGS
                and _adjacent(tokens[i], tokens[noun], text)
            ):
                adjective = text[tokens[start].start : tokens[i].start + tokens[i].len].strip()
                head = tokens[noun].form
                if len(adjective) <= 8 and len(head) >= 2:
                    key = "".join(t.form for t in tokens[start : i + 1]) + f" {head}"
                    out.append((key, f"{adjective} {head}"))
        i += 1
    return out


def _noun_run(tokens: Sequence[Any], i: int, text: str) -> list[int]:
    """Indices of the nouns (with prefixes) from ``i`` on, adjacent or separated by spaces."""
    run = [i]
    while run[-1] + 1 < len(tokens):
        nxt = tokens[run[-1] + 1]
        if nxt.tag not in _NOUN_TAGS or not _adjacent(tokens[run[-1]], nxt, text):
            break
        run.append(run[-1] + 1)
    return run


def _noun_phrases(tokens: Sequence[Any], run: Sequence[int]) -> list[tuple[str, str]]:
    # A prefix joins its noun: 재 + 구매 = 재구매.
    words: list[str] = []
    prefix = ""
    for index in run:
        token = tokens[index]
        if token.tag == "XPN":
            prefix += token.form
            continue
        words.append(prefix + token.form)
        prefix = ""
    out: list[tuple[str, str]] = []
    for n in (1, 2):
        for j in range(len(words) - n + 1):
            gram = words[j : j + n]
            if n == 1 and (len(gram[0]) < 2 or gram[0] in _STOP_NOUNS | _GENERIC):
                continue
            if n == 2 and any(w in _STOP_NOUNS for w in gram):
                continue
            phrase = " ".join(gram)
            out.append((phrase, phrase))
    return out


def _adjacent(left: Any, right: Any, text: str) -> bool:
    return not text[left.start + left.len : right.start].strip()


# --- English -----------------------------------------------------------------------------

_WORD = re.compile(r"[a-z][a-z'-]*")
_BREAK = re.compile(r"[^a-z'\- ]+")
STOPWORDS = _words(
    """a an the and or but nor so yet if then than that this these those it its it's i i'm i've
    me my we our us you your he she they them their his her there here what which who whom whose
    when where why how all any both each few more most other some such no not only own same too
    very can will just don't should now is are was were be been being have has had do does did
    doing would could might must shall may of at by for with about against between into through
    during before after above below to from up down in out on off over under again further once
    as until while also even still really much many lot lots one two three four five ever never
    got get gets getting came come comes took take takes taken made make makes went go goes gone
    arrived arrive arrives arriving ordered order bought buy use used using tried try feel feels
    felt looks look looked seems seem thank thanks please will won't didn't doesn't isn't wasn't
    aren't weren't can't couldn't wouldn't haven't hasn't hadn't i'd i'll you're it'd let
    like loved love recommend recommended happy disappointed again always every time times day
    days week weeks month months hour hours yesterday today tomorrow next last first second
    everything something anything nothing someone anyone nobody overall definitely highly
    absolutely totally bit little way back ok okay yes yeah wow"""
)
ADJECTIVES = _words(
    """fast quick slow late early great good bad poor terrible awful excellent amazing perfect
    nice friendly helpful rude unhelpful kind polite wrong right damaged broken crushed cheap
    expensive overpriced fair decent average solid soft warm thin thick small big large tight
    loose long short new old best worst easy hard smooth comfortable uncomfortable beautiful
    pretty ugly neat secure flimsy sturdy wet dirty clean quick prompt speedy super long-lasting
    reasonable affordable high low true fine lovely awesome fantastic wonderful horrible
    disappointing ridiculous frustrating professional responsive careful careless"""
)


def english_phrases(text: str) -> list[tuple[str, str]]:
    """``(key, surface)`` pairs of stopword-bounded noun-phrase candidates in ``text``."""
    out: list[tuple[str, str]] = []
    for chunk in _BREAK.split(text.lower().replace("\u2019", "'")):
        run: list[str] = []
        for word in [*_WORD.findall(chunk), ""]:
            if word and word not in STOPWORDS:
                run.append(word.strip("'-"))
                continue
            out.extend(_english_run(run))
            run = []
    return out


def _english_run(words: list[str]) -> list[tuple[str, str]]:
    words = [w for w in words if w]
    out: list[tuple[str, str]] = []
    for end in range(len(words)):
        head = words[end]
        if head in ADJECTIVES or head.endswith("ly") or len(head) < 3:
            continue
        for n in range(1, min(MAX_WORDS, end + 1) + 1):
            gram = words[end - n + 1 : end + 1]
            if (n > 1 and gram[0].endswith("ly")) or (n == 1 and gram[0] in _GENERIC):
                continue
            out.append((" ".join(_singular(w) for w in gram), " ".join(gram)))
    return out


def _singular(word: str) -> str:
    if len(word) <= 3 or not word.endswith("s") or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    return word[:-1]


# --- ranking -----------------------------------------------------------------------------


def rank(
    reviews: Sequence[tuple[str, Candidates]],
    k: int = 10,
    min_count: int = MIN_COUNT,
) -> dict[Side, list[KeyPhrase]]:
    """The top ``k`` phrases for each side, best first.

    ``reviews`` are ``(polarity, candidates)`` pairs; neutral reviews only inform the prior.
    """
    docs: dict[str, Counter[str]] = {"positive": Counter(), "negative": Counter()}
    total: Counter[str] = Counter()
    surfaces: dict[str, Counter[str]] = {}
    sizes: Counter[str] = Counter()
    for polarity, found in reviews:
        sizes[polarity] += 1
        for key, surface in found.phrases.items():
            total[key] += 1
            surfaces.setdefault(key, Counter())[surface] += 1
            if polarity in docs:
                docs[polarity][key] += 1
    all_docs = sum(total.values()) or 1
    n_pos, n_neg = sum(docs["positive"].values()), sum(docs["negative"].values())
    scores: dict[str, float] = {}
    for key, count in total.items():
        alpha = PRIOR * count / all_docs
        pos, neg = docs["positive"][key], docs["negative"][key]
        delta = math.log((pos + alpha) / (n_pos + PRIOR - pos - alpha)) - math.log(
            (neg + alpha) / (n_neg + PRIOR - neg - alpha)
        )
        bonus = PHRASE_BONUS if " " in key else 1.0
        scores[key] = bonus * delta / math.sqrt(1 / (pos + alpha) + 1 / (neg + alpha))
    out: dict[Side, list[KeyPhrase]] = {}
    for side, other, sign in (("positive", "negative", 1.0), ("negative", "positive", -1.0)):
        ordered = sorted(
            (key for key in scores if docs[side][key] >= min_count and sign * scores[key] > 0),
            key=lambda key: (-sign * scores[key], -docs[side][key], key),
        )
        chosen: list[KeyPhrase] = []
        keys: list[str] = []
        for key in ordered:
            if len(chosen) == k:
                break
            if _variant(key, keys, docs[side]):
                continue
            keys.append(key)
            chosen.append(
                KeyPhrase(
                    text=surfaces[key].most_common(1)[0][0],
                    count=docs[side][key],
                    other=docs[other][key],
                    score=round(sign * scores[key], 3),
                )
            )
        out[side] = chosen  # type: ignore[index]
    return out


def _variant(key: str, chosen: Iterable[str], counts: Counter[str]) -> bool:
    """True when ``key`` is inside or around a chosen phrase used by about as many reviews."""
    words = key.split()
    for other in chosen:
        theirs = other.split()
        inside = _contains(theirs, words) or _contains(words, theirs)
        if inside and min(counts[key], counts[other]) >= 0.6 * max(counts[key], counts[other]):
            return True
    return False


def _contains(outer: Sequence[str], inner: Sequence[str]) -> bool:
    n = len(inner)
    return any(list(outer[i : i + n]) == list(inner) for i in range(len(outer) - n + 1))
