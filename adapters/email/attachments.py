"""The line a ticket shows for a mail's attachments: names, kinds and sizes, never content.

The line is added to the text the bot and the agents read, in the mail's language, starting
with :data:`bot.conversation.facts.FILES_MARK` so the ticket shows it as a fact of its own
(not cut off with a long mail's text) and every relay says what came with the mail; the
files stay in the mailbox unopened.
A name is the sender's to choose: control and bidirectional-override characters are removed
(``"photo\u202egnp.exe"`` would show as a picture) and it is cut short; an executable kind is
flagged so nobody opens it by mistake. Escaping for Slack or Discord is the desk's, as for
all customer text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from adapters.email.parse import Attachment
from bot.conversation.facts import FILES_MARK
from knowledge.language import Language

MAX_LISTED = 10
MAX_NAME = 80
_EXECUTABLE = re.compile(
    r"\.(?:exe|scr|com|bat|cmd|msi|msix|ps1|vbs|vbe|js|jse|jar|wsf|hta|lnk|dll|apk|app|dmg|"
    r"iso|sh|reg|cpl)$",
    re.IGNORECASE,
)
_EXECUTABLE_TYPES = frozenset(
    {
        "application/x-msdownload",
        "application/x-msdos-program",
        "application/x-dosexec",
        "application/x-executable",
        "application/x-sh",
        "application/java-archive",
        "application/vnd.android.package-archive",
        "application/x-ms-shortcut",
    }
)
_KINDS: dict[Language, dict[str, str]] = {
    "ko": {"image": "이미지", "application/pdf": "PDF", "text": "텍스트", "message": "메일"},
    "en": {"image": "image", "application/pdf": "PDF", "text": "text", "message": "mail"},
}
_WORDS: dict[Language, dict[str, str]] = {
    "ko": {
        "head": FILES_MARK + " 첨부 파일 {count}개(메일함에 있고 열어 보지 않음): {items}{more}",
        "more": " 외 {count}개",
        "unnamed": "(이름 없음)",
        "executable": "실행 파일, 열지 마세요",
    },
    "en": {
        "head": FILES_MARK + " {count} attachment(s), left unopened in the mailbox: {items}{more}",
        "more": " and {count} more",
        "unnamed": "(no name)",
        "executable": "executable, do not open",
    },
}


def clean_name(name: str) -> str:
    """``name`` safe to show: no control, format (bidi, zero-width) or line characters, one
    line, at most :data:`MAX_NAME` characters."""
    shown = "".join(
        " " if unicodedata.category(c) in ("Zl", "Zp") or c in "\r\n\t" else c
        for c in name
        if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co", "Cn") or c in "\r\n\t"
    )
    shown = " ".join(shown.split())
    return shown if len(shown) <= MAX_NAME else shown[: MAX_NAME - 1] + "…"


def human_size(size: int) -> str:
    """``size`` bytes as people read it: 52 B, 12 KB, 2.1 MB."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{round(size / 1024)} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def is_executable(attachment: Attachment) -> bool:
    """Whether ``attachment`` is a program or script by its name or its declared kind."""
    return bool(_EXECUTABLE.search(clean_name(attachment.filename).rstrip(". "))) or (
        attachment.content_type.lower() in _EXECUTABLE_TYPES
    )


def _kind(content_type: str, language: Language) -> str:
    kinds = _KINDS[language]
    lowered = content_type.lower()
    return kinds.get(lowered) or kinds.get(lowered.partition("/")[0]) or lowered


def attachments_line(attachments: Sequence[Attachment], language: Language) -> str:
    """The ticket's line for ``attachments`` in ``language``; ``""`` when there are none."""
    if not attachments:
        return ""
    words = _WORDS[language]
    items = []
    for attachment in attachments[:MAX_LISTED]:
        name = clean_name(attachment.filename) or words["unnamed"]
        detail = f"{_kind(attachment.content_type, language)}, {human_size(attachment.size)}"
        if is_executable(attachment):
            detail += f", {words['executable']}"
        items.append(f"{name} ({detail})")
    extra = len(attachments) - MAX_LISTED
    more = words["more"].format(count=extra) if extra > 0 else ""
    return words["head"].format(count=len(attachments), items=", ".join(items), more=more)
