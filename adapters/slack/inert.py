"""Making foreign text (customers', a model's, another platform's) inert in Slack mrkdwn.

Slack reads control sequences only from a raw ``<``: ``<!channel>``, ``<!here>``,
``<@U…>``, ``<!subteam^…>``, ``<#C…>``, ``<!date^…>`` and ``<url|label>``. Escaping ``&``,
``<`` and ``>`` (Slack's own rule) turns every one of them into text that shows as typed.
Slack-origin text already carries Slack's entities (a typed ``<`` arrives as ``&lt;``), so an
existing ``&amp;`` / ``&lt;`` / ``&gt;`` is kept rather than escaped twice: it shows as the
character, never as markup. Bidirectional-override characters are dropped, so text cannot
be shown reversed to disguise what it says.

Bare URLs stay visible and clickable: the text shown is the real target, so nothing is
disguised, and agents may need them. What a link *unfurls* into is a different matter: posts
carrying foreign text go out with ``unfurl_links`` / ``unfurl_media`` off (:data:`NO_UNFURL`),
so a customer cannot make a preview card appear in the agents' channel.
"""

from __future__ import annotations

import re

_AMP = re.compile(r"&(?!(?:amp|lt|gt);)")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_USER_ID = re.compile(r"[A-Z0-9]{2,30}")


def inert(text: str) -> str:
    """``text`` with Slack's ``&``, ``<`` and ``>`` escaped: shown as typed, never parsed."""
    text = _BIDI.sub("", text)
    return _AMP.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")


def inert_lines(lines: list[str]) -> list[str]:
    """Each of ``lines`` made :func:`inert`."""
    return [inert(line) for line in lines]


def mention(user: str) -> str | None:
    """``<@user>`` for a Slack user id; ``None`` when ``user`` does not look like one (then
    the caller writes a plain name instead of building markup from it)."""
    return f"<@{user}>" if _USER_ID.fullmatch(user) else None


_ESCAPED = re.compile(r"<([@#!]?)([^<>|]*)(?:\|([^<>]*))?>")


def unescaped(text: str) -> str:
    """A slash command's text as the agent typed it: with "Escape channels, users and
    links" on (the manifest's ``should_escape``, which ``/ondo assign`` needs to see
    mentions), Slack sends ``<https://x|x>``, ``<@U1|name>``, ``&lt;``; this gives back the
    link, ``@name``, ``#channel`` and ``<``."""

    def plain(match: re.Match[str]) -> str:
        sigil, target, label = match.group(1), match.group(2), match.group(3)
        if sigil in ("@", "#"):
            return f"{sigil}{label or target}"
        if sigil == "!":
            shown = label or target.split("^")[0]
            return shown if shown.startswith("@") else f"@{shown}"
        return label or target.removeprefix("mailto:")

    return _ESCAPED.sub(plain, text).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
