"""``ondo journey send | link | consent`` on a fresh SQLite file (no models are loaded): a batch
is summarised with each refused line named, the sends due now are decided and their DMs queued;
links and consent entries are recorded, shown with their evidence and history; every mistake
is one line and a non-zero exit. Times are chosen so the outcome holds whatever the clock says
(transactional sends ignore the quiet hours; marketing without consent never goes; a review of
a delivery in 2099 is not due)."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest

from bot import cli
from bot.storage.sqlite import SQLiteStore

PAST = "2026-12-01T10:00:00+09:00"
FUTURE = "2099-01-01T10:00:00+09:00"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean working directory with ``ONDO_DB`` in it (returned), the bundled journeys."""
    monkeypatch.chdir(tmp_path)
    for name in ("ONDO_JOURNEYS", "ONDO_SHOP_NAME", "ONDO_QUIET_HOURS", "ONDO_EVENTS_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ONDO_DB", str(tmp_path / "cli.db"))
    return tmp_path / "cli.db"


def line(event_id: str, type: str, at: str = PAST, language: str = "ko", **payload: Any) -> str:
    customer = {
        "customer_id": f"cust-{language}",
        "name": "김민지" if language == "ko" else "Alex",
        "language": language,
        "time_zone": "Asia/Seoul",
        "identities": {"slack": f"U-{language}"},
    }
    body = {"event_id": event_id, "type": type, "occurred_at": at, "customer": customer}
    return json.dumps({**body, "payload": payload}, ensure_ascii=False)


def batch() -> str:
    return "\n".join(
        [
            line("e1", "order.placed", order_id="o-1"),
            line("e2", "order.placed", language="en", order_id="o-2"),
            line("e1", "order.placed", order_id="o-1"),  # resent
            "{not json",
            line("e3", "cart.abandoned", cart_id="c-1", items=[{"name": "감귤"}]),
            "",
            json.dumps({"event_id": "e4", "type": "order.placed"}),
            line("e5", "wishlist.viewed", sku="A-1"),
            line("e6", "order.delivered", at=FUTURE, language="en", order_id="o-2"),
            line("e7", "consent.updated", category="ads", granted=True),
        ]
    )


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    store = SQLiteStore.open(str(db))
    try:

        def run() -> list[tuple[Any, ...]]:
            return [tuple(r) for r in store._database.sql.execute(sql).fetchall()]

        return store._database.locked(run)
    finally:
        store.close()


def test_send_summarises_the_batch_and_queues_the_due_dms(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = env.parent / "events.jsonl"
    events.write_text(batch(), encoding="utf-8")
    assert cli.main(["journey", "send", str(events)]) == 1  # some lines were refused
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        "6 events accepted (1 duplicates ignored), 3 refused; 4 sends scheduled, 0 cancelled"
    )
    assert out[1].startswith("line 4: body: not valid JSON")
    assert out[2] == "line 7: occurred_at: required"
    assert out[3].startswith("line 10: payload.category")
    assert out[4] == "3 due sends decided now; the sends of this batch:"
    shown = "\n".join(out)
    assert "cart_reminder: 0 sent (queued), 0 waiting, 0 cancelled, suppressed: 1 consent" in shown
    assert "delivery_review: 0 sent (queued), 1 waiting" in shown
    assert "order_confirmation: 2 sent (queued)" in shown
    assert "`ondo serve` delivers them" in out[-1]
    dms = rows(env, "SELECT platform, kind, target, language FROM outbox ORDER BY target")
    assert dms == [("slack", "dm", "U-en", "en"), ("slack", "dm", "U-ko", "ko")]
    assert rows(env, "SELECT COUNT(*) FROM journey_events") == [(5,)]  # e1 once


