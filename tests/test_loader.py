"""Knowledge loader: YAML, CSV and Markdown; errors name the file, the place and the reason."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from knowledge.entries import Entry, KnowledgeError
from knowledge.loader import SAMPLE_DIR, load_file, load_paths, split_paths
from tests.conftest import SAMPLE_CATEGORIES


def write(folder: Path, name: str, content: str) -> Path:
    """Write dedented UTF-8 ``content`` to ``folder/name``."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
    return path


def error_of(path: Path | list[Path]) -> str:
    """The KnowledgeError message raised while loading ``path``."""
    with pytest.raises(KnowledgeError) as caught:
        if isinstance(path, list):
            load_paths(path)
        else:
            load_file(path)
    return str(caught.value)


def by_id(entries: list[Entry]) -> dict[str, Entry]:
    return {e.id: e for e in entries}


GOOD_YAML = """
- id: refund-how
  category: refund
  questions:
    ko: ["환불은 어떻게 하나요?", "환불 방법 알려줘"]
    en: ["How do I get a refund?", "refund please"]
  answer:
    ko: "주문 내역에서 '환불 신청'을 눌러 주세요."
    en: "Press 'Request refund' in Order history."
  agent_steps:
    - "Check the order."
    - "Create the refund."
- id: ship-time
  category: shipping
  questions:
    ko: "배송은 얼마나 걸려요?"
  answer:
    ko: "출고 후 1~3일 걸립니다."
"""


# --- YAML ------------------------------------------------------------------------------------


def test_yaml_happy_path(tmp_path: Path) -> None:
    path = write(tmp_path, "faq.yaml", GOOD_YAML)
    entries = load_file(path)
    assert [e.id for e in entries] == ["refund-how", "ship-time"]
    refund, ship = entries
    assert refund.category == "refund"
    assert refund.kind == "faq"
    assert refund.questions == {
        "ko": ("환불은 어떻게 하나요?", "환불 방법 알려줘"),
        "en": ("How do I get a refund?", "refund please"),
    }
    assert refund.answer == {
        "ko": "주문 내역에서 '환불 신청'을 눌러 주세요.",
        "en": "Press 'Request refund' in Order history.",
    }
    assert refund.agent_steps == ("Check the order.", "Create the refund.")
    assert refund.source == str(path)
    # A single question may be written as a plain string; Korean-only entries are fine.
    assert ship.questions == {"ko": ("배송은 얼마나 걸려요?",)}
    assert ship.answer == {"ko": "출고 후 1~3일 걸립니다."}
    assert ship.agent_steps == ()


def test_yaml_empty_file_has_no_entries(tmp_path: Path) -> None:
    assert load_file(write(tmp_path, "empty.yml", "# nothing yet\n")) == []


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "faq.yaml",
        """
        - id: a
          category: refund
          questions: {ko: ["환불?"
          answer: {ko: "네"}
        """,
    )
    message = error_of(path)
    assert str(path) in message
    assert "invalid YAML" in message
    assert "line 4" in message


