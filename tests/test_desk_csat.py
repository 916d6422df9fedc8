"""The satisfaction question: texts per channel and language, reading scores and button
payloads (hostile ones too), and the answers to a score."""

from __future__ import annotations

import pytest

from bot.desk.csat import (
    CHANNELS,
    TEXTS,
    CsatClick,
    ask_text,
    button_labels,
    button_value,
    is_low,
    read_button,
    read_score,
    retry_text,
    thanks_text,
)


def test_every_text_in_both_languages() -> None:
    for key, texts in TEXTS.items():
        assert set(texts) == {"ko", "en"}, key
        assert all(t.strip() and "{" not in t for t in texts.values()), key


def test_questions_per_channel() -> None:
    assert ask_text("ko", "buttons") == "상담은 어떠셨나요? 1–5점 중에 골라 주세요."
    assert ask_text("ko", "sms") == "상담이 어떠셨나요? 1(별로)~5(아주 좋음) 숫자로 답해 주세요."
    assert "이 메일에 1~5 숫자 하나로 답장해 주세요" in ask_text("ko", "email")
    assert "reply to this e-mail with one number from 1 to 5" in ask_text("en", "email")
    assert "1 (poor) to 5 (great)" in ask_text("en", "sms")
    for channel in CHANNELS:
        assert ask_text("ko", channel) != ask_text("en", channel)
    assert len(ask_text("ko", "sms")) <= 70  # one Korean SMS segment
    with pytest.raises(ValueError, match="channel"):
        ask_text("ko", "fax")  # type: ignore[arg-type]


@pytest.mark.parametrize("language", ["ko", "en"])
def test_five_buttons_that_read_back(language: str) -> None:
    labels = button_labels(language)  # type: ignore[arg-type]
    assert len(labels) == 5 and len(set(labels)) == 5
    assert [label[0] for label in labels] == ["1", "2", "3", "4", "5"]
    assert all(len(label) <= 75 for label in labels)  # Slack's and Discord's limits
    for score in range(1, 6):
        assert read_button(button_value(42, score)) == CsatClick(42, score)


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("5", 5),
        ("5점", 5),
        ("2점이요", 2),
        ("4/5", 4),
        ("4 / 5", 4),
        ("3 out of 5", 3),
        ("★★★★", 4),
        ("⭐⭐", 2),
        ("⭐ x3", 3),
        (" 3 ", 3),
        ("３", 3),
        ("５점", 5),
        ("5️⃣", 5),
        ("five", 5),
        ("Four stars", 4),
        ("one.", 1),
        ("5!!", 5),
        ("4 - 빨리 해결해 주셨어요", 4),
        ("5점 만점에 4점", 4),
        ("매우 만족 5", 5),
        ("Great, 5", 5),
        ("I give it a 4", 4),
        ("5점, 2일 걸렸지만 친절했어요", 5),
        ("4점 드려요. 배송이 3일이나 걸렸어요", 4),
        ("4 - order 20261208 arrived", 4),
        ("5점, 10,000원 쿠폰 감사해요", 5),
    ],
)
def test_scores_read(text: str, score: int) -> None:
    assert read_score(text) == score


@pytest.mark.parametrize(
    "text",
    [
        "6",
        "0",
        "10",
        "１０",
        "1234",
        "최고",
        "great",
        "좋아요",
        "",
        "   ",
        "5 stars but 6 would be better",
        "3 4",
        "4.5",
        "v1.5",
        "5 / 10",
        "★★★★★★",
        "6점",
        "waited 2 hours",
        "배송 3일 걸렸어요",
        "환불은 언제 되나요?",
        "{0.__class__}",
        "five stars and a cat",
        "\x00",
        "5" * 10_000,
    ],
)
def test_answers_that_are_not_one_score(text: str) -> None:
    assert read_score(text) is None


def test_non_text_and_huge_answers() -> None:
    assert read_score(None) is None
    assert read_score(5) is None
    assert read_score("4" + " 좋아요" * 100_000) == 4  # read from its head only


@pytest.mark.parametrize(
    "value",
    [
        "",
        None,
        5,
        "csat",
        "csat:",
        "csat:12",
        "csat:12:",
        "csat:12:6",
        "csat:12:0",
        "csat:12:55",
        "csat::5",
        "csat:0:5",
        "csat:012:5",
        "csat:-1:5",
        "csat:1e3:5",
        "csat:١٢:5",  # Arabic-Indic digits
        "csat:12:５",
        "csat:12:5:extra",
        " csat:12:5",
        "csat:12:5\n",
        "CSAT:12:5",
        "review:12:5",
        "csat:" + "9" * 40 + ":5",
        "ticket:take:12",
    ],
)
def test_bad_button_payloads(value: object) -> None:
    assert read_button(value) is None


def test_button_value_refuses_nonsense() -> None:
    assert button_value(7, 1) == "csat:7:1"
    for handoff, score in ((0, 3), (7, 0), (7, 6)):
        with pytest.raises(ValueError):
            button_value(handoff, score)


def test_low_scores_promise_a_person() -> None:
    assert [is_low(s) for s in range(1, 6)] == [True, True, False, False, False]
    assert "담당자가" in thanks_text(1, "ko") and "다시 연락드릴게요" in thanks_text(2, "ko")
    assert "follow up" in thanks_text(2, "en")
    for score in (3, 4, 5):
        assert "follow up" not in thanks_text(score, "en")
        assert "연락드릴게요" not in thanks_text(score, "ko")
    assert thanks_text(5, "ko") != thanks_text(3, "ko")
    with pytest.raises(ValueError):
        thanks_text(6, "en")


def test_retry_asks_for_a_number() -> None:
    assert "1부터 5까지" in retry_text("ko")
    assert "from 1 to 5" in retry_text("en")