def test_send_again_accepts_everything_as_duplicates(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = env.parent / "events.jsonl"
    events.write_text(line("e1", "order.placed", order_id="o-1") + "\n", encoding="utf-8")
    assert cli.main(["journey", "send", str(events)]) == 0
    capsys.readouterr()
    assert cli.main(["journey", "send", str(events)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1 events accepted (1 duplicates ignored), 0 refused; 0 sends")
    assert out.splitlines()[1] == "0 due sends decided now"
    assert rows(env, "SELECT COUNT(*) FROM outbox") == [(1,)]


def test_send_reads_standard_input(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = line("e1", "order.placed", language="en", order_id="o-1") + "\r\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    assert cli.main(["journey", "send", "-"]) == 0
    out = capsys.readouterr().out
    assert "1 events accepted" in out and "order_confirmation: 1 sent" in out


def test_a_huge_line_is_refused_without_being_held(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = env.parent / "events.jsonl"
    huge = line("e0", "order.placed", order_id="o" * 300_000)
    events.write_text(huge + "\n" + line("e1", "order.placed", order_id="o-1"), encoding="utf-8")
    assert cli.main(["journey", "send", str(events)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("1 events accepted (0 duplicates ignored), 1 refused")
    assert out[1].startswith("line 1: body:") and "limit" in out[1]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "cannot read"),
        ("latin1", "is not UTF-8"),
        ("journeys", "ONDO_JOURNEYS"),
        ("quiet", "ONDO_QUIET_HOURS"),
    ],
)
def test_send_errors_are_one_line(
    env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    setup: str,
    message: str,
) -> None:
    events = env.parent / "events.jsonl"
    events.write_text(line("e1", "order.placed", order_id="o-1"), encoding="utf-8")
    if setup == "missing":
        events = env.parent / "nowhere.jsonl"
    elif setup == "latin1":
        events.write_bytes(b'{"event_id": "\xe9"}\n')
    elif setup == "journeys":
        broken = env.parent / "journeys.yaml"
        broken.write_text("journeys:\n  - name: x\n    trigger: BAD TYPE\n", encoding="utf-8")
        monkeypatch.setenv("ONDO_JOURNEYS", str(broken))
    else:
        monkeypatch.setenv("ONDO_QUIET_HOURS", "late")
    assert cli.main(["journey", "send", str(events)]) == 1
    captured = capsys.readouterr()
    assert message in captured.err and captured.err.count("\n") == 1
    assert captured.err.startswith("ondo: error: ")


def test_link_records_and_moves_a_link(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["journey", "link", "cust-1", "Slack", "U1"]) == 0
    assert capsys.readouterr().out == "linked slack user U1 to customer cust-1\n"
    assert cli.main(["journey", "link", "cust-2", "slack", "U1"]) == 0
    assert "(moved from customer cust-1)" in capsys.readouterr().out
    assert rows(env, 'SELECT platform, "user", customer_id FROM journey_identities') == [
        ("slack", "U1", "cust-2")
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["cust-1", "slack chat", "U1"], "is not a platform name"),
        (["x" * 300, "slack", "U1"], "customer_id is longer"),
        (["cust-1", "discord", "a\x00b"], "NUL"),
    ],
)
def test_a_bad_link_is_one_line(
    env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert cli.main(["journey", "link", *argv]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("evidence", "language"), [("매장 가입서 서명 (2026-12-01)", "ko"), ("signup form #42", "en")]
)
def test_consent_is_set_shown_with_evidence_and_history(
    env: Path, capsys: pytest.CaptureFixture[str], evidence: str, language: str
) -> None:
    assert cli.main(["journey", "link", "cust-1", "slack", "U1"]) == 0
    argv = ["journey", "consent", "cust-1", "--category", "marketing"]
    assert cli.main([*argv, "--grant", "--night", "--evidence", evidence]) == 0
    out = capsys.readouterr().out
    assert "recorded: marketing granted (night too) on " in out and f"via cli: {evidence}" in out
    assert "  review_request: never asked (sent unless the customer opts out)" in out
    assert cli.main([*argv, "--revoke"]) == 0
    capsys.readouterr()
    assert cli.main(["journey", "consent", "cust-1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "consent of customer cust-1:"
    assert out[1].startswith("  transactional: never asked")
    assert out[3].startswith("  marketing: refused on ") and "via cli" in out[3]
    assert out[4] == "history:"
    assert out[5].startswith("  marketing granted (night too)") and evidence in out[5]
    assert out[6].startswith("  marketing refused") and len(out) == 7


def test_revoking_cancels_pending_sends_of_the_category(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = env.parent / "events.jsonl"
    events.write_text(
        line("e1", "order.delivered", at=FUTURE, language="en", order_id="o-1"), encoding="utf-8"
    )
    assert cli.main(["journey", "send", str(events)]) == 0
    argv = ["journey", "consent", "cust-en", "--category", "review_request", "--revoke"]
    assert cli.main(argv) == 0
    assert "1 pending review_request sends cancelled" in capsys.readouterr().out
    assert rows(env, "SELECT state, reason FROM journey_sends") == [
        ("cancelled", "consent withdrawn")
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["cust-1", "--grant"], "need --category"),
        (["cust-1", "--category", "marketing"], "go with --grant or --revoke"),
        (["cust-1", "--category", "marketing", "--revoke", "--night"], "--night goes with"),
        (["cust-1", "--category", "marketing", "--grant"], "--grant needs --evidence"),
        (["cust-1", "--category", "marketing", "--grant", "--evidence", " "], "needs --evidence"),
        (["nobody", "--category", "marketing", "--grant", "--evidence", "x"], "no customer"),
        (["nobody"], "no customer 'nobody' is known"),
    ],
)
def test_a_bad_consent_command_is_one_line(
    env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    asyncio.run(_link(env))
    assert cli.main(["journey", "consent", *argv]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


async def _link(db: Path) -> None:
    store = SQLiteStore.open(str(db))
    try:
        await store.journeys.link("cust-1", "slack", "U1")
    finally:
        store.close()
