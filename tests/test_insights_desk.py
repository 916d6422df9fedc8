"""The help desk's figures in ``ondo insights conversations``: first-response and resolution
times in business time (Asia/Seoul, across a weekend and Christmas, a Korean holiday), SLA
breaches per reason and agent, CSAT per agent, intent and ISO week beside the bot's 👍/👎, stale
closes; the text in Korean and English, ``--json``, and the HTML in headless Chromium."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.cli import insights as cli
from bot.desk.config import DeskConfig
from bot.desk.hours import BusinessHours
from bot.insights import conversation_report, desk_report
from bot.insights.conversation_stats import ConversationStats, summarize
from bot.insights.desk_stats import DeskRows, desk_figures, percentile
from bot.storage.desk_records import Csat, SlaRow
from bot.storage.records import InboundRow, RatingRow, WindowRows
from bot.storage.sql.store import SqlStore
from bot.storage.sqlite import SQLiteStore
from bot.types import Message
from knowledge.embedders import Embedder
from tests.backends import raw

SEOUL = ZoneInfo("Asia/Seoul")
HOURS = BusinessHours(DeskConfig())  # Mon–Fri 09:00–18:00 Asia/Seoul, Korean holidays off


def kst(day: int, hour: int, minute: int = 0) -> float:
    """An instant of December 2026 in Seoul (the 25th, a Friday, is Christmas: a holiday)."""
    return datetime(2026, 12, day, hour, minute, tzinfo=SEOUL).timestamp()


SINCE = kst(21, 0)  # Monday of ISO week 52
NOW = kst(29, 15)  # Tuesday of week 53, 15:00


class NoEmbedder(Embedder):
    """Nothing here is an unanswered FAQ question: clustering must not be asked for."""

    name = "none"
    dim = 0

    def embed(self, texts: Sequence[str]) -> Any:
        raise AssertionError("no clustering expected")


async def ticket(
    store: SqlStore, n: int, reason: str, created: float, *, intent: str = "refund"
) -> int:
    """A conversation handed over at ``created`` (its message and handoff moved there)."""
    key = f"slack:C1:{n}"
    await store.record_inbound(Message("slack", key, f"slack:V{n}", "도와주세요", created, f"m{n}"))
    handoff_id = await store.escalate(
        key, reason=reason, summary="…", intent=intent, emotion="angry", language="ko"
    )
    assert handoff_id is not None
    raw(store, "UPDATE handoffs SET created_at = ? WHERE id = ?", [created, handoff_id])
    raw(store, "UPDATE messages SET created_at = ? WHERE conversation_key = ?", [created, key])
    return handoff_id


async def fill(store: SqlStore) -> None:
    """A week of tickets through ``store.desk`` and the handoff functions."""
    desk = store.desk
    # h6, no_answer, Tue 22nd 10:00: reply in 30 min, resolved 15:00 (5 h); rated 4.
    h6 = await ticket(store, 6, "no_answer", kst(22, 10), intent="shipping")
    await desk.assign(h6, "slack:U2", kst(22, 10))
    await desk.mark_first_response(h6, kst(22, 10, 30))
    await store.update_handoff(h6, resolved_at=kst(22, 15))
    await desk.ask_csat(h6, kst(22, 15, 5), agent="slack:U2")
    await desk.answer_csat(h6, 4, None, kst(22, 15, 6))
    # h1, angry, Thu 24th 17:00: the first reply waits over Christmas and the weekend to Mon
    # 09:30 (1 h 30 min of business time: breached), resolved Mon 11:00 (3 h: within 4 h).
    h1 = await ticket(store, 1, "angry", kst(24, 17))
    await desk.assign(h1, "slack:U1", kst(24, 17))
    await desk.mark_first_response(h1, kst(28, 9, 30))
    await store.update_handoff(h1, resolved_at=kst(28, 11))
    await desk.ask_csat(h1, kst(28, 11, 1), agent="slack:U1")
    await desk.answer_csat(h1, 2, "늦어요", kst(28, 11, 2))
    # h5, angry, Mon 09:00: reply in 10 min, then the customer goes silent: closed as stale.
    h5 = await ticket(store, 5, "angry", kst(28, 9))
    await desk.assign(h5, "slack:U1", kst(28, 9))
    await desk.mark_first_response(h5, kst(28, 9, 10))
    await desk.set_waiting("slack:C1:5", kst(28, 9, 20))
    assert await desk.close_stale(h5, kst(29, 11), kst(28, 10))
    await desk.ask_csat(h5, kst(29, 11, 1), agent="slack:U1")  # never answered
    # h2, asked_for_human, Mon 10:00: reply in 12 min; resolved Tue 12:00 (11 h > 8 h).
    h2 = await ticket(store, 2, "asked_for_human", kst(28, 10))
    await desk.assign(h2, "slack:U2", kst(28, 10))
    await desk.mark_first_response(h2, kst(28, 10, 12))
    await store.update_handoff(h2, resolved_at=kst(29, 12))
    await desk.ask_csat(h2, kst(29, 12, 1), agent="slack:U2")
    await desk.answer_csat(h2, 5, None, kst(29, 12, 2))
    # h3, no_answer, Mon 13:00: taken (no assignee) by U3, replied 14:30; open, due Wed 11:00.
    h3 = await ticket(store, 3, "no_answer", kst(28, 13))
    await store.update_handoff(h3, agent="slack:U3", taken_at=kst(28, 13, 5))
    await desk.mark_first_response(h3, kst(28, 14, 30))
    # h4, sensitive, Tue 09:00: nobody yet: past 09:15 and 13:00 by 15:00, both breached.
    await ticket(store, 4, "sensitive", kst(29, 9))


async def desk_rows(store: SqlStore) -> DeskRows:
    sla = await store.desk.sla_rows(SINCE, NOW)
    csat = await store.desk.csat_rows(SINCE, NOW)
    return DeskRows(tuple(sla), tuple(csat))


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([600.0, 720.0, 1800.0, 5400.0], 0.5) == 1260.0
    assert percentile([10.0], 0.9) == 10.0
    assert percentile([0.0, 100.0], 0.9) == pytest.approx(90.0)


def test_durations_read_like_words() -> None:
    assert desk_report.duration(4320, "ko") == "1시간 12분"
    assert desk_report.duration(4320, "en") == "1 h 12 min"
    assert desk_report.duration(7200, "ko") == "2시간"
    assert desk_report.duration(720, "en") == "12 min"
    assert desk_report.duration(45, "ko") == "45초"
    assert desk_report.duration(0, "en") == "0 s"
    assert desk_report.duration(None, "en") == "–"


async def test_figures_in_business_time_on_both_backends(any_store: SqlStore) -> None:
    await fill(any_store)
    stats = desk_figures(await desk_rows(any_store), HOURS, now=NOW)
    assert (stats.tickets, stats.open, stats.waiting, stats.stale_closed) == (6, 2, 1, 1)
    # First replies: 600, 720, 1800, 5400 (over Christmas and the weekend), 5400.
    assert stats.first_response.count == 5
    assert (stats.first_response.median, stats.first_response.p90) == (1800.0, 5400.0)
    # Resolutions (the stale close not among them): 10800, 18000, 39600.
    assert stats.resolution.count == 3
    assert stats.resolution.median == 18000.0
    assert stats.resolution.p90 == pytest.approx(35280.0)
    assert (stats.first_target.within, stats.first_target.breached) == (4, 2)
    target = stats.resolution_target
    assert (target.within, target.breached, target.pending) == (2, 2, 1)
    assert target.share_within == 0.5
    reasons = {
        g.name: (g.tickets, g.first_response.breached, g.resolution.breached)
        for g in stats.by_reason
    }
    assert reasons == {
        "angry": (2, 1, 0),
        "asked_for_human": (1, 0, 1),
        "no_answer": (2, 0, 0),
        "sensitive": (1, 1, 1),
    }
    assert [(g.name, g.tickets) for g in stats.by_agent] == [
        ("slack:U1", 2),
        ("slack:U2", 2),
        ("slack:U3", 1),
        (None, 1),
    ]
    csat = stats.csat
    assert (csat.asked, csat.answered, csat.response_rate) == (4, 3, 0.75)
    assert csat.mean == pytest.approx(11 / 3) and csat.top_share == pytest.approx(2 / 3)
    assert [(c.name, c.asked, c.answered, c.mean) for c in stats.csat_by_agent] == [
        ("slack:U1", 2, 1, 2.0),
        ("slack:U2", 2, 2, 4.5),
    ]
    assert [(c.name, c.mean) for c in stats.csat_by_intent] == [("refund", 3.5), ("shipping", 4.0)]
    assert [(c.name, c.asked, c.mean) for c in stats.csat_by_week] == [
        ("2026-W52", 1, 4.0),
        ("2026-W53", 3, 3.5),
    ]
    data = stats.to_json()
    assert data["first_response"] == {
        "count": 5,
        "median_seconds": 1800.0,
        "p90_seconds": 5400.0,
        "within": 4,
        "breached": 2,
        "pending": 0,
        "share_within": 0.6667,
    }
    assert data["by_agent"][-1]["agent"] is None
    assert data["csat"]["by_week"][0] == {
        "week": "2026-W52",
        "asked": 1,
        "answered": 1,
        "response_rate": 1.0,
        "mean": 4.0,
        "share_4_5": 1.0,
    }


def sla_row(n: int, reason: str, created: float, **clocks: Any) -> SlaRow:
    fields: dict[str, Any] = dict.fromkeys(
        ("first_response_at", "resolved_at", "first_due_at", "resolution_due_at", "closed_reason")
    )
    return SlaRow(n, reason, "refund", "en", None, None, created, **(fields | clocks))


def test_stored_due_instants_win_and_a_resolution_ends_the_wait_for_a_reply() -> None:
    rows = (
        # Stored due at 10:05: the reply at 10:12 is late (the desk's 1 h would have allowed it).
        sla_row(1, "asked_for_human", kst(28, 10), first_response_at=kst(28, 10, 12),
                first_due_at=kst(28, 10, 5), resolution_due_at=kst(28, 11)),
        # Resolved at 09:10 without a reply of its own: no longer waiting, within 15 min.
        sla_row(2, "angry", kst(28, 9), resolved_at=kst(28, 9, 10)),
        # A reason the desk has no target for, and no stored due: no target to meet.
        sla_row(3, "vip", kst(28, 9)),
    )  # fmt: skip
    stats = desk_figures(DeskRows(rows), HOURS, now=NOW)
    assert (stats.first_target.within, stats.first_target.breached) == (1, 1)
    assert (stats.resolution_target.within, stats.resolution_target.breached) == (1, 1)
    assert (stats.waiting, stats.open) == (1, 2)  # the "vip" one
    assert stats.first_response.count == 1 and stats.first_response.median == 720.0
    assert [g.name for g in stats.by_reason] == [
        "angry",
        "asked_for_human",
        "no_answer",
        "sensitive",
        "vip",
    ]
    assert stats.by_agent == (stats.by_agent[0],) and stats.by_agent[0].name is None


# --- the command -----------------------------------------------------------------------------


@pytest.fixture
def command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """Runs ``ondo insights conversations ARGS`` at NOW on ``ONDO_DB``; (code, out, err)."""
    monkeypatch.chdir(tmp_path)
    for name in ("ONDO_DB", "ONDO_ENCRYPTION_KEY", "ONDO_KB", "ONDO_AGENT_LANGUAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(cli, "load_embedder", NoEmbedder)
    monkeypatch.setattr(cli, "clock", lambda: NOW)

    def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
        from bot.cli import main

        capsys.readouterr()
        code = main(["insights", "conversations", *args])
        out, err = capsys.readouterr()
        return code, out, err

    yield run


@pytest.fixture
def desk_db(tmp_path: Path) -> Path:
    import asyncio

    path = tmp_path / "desk.db"
    store = SQLiteStore.open(path)
    try:
        asyncio.run(fill(store))
    finally:
        store.close()
    return path


def test_the_command_in_english_and_korean(
    desk_db: Path, command: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONDO_DB", str(desk_db))
    monkeypatch.setenv("ONDO_AGENT_LANGUAGE", "en")
    code, out, _err = command(capsys, "--since", "8d")
    assert code == 0
    lines = out.splitlines()
    assert (
        "  help desk   6 tickets, 2 open (1 waiting for a first reply), 1 closed as stale" in lines
    )
    assert (
        "  first reply median 30 min · p90 1 h 30 min over 5 · 67% within target (2 breached, "
        "0 pending)" in lines
    )
    assert (
        "  resolution  median 5 h · p90 9 h 48 min over 3 · 50% within target (2 breached, "
        "1 pending)" in lines
    )
    assert "  breaches    first reply 2, resolution 2" in lines
    assert "    by reason: sensitive 2 · angry 1 · asked for a person 1" in lines
    assert "    by agent: unassigned 2 · slack:U1 1 · slack:U2 1" in lines
    assert "  CSAT        3.67 avg, 67% 4–5; 3 of 4 answered (75%) · bot answers 👍 0 👎 0" in lines
    assert "    by agent: slack:U1 2.0 (1/2) · slack:U2 4.5 (2/2)" in lines
    assert "    by intent: refund 3.5 (2/3) · shipping 4.0 (1/1)" in lines
    assert "    by week: 2026-W52 4.0 (1/1) · 2026-W53 3.5 (2/3)" in lines

    monkeypatch.setenv("ONDO_AGENT_LANGUAGE", "ko")
    code, out, _err = command(capsys, "--since", "8d")
    assert code == 0
    lines = out.splitlines()
    assert "  상담 데스크 티켓 6건, 진행 중 2건 (첫 응답 대기 1건), 무응답 종료 1건" in lines
    assert (
        "  첫 응답     중앙값 30분 · p90 1시간 30분 (5건) · 목표 내 67% (위반 2건, 진행 0건)"
        in lines
    )
    assert (
        "  해결 시간   중앙값 5시간 · p90 9시간 48분 (3건) · 목표 내 50% (위반 2건, 진행 1건)"
        in lines
    )
    assert "    사유별: 민감한 사안 2 · 화남 1 · 상담원 요청 1" in lines
    assert "    상담원별: 미배정 2 · slack:U1 1 · slack:U2 1" in lines
    assert any(
        line.startswith("  만족도      평균 3.67, 4–5점 67%; 4건 중 3건 응답") for line in lines
    )

    code, out, _err = command(capsys, "--since", "8d", "--json")
    desk = json.loads(out)["desk"]
    assert (desk["tickets"], desk["stale_closed"], desk["waiting"]) == (6, 1, 1)
    assert desk["resolution"]["median_seconds"] == 18000.0
    assert [r["reason"] for r in desk["by_reason"]] == [
        "angry",
        "asked_for_human",
        "no_answer",
        "sensitive",
    ]
    assert desk["csat"]["response_rate"] == 0.75


def test_an_empty_desk_says_no_tickets(
    command: Any,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    path = tmp_path / "quiet.db"
    store = SQLiteStore.open(path)
    message = Message("slack", "slack:C1:1", "slack:V1", "hello", NOW - 3600, "m1")
    asyncio.run(store.record_inbound(message))
    store.close()
    monkeypatch.setenv("ONDO_DB", str(path))
    monkeypatch.setenv("ONDO_AGENT_LANGUAGE", "en")
    code, out, _err = command(capsys)
    assert code == 0
    assert "  help desk   no tickets in this window" in out.splitlines()
    monkeypatch.setenv("ONDO_AGENT_LANGUAGE", "ko")
    code, out, _err = command(capsys)
    assert "  상담 데스크 이 기간에 티켓이 없습니다" in out.splitlines()
    report = tmp_path / "quiet.html"
    code, _out, _err = command(capsys, "--json", "--html", str(report))
    assert code == 0
    assert json.loads(_out)["desk"]["tickets"] == 0
    assert "이 기간에 티켓이 없습니다." in report.read_text(encoding="utf-8")


def test_a_broken_desk_file_is_a_one_line_error(
    desk_db: Path,
    command: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "desk.yaml").write_text("timezone: Mars/Olympus\n", encoding="utf-8")
    monkeypatch.setenv("ONDO_DB", str(desk_db))
    monkeypatch.setenv("ONDO_KB", str(kb))
    code, out, err = command(capsys)
    assert code == 1 and out == ""
    assert err.startswith("ondo: error: ") and "desk.yaml" in err and len(err.splitlines()) == 1


# --- the HTML report -------------------------------------------------------------------------

HOSTILE_AGENT = '<script>alert("agent")</script>'
HOSTILE_INTENT = "<img src=x onerror=alert(1)>"


def hostile_stats() -> ConversationStats:
    """One ticket and one rating whose agent id and intent are markup, beside the bot's
    ratings (👍 2, 👎 1)."""
    sla = SlaRow(
        1, "angry", HOSTILE_INTENT, "ko", None, HOSTILE_AGENT, kst(28, 9), kst(28, 10),
        None, None, None, None,
    )  # fmt: skip
    csat = Csat(
        1, HOSTILE_AGENT, "slack:C1:1", "slack", HOSTILE_INTENT, "angry", "ko", kst(28, 11),
        1, None, kst(28, 12), 0,
    )  # fmt: skip
    ratings = (
        RatingRow("shipping-tracking", 1, kst(28, 9)),
        RatingRow("shipping-tracking", 1, kst(28, 9)),
        RatingRow("refund-how-to", -1, kst(28, 9)),
    )
    inbound = (InboundRow("slack:C1:1", kst(28, 9), "en", "angry", HOSTILE_INTENT, None, False),)
    rows = WindowRows(inbound, (), ratings, ())
    desk = desk_figures(DeskRows((sla,), (csat,)), HOURS, now=NOW)
    stats = summarize(rows, since=SINCE, until=NOW, tz=SEOUL, embedder=NoEmbedder(), desk=desk)
    return stats


def test_hostile_agent_ids_and_intents_are_escaped() -> None:
    stats = hostile_stats()
    text = conversation_report.summary(stats, "8 days", "en")
    assert "  CSAT        1.00 avg, 0% 4–5; 1 of 1 answered (100%) · bot answers 👍 2 👎 1" in text
    korean = conversation_report.summary(stats, "8일", "ko")
    assert "봇 답변 👍 2 👎 1" in korean
    page = conversation_report.page(stats, "8 days", "en")
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "&lt;script&gt;alert(&quot;agent&quot;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_the_desk_section_loads_in_chromium(
    desk_db: Path,
    command: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from tests.browser import load_page

    monkeypatch.setenv("ONDO_DB", str(desk_db))
    monkeypatch.setenv("ONDO_AGENT_LANGUAGE", "ko")
    report = tmp_path / "desk.html"
    code, _out, _err = command(capsys, "--since", "8d", "--html", str(report))
    assert code == 0
    loaded = load_page(report)
    assert loaded.errors == [] and loaded.outside_requests == []
    for text in (
        "상담 데스크",
        "응답 및 해결 시간",
        "1시간 30분",
        "9시간 48분",
        "상담원별 만족도",
        "2026-W53",
        "slack:U1",
    ):
        assert text in loaded.text, text
    for chart in loaded.charts:
        assert chart["width"] > 0 and chart["height"] > 0 and chart["marks"] > 0, chart

    hostile = tmp_path / "hostile.html"
    hostile.write_text(conversation_report.page(hostile_stats(), "8 days", "en"), encoding="utf-8")
    loaded = load_page(hostile)
    assert loaded.errors == [] and loaded.outside_requests == []
    assert HOSTILE_AGENT in loaded.text and HOSTILE_INTENT in loaded.text  # shown, not run
    assert "Help desk" in loaded.text and "CSAT by intent" in loaded.text
