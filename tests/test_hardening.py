"""Limits and hostile input: read-only databases, oversized and malformed knowledge, huge
messages. Each is one clear line, never a traceback."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import cli
from bot.storage.records import StoreError
from bot.storage.sqlite import SQLiteStore
from knowledge.entries import KnowledgeError
from knowledge.loader import MAX_TEXT_CHARS, load_file

NOBODY = 65534


@contextlib.contextmanager
def unprivileged() -> Iterator[None]:
    """Run the block as ``nobody`` when the tests run as root (CI does), since root writes
    through any file mode; as anyone else the modes already apply."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder ``nobody`` can reach (pytest's tmp_path is private to its user)."""
    folder = Path(tempfile.mkdtemp(prefix="ondo-ro-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for child in folder.iterdir():
            child.unlink()
        folder.chmod(0o755)
        folder.rmdir()


@pytest.mark.parametrize("read_only", ["file", "folder"])
def test_a_read_only_database_at_start_is_one_line_and_exit_1(
    shared_dir: Path,
    read_only: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = shared_dir / "ro.db"
    monkeypatch.delenv("ONDO_KB", raising=False)
    monkeypatch.setenv("ONDO_DB", str(db))
    # Writable, it lists; this also imports everything before the user has no access to it.
    assert cli.main(["kb", "list"]) == 0
    capsys.readouterr()
    for path in shared_dir.iterdir():
        path.chmod(0o444 if read_only == "file" else 0o666)
    if read_only == "folder":
        shared_dir.chmod(0o555)
    with unprivileged(), pytest.raises(StoreError, match=r"readonly.*must be writable"):
        SQLiteStore.open(db)
    with unprivileged():
        code = cli.main(["kb", "list"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"ondo: error: cannot open database {db}: ") and err.count("\n") == 1
    assert "Traceback" not in err


# --- knowledge files: size, section, CSV field and YAML nesting limits ----------------------

YAML_ENTRY = """\
- id: gift-wrap
  category: promotion
  questions:
    ko:
      - 선물 포장 되나요?
    en:
      - Do you offer gift wrapping?
  answer:
    ko: 주문서에서 선물 포장을 선택하세요.
    en: {answer}
"""


def test_a_knowledge_file_over_5_mb_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "big.md"
    big.write_text("# Policy\n" + "환불 규정입니다. " * 600_000, encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"big\.md: \d+\.\d MB is over the 5 MB limit"):
        load_file(big)


@pytest.mark.parametrize("lang_text", ["환불 규정입니다. ", "Refunds take five days. "])
def test_a_markdown_section_over_8000_characters_names_file_and_heading(
    tmp_path: Path, lang_text: str
) -> None:
    doc = tmp_path / "policy.md"
    body = lang_text * (MAX_TEXT_CHARS // len(lang_text) + 1)
    doc.write_text(f"# Policy\n\n## Short\n\nFine.\n\n## Refunds\n\n{body}\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        load_file(doc)
    message = str(caught.value)
    assert message.startswith("policy.md § Refunds: section (")
    assert "over the limit of 8,000" in message and "\n" not in message
    doc.write_text(f"# Policy\n\n## Refunds\n\n{body[: MAX_TEXT_CHARS - 10]}\n", encoding="utf-8")
    assert len(load_file(doc)) == 1  # at the limit it loads


def test_a_yaml_answer_over_8000_characters_is_a_load_error(tmp_path: Path) -> None:
    faq = tmp_path / "faq.yaml"
    faq.write_text(YAML_ENTRY.format(answer="x" * (MAX_TEXT_CHARS + 1)), encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"faq\.yaml: entry 'gift-wrap': answer \(en\) is"):
        load_file(faq)
    faq.write_text(YAML_ENTRY.format(answer="Choose gift wrap."), encoding="utf-8")
    assert load_file(faq)[0].id == "gift-wrap"


def test_a_csv_field_over_128_kb_is_one_line_from_ondo_kb_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = tmp_path / "faq.csv"
    rows.write_text(
        "id,category,lang,question,answer\n"
        "a,promotion,en,Gift wrap?,Yes.\n"
        f'b,promotion,en,Huge?,"{"y" * 140_000}"\n',
        encoding="utf-8",
    )
    with pytest.raises(KnowledgeError, match=r"faq\.csv: line 3: a field is longer than 128 KB"):
        load_file(rows)
    monkeypatch.setenv("ONDO_DB", str(tmp_path / "kb.db"))
    assert cli.main(["kb", "import", str(rows)]) == 1
    err = capsys.readouterr().err
    assert err == f"ondo: error: {rows}: line 3: a field is longer than 128 KB\n"


def test_a_csv_field_under_128_kb_but_over_8000_characters_is_the_answer_limit(
    tmp_path: Path,
) -> None:
    rows = tmp_path / "faq.csv"
    rows.write_text(
        f'id,category,lang,question,answer\nb,promotion,ko,큰가요?,"{"네" * 9000}"\n',
        encoding="utf-8",
    )
    with pytest.raises(KnowledgeError, match=r"entry 'b': answer \(ko\) is 9,000 characters"):
        load_file(rows)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("- " + "[" * 5000 + "]" * 5000 + "\n", r"line 1: YAML nested deeper than 20 levels"),
        ("a: " + "{b: " * 30 + "1" + "}" * 30 + "\n", r"line 1: YAML nested deeper than 20"),
        (
            'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
            "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
            "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
            "d: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n",
            r"line 1: YAML anchors and aliases \(&name, \*name\) are not allowed",
        ),
        (
            YAML_ENTRY.format(answer="&x Choose gift wrap.")
            + YAML_ENTRY.replace("gift-wrap", "gift-2").format(answer="*x"),
            r"line 10: YAML anchors and aliases",
        ),
    ],
)
def test_deep_or_aliased_yaml_is_one_clear_error(tmp_path: Path, text: str, reason: str) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(text, encoding="utf-8")
    with pytest.raises(KnowledgeError, match=rf"bomb\.yaml: {reason}"):
        load_file(bomb)
