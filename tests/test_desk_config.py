"""desk.yaml (bot/desk/config.py): the sample, the defaults, and hostile files refused with one
line naming the file and the field."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.desk.config import (
    DEFAULT_SLA,
    DeskConfig,
    DeskConfigError,
    SlaTarget,
    StaleSettings,
    load_desk_config,
)
from knowledge.loader import SAMPLE_DIR


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "desk.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def error(tmp_path: Path, text: str | bytes) -> str:
    path = write(tmp_path, text)
    with pytest.raises(DeskConfigError) as caught:
        load_desk_config(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message[len(f"{path}: ") :]


def test_the_sample_is_ondo_markets_desk() -> None:
    got = load_desk_config(SAMPLE_DIR / "desk.yaml")
    assert got.timezone == "Asia/Seoul" and got.holidays == "KR"
    assert got.hours == (((540, 1080),),) * 5 + ((), ())
    assert got.days_off == frozenset({date(2026, 12, 31)})
    assert got.sla == DEFAULT_SLA
    assert got.assignment == "round_robin" and got.csat is True
    assert got.stale == StaleSettings(24 * 3600, 48 * 3600)
    assert got.source == SAMPLE_DIR / "desk.yaml"


def test_missing_file_and_empty_file_give_the_defaults(tmp_path: Path) -> None:
    assert load_desk_config(None) == DeskConfig()
    assert load_desk_config(tmp_path / "nope.yaml") == DeskConfig()
    got = load_desk_config(write(tmp_path, "# nothing yet\n"))
    assert got.hours == DeskConfig().hours and got.source == tmp_path / "desk.yaml"


def test_a_full_file(tmp_path: Path) -> None:
    got = load_desk_config(
        write(
            tmp_path,
            """
timezone: America/New_York
hours:
  mon: "09:00-12:00, 13:00-18:00"
  tue: 22:00-02:00
  wed: 00:00-24:00
  thu: off
  fri: ""
holidays: "no"
days_off: [2026-07-03, "2026-11-27"]
sla:
  angry: {first_response: 10m}
  no_answer: {first_response: 1h30m, resolution: 18h}
