"""The simulated help-desk week (``bench/desk_week.py``): a small run through the real router,
engine, store and desk service prints one table (Ondo beside the naive desk on the same
stream) with every invariant at 0; the shifts and work time follow the Chuseok calendar; the
invariants are counted from what the customers received (a second rating question, a reply
after a stale close, a reminder posted twice are each found)."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest

from bench import desk_week as week
from bench.desk_week import INVARIANTS, SEOUL, Sent, on_duty, shifts, work_at
from bot.desk.config import load_desk_config
from bot.desk.hours import BusinessHours
from bot.desk.service import CUSTOMER_TEXTS
from bot.types import Reply
from knowledge.loader import SAMPLE_DIR


def test_a_small_week_prints_one_table_with_the_naive_desk_and_every_invariant_is_zero(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert week.main(["--customers", "30", "--seed", "2", "--step", "300"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Desk week · SQLite · seed 2 · 30 customers")
    tables = [line for line in out.splitlines() if line.startswith("| figure |")]
    assert tables == ["| figure | Ondo | naive desk (same stream) |"]
    for name in INVARIANTS:
        assert f"| invariant: {name} | 0 | — |" in out
    rows = {line.split(" | ")[0][2:]: line.split(" | ") for line in out.splitlines()}
    tickets = rows["tickets (handoffs)"]
    assert tickets[1] == tickets[2].rstrip(" |") and int(tickets[1]) > 0
    honest = next(v for k, v in rows.items() if k.startswith("out-of-hours handoffs ("))
    told, promised = honest[1].split(" / ")
    assert promised == "0"
    # Every out-of-hours handoff of Ondo is told when a person reads it; the naive desk
    # promised each of them a quick reply.
    assert honest[2].startswith(f"0 / {told} ")
    assert rows["SLA reminders posted: 80 % / breach / duplicates"][1].endswith(" / 0")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--customers", "0"], "--customers"),
        (["--database", "mysql://x"], "postgresql://"),
        (["--step", "0.5"], "--step"),
    ],
)
def test_bad_arguments_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        week.main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err.strip().splitlines()[-1]


def test_the_agents_work_only_on_the_desks_open_days_and_their_shift_time() -> None:
    spans = shifts(BusinessHours(load_desk_config(SAMPLE_DIR / "desk.yaml")))
    days = {datetime.fromtimestamp(a, SEOUL).day for a, _ in spans["U1"]}
    assert days == {21, 22, 23}  # Chuseok Thu 24 to Sat 26, then Sunday: nobody at work
    assert {datetime.fromtimestamp(a, SEOUL).day for a, _ in spans["U4"]} == {21, 22}
    lunch = datetime(2026, 9, 21, 13, 30, tzinfo=SEOUL).timestamp()
    assert on_duty(spans["U1"], lunch) and not on_duty(spans["U2"], lunch)
    # U2 at 12:50 with 20 minutes of work: 10 before lunch, 10 after it.
    at = datetime(2026, 9, 21, 12, 50, tzinfo=SEOUL).timestamp()
    assert work_at(spans["U2"], at, 1200) == datetime(2026, 9, 21, 14, 10, tzinfo=SEOUL).timestamp()
    # Wednesday evening: the next shift time is past the week.
    evening = datetime(2026, 9, 23, 17, 50, tzinfo=SEOUL).timestamp()
    assert work_at(spans["U1"], evening, 1200) == float("inf")


def test_the_invariants_are_counted_from_what_was_received() -> None:
    key, other = "slack:T1:D1:1.000001", "email:T1:D2:1.000002"
    closed = CUSTOMER_TEXTS["stale_closed"]["ko"]

    def sent(at: float, where: str, text: str, raw: dict[str, object] | None = None) -> Sent:
        return Sent(at, where, Reply(where, text, "r", "ko", raw=raw or {}))

    clean = SimpleNamespace(
        desk=SimpleNamespace(
            posts=[
                ("slack:ticket-1", "⏰ First response due Sep 21 09:48 · U1"),
                ("slack:ticket-1", "🚨 First response overdue since Sep 21 10:00 · U1"),
                ("slack:ticket-2", "⏰ First response due Sep 21 09:48 · U2"),
            ]
        ),
        sent=[
            sent(10.0, key, "평가해 주세요", {"csat": 1}),
            sent(20.0, other, closed),
            sent(40.0, other, "무엇을 도와드릴까요?"),  # after the customer wrote again
        ],
        wrote=[(30.0, other)],
    )
    assert set(week.invariants(cast(Any, clean)).values()) == {0}
    clean.desk.posts.append(("slack:ticket-1", "⏰ First response due Sep 21 09:48 · U1"))
    clean.sent += [sent(50.0, key, "평가해 주세요", {"csat": 1}), sent(60.0, other, closed)]
    clean.sent.append(sent(70.0, other, "또 연락드려요"))
    found = week.invariants(cast(Any, clean))
    assert found == {name: 1 for name in INVARIANTS}
