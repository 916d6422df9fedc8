"""Making foreign text (customers', a model's, another platform's) inert in Discord messages.

Every post already goes out with ``allowed_mentions`` none, so nothing pings; this module
makes the text *look* like what was typed as well, so a customer cannot make a message in the
agents' channel show a mention, a channel or command link, or a masked link:

- ``@everyone`` / ``@here`` get a zero-width space after the ``@``;
- ``<`` is backslash-escaped, which shows ``<@…>``, ``<@&…>``, ``<#…>``, ``</cmd:id>``,
  ``<t:…>`` and ``<url>`` as typed;
- ``[``, ``]``, ``|`` and backticks are backslash-escaped (masked links ``[text](url)``,
  spoilers hiding text, code spans that would swallow the bot's own text), as is ``\\``
  itself, and a line starting ``#``, ``-#`` or ``>`` (headers, subtext, quotes);
- bidirectional-override characters are dropped.

Bare URLs stay visible (the text shown is the real target); desk posts are sent with embeds
suppressed (:func:`adapters.discord.sender.post`), so they do not unfold into previews.
"""

from __future__ import annotations

import re

_MASS = re.compile(r"@(everyone|here)", re.IGNORECASE)
_SPECIAL = re.compile(r"([\\<\[\]|`])")
_LINE_START = re.compile(r"^(\s*)(-#|#|>)", re.MULTILINE)
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_SNOWFLAKE = re.compile(r"[0-9]{5,25}")
ZWSP = "\u200b"


def inert(text: str) -> str:
    """``text`` escaped for Discord markdown: shown as typed, no mention or link parsed."""
    text = _BIDI.sub("", text)
    text = _SPECIAL.sub(r"\\\1", text)
    text = _LINE_START.sub(lambda m: f"{m.group(1)}\\{m.group(2)}", text)
    return _MASS.sub(lambda m: f"@{ZWSP}{m.group(1)}", text)


def inert_lines(lines: list[str]) -> list[str]:
    """Each of ``lines`` made :func:`inert`."""
    return [inert(line) for line in lines]


def mention(user: str) -> str | None:
    """``<@user>`` for a Discord user id (a snowflake); ``None`` for anything else."""
    return f"<@{user}>" if _SNOWFLAKE.fullmatch(user) else None