YAML_ERRORS: list[tuple[str, str, list[str]]] = [
    (
        "top level is a mapping",
        """
        id: a
        category: refund
        """,
        ["expected a list of entries at the top level"],
    ),
    (
        "missing answer (ko)",
        """
        - id: refund-how
          category: refund
          questions: {ko: ["환불은 어떻게 하나요?"]}
        """,
        ["entry 1 (refund-how)", "missing 'answer'"],
    ),
    (
        "missing answer (en), second entry",
        """
        - id: ok
          category: refund
          questions: {en: ["How?"]}
          answer: {en: "Like this."}
        - id: broken
          category: refund
          questions: {en: ["Refund?"]}
          answer: {}
        """,
        ["entry 2 (broken)", "missing 'answer'"],
    ),
    (
        "unknown language in questions",
        """
        - id: a
          category: refund
          questions: {ja: ["返金は?"]}
          answer: {ko: "네"}
        """,
        ["entry 1 (a)", "'questions' has unknown language 'ja'"],
    ),
    (
        "unknown language in answer",
        """
        - id: a
          category: refund
          questions: {ko: ["환불?"]}
          answer: {ko: "네", fr: "Oui"}
        """,
        ["entry 1 (a)", "'answer' has unknown language 'fr'"],
    ),
    (
        "English questions, Korean answer only",
        """
        - id: a
          category: refund
          questions: {ko: ["환불?"], en: ["Refund?"]}
          answer: {ko: "네"}
        """,
        ["entry 1 (a)", "questions in 'en' but no answer in 'en'"],
    ),
    (
        "Korean questions, English answer only",
        """
        - id: a
          category: refund
          questions: {ko: ["환불?"], en: ["Refund?"]}
          answer: {en: "Yes"}
        """,
        ["entry 1 (a)", "questions in 'ko' but no answer in 'ko'"],
    ),
    (
        "duplicate id within one file",
        """
        - id: dup
          category: refund
          questions: {ko: ["환불?"]}
          answer: {ko: "네"}
        - id: dup
          category: refund
          questions: {en: ["Refund?"]}
          answer: {en: "Yes"}
        """,
        ["entry 'dup'", "duplicate id"],
    ),
    (
        "entry is not a mapping",
        """
        - "just a string"
        """,
        ["entry 1", "expected a mapping"],
    ),
    (
        "bad id",
        """
        - id: "환불 문의"
          category: refund
          questions: {ko: ["환불?"]}
          answer: {ko: "네"}
        """,
        ["entry 1 (환불 문의)", "may use only letters, digits"],
    ),
    (
        "agent_steps not a list",
        """
        - id: a
          category: refund
          questions: {en: ["Refund?"]}
          answer: {en: "Yes"}
          agent_steps: "do it"
        """,
        ["entry 1 (a)", "'agent_steps' must be a list of strings"],
    ),
]


@pytest.mark.parametrize(
    ("content", "fragments"),
    [(c, f) for _, c, f in YAML_ERRORS],
    ids=[n for n, _, _ in YAML_ERRORS],
)
def test_yaml_errors_name_file_place_and_reason(
    tmp_path: Path, content: str, fragments: list[str]
) -> None:
    path = write(tmp_path, "faq.yaml", content)
    message = error_of(path)
    assert message.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in message


def test_duplicate_id_across_two_files_in_a_folder(tmp_path: Path) -> None:
    first = write(
        tmp_path / "kb",
        "a.yaml",
        """
        - id: refund-how
          category: refund
          questions: {ko: ["환불은 어떻게 하나요?"]}
          answer: {ko: "환불 신청을 눌러 주세요."}
        """,
    )
    second = write(
        tmp_path / "kb",
        "b.csv",
        """
        id,category,lang,question,answer
        refund-how,refund,en,How do I get a refund?,Press Request refund.
        """,
    )
    message = error_of([tmp_path / "kb"])
    assert message.startswith(f"{second}: entry 'refund-how'")
    assert "duplicate id" in message
    assert f"also in {first}" in message


def test_folder_with_one_broken_file_loads_nothing(tmp_path: Path) -> None:
    write(tmp_path / "kb", "a-good.yaml", GOOD_YAML)
    broken = write(
        tmp_path / "kb",
        "b-broken.yaml",
        """
        - id: x
          category: refund
          questions: {en: ["Refund?"]}
        """,
    )
    message = error_of([tmp_path / "kb"])
    assert str(broken) in message
    assert "missing 'answer'" in message


def test_folder_ignores_unrelated_files_and_recurses(tmp_path: Path) -> None:
    write(tmp_path / "kb", "notes.txt", "not knowledge")
    write(tmp_path / "kb" / "nested", "faq.yaml", GOOD_YAML)
    entries = load_paths([tmp_path / "kb"])
    assert [e.id for e in entries] == ["refund-how", "ship-time"]


