"""``ondo insights conversations`` over conversations run through the real engine (ko + en)."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sqlite3
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import Runtime
from bot.cli import insights as conversations
from bot.conversation.engine import Outcome
from bot.insights.conversation_report import describe_duration
from bot.insights.conversation_stats import (
    ConversationStats,
    by_day,
    faq_candidates,
    ratings_per_entry,
    suggest_faq,
    summarize,
)
from bot.storage.crypto import generate_key
from bot.storage.records import InboundRow, RatingRow, UnansweredRow
from bot.storage.sqlite import SQLiteStore
from knowledge.embedders import Embedder
from tests.chat import Chat

DAY = 86400.0
PHONE = "010-1234-5678"
GIFT_EN = (
    "Do you offer gift wrapping?",
    "could you wrap it as a present for my mom?",
    f"Do you offer gift wrapping? My number is {PHONE}",
)
GIFT_KO = (
    "선물 포장 서비스 있나요?",
    "선물포장 옵션이 있나요?",
    f"선물 포장 가능한가요? 제 번호는 {PHONE} 이에요",
)
PETS_KO = "반려동물 용품도 파나요?"


def noon(days_ago: int) -> float:
    """12:00 UTC ``days_ago`` days before today: a past instant on the same date in any zone
    within ±11 h of UTC, so local-time day buckets agree with the UTC ones."""
    today = datetime.now(UTC).date()
    at = datetime.combine(today - timedelta(days=days_ago), datetime.min.time(), UTC)
    return at.timestamp() + 12 * 3600


def day(days_ago: int) -> str:
    return (datetime.now(UTC).date() - timedelta(days=days_ago)).isoformat()


@dataclass
class Filled:
    """A database of real conversations, and what the engine did with each message."""

    path: Path
    outcomes: dict[str, list[Outcome]]
    days_ago: dict[str, int]

    def analysed(self, window_days: int) -> list[Outcome]:
        return [
            o
            for key, outs in self.outcomes.items()
            if self.days_ago[key] < window_days
            for o in outs
        ]


async def _fill(runtime: Runtime) -> tuple[dict[str, list[Outcome]], dict[str, int]]:
    store = runtime.store
    outcomes: dict[str, list[Outcome]] = {}
    days_ago: dict[str, int] = {}

    async def converse(name: str, ago: int, *texts: str) -> list[Outcome]:
        chat = Chat(runtime.engine, key=f"test:{name}")
        outs = [await chat.say(text) for text in texts]
        outcomes[name], days_ago[name] = outs, ago

        def shift() -> None:
            with store._db.conn:
                ids = [
                    r[0]
                    for r in store._db.execute(
                        "SELECT id FROM messages WHERE conversation_key = ? ORDER BY id",
                        [chat.key],
                    ).fetchall()
                ]
                for n, message_id in enumerate(ids):
                    store._db.execute(
                        "UPDATE messages SET created_at = ? WHERE id = ?",
                        [noon(ago) + 10 * n, message_id],
                    )
                store._db.execute(
                    "UPDATE handoffs SET created_at = ? WHERE conversation_key = ?",
                    [noon(ago) + 5, chat.key],
                )

        await store._run(shift)
        return outs

    async def rate(outcome: Outcome, user: str, rating: int, ago: int) -> None:
        assert outcome.reply is not None
        reply_id = int(outcome.reply.raw["reply_id"])
        assert await store.rate(reply_id, user, rating) is not None

        def shift() -> None:
            with store._db.conn:
                store._db.execute(
                    "UPDATE ratings SET created_at = ? WHERE message_id = ? AND user = ?",
                    [noon(ago) + 30, reply_id, user],
                )

        await store._run(shift)

    # Answered from the knowledge base, and rated.
    tracking = await converse("en-track", 3, "Where can I track my order?")
    await rate(tracking[0], "customer-1", 1, 3)
    await rate(tracking[0], "customer-2", 1, 3)
    refund = await converse("ko-refund", 3, "환불 요청하려면 어떻게 해야 하나요?")
    await rate(refund[0], "customer-1", -1, 3)
    # Angry customers, handed over.
    await converse("en-angry", 2, "WHERE IS MY REFUND?! This is ridiculous, worst shop ever!!!")
    await converse("ko-angry", 2, "환불 언제 해주는데 진짜 장난하냐?? 짜증나 죽겠네!!!")
    # Explicit requests for a person.
    await converse("en-human", 1, "Can I talk to a real person please?")
    await converse("ko-human", 1, "상담원 연결해 주세요")
    # Unanswered questions: gift wrapping, three ways in each language; two misses in a row
    # hand the conversation over (no_answer).
    await converse("en-gift-1", 1, GIFT_EN[0])
    await converse("en-gift-2", 1, GIFT_EN[1], GIFT_EN[2])
    await converse("ko-gift-1", 1, GIFT_KO[0])
    await converse("ko-gift-2", 1, GIFT_KO[1])
    await converse("ko-gift-3", 2, GIFT_KO[2])
    await converse("ko-pets", 1, PETS_KO)
    # Small talk is no question for the FAQ.
    await converse("en-thanks", 2, "thanks!")
    await converse("ko-thanks", 2, "감사합니다!")
    # Outside the default 30-day window.
    await converse("ko-old", 40, "배송비 얼마예요?")
    return outcomes, days_ago


@pytest.fixture(scope="module")
def filled(sample_runtime_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Filled:
    runtime: Runtime = sample_runtime_factory()
    outcomes, days_ago = asyncio.run(_fill(runtime))
    path = tmp_path_factory.mktemp("insights") / "conversations.db"
    source = sqlite3.connect(runtime.settings.db_path)
    target = sqlite3.connect(path)
    source.backup(target)
    source.close()
    target.close()
    filled = Filled(path, outcomes, days_ago)
    # What the figures below rely on: the engine understood these messages as expected.
    answered = {
        key: [bool(o.analysis and o.analysis.answered) for o in outs]
        for key, outs in outcomes.items()
    }
    assert answered["en-track"] == [True] and answered["ko-refund"] == [True]
    for key in ("en-gift-1", "en-gift-2", "ko-gift-1", "ko-gift-2", "ko-gift-3", "ko-pets"):
        assert not any(answered[key]), key
    reasons = {key: [o.handoff.reason for o in outs if o.handoff] for key, outs in outcomes.items()}
    assert reasons["en-angry"] == reasons["ko-angry"] == ["angry"]
    assert reasons["en-human"] == reasons["ko-human"] == ["asked_for_human"]
    assert reasons["en-gift-2"] == ["no_answer"]
    assert sum(len(r) for r in reasons.values()) == 5
    return filled


@pytest.fixture(scope="module")
def use(real_embedders: Sequence[Embedder]) -> Embedder:
    """The multilingual sentence model the command clusters with."""
    return next(e for e in real_embedders if e.name == "use-multilingual-v3")


def _stats(
    path: Path, use: Embedder, window_days: float = 30, since: float | None = None
) -> ConversationStats:
    store = SQLiteStore.open(path)
    try:
        until = datetime.now(UTC).timestamp()
        since = until - window_days * DAY if since is None else since
        rows = asyncio.run(store.insights.read_window(since, until))
    finally:
        store.close()
    return summarize(rows, since=since, until=until, tz=UTC, embedder=use)


# --- the figures -----------------------------------------------------------------------------


def test_volume_escalation_and_deflection(filled: Filled, use: Embedder) -> None:
    stats = _stats(filled.path, use)
    assert stats.conversations == 14
    assert stats.messages == 15
    assert stats.escalated == 5 and stats.handoffs == 5
    assert stats.reasons == {"angry": 2, "asked_for_human": 2, "no_answer": 1, "sensitive": 0}
    assert stats.deflected == 9
    assert stats.escalation_rate == pytest.approx(5 / 14)
    assert stats.deflection_rate == pytest.approx(9 / 14)
    # Intents and emotions are the engine's own, message by message.
    analysed = [o.analysis for o in filled.analysed(30) if o.analysis]
    assert stats.by_intent == dict(
        sorted(Counter(a.intent for a in analysed).items(), key=lambda i: (-i[1], i[0]))
    )
    assert stats.by_intent["refund"] >= 3
    emotions = Counter[str](a.emotion.label for a in analysed)
    assert stats.emotions == {e: emotions[e] for e in stats.emotions}
    assert stats.emotions["angry"] == 2


def test_days_and_emotions_per_day(filled: Filled, use: Embedder) -> None:
    stats = _stats(filled.path, use)
    assert [(d.day.isoformat(), d.messages, d.conversations) for d in stats.by_day] == [
        (day(3), 2, 2),
        (day(2), 5, 5),
        (day(1), 8, 7),
    ]
    assert [d.emotions["angry"] for d in stats.by_day] == [0, 2, 0]
    for figures in stats.by_day:
        assert sum(figures.emotions.values()) == figures.messages


def test_ratings_per_knowledge_entry(filled: Filled, use: Embedder) -> None:
    stats = _stats(filled.path, use)
    assert [(r.entry_id, r.up, r.down, r.answers) for r in stats.ratings] == [
        ("refund-how-to", 0, 1, 1),
        ("shipping-tracking", 2, 0, 1),
    ]


def test_unanswered_questions_cluster_by_language(filled: Filled, use: Embedder) -> None:
    stats = _stats(filled.path, use)
    assert stats.unanswered == 7  # thanks and 감사합니다 are not questions
    got = [(s.language, s.count, s.conversations) for s in stats.suggestions]
    assert got == [("ko", 3, 3), ("en", 3, 2), ("ko", 1, 1)]
    ko_gift, en_gift, pets = stats.suggestions
    redacted_ko = {GIFT_KO[0], GIFT_KO[1], GIFT_KO[2].replace(PHONE, "[전화번호]")}
    assert {ko_gift.question, *ko_gift.examples} == redacted_ko
    redacted_en = {GIFT_EN[0], GIFT_EN[1], GIFT_EN[2].replace(PHONE, "[PHONE]")}
    assert {en_gift.question, *en_gift.examples} == redacted_en
    assert (pets.question, pets.examples) == (PETS_KO, ())
    # The category is the one the engine found nearest for most of the cluster's messages.
    by_text = {
        o.analysis.redacted: o.analysis.intent
        for outs in filled.outcomes.values()
        for o in outs
        if o.analysis
    }
    for suggestion in stats.suggestions:
        intents = Counter(
            by_text[t] for t in (suggestion.question, *suggestion.examples) if by_text[t] != "other"
        )
        expected = min(intents, key=lambda c: (-intents[c], c)) if intents else None
        assert suggestion.category == expected


def test_since_narrows_and_widens_the_window(filled: Filled, use: Embedder) -> None:
    wide = _stats(filled.path, use, window_days=60)
    assert (wide.conversations, wide.messages) == (15, 16)
    assert wide.by_day[0].day.isoformat() == day(40)
    assert len(wide.by_day) == 40  # days without messages in between are zeros
    assert sum(d.messages for d in wide.by_day) == 16
    narrow = _stats(filled.path, use, since=noon(1) - 3600)  # yesterday, not the day before
    assert (narrow.conversations, narrow.messages) == (7, 8)
    assert narrow.reasons == {"angry": 0, "asked_for_human": 2, "no_answer": 1, "sensitive": 0}
    assert narrow.ratings == ()


# --- the command -----------------------------------------------------------------------------


@pytest.fixture
def command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, use: Embedder) -> Iterator[Any]:
    """Runs ``ondo insights conversations ARGS`` on ``ONDO_DB``; returns (code, out, err)."""
    monkeypatch.chdir(tmp_path)
    for name in ("ONDO_DB", "ONDO_ENCRYPTION_KEY", "ONDO_KB", "ONDO_AGENT_LANGUAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(conversations, "load_embedder", lambda: use)

    def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = _main(["insights", "conversations", *args])
        out, err = capsys.readouterr()
        return code, out, err

    yield run


def _main(argv: list[str]) -> int:
    from bot.cli import main

    return main(argv)


def test_json_object(
    filled: Filled,
    command: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ONDO_DB", str(filled.path))
    code, out, _err = command(capsys, "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {
        "since",
        "until",
        "conversations",
        "messages",
        "languages",
        "by_intent",
        "by_day",
        "emotions",
        "escalation",
        "deflection",
        "ratings",
        "unanswered",
        "staff",
        "desk",
    }
    assert data["staff"]["questions"] == 0  # every message here is a customer's
    assert (data["conversations"], data["messages"]) == (14, 15)
    assert data["languages"] == {"ko": 8, "en": 7}
    assert data["escalation"] == {
        "conversations": 5,
        "rate": round(5 / 14, 4),
        "handoffs": 5,
        "reasons": {"angry": 2, "asked_for_human": 2, "no_answer": 1, "sensitive": 0},
    }
    assert data["deflection"] == {"conversations": 9, "rate": round(9 / 14, 4)}
    assert [d["date"] for d in data["by_day"]] == [day(3), day(2), day(1)]
    assert set(data["by_day"][0]) == {"date", "messages", "conversations", "emotions"}
    assert data["ratings"][0] == {"entry_id": "refund-how-to", "up": 0, "down": 1, "answers": 1}
    assert data["unanswered"]["messages"] == 7
    first = data["unanswered"]["suggestions"][0]
    assert set(first) == {"language", "question", "count", "conversations", "examples", "category"}
    assert (first["language"], first["count"]) == ("ko", 3)
    until = datetime.fromisoformat(data["until"])
    assert until - datetime.fromisoformat(data["since"]) == timedelta(days=30)
    assert PHONE not in out and "[전화번호]" in out

    code, out, _err = command(capsys, "--json", "--since", "60d")
    assert code == 0 and json.loads(out)["conversations"] == 15


def test_terminal_summary(
    filled: Filled,
    command: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ONDO_DB", str(filled.path))
    monkeypatch.setenv("ONDO_AGENT_LANGUAGE", "en")
    code, out, _err = command(capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("Conversations in the last 30 days (")
    assert lines[1] == "  14 conversations, 15 customer messages"
    text = "\n".join(lines)
    assert (
        "  escalated   5 of 14 conversations (36%); angry 2, asked for a person 2, no answer 1"
        in text
    )
    assert "  deflected   9 of 14 conversations (64%) closed without a person" in text
    assert "  ratings     refund-how-to 👍 0 👎 1 · shipping-tracking 👍 2 👎 0" in text
    assert re.search(rf"  per day     \S{{3}}  {day(3)} to {day(1)}, busiest {day(1)} \(8 ", text)
    assert "  unanswered  7 questions; suggested FAQ entries:" in text
    assert re.search(r"^    1\. \[ko\] .*선물.*  ×3 \(", text, re.MULTILINE)
    assert re.search(r"^    2\. \[en\] .*gift.*  ×3 \(", text, re.MULTILINE)
    assert re.search(r"^       also: ", text, re.MULTILINE)
    assert PHONE not in text and ("[전화번호]" in text and "[PHONE]" in text)
    assert max(len(line) for line in lines) < 160  # compact: one screen line per figure


def test_terminal_summary_in_korean(
    filled: Filled,
    command: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Most customer messages are Korean: without ONDO_AGENT_LANGUAGE, so are the labels.
    monkeypatch.setenv("ONDO_DB", str(filled.path))
    code, out, _err = command(capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("최근 30일 대화 (")
    assert lines[1] == "  대화 14건, 고객 메시지 15건"
    assert "  상담원 연결 대화 14건 중 5건 (36%); 화남 2, 상담원 요청 2, 답변 못 함 1" in lines
    assert "  자체 해결   대화 14건 중 9건 (64%) 상담원 없이 종료" in lines
    assert "  미답변      질문 7건; FAQ 추가 제안:" in lines
    assert re.search(r"^       다른 표현: ", out, re.MULTILINE)
    assert PHONE not in out


def test_empty_database(
    command: Any,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No database yet: nothing is created, and the answer is a clear "nothing yet".
    code, out, err = command(capsys)
    assert code == 0 and err == ""
    assert out.startswith("no conversations in the last 30 days")
    assert not (tmp_path / "ondo.db").exists()
    # An empty database, and the JSON object with zeros.
    SQLiteStore.open(tmp_path / "empty.db").close()
    monkeypatch.setenv("ONDO_DB", str(tmp_path / "empty.db"))
    code, out, _err = command(capsys, "--since", "2w")
    assert (code, out.strip()) == (
        0,
        "no conversations in the last 2 weeks (`ondo chat` and `ondo serve` record them)",
    )
    monkeypatch.setenv("ONDO_AGENT_LANGUAGE", "ko")
    code, out, _err = command(capsys)
    assert (code, out.strip()) == (
        0,
        "최근 30일 동안 대화가 없습니다 (`ondo chat`과 `ondo serve`가 기록합니다)",
    )
    code, out, _err = command(capsys, "--json")
    data = json.loads(out)
    assert code == 0
    assert (data["conversations"], data["messages"], data["by_day"], data["ratings"]) == (
        0,
        0,
        [],
        [],
    )
    assert data["escalation"]["rate"] == 0 and data["deflection"]["rate"] == 0
    assert data["unanswered"] == {"messages": 0, "suggestions": []}


def test_bad_since_is_a_one_line_usage_error(
    command: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        command(capsys, "--since", "lately")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "'lately' is not a duration like 90d, 12h or 2w" in err
    assert "Traceback" not in err


async def test_encrypted_database_is_read_with_the_key(
    sample_runtime_factory: Any,
    command: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    key = generate_key()
    runtime: Runtime = sample_runtime_factory(tmp_path / "sealed.db", encryption_key=key)
    chat = Chat(runtime.engine)
    await chat.say(GIFT_KO[2])
    runtime.close()
    raw = sqlite3.connect(tmp_path / "sealed.db")
    stored = [r[0] for r in raw.execute("SELECT text FROM messages WHERE direction = 'in'")]
    raw.close()
    assert stored and not any("선물" in text for text in stored)  # sealed at rest

    monkeypatch.setenv("ONDO_DB", str(tmp_path / "sealed.db"))
    monkeypatch.setenv("ONDO_ENCRYPTION_KEY", key)
    code, out, _err = await asyncio.to_thread(command, capsys, "--json")
    assert code == 0
    suggestions = json.loads(out)["unanswered"]["suggestions"]
    assert [s["question"] for s in suggestions] == [GIFT_KO[2].replace(PHONE, "[전화번호]")]

    monkeypatch.setenv("ONDO_ENCRYPTION_KEY", generate_key())
    code, out, err = await asyncio.to_thread(command, capsys, "--json")
    assert code == 1 and out == ""
    assert err.startswith("ondo: error: cannot open database") and len(err.splitlines()) == 1


# --- the HTML report -------------------------------------------------------------------------


def test_html_report_is_self_contained_and_loads_in_chromium(
    filled: Filled,
    command: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("ONDO_DB", str(filled.path))
    report = tmp_path / "conversations.html"
    code, out, err = command(capsys, "--html", str(report))
    assert code == 0
    assert out.startswith("최근 30일 대화")  # most customers wrote in Korean
    assert err.strip().endswith(f"HTML report: {report}")
    page = report.read_text(encoding="utf-8")
    assert '<html lang="ko">' in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:|//)""", page, re.IGNORECASE)
    assert "<script" not in page.lower() and "@import" not in page and "url(" not in page
    assert PHONE not in page and "[전화번호]" in page
    assert "선물" in page and "refund-how-to" in page

    from tests.browser import load_page

    loaded = load_page(report)
    assert loaded.errors == []
    assert loaded.outside_requests == []
    kinds = Counter(chart["kind"] for chart in loaded.charts)
    assert kinds == {"line": 2, "bar": 2, "ratio": 2}
    for chart in loaded.charts:
        assert chart["width"] > 0 and chart["height"] > 0 and chart["marks"] > 0, chart
    assert "FAQ 추가 제안" in loaded.text and "선물" in loaded.text

    monkeypatch.setenv("ONDO_AGENT_LANGUAGE", "en")
    code, _out, _err = command(capsys, "--html", str(report))
    english = report.read_text(encoding="utf-8")
    assert code == 0 and '<html lang="en">' in english
    assert "Suggested FAQ entries" in english and "Handoffs by reason" in english


