"""Slack Events API payloads -> what Ondo acts on. Pure functions: no I/O, no client.

One dispatch table on the event type; ``message`` subtypes other than plain messages, file
shares and thread broadcasts (edits, deletions, joins, bot posts...) are ignored here.

Conversation keys:

* ``slack:<team>:<channel>:<thread ts>`` -- a thread in a channel: one conversation per thread.
* ``slack:<team>:<DM channel>`` -- a direct message: every message in the DM, at the top level
  or in a thread, is one conversation (as Discord's ``dm_key``), so a customer answering a
  journey DM at the top level lands in the DM's conversation. DMs were keyed by thread
  before; such keys stay valid (:func:`thread_of` reads both), and a message in the thread of
  such an older conversation stays in it (:attr:`CustomerMessage.thread_key`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.types import Message

PLATFORM = "slack"
KEY_PREFIX = "slack:"

_TS_RE = re.compile(r"\d{1,12}(?:\.\d{1,9})?")

# A message subtype that is still a person writing; everything else is ignored.
_PERSON_SUBTYPES = frozenset({"", "file_share", "thread_broadcast"})


@dataclass(frozen=True)
class CustomerMessage:
    """A customer's (or internal user's) message for the engine, and where to answer it."""

    message: Message
    channel: str
    thread_ts: str | None
    """Where the answer goes: the thread, or ``None`` for the top level of a DM."""
    addressed: bool
    """A DM or an @mention; otherwise it counts only as a follow-up in a known thread."""
    thread_key: str | None = None
    """For a DM message in a thread: the thread's own key, which DM conversations had before
    they were keyed by channel (the adapter keeps an existing one)."""


@dataclass(frozen=True)
class AgentMessage:
    """A person writing in a thread of the agents' channel."""

    channel: str
    thread_ts: str
    user: str
    text: str
    ts: str

    @property
    def message_id(self) -> str:
        """The platform message id used for deduplication, ``<channel>:<ts>``."""
        return f"{self.channel}:{self.ts}"


Parsed = CustomerMessage | AgentMessage | None


def conversation_key(team: str, channel: str, thread_ts: str) -> str:
    """``slack:<team>:<channel>:<thread ts>``: one conversation per Slack thread."""
    return f"{KEY_PREFIX}{team}:{channel}:{thread_ts}"


def dm_key(team: str, channel: str) -> str:
    """``slack:<team>:<DM channel>``: one conversation per Slack DM."""
    return f"{KEY_PREFIX}{team}:{channel}"


def is_dm(channel: str, channel_type: object = None) -> bool:
    """Whether ``channel`` is a direct message with one user (``im``; their ids start with D)."""
    return channel_type == "im" or (channel_type is None and channel.startswith("D"))


def thread_of(key: str) -> tuple[str, str | None] | None:
    """``(channel, thread_ts)`` of a Slack conversation key (``thread_ts`` ``None``: the top
    level of a DM); ``None`` for other platforms and malformed keys."""
    parts = key.split(":")
    if parts[0] != PLATFORM:
        return None
    if len(parts) == 4:
        return parts[2], parts[3]
    if len(parts) == 3 and is_dm(parts[2]):
        return parts[2], None
    return None


def strip_mention(text: str, bot_user_id: str | None) -> str:
    """Remove ``<@BOT>`` (or ``<@BOT|name>``) mentions of the bot and tidy the spaces."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(\|[^>]*)?>", " ", text)
    return " ".join(text.split())


def mentions(text: str, bot_user_id: str | None) -> bool:
    """Whether ``text`` mentions the bot."""
    return (
        bool(bot_user_id) and re.search(rf"<@{re.escape(str(bot_user_id))}[|>]", text) is not None
    )


def parse_event(
    body: Mapping[str, Any], *, bot_user_id: str | None, handoff_channel: str | None = None
) -> Parsed:
    """Classify an ``event_callback`` body: a customer message, an agent message, or nothing."""
    event = body.get("event")
    if not isinstance(event, Mapping):
        return None
    convert = _CONVERTERS.get(str(event.get("type", "")))
    if convert is None or not _from_a_person(event, bot_user_id):
        return None
    return convert(body, event, bot_user_id, handoff_channel)


def _from_a_person(event: Mapping[str, Any], bot_user_id: str | None) -> bool:
    if event.get("bot_id") or event.get("bot_profile"):
        return False
    if str(event.get("subtype") or "") not in _PERSON_SUBTYPES:
        return False
    user, channel = event.get("user"), event.get("channel")
    if not (isinstance(user, str) and user and isinstance(channel, str) and channel):
        return False
    thread_ts = event.get("thread_ts")
    text = event.get("text")
    return (
        user != bot_user_id
        and _is_ts(event.get("ts"))
        and (thread_ts is None or _is_ts(thread_ts))
        and (text is None or isinstance(text, str))
    )


def _is_ts(value: object) -> bool:
    """A Slack message timestamp: ``"1700000000.123456"``."""
    return isinstance(value, str) and _TS_RE.fullmatch(value) is not None


def _message(
    body: Mapping[str, Any],
    event: Mapping[str, Any],
    bot_user_id: str | None,
    handoff_channel: str | None,
) -> Parsed:
    channel, ts = str(event["channel"]), str(event["ts"])
    thread_ts = str(event.get("thread_ts") or ts)
    text = str(event.get("text") or "")
    if channel == handoff_channel:
        if thread_ts == ts:
            return None  # agents talking among themselves, outside a handoff thread
        return AgentMessage(channel, thread_ts, str(event["user"]), text.strip(), ts)
    addressed = event.get("channel_type") == "im" or mentions(text, bot_user_id)
    return _customer(body, event, bot_user_id, addressed)


def _app_mention(
    body: Mapping[str, Any],
    event: Mapping[str, Any],
    bot_user_id: str | None,
    handoff_channel: str | None,
) -> Parsed:
    if str(event["channel"]) == handoff_channel:
        return None  # the agents' channel is for people; its threads arrive as messages
    return _customer(body, event, bot_user_id, addressed=True)


def _customer(
    body: Mapping[str, Any], event: Mapping[str, Any], bot_user_id: str | None, addressed: bool
) -> CustomerMessage:
    channel, ts = str(event["channel"]), str(event["ts"])
    thread_ts: str | None = str(event.get("thread_ts") or ts)
    team = next((t for t in (body.get("team_id"), event.get("team")) if isinstance(t, str)), "")
    key = conversation_key(team, channel, str(thread_ts))
    thread_key = None
    if is_dm(channel, event.get("channel_type")):
        threaded = thread_ts != ts
        key, thread_key = dm_key(team, channel), (key if threaded else None)
        thread_ts = thread_ts if threaded else None
    message = Message(
        platform=PLATFORM,
        conversation_key=key,
        user=str(event["user"]),
        text=strip_mention(str(event.get("text") or ""), bot_user_id),
        timestamp=float(ts),
        # message and app_mention carry the same message under different event ids.
        message_id=f"{channel}:{ts}",
        raw=dict(event),
    )
    return CustomerMessage(message, channel, thread_ts, addressed, thread_key)


_Converter = Callable[[Mapping[str, Any], Mapping[str, Any], str | None, str | None], Parsed]
_CONVERTERS: Mapping[str, _Converter] = {"message": _message, "app_mention": _app_mention}