# --- CSV -------------------------------------------------------------------------------------


GOOD_CSV = """
id,category,lang,question,answer
refund-how,refund,ko,환불은 어떻게 하나요?,"'환불 신청'을 눌러 주세요. 카드 3~5일, 계좌 1~2일."
refund-how,refund,ko,환불 방법 알려줘,
refund-how,,en,How do I get a refund?,
refund-how,refund,en,refund please,"Press 'Request refund' in Order history, then pick a reason."

ship-time,shipping,en,When will my parcel arrive?,1-3 business days after shipment.
"""


def test_csv_rows_sharing_an_id_form_one_entry(tmp_path: Path) -> None:
    path = write(tmp_path, "faq.csv", GOOD_CSV)
    entries = by_id(load_file(path))
    assert list(entries) == ["refund-how", "ship-time"]
    refund = entries["refund-how"]
    assert refund.category == "refund"
    assert refund.questions == {
        "ko": ("환불은 어떻게 하나요?", "환불 방법 알려줘"),
        "en": ("How do I get a refund?", "refund please"),
    }
    assert refund.answer == {
        "ko": "'환불 신청'을 눌러 주세요. 카드 3~5일, 계좌 1~2일.",
        "en": "Press 'Request refund' in Order history, then pick a reason.",
    }
    assert refund.source == str(path)
    assert entries["ship-time"].answer == {"en": "1-3 business days after shipment."}


