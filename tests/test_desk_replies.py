"""Saved replies: the file's rules, rendering in both languages, hostile values, and
``ondo kb replies``."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import cli
from bot.desk.replies import (
    MAX_REPLIES,
    MAX_VALUE_CHARS,
    SavedReplies,
    SavedRepliesError,
    UnknownReplyError,
    find_replies_file,
    load_saved_replies,
    saved_replies_for,
)
from knowledge.loader import SAMPLE_DIR, load_paths

ONE = (
    "- name: refund-started\n"
    "  title: 환불 접수\n"
    "  text:\n"
    '    ko: "{customer_name}님, 주문({order_number})의 환불을 접수했어요. — {agent_name} 드림"\n'
    '    en: "Hi {customer_name}, your order ({order_number}) is being refunded. — {agent_name}"\n'
)


def _write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "replies.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def sample() -> SavedReplies:
    return load_saved_replies(SAMPLE_DIR / "replies.yaml")


def test_sample_file_loads_and_stays_out_of_the_knowledge(sample: SavedReplies) -> None:
    assert 6 <= len(sample.names()) <= 10
    assert {"refund-started", "need-order-number", "closing-thanks"} <= set(sample.names())
    assert find_replies_file([SAMPLE_DIR]) == SAMPLE_DIR / "replies.yaml"
    assert not any(e.id in sample.names() for e in load_paths([SAMPLE_DIR]))


@pytest.mark.parametrize("name", ["refund-started", "exchange-label-sent", "delivery-delayed"])
def test_render_both_languages_with_values(sample: SavedReplies, name: str) -> None:
    ko = sample.render(
        name, "ko", customer_name="김민지", order_number="20261208-0042", agent_name="이서연"
    )
    en = sample.render(name, "en", customer_name="Alex", order_number="A-77", agent_name="Sam")
    assert ko.startswith("김민지님, ") and "주문(20261208-0042)" in ko and "이서연 드림" in ko
    assert en.startswith("Hi Alex, ") and "order (A-77)" in en and "Sam, Ondo Market" in en
    assert "{" not in ko + en


def test_missing_values_read_naturally(sample: SavedReplies) -> None:
    ko = sample.render("refund-started", "ko")
    en = sample.render("refund-started", "en")
    assert ko.startswith("고객님, 주문의 환불을") and "온도마켓 상담원 드림" in ko
    assert en.startswith("Hi there, we've started the refund for your order. ")
    assert "— the support team, Ondo Market" in en
    assert "()" not in ko + en and "  " not in ko + en and " ." not in en


def test_missing_name_without_nim_is_gogaeknim(tmp_path: Path) -> None:
    replies = load_saved_replies(
        _write(tmp_path, "- name: hi\n  text: {ko: '안녕하세요 {customer_name}!', en: 'Hi!'}\n")
    )
    assert replies.render("hi", "ko") == "안녕하세요 고객님!"
    assert replies.render("hi", "ko", customer_name="민지") == "안녕하세요 민지!"


def test_a_name_with_nim_gets_no_second_one(tmp_path: Path) -> None:
    replies = load_saved_replies(_write(tmp_path, ONE))
    ko = replies.render("refund-started", "ko", customer_name="김민지님")
    assert ko.startswith("김민지님, ")
    en = replies.render("refund-started", "en", customer_name="김민지님")
    assert en.startswith("Hi 김민지님,")


@pytest.mark.parametrize(
    "value", ["{agent_name}", "{0.__class__}", "{customer_name!r:>99}", "{{", "}", "%s %(x)s"]
)
def test_values_are_inserted_literally(tmp_path: Path, value: str) -> None:
    replies = load_saved_replies(_write(tmp_path, ONE))
    ko = replies.render("refund-started", "ko", customer_name=value, agent_name="상담원A")
    assert ko.startswith(f"{value}님, ")
    assert ko.endswith("— 상담원A 드림")
    en = replies.render("refund-started", "en", order_number=value)
    assert f"order ({value})" in en


def test_long_and_multiline_values_are_cut_to_one_line(tmp_path: Path) -> None:
    replies = load_saved_replies(_write(tmp_path, ONE))
    text = replies.render(
        "refund-started",
        "en",
        customer_name="A" * 500,
        agent_name="Sam\n\n@channel\u202e\x00evil",
    )
    assert "A" * (MAX_VALUE_CHARS - 1) + "…," in text and "A" * MAX_VALUE_CHARS not in text
    assert text.endswith("— Sam @channel evil") and "\n" not in text


def test_literal_braces_and_reply_lookup(tmp_path: Path) -> None:
    replies = load_saved_replies(
        _write(tmp_path, "- name: braces\n  text: {ko: '코드 {{A}} 입력', en: 'Type {{A}}'}\n")
    )
    assert replies.render("braces", "ko") == "코드 {A} 입력"
    assert replies.render(" BRACES ", "en") == "Type {A}"
    assert replies.get("braces").title == "braces"  # no title: the name


def test_unknown_name_suggests(sample: SavedReplies) -> None:
    with pytest.raises(UnknownReplyError, match="did you mean refund-started") as caught:
        sample.render("refnd-started", "ko")
    assert caught.value.suggestions[0] == "refund-started"
    with pytest.raises(UnknownReplyError) as nothing:
        sample.render("zzzz", "en")
    assert nothing.value.suggestions == () and "did you mean" not in str(nothing.value)


def test_find_for_menus_and_typos(sample: SavedReplies) -> None:
    assert sample.find("") == sample.names()
    assert sample.find("ref") == ["refund-started"]
    assert sample.find("REF") == ["refund-started"]
    assert sample.find("refnd") == ["refund-started"]
    assert sample.find("delivry-delayed") == ["delivery-delayed"]
    assert sample.find("qqqq") == []


def test_placeholders_of_a_reply(sample: SavedReplies) -> None:
    assert sample.get("need-order-number").placeholders() == {"customer_name"}
    assert "order_number" in sample.get("refund-started").placeholders()


def test_render_refuses_an_unknown_language(sample: SavedReplies) -> None:
    with pytest.raises(ValueError, match="language"):
        sample.render("refund-started", "ja")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\n", "expected a list of saved replies"),
        ("- [1, 2]\n", "line 1: expected a mapping"),
        (
            "- name: ok\n  text: {ko: 가, en: a}\n- name: Bad_Name\n  text: {ko: 가, en: a}\n",
            "line 3: bad name 'Bad_Name'",
        ),
        ("- name: -x\n  text: {ko: 가, en: a}\n", "bad name"),
        ("- name: " + "a" * 41 + "\n  text: {ko: 가, en: a}\n", "bad name"),
        ("- name: 12\n  text: {ko: 가, en: a}\n", "bad name 12"),
        ("- name: a\n  text: {ko: 가}\n", "line 1: reply 'a': missing the en text"),
        ("- name: a\n  text: {en: a, ko: ' '}\n", "missing the ko text"),
        ("- name: a\n  text: 안녕\n", "expected text: with ko: and en:"),
        ("- name: a\n  text: {ko: 가, en: a, ja: あ}\n", "unknown language 'ja'"),
        ("- name: a\n  txt: {ko: 가, en: a}\n", "unknown field 'txt'"),
        (
            "- name: a\n  text: {ko: 가, en: a}\n- name: b\n  text: {ko: 가, en: a}\n"
            "- name: a\n  text: {ko: 나, en: b}\n",
            "line 5: reply 'a': duplicate name (also on line 1)",
        ),
        (
            "- name: a\n  text: {ko: '{customer}님', en: a}\n",
            "line 1: reply 'a': ko text: unknown placeholder '{customer}'",
        ),
        ("- name: a\n  text: {ko: 가, en: 'Hi {0}'}\n", "unknown placeholder '{0}'"),
        ("- name: a\n  text: {ko: 가, en: 'Hi {}'}\n", "unknown placeholder '{}'"),
        (
            "- name: a\n  text: {ko: 가, en: 'Hi {0.__class__}'}\n",
            "unknown placeholder '{0.__class__}'",
        ),
        ("- name: a\n  text: {ko: '{customer_name님', en: a}\n", "unbalanced '{' at character 1"),
        ("- name: a\n  text: {ko: 가, en: 'Hi customer_name}'}\n", "unbalanced '}'"),
        ("- name: a\n  text: {ko: '{{customer_name}', en: a}\n", "unbalanced '}'"),
        ("- name: a\n  title: ''\n  text: {ko: 가, en: a}\n", "title must be text"),
        ("- name: a\n  text: {ko: 가, en: [unclosed\n", "line 3: invalid YAML"),
        ("- &x name: a\n", "anchors and aliases"),
        ("- name: a\n  text: {ko: '" + "가" * 2001 + "', en: a}\n", "2,001 characters"),
    ],
)
def test_broken_files_are_one_line_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(SavedRepliesError) as caught:
        load_saved_replies(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and expected in message
    assert "\n" not in message


def test_file_limits(tmp_path: Path) -> None:
    path = _write(tmp_path, "- name: a\n  text: {ko: 가, en: a}\n" + "#" * (1024 * 1024))
    with pytest.raises(SavedRepliesError, match="over the 1 MB limit"):
        load_saved_replies(path)
    many = "".join(f"- name: r{i}\n  text: {{ko: 가, en: a}}\n" for i in range(MAX_REPLIES + 1))
    with pytest.raises(SavedRepliesError, match="501 saved replies, over the limit of 500"):
        load_saved_replies(_write(tmp_path, many))
    exactly = "".join(f"- name: r{i}\n  text: {{ko: 가, en: a}}\n" for i in range(MAX_REPLIES))
    assert len(load_saved_replies(_write(tmp_path, exactly)).names()) == MAX_REPLIES


def test_not_utf8_missing_and_empty_files(tmp_path: Path) -> None:
    path = _write(tmp_path, b"- name: a\n" + "  text: {ko: 가".encode("euc-kr") + b"}\n")
    with pytest.raises(SavedRepliesError, match=r"line 2: not UTF-8"):
        load_saved_replies(path)
    with pytest.raises(SavedRepliesError, match="no such file"):
        load_saved_replies(tmp_path / "nowhere.yaml")
    assert load_saved_replies(_write(tmp_path, "# nothing yet\n")).names() == []
    assert saved_replies_for([tmp_path / "empty-folder"]).names() == []


def test_first_folder_with_a_replies_file_wins(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (second / "Replies.YAML").write_text(ONE, encoding="utf-8")
    assert find_replies_file([first, second]) == second / "Replies.YAML"
    (first / "replies.yaml").write_text(
        "- name: only-here\n  text: {ko: 가, en: a}\n", encoding="utf-8"
    )
    assert saved_replies_for([first, second]).names() == ["only-here"]


# --- ondo kb replies -----------------------------------------------------------------------


@pytest.fixture
def kb_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "kb"
    folder.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ONDO_KB", str(folder))
    return folder


def test_cli_lists_the_sample(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ONDO_KB", raising=False)
    assert cli.main(["kb", "replies"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == len(load_saved_replies(SAMPLE_DIR / "replies.yaml").names())
    name, title, ko, en = lines[0].split("\t")
    assert name == "refund-started" and "환불" in title
    assert ko.startswith("{customer_name}님") and ko.endswith("…") and len(ko) <= 60
    assert en.startswith("Hi {customer_name}")
    assert "saved replies in" in captured.err


def test_cli_shows_one_in_each_language(
    kb_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (kb_folder / "replies.yaml").write_text(ONE, encoding="utf-8")
    assert cli.main(["kb", "replies", "--show", "refund-started"]) == 0
    ko, en = capsys.readouterr().out.splitlines()
    assert ko.startswith("[ko] 김민지님, 주문(20261208-0042)의 환불을") and "이서연 드림" in ko
    assert en.startswith("[en] Hi Alex, your order (20261208-0042)")
    assert cli.main(["kb", "replies", "--show", "refund-started", "--lang", "en"]) == 0
    assert capsys.readouterr().out.startswith("[en] Hi Alex")


@pytest.mark.parametrize(
    ("file", "argv", "expected"),
    [
        (ONE, ["--show", "refund-stated"], "no saved reply 'refund-stated' (did you mean"),
        ("- name: a\n  text: {ko: '{이름}님', en: a}\n", [], "unknown placeholder '{이름}'"),
        ("- name: a\n  text: {ko: 가}\n", [], "missing the en text"),
        (None, [], "no replies.yaml at the top of the knowledge folder"),
        (ONE, ["--lang", "ko"], "--lang goes with --show"),
    ],
)
def test_cli_errors_are_one_line(
    kb_folder: Path,
    capsys: pytest.CaptureFixture[str],
    file: str | None,
    argv: list[str],
    expected: str,
) -> None:
    if file is not None:
        (kb_folder / "replies.yaml").write_text(file, encoding="utf-8")
    assert cli.main(["kb", "replies", *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("ondo: error: ") and expected in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