assignment: least_loaded
stale: {remind_after: 2d, close_after: 72h}
csat: false
""",
        )
    )
    assert got.timezone == "America/New_York"
    assert got.hours == (
        ((540, 720), (780, 1080)),
        ((1320, 120),),
        ((0, 1440),),
        (),
        (),
        (),
        (),
    )
    assert got.holidays == "NO"
    assert got.days_off == frozenset({date(2026, 7, 3), date(2026, 11, 27)})
    assert got.sla["angry"] == SlaTarget(600, 4 * 3600)
    assert got.sla["no_answer"] == SlaTarget(5400, 18 * 3600)
    assert got.sla["sensitive"] == DEFAULT_SLA["sensitive"]
    assert got.assignment == "least_loaded" and got.csat is False
    assert got.stale == StaleSettings(2 * 86400, 72 * 3600)


def test_holidays_none(tmp_path: Path) -> None:
    assert load_desk_config(write(tmp_path, "holidays: none\n")).holidays is None
    assert load_desk_config(write(tmp_path, "holidays:\n")).holidays is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n- b\n", "file: must be a mapping, not a list"),
        ("just words\n", "file: must be a mapping, not text"),
        ("timezone: Asia/Seoul\nlanguage: ko\n", "language: unknown setting (known: "),
        ("timezone: Mars/Olympus\n", "timezone: unknown time zone 'Mars/Olympus'"),
        ("timezone: ../../etc/passwd\n", "timezone: unknown time zone '../../etc/passwd'"),
        ("timezone: 9\n", "timezone: must be a time zone name like Asia/Seoul, not a number"),
        ("hours: {mon: 09:00-25:00}\n", "hours.mon: '09:00-25:00' has a time past 24:00"),
        ("hours: {mon: 09:60-18:00}\n", "hours.mon: '09:60-18:00' has a time past 24:00"),
        ("hours: {mon: 24:00-02:00}\n", "hours.mon: '24:00-02:00' starts at 24:00 (write 00:00)"),
        ("hours: {mon: 09:00-09:00}\n", "hours.mon: '09:00-09:00' is empty"),
        ("hours: {mon: 9-18}\n", "hours.mon: '9-18' is not a range like 09:00-18:00"),
        ("hours: {mon: [09:00-18:00]}\n", "hours.mon: must be ranges like"),
        ("hours: {monday: 09:00-18:00}\n", "hours.monday: unknown setting"),
        ("hours: {mon: closed, sat: closed}\n", "hours: no open hours in the whole week"),
        ("hours: 09:00-18:00\n", "hours: must be a mapping, not text"),
        ("holidays: NO\n", 'holidays: must be a country code like KR (quoted: "NO") or none'),
        ("holidays: XX\n", "holidays: no public holidays known for 'XX'"),
        ("days_off: 2026-12-31\n", "days_off: must be a list of dates like 2026-12-31, not text"),
        ("days_off: [2026-02-30]\n", "days_off[0]: '2026-02-30' is not a date like 2026-12-31"),
        ("days_off: [2026-12-31, 12]\n", "days_off[1]: a number is not a date like 2026-12-31"),
        (
            "days_off: [2026-12-31 10:00]\n",
            "days_off[0]: '2026-12-31 10:00' is not a date like 2026-12-31",
        ),
        ("sla: {angry: 15m}\n", "sla.angry: must be a mapping, not text"),
        ("sla: {furious: {first_response: 1m}}\n", "sla.furious: unknown setting"),
        ("sla: {angry: {first: 1m}}\n", "sla.angry.first: unknown setting"),
        (
            "sla: {angry: {first_response: 2d}}\n",
            "sla.angry.first_response: '2d' is not a business duration like 30m, 4h or 1h30m"
            " (days depend on the hours: write hours, e.g. 18h)",
        ),
        ("sla: {angry: {resolution: 0m}}\n", "sla.angry.resolution: must be longer than 0"),
        ("sla: {angry: {resolution: 5000h}}\n", "sla.angry.resolution: longer than 1000h"),
        ("sla: {angry: {resolution: 10}}\n", "sla.angry.resolution: a number is not a business"),
        (
            "sla: {angry: {first_response: 5h, resolution: 4h}}\n",
            "sla.angry: first_response is later than resolution",
        ),
        ("assignment: random\n", "assignment: 'random' is not round_robin or least_loaded"),
        ("stale: {remind_after: 1w}\n", "stale.remind_after: '1w' is not a duration like"),
        ("stale: {remind_after: 48h}\n", "stale: close_after must be later than remind_after"),
        ("stale: {close_after: 400d}\n", "stale.close_after: longer than a year"),
        ("csat: yes please\n", "csat: must be true or false, not text"),
        ("csat: 1\n", "csat: must be true or false, not a number"),
        ("hours: {mon: [\n", "line 2: expected the node content"),
        ("a: 1\n  b: 2\n", "line 2: mapping values are not allowed here"),
    ],
)
def test_hostile_files_are_one_line_errors(tmp_path: Path, text: str, expected: str) -> None:
    assert error(tmp_path, text).startswith(expected)


def test_huge_lists_and_files_are_refused(tmp_path: Path) -> None:
    days = "".join("  - 2030-01-01\n" for _ in range(1001))
    assert error(tmp_path, "days_off:\n" + days) == "days_off: more than 1000 dates"
    ranges = ", ".join(f"{h:02d}:00-{h:02d}:30" for h in range(24)) + ", 23:40-23:50"
    assert error(tmp_path, f'hours: {{mon: "{ranges}"}}\n') == "hours.mon: more than 24 ranges"
    assert error(tmp_path, "# x\n" * 100_000) == "file: larger than 256 KiB"


def test_non_utf8_bytes(tmp_path: Path) -> None:
    text = "timezone: Asia/Seoul\n# 상담 시간\n".encode("euc-kr")
    assert error(tmp_path, text) == "file: not UTF-8 (byte 23)"


def test_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "desk.yaml").mkdir()  # a folder: exists, cannot be read
    with pytest.raises(DeskConfigError, match=r"desk\.yaml: file: cannot be read"):
        load_desk_config(tmp_path / "desk.yaml")


def test_the_desk_file_is_found_at_the_top_of_the_first_knowledge_folder(tmp_path: Path) -> None:
    from bot.desk.config import desk_config_for, find_desk_file

    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (second / "Desk.YAML").write_text("timezone: America/New_York\n", encoding="utf-8")
    assert find_desk_file([first, second]) == second / "Desk.YAML"
    assert desk_config_for([first, second]).timezone == "America/New_York"
    assert desk_config_for([first]).timezone == "Asia/Seoul"  # no file: the defaults
    assert find_desk_file([tmp_path / "missing"]) is None
