"""The ticket's line for a mail's attachments: names made safe, kinds, sizes, never content."""

from __future__ import annotations

from adapters.email.attachments import (
    MAX_LISTED,
    MAX_NAME,
    attachments_line,
    clean_name,
    human_size,
    is_executable,
)
from adapters.email.parse import Attachment
from bot.conversation.facts import file_lines

PHOTO = Attachment("photo.png", "image/png", 12_800)
RECEIPT = Attachment("영수증.pdf", "application/pdf", 82_000)
PROGRAM = Attachment("setup.exe", "application/octet-stream", 52)


def test_no_attachments_no_line() -> None:
    assert attachments_line((), "ko") == ""
    assert attachments_line((), "en") == ""


def test_the_line_in_korean_and_english() -> None:
    ko = attachments_line((PHOTO, RECEIPT), "ko")
    assert ko == (
        "📎 첨부 파일 2개(메일함에 있고 열어 보지 않음): photo.png (이미지, 12 KB), "
        "영수증.pdf (PDF, 80 KB)"
    )
    en = attachments_line((PHOTO, RECEIPT), "en")
    assert en == (
        "📎 2 attachment(s), left unopened in the mailbox: photo.png (image, 12 KB), "
        "영수증.pdf (PDF, 80 KB)"
    )
    assert file_lines(f"사진 보냅니다.\n\n{ko}") == [ko]  # the ticket lists it apart


def test_a_program_is_flagged_by_name_or_kind() -> None:
    assert is_executable(PROGRAM)
    assert is_executable(Attachment("invoice.pdf.js", "text/plain", 10))
    assert is_executable(Attachment("x", "application/x-msdownload", 10))
    assert is_executable(Attachment("run.EXE. ", "application/octet-stream", 10))
    assert not is_executable(PHOTO) and not is_executable(RECEIPT)
    assert "실행 파일, 열지 마세요" in attachments_line((PROGRAM,), "ko")
    assert "executable, do not open" in attachments_line((PROGRAM,), "en")


def test_a_hostile_name_is_shown_harmless() -> None:
    # A right-to-left override makes "photo<RLO>gnp.exe" read "photoexe.png".
    disguised = Attachment("photo\u202egnp.exe", "application/octet-stream", 10)
    line = attachments_line((disguised,), "en")
    assert "\u202e" not in line and "photognp.exe" in line and "do not open" in line
    assert clean_name("a\r\nb\tc\x00d\u200be\u2028f") == "a b cde f"
    long = clean_name("가" * 500 + ".pdf")
    assert len(long) == MAX_NAME and long.endswith("…")
    unnamed = attachments_line((Attachment("", "image/jpeg", 5),), "ko")
    assert "(이름 없음) (이미지, 5 B)" in unnamed
    assert "\n" not in attachments_line((Attachment("x\ny.png", "image/png", 1),), "en")


def test_many_attachments_are_counted_not_all_listed() -> None:
    many = [Attachment(f"scan{i}.jpg", "image/jpeg", 1000) for i in range(MAX_LISTED + 5)]
    line = attachments_line(many, "ko")
    assert line.startswith(f"📎 첨부 파일 {MAX_LISTED + 5}개") and "외 5개" in line
    assert f"scan{MAX_LISTED}.jpg" not in line
    assert "and 5 more" in attachments_line(many, "en")


def test_sizes() -> None:
    assert [human_size(n) for n in (0, 1023, 1024, 1_500_000)] == [
        "0 B",
        "1023 B",
        "1 KB",
        "1.4 MB",
    ]
