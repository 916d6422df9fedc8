"""bot.understanding.words: morphemes with offsets, whole words, moods, lazy analysis."""

from __future__ import annotations

import pytest

from bot.understanding import words as words_module
from bot.understanding.words import Mood, chain, head_before, mood, words


def test_offsets_index_the_message() -> None:
    text = "😡😡 신고할게요. 그리고 환불요"
    reading = words(text)
    first = reading.sentence(3)
    assert [(t.form, t.tag) for t in first[:3]] == [
        ("😡", "W_EMOJI"),
        ("😡", "W_EMOJI"),
        ("신고", "NNG"),
    ]
    assert text[first[2].start : first[2].end] == "신고"
    second = reading.sentence(text.index("환불"))
    assert text[second[1].start : second[1].end] == "환불"


@pytest.mark.parametrize(
    ("text", "cue", "whole"),
    [
        ("모든 연기자들의 캐릭터가 살아있네요", "기자", False),
        ("이제보기 시작했는데", "제보", False),
        ("전기자전거 언제 와요?", "기자", False),
        ("기자재 납품 되나요?", "기자", False),
        ("사랑니 뽑았어요", "사랑", False),
        ("기자한테 제보할 거예요", "기자", True),
        ("짜증나네요", "짜증", True),
        ("실망감이 커요", "실망", True),  # a suffix that keeps the meaning
        ("개답답하네", "답답", True),  # a slang intensifier kept attached
    ],
)
def test_whole_words(text: str, cue: str, whole: bool) -> None:
    start = text.index(cue)
    assert words(text).whole(start, start + len(cue)) is whole


def _mood_of(text: str, stem: str) -> Mood:
    tokens = words(text).sentence(0)
    head = next(i for i, t in enumerate(tokens) if t.form == stem)
    return mood(tokens, head)


@pytest.mark.parametrize(
    ("text", "stem", "expected"),
    [
        ("신고할게요", "신고", "intent"),
        ("고발할 거예요", "고발", "intent"),
        ("고소하려고요", "고소", "intent"),
        ("소송하고 싶어요", "소송", "intent"),
        ("신고하기 전에 연락드려요", "신고", "intent"),
        ("연결해 주세요", "연결", "request"),
        ("사장 나오라고 하세요", "나오", "request"),
        ("지급정지 요청했어요", "요청", "past"),
        ("소송하는 장면", "소송", "modifier"),
        ("신고하기 버튼", "신고", "modifier"),
        ("친구가 신고했대요", "신고", "hearsay"),
        ("신고하면 어떻게 되나요?", "신고", "conditional"),
        ("직원 불러서 물어보니", "부르", "connective"),
        ("고소할 수 있나요?", "고소", "question"),
        ("매니저 불러", "부르", "statement"),
        ("상담원 연결", "연결", "bare"),
    ],
)
def test_moods(text: str, stem: str, expected: Mood) -> None:
    assert _mood_of(text, stem) == expected


def test_the_chain_stops_at_the_next_content_word() -> None:
    tokens = words("소송 중인 제품인가요?").sentence(0)
    assert [t.form for t in chain(tokens, 0)] == ["중", "이", "ᆫ"]


def test_head_before_finds_the_verb_of_a_contraction() -> None:
    text = "직원 불러서"
    tokens = words(text).sentence(0)
    head = head_before(tokens, text.index("서"))
    assert head is not None and tokens[head].form == "부르"


def test_only_the_sentences_asked_for_are_analysed() -> None:
    text = "배송 언제 와요? " + "정말 " * 5 + "신고할게요"
    words_module._analyse.cache_clear()
    reading = words(text)
    assert words_module._analyse.cache_info().currsize == 0  # nothing until asked
    reading.sentence(text.index("신고"))
    assert words_module._analyse.cache_info().currsize == 1


def test_warm_up_loads_the_analyzer() -> None:
    words_module.warm_up()
    from knowledge.morphology import analyzer

    assert analyzer.cache_info().currsize == 1


def test_long_text_is_cut_into_bounded_sentences() -> None:
    text = "가나다 " * 200  # 800 characters, no punctuation
    reading = words(text)
    end = text.rindex("가")
    tokens = reading.sentence(end)
    assert tokens and tokens[-1].end <= len(text)
    assert tokens[-1].end - tokens[0].start <= 160
