"""The ``ondo`` command: the ask --json contract, chat, kb, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot import cli
from tests.conftest import SAMPLE_CATEGORIES, copy_db

FIELDS = {
    "reply",
    "language",
    "emotion",
    "intent",
    "matches",
    "confidence",
    "escalate",
    "escalation_reason",
    "answered",
}
CATEGORIES = SAMPLE_CATEGORIES | {"policy", "other"}


@pytest.fixture
def env(cli_env: Path) -> Path:
    """The working directory of :func:`tests.conftest.cli_env`."""
    return cli_env.parent


def _check_contract(obj: dict[str, object]) -> None:
    assert set(obj) == FIELDS
    assert isinstance(obj["reply"], str) and obj["reply"]
    assert obj["language"] in ("ko", "en")
    emotion = obj["emotion"]
    assert isinstance(emotion, dict) and set(emotion) == {"label", "score"}
    assert emotion["label"] in ("positive", "neutral", "disappointed", "angry")
    assert 0.0 <= emotion["score"] <= 1.0
    assert obj["intent"] in CATEGORIES
    matches = obj["matches"]
    assert isinstance(matches, list)
    for match in matches:
        assert set(match) == {"id", "score", "question"}
    scores = [m["score"] for m in matches]
    assert scores == sorted(scores, reverse=True)
    confidence = obj["confidence"]
    assert isinstance(confidence, float) and 0.0 <= confidence <= 1.0
    assert isinstance(obj["escalate"], bool) and isinstance(obj["answered"], bool)
    assert obj["escalation_reason"] in (None, "angry", "asked_for_human", "no_answer", "sensitive")
    assert (obj["escalation_reason"] is None) == (not obj["escalate"])
    assert obj["answered"] == (bool(matches) and confidence >= 0.5)


def test_ask_json_one_message(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ask", "--json", "환불 요청하려면 어떻게 해야 하나요?"]) == 0
    obj = json.loads(capsys.readouterr().out)
    _check_contract(obj)
    assert obj["language"] == "ko" and obj["intent"] == "refund"
    assert obj["matches"][0]["id"] == "refund-how-to" and obj["answered"] is True
    assert obj["escalate"] is False


def test_ask_json_stdin_each_line_its_own_conversation(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    lines = [
        "Where can I track my order?",
        "상담원 연결해 주세요",
        "THIS IS RIDICULOUS!!! I want my money back NOW, worst service ever",
        "Explain the plot of Hamlet to me",
        "",
        "이번 주 로또 번호 알려줘",  # a fresh conversation: not a second miss
    ]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    assert cli.main(["ask", "--json", "-"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(out) == len(lines)
    for obj in out:
        _check_contract(obj)
    assert out[0]["matches"][0]["id"] == "shipping-tracking" and out[0]["language"] == "en"
    assert out[1]["escalate"] and out[1]["escalation_reason"] == "asked_for_human"
    assert out[2]["escalate"] and out[2]["escalation_reason"] == "angry"
    assert out[2]["emotion"]["label"] == "angry"
    assert not out[3]["answered"] and not out[3]["escalate"]
    assert not out[5]["answered"] and not out[5]["escalate"]


def test_ask_plain_prints_reply_and_handoff(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ask", "I want to talk to a human agent"]) == 0
    out = capsys.readouterr().out
    assert "agent" in out and "Handoff request" in out


def test_chat_session(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    typed = iter(
        [
            "/debug",
            "배송비 얼마예요?",
            "진짜 짜증나네 환불 왜 안 해줘!!!",
            "아직이에요?",
            "/agent 안녕하세요, 상담원입니다. 바로 확인해 드릴게요.",
            "/resolve",
            "Where can I track my order?",
            "/quit",
        ]
    )

    def fake_input(prompt: str = "") -> str:
        return next(typed)

    monkeypatch.setattr("builtins.input", fake_input)
    assert cli.main(["chat"]) == 0
    out = capsys.readouterr().out
    assert "intent shipping" in out  # debug line
    assert "상담원 연결 요청" in out  # the summary the agents' channel receives
    assert "agent> 안녕하세요, 상담원입니다." in out
    assert "(a person has this conversation" in out
    assert "다시 온도 봇이 도와드릴게요" in out
    assert "CJ" in out.split("/resolve")[-1] or "Track" in out


def test_kb_import_list_search(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kb = env / "extra.csv"
    kb.write_text(
        "id,category,lang,question,answer\n"
        'gift-wrap,promotion,ko,선물 포장 되나요?,"주문서에서 선물 포장(2,000원)을 선택하세요."\n'
        "gift-wrap,promotion,ko,포장해서 보내줄 수 있어요?,\n"
        'gift-wrap,promotion,en,Do you offer gift wrapping?,"Choose gift wrap (2,000 won)."\n',
        encoding="utf-8",
    )
    assert cli.main(["kb", "import", str(kb)]) == 0
    assert "1 added" in capsys.readouterr().out
    assert cli.main(["kb", "import", str(kb)]) == 0
    assert "1 unchanged" in capsys.readouterr().out
    assert cli.main(["kb", "list", "--category", "promotion"]) == 0
    assert "gift-wrap" in capsys.readouterr().out
    assert cli.main(["kb", "search", "선물 포장 가능해요?"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].split("\t")[1] == "gift-wrap"
    assert cli.main(["ask", "--json", "Can you gift wrap my order?"]) == 0
    assert json.loads(capsys.readouterr().out)["matches"][0]["id"] == "gift-wrap"


@pytest.mark.parametrize(
    ("setup", "argv", "expected"),
    [
        (lambda d: None, ["kb", "import", "missing.yaml"], "missing.yaml: no such file"),
        (
            lambda d: (d / "bad.yaml").write_text("- id: x\n  questions: [unclosed\n"),
            ["kb", "import", "bad.yaml"],
            "bad.yaml: line",
        ),
        (
            lambda d: (d / "noans.yaml").write_text(
                "- id: x\n  category: refund\n  questions: {ko: [환불]}\n"
            ),
            ["kb", "import", "noans.yaml"],
            "missing 'answer'",
        ),
    ],
)
def test_errors_are_one_line(
    env: Path, capsys: pytest.CaptureFixture[str], setup: object, argv: list[str], expected: str
) -> None:
    assert callable(setup)
    setup(env)
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("ondo: error: ") and expected in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_unreadable_database_is_one_line(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    garbage = env / "garbage.db"
    garbage.write_bytes(b"this is not a sqlite database at all" * 100)
    monkeypatch.setenv("ONDO_DB", str(garbage))
    assert cli.main(["ask", "hello"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("ondo: error: cannot open database") and len(err.splitlines()) == 1


def test_missing_knowledge_path_is_one_line(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONDO_KB", str(env / "nowhere"))
    assert cli.main(["ask", "hello"]) == 1
    assert "nowhere: no such file or folder" in capsys.readouterr().err


def test_console_script_black_box(tmp_path: Path, warm_db: Path) -> None:
    """The installed ``ondo`` script, as a user runs it: stdin lines in, JSON lines out."""
    script = Path(sys.executable).with_name("ondo")
    copy_db(warm_db, tmp_path / "bb.db")
    environment = {**os.environ, "ONDO_DB": str(tmp_path / "bb.db"), "HF_HUB_OFFLINE": "1"}
    environment.pop("ONDO_KB", None)
    result = subprocess.run(
        [str(script), "ask", "--json", "-"],
        input="배송 조회는 어디서 하나요?\nHow do I get a refund?\n",
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["intent"] for o in out] == ["shipping", "refund"]
    assert "Traceback" not in result.stderr
