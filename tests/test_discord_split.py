"""Splitting long text at Discord's 2,000-character limit on natural boundaries."""

from __future__ import annotations

import pytest

from adapters.discord.split import MESSAGE_LIMIT, size, split_message


def _same_words(chunks: list[str], text: str) -> bool:
    return " ".join(chunks).split() == text.split()


def test_short_text_is_one_message_and_blank_text_none() -> None:
    assert split_message("  Hello there.  ") == ["Hello there."]
    assert split_message("   \n ") == []
    assert split_message("x" * MESSAGE_LIMIT) == ["x" * MESSAGE_LIMIT]


@pytest.mark.parametrize(
    ("sentence", "end"),
    [
        ("Refunds take 3-5 business days after we receive the item. ", "item."),
        ("Did you get the tracking number? ", "number?"),
        ("환불은 상품 회수 후 3~5영업일 이내에 처리됩니다. ", "처리됩니다."),
        # Korean is often written without the full stop: the ending closes the sentence.
        ("환불은 상품 회수 후 3~5영업일 이내에 처리됩니다 ", "처리됩니다"),
        ("배송 조회는 주문 내역에서 하실 수 있어요 ", "있어요"),
        ("「반품 신청」 버튼을 눌러 주세요! ", "주세요!"),
    ],
)
def test_cuts_fall_after_whole_sentences(sentence: str, end: str) -> None:
    text = (sentence * 120).strip()
    chunks = split_message(text)
    assert len(chunks) > 1
    assert all(size(c) <= MESSAGE_LIMIT for c in chunks)
    assert all(c.endswith(end) for c in chunks)
    assert _same_words(chunks, text)


def test_line_breaks_are_boundaries_and_survive_inside_a_message() -> None:
    lines = [f"- item {i}: see the order page" for i in range(200)]
    chunks = split_message("\n".join(lines), 500)
    assert all(size(c) <= 500 for c in chunks)
    assert "\n".join(chunks).splitlines() == lines


def test_a_sentence_longer_than_the_limit_is_cut_at_spaces() -> None:
    sentence = " ".join(f"word{i}" for i in range(900)) + "."
    chunks = split_message(f"Short one. {sentence} Last one.")
    assert chunks[0] == "Short one."  # a sentence boundary is preferred to filling up
    assert chunks[1].startswith("word0 word1") and chunks[-1].endswith("word899. Last one.")
    assert all(size(c) <= MESSAGE_LIMIT for c in chunks)
    assert all(not c.startswith(" ") and not c.endswith(" ") for c in chunks)
    assert all(c.split()[-1].startswith("word") or c.endswith(".") for c in chunks)
    assert _same_words(chunks, f"Short one. {sentence} Last one.")


def test_a_word_longer_than_the_limit_is_cut_hard() -> None:
    url = "https://example.com/" + "a" * 4500
    chunks = split_message(f"See {url} now")
    assert [size(c) for c in chunks] == [3, 2000, 2000, 524]
    assert "".join(chunks[1:])[: len(url)] == url and chunks[-1].endswith(" now")


def test_emoji_count_double_as_discord_counts_them() -> None:
    chunks = split_message("😀" * 1500)
    assert [len(c) for c in chunks] == [1000, 500]
    assert all(size(c) <= MESSAGE_LIMIT for c in chunks)