def test_csv_with_excel_bom_and_repeated_identical_answer(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    rows = (
        "id,category,lang,question,answer\r\n"
        "pw,account,ko,비밀번호를 잊었어요,로그인 화면에서 '비밀번호 찾기'를 누르세요.\r\n"
        "pw,account,ko,비번 재설정,로그인 화면에서 '비밀번호 찾기'를 누르세요.\r\n"
    )
    path.write_bytes(b"\xef\xbb\xbf" + rows.encode("utf-8"))
    [entry] = load_file(path)
    assert entry.id == "pw"
    assert entry.questions == {"ko": ("비밀번호를 잊었어요", "비번 재설정")}
    assert entry.answer == {"ko": "로그인 화면에서 '비밀번호 찾기'를 누르세요."}


CSV_ERRORS: list[tuple[str, str, list[str]]] = [
    (
        "header lacks answer",
        """
        id,category,lang,question
        a,refund,ko,환불?
        """,
        ["line 1", "header lacks column(s) answer"],
    ),
    (
        "bad lang",
        """
        id,category,lang,question,answer
        a,refund,ko,환불?,네
        a,refund,jp,返金?,はい
        """,
        ["line 3", "lang 'jp' is not ko or en"],
    ),
    (
        "empty question (en)",
        """
        id,category,lang,question,answer
        a,refund,en,Refund?,Yes
        a,refund,en,,Yes
        """,
        ["line 3", "empty question"],
    ),
    (
        "empty question (ko)",
        """
        id,category,lang,question,answer
        a,refund,ko, ,네
        """,
        ["line 2", "empty question"],
    ),
    (
        "two different Korean answers",
        """
        id,category,lang,question,answer
        a,refund,ko,환불?,네 됩니다
        a,refund,ko,환불 돼요?,아니요
        """,
        ["line 3", "entry 'a' has two different ko answers"],
    ),
    (
        "two different English answers",
        """
        id,category,lang,question,answer
        a,refund,en,Refund?,Yes
        a,refund,en,Can I get a refund?,No
        """,
        ["line 3", "entry 'a' has two different en answers"],
    ),
    (
        "conflicting category",
        """
        id,category,lang,question,answer
        a,refund,ko,환불?,네
        a,shipping,en,Refund?,Yes
        """,
        ["line 3", "entry 'a' has category 'shipping' here but 'refund' on line 2"],
    ),
    (
        "extra fields",
        """
        id,category,lang,question,answer
        a,refund,en,Refund?,Yes,surprise
        """,
        ["line 2", "more fields than the header has"],
    ),
    (
        "no answer in any row of a language",
        """
        id,category,lang,question,answer
        a,refund,ko,환불?,네
        a,refund,en,Refund?,
        """,
        ["entry 'a' (from line 2)", "questions in 'en' but no answer in 'en'"],
    ),
    (
        "category never given",
        """
        id,category,lang,question,answer
        a,,en,Refund?,Yes
        """,
        ["entry 'a' (from line 2)", "missing 'category'"],
    ),
    (
        "empty id",
        """
        id,category,lang,question,answer
        ,refund,ko,환불?,네
        """,
        ["line 2", "empty id"],
    ),
    (
        "id with a space",
        """
        id,category,lang,question,answer
        a b,refund,en,Refund?,Yes
        """,
        ["line 2", "id 'a b' may use only letters"],
    ),
]


@pytest.mark.parametrize(
    ("content", "fragments"), [(c, f) for _, c, f in CSV_ERRORS], ids=[n for n, _, _ in CSV_ERRORS]
)
def test_csv_errors_name_file_place_and_reason(
    tmp_path: Path, content: str, fragments: list[str]
) -> None:
    path = write(tmp_path, "faq.csv", content)
    message = error_of(path)
    assert message.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in message


# --- Markdown --------------------------------------------------------------------------------


EN_POLICY = """
# Returns policy

Applies to every order.

## Refund window

Seven days after delivery.

```sh
# not a heading, inside a fence
```

### Defects

Thirty days for defective items.

## Refund window

A second section with the same heading.
"""

KO_POLICY = """
# 반품 정책

## 환불 기간

배송 완료 후 7일 이내에 환불 신청을 할 수 있습니다.

## 불량 상품

불량은 30일 이내, 배송비 무료입니다.
"""


def test_markdown_is_chunked_by_heading(tmp_path: Path) -> None:
    path = write(tmp_path, "returns.md", EN_POLICY)
    entries = load_file(path)
    assert [e.id for e in entries] == [
        "returns#returns-policy",
        "returns#refund-window",
        "returns#defects",
        "returns#refund-window-2",
    ]
    assert [e.source for e in entries] == [
        "returns.md § Returns policy",
        "returns.md § Refund window",
        "returns.md § Defects",
        "returns.md § Refund window",
    ]
    for entry in entries:
        assert entry.kind == "policy"
        assert entry.category == "policy"
        assert list(entry.questions) == ["en"]
        assert list(entry.answer) == ["en"]
    window = entries[1]
    assert window.answer["en"].startswith("Seven days after delivery.")
    assert "# not a heading, inside a fence" in window.answer["en"]
    assert window.questions["en"][0] == "Refund window"
    # One searchable row per sentence, each prefixed by where it stands.
    assert window.questions["en"][1] == "Returns policy › Refund window: Seven days after delivery."
    assert all(q.startswith("Returns policy › Refund window: ") for q in window.questions["en"][1:])
    assert entries[2].answer == {"en": "Thirty days for defective items."}


def test_korean_markdown_is_detected_as_korean(tmp_path: Path) -> None:
    path = write(tmp_path, "반품정책.md", KO_POLICY)
    entries = load_file(path)
    assert [e.source for e in entries] == ["반품정책.md § 환불 기간", "반품정책.md § 불량 상품"]
    assert [e.id for e in entries] == ["반품정책#환불-기간", "반품정책#불량-상품"]
    for entry in entries:
        assert list(entry.questions) == ["ko"]
        assert list(entry.answer) == ["ko"]
    assert entries[0].answer["ko"] == "배송 완료 후 7일 이내에 환불 신청을 할 수 있습니다."


def test_english_markdown_naming_a_korean_carrier_stays_english(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "shipping.md",
        """
        ## Carrier

        We ship every order with CJ대한통운; delivery takes one to three business days.
        """,
    )
    [entry] = load_file(path)
    assert list(entry.answer) == ["en"]


def test_markdown_without_headings_uses_the_file_stem(tmp_path: Path) -> None:
    path = write(tmp_path, "notes.markdown", "Plain text with no heading at all.\n")
    [entry] = load_file(path)
    assert entry.source == "notes.markdown § notes"
    assert entry.answer == {"en": "Plain text with no heading at all."}


# --- file-level errors -----------------------------------------------------------------------


def test_not_utf8_names_file_line_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "faq.yaml"
    path.write_bytes("- id: a\n  category: 환불\n".encode("euc-kr"))
    message = error_of(path)
    assert message.startswith(f"{path}: ")
    assert "line 2" in message
    assert "not UTF-8" in message


@pytest.mark.parametrize("name", ["faq.txt", "faq.json", "manual.pdf"])
def test_unsupported_suffix(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"%PDF-1.7\n\xff\xfe binary")
    message = error_of(path)
    assert message.startswith(f"{path}: ")
    assert f"unsupported file type '{path.suffix}'" in message


def test_missing_file_and_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert error_of(missing) == f"{missing}: no such file"
    assert error_of([tmp_path / "gone"]) == f"{tmp_path / 'gone'}: no such file or folder"


# --- the bundled sample ----------------------------------------------------------------------


def test_bundled_sample_loads() -> None:
    entries = load_paths([SAMPLE_DIR])
    faqs = [e for e in entries if e.kind == "faq"]
    policies = [e for e in entries if e.kind == "policy"]
    assert len(faqs) >= 40
    assert {e.category for e in faqs} >= SAMPLE_CATEGORIES
    for entry in faqs:
        assert entry.questions.get("ko"), entry.id
        assert entry.questions.get("en"), entry.id
        assert entry.answer.get("ko"), entry.id
        assert entry.answer.get("en"), entry.id
    assert len(policies) >= 1
    sources = {e.source: e for e in policies}
    assert list(sources["internal-operations.md § 환불 승인 권한"].answer) == ["ko"]
    assert list(sources["internal-operations-en.md § Refund approval limits"].answer) == ["en"]
    refund = by_id(entries)["refund-how-to"]
    assert "환불 신청" in refund.answer["ko"]
    assert "3~5" in refund.answer["ko"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("a.yaml:b,c", ["a.yaml", "b", "c"]),
        (" kb/faq.yaml , kb/policies ", ["kb/faq.yaml", "kb/policies"]),
        ("지식/자주묻는질문.yaml:정책", ["지식/자주묻는질문.yaml", "정책"]),
        ("a.yaml,,:b", ["a.yaml", "b"]),
        ("", []),
    ],
)
def test_split_paths(spec: str, expected: list[str]) -> None:
    assert split_paths(spec) == [Path(p) for p in expected]


def test_the_desk_files_at_the_top_of_a_folder_are_not_knowledge(tmp_path: Path) -> None:
    """desk.yaml and replies.yaml beside the entries are the help desk's (hours, saved
    replies): skipped as knowledge at the folder's top, read as entries anywhere else."""
    folder = tmp_path / "kb"
    write(folder, "faq.yaml", GOOD_YAML)
    write(folder, "desk.yaml", "timezone: Asia/Seoul\nhours: {mon: '09:00-18:00'}\n")
    write(folder, "replies.yaml", "- name: thanks\n  text: {ko: 감사합니다, en: Thanks}\n")
    assert [e.id for e in load_paths([folder])] == [e.id for e in load_file(folder / "faq.yaml")]
    nested = folder / "more"
    write(nested, "replies.yaml", GOOD_YAML.replace("refund-policy", "nested-refund"))
    with pytest.raises(KnowledgeError):  # a duplicate question shows it was read as entries
        load_paths([folder])