def test_html_report_of_an_empty_database(
    command: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = tmp_path / "empty.html"
    code, _out, _err = command(capsys, "--html", str(report))
    assert code == 0
    assert "no conversations in the last 30 days" in report.read_text(encoding="utf-8")


def test_unwritable_html_path_is_a_one_line_error(
    command: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _out, err = command(capsys, "--html", str(tmp_path / "missing" / "r.html"))
    assert code == 1
    assert err.startswith("ondo: error: cannot write") and len(err.splitlines()) == 1


# --- the pure functions ----------------------------------------------------------------------


def _row(
    text: str, language: str = "en", key: str = "k", intent: str | None = None
) -> UnansweredRow:
    return UnansweredRow(key, text, language, intent, 0.0)


def test_faq_candidates_redact_and_drop_what_is_no_faq_question() -> None:
    rows = [
        _row(f"Do you ship to Jeju? call me at {PHONE}"),
        _row("Can I talk to a real person please?"),
        _row("I will report you to the Korea Consumer Agency"),
        _row("thanks so much!!"),
        _row("  ?? "),
        _row(f"제주도 배송 되나요? {PHONE}", "ko"),
        _row("상담원 연결해 주세요", "ko"),
        _row("소비자원에 신고할게요", "ko"),
        _row("네 감사합니다ㅎㅎ", "ko"),
    ]
    assert [r.text for r in faq_candidates(rows)] == [
        "Do you ship to Jeju? call me at [PHONE]",
        "제주도 배송 되나요? [전화번호]",
    ]


def test_by_day_fills_days_without_messages_in_the_given_zone() -> None:
    from zoneinfo import ZoneInfo

    start = datetime(2026, 11, 1, 20, 0, tzinfo=UTC).timestamp()  # 05:00 on the 2nd in Seoul
    rows = [
        InboundRow("a", start, "ko", "angry", "refund", None, False),
        InboundRow("a", start + 60, "ko", "neutral", "refund", None, False),
        InboundRow("b", start + 3 * DAY, "en", "positive", "other", None, False),
    ]
    seoul = by_day(rows, ZoneInfo("Asia/Seoul"))
    assert [(d.day.isoformat(), d.messages, d.conversations) for d in seoul] == [
        ("2026-11-02", 2, 1),
        ("2026-11-03", 0, 0),
        ("2026-11-04", 0, 0),
        ("2026-11-05", 1, 1),
    ]
    assert seoul[0].emotions == {"positive": 0, "neutral": 1, "disappointed": 0, "angry": 1}
    assert by_day(rows, UTC)[0].day.isoformat() == "2026-11-01"
    assert by_day([], UTC) == []


def test_ratings_worst_entry_first() -> None:
    ratings = [
        RatingRow("a", 1, 0),
        RatingRow("b", -1, 0),
        RatingRow("b", 1, 0),
        RatingRow("c", 1, 0),
    ]
    inbound = [InboundRow("k", 0, "en", "neutral", "x", "a", True)] * 3
    assert [(r.entry_id, r.up, r.down, r.answers) for r in ratings_per_entry(ratings, inbound)] == [
        ("b", 1, 1, 0),
        ("a", 1, 0, 3),
        ("c", 1, 0, 0),
    ]


def test_gift_cards_are_not_gift_wrapping(use: Embedder) -> None:
    rows = [
        _row("Do you offer gift wrapping?", key="1", intent="shipping"),
        _row("Is gift wrapping available?", key="2", intent="other"),
        _row("do you offer gift wrapping", key="3", intent="shipping"),
        _row("Do you sell gift cards?", key="4", intent="payment"),
        _row("선물 포장 되나요?", "ko", key="5"),
        _row("기프트카드 파나요?", "ko", key="6"),
    ]
    suggestions = suggest_faq(faq_candidates(rows), use)
    assert [(s.language, s.question, s.count, s.examples, s.category) for s in suggestions] == [
        ("en", "Do you offer gift wrapping?", 3, ("Is gift wrapping available?",), "shipping"),
        ("en", "Do you sell gift cards?", 1, (), "payment"),
        ("ko", "기프트카드 파나요?", 1, (), None),
        ("ko", "선물 포장 되나요?", 1, (), None),
    ]
    assert suggest_faq([], use) == []


def test_since_reads_like_words() -> None:
    assert describe_duration("30d", "en") == "30 days"
    assert describe_duration("1w", "en") == "1 week"
    assert describe_duration("30d", "ko") == "30일"
    assert describe_duration("12h", "ko") == "12시간"
    assert conversations.since("12h").seconds == 12 * 3600
    with pytest.raises(argparse.ArgumentTypeError):
        conversations.since("soon")
