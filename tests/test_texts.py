"""The fixed sentences: every key in both languages, Korean in Hangul, same placeholders."""

from __future__ import annotations

import re
import string

import pytest

from bot.texts import TEXTS, text
from bot.types import LANGUAGES

HANGUL = re.compile(r"[\uac00-\ud7a3]")
KEYS = sorted(TEXTS)


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def test_expected_keys_exist() -> None:
    emotions = ("angry", "disappointed", "positive", "neutral")
    reasons = ("angry", "asked_for_human", "no_answer", "sensitive")
    required = {f"opener.{e}" for e in emotions} | {f"closing.{e}" for e in emotions}
    required |= {f"handoff.{r}" for r in reasons}
    required |= {"source", "unsure", "unsure.suggest", "handoff.waiting", "resolved"}
    assert required <= set(TEXTS)


@pytest.mark.parametrize("key", KEYS)
def test_every_key_has_exactly_ko_and_en(key: str) -> None:
    assert sorted(TEXTS[key]) == sorted(LANGUAGES)


@pytest.mark.parametrize("key", KEYS)
def test_only_neutral_opener_may_be_empty(key: str) -> None:
    for language in LANGUAGES:
        if key == "opener.neutral":
            assert TEXTS[key][language] == ""
        else:
            assert TEXTS[key][language].strip(), (key, language)


@pytest.mark.parametrize("key", [k for k in KEYS if k != "opener.neutral"])
def test_korean_is_hangul_and_english_is_not(key: str) -> None:
    assert HANGUL.search(TEXTS[key]["ko"]), key
    assert not HANGUL.search(TEXTS[key]["en"]), key


@pytest.mark.parametrize("key", KEYS)
def test_placeholders_match_across_languages(key: str) -> None:
    assert placeholders(TEXTS[key]["ko"]) == placeholders(TEXTS[key]["en"])


@pytest.mark.parametrize("key", [k for k in KEYS if k.startswith("handoff.")])
def test_handoff_notices_mention_a_person(key: str) -> None:
    assert "상담원" in TEXTS[key]["ko"]
    assert re.search(r"\b(person|agent|team)\b", TEXTS[key]["en"])


@pytest.mark.parametrize(
    ("key", "language", "values", "expected"),
    [
        ("source", "ko", {"source": "운영.md § 환불"}, "출처: 운영.md § 환불"),
        ("source", "en", {"source": "ops.md § Refunds"}, "Source: ops.md § Refunds"),
        (
            "unsure.suggest",
            "ko",
            {"question": "환불은 어떻게 하나요?"},
            '혹시 "환불은 어떻게 하나요?"에 대해 궁금하신 건가요?',
        ),
        (
            "unsure.suggest",
            "en",
            {"question": "How do I get a refund?"},
            'Did you perhaps mean "How do I get a refund?"?',
        ),
        ("opener.angry", "ko", {}, "불편을 드려 정말 죄송합니다."),
        ("opener.neutral", "en", {}, ""),
    ],
)
def test_text_fills_placeholders(
    key: str, language: str, values: dict[str, str], expected: str
) -> None:
    assert text(key, language, **values) == expected  # type: ignore[arg-type]


def test_text_keeps_braces_in_values_literal() -> None:
    assert text("source", "en", source="{weird}") == "Source: {weird}"
