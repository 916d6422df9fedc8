"""Discord messages -> what Ondo acts on, and the names it gives Discord places.

No I/O here: :func:`classify` looks at a received :class:`discord.Message` (and its resolved
channel) and says whether it is a customer's message for the engine, an agent's message in a
ticket thread, or nothing for Ondo.

Conversation keys (the sender reaches the conversation from the key alone):

* ``discord:<guild id>:<channel id>:<thread id>`` -- a thread in a guild. When Ondo answers a
  message in a channel it opens a thread on that message, and such a thread has the message's
  id, so the key is known before the thread exists; the channel id lets the sender create a
  thread that is missing.
* ``discord:dm:<DM channel id>`` -- a direct message conversation.

A ticket thread in the agents' channel is referred to as ``discord:<thread id>``.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

import discord

from bot.types import Message

PLATFORM = "discord"
KEY_PREFIX = "discord:"
THREAD_NAME_LIMIT = 100

# Messages people write; every other type (joins, pins, thread starters...) is the system's.
_PERSON_TYPES = frozenset({discord.MessageType.default, discord.MessageType.reply})


@dataclass(frozen=True)
class Target:
    """Where a Discord conversation lives."""

    channel_id: int
    """Where to post: the thread, or the DM channel."""
    guild_id: int | None = None
    parent_id: int | None = None
    """The channel the thread belongs to (``None`` for a DM)."""


@dataclass(frozen=True)
class CustomerMessage:
    """A customer's message for the engine, and where its conversation lives."""

    message: Message
    target: Target
    addressed: bool
    """Sent in a support channel, a DM, or mentioning Ondo; otherwise it only counts as a
    follow-up in a thread Ondo already takes part in."""
    thread_name: str


@dataclass(frozen=True)
class AgentMessage:
    """Somebody writing in a thread of the agents' channel."""

    thread_id: int
    message_id: int
    text: str


Classified = CustomerMessage | AgentMessage | None


def guild_key(guild_id: int, channel_id: int, thread_id: int) -> str:
    """The key of the conversation in thread ``thread_id`` of channel ``channel_id``."""
    return f"{KEY_PREFIX}{guild_id}:{channel_id}:{thread_id}"


def dm_key(channel_id: int) -> str:
    """The key of the direct-message conversation in DM channel ``channel_id``."""
    return f"{KEY_PREFIX}dm:{channel_id}"


def target_of(key: str) -> Target | None:
    """Where the conversation ``key`` lives; ``None`` if it is not a Discord key."""
    platform, _, rest = key.partition(":")
    parts = rest.split(":")
    if platform != PLATFORM:
        return None
    if len(parts) == 2 and parts[0] == "dm" and parts[1].isdecimal():
        return Target(int(parts[1]))
    if len(parts) == 3 and all(p.isdecimal() for p in parts):
        guild_id, channel_id, thread_id = (int(p) for p in parts)
        return Target(thread_id, guild_id, channel_id)
    return None


def thread_ref(thread_id: int) -> str:
    """The router's name of the agents' ticket thread ``thread_id``."""
    return f"{KEY_PREFIX}{thread_id}"


def thread_of(ref: str) -> int | None:
    """The thread id of a Discord ticket-thread reference; ``None`` for another platform's."""
    platform, _, rest = ref.partition(":")
    return int(rest) if platform == PLATFORM and rest.isdecimal() else None


def from_a_person(message: discord.Message, me: int) -> bool:
    """Whether ``message`` was written by a person (not Ondo, another bot, a webhook or the
    system)."""
    author = message.author
    return (
        author.id != me
        and not author.bot
        and not author.system
        and message.webhook_id is None
        and message.type in _PERSON_TYPES
    )


def mentions_me(message: discord.Message, me: int, my_role: int | None) -> bool:
    """Whether ``message`` mentions Ondo, or the role Discord gives Ondo (picked by some
    clients when people type ``@Ondo``). ``@everyone`` does not count."""
    if any(user.id == me for user in message.mentions):
        return True
    return my_role is not None and my_role in message.raw_role_mentions


def looks_unreadable(message: discord.Message, me: int, my_role: int | None) -> bool:
    """A guild message with nothing in it: Discord withholds content, attachments and embeds
    from a bot without the Message Content intent (unless it is mentioned); people cannot
    send a truly empty message."""
    return (
        message.guild is not None
        and not message.content
        and not message.attachments
        and not message.embeds
        and not message.stickers
        and message.poll is None
        and not message.message_snapshots  # a forwarded message has its content in these
        and not mentions_me(message, me, my_role)
    )


def strip_mentions(text: str, me: int, my_role: int | None) -> str:
    """Remove mentions of Ondo (``<@id>``, ``<@!id>``, its role ``<@&id>``) and the spaces
    they leave; line breaks stay."""
    text = re.sub(rf"<@!?{me}>", " ", text)
    if my_role is not None:
        text = text.replace(f"<@&{my_role}>", " ")
    return "\n".join(" ".join(line.split()) for line in text.strip().splitlines())


def classify(
    message: discord.Message,
    channel: discord.abc.MessageableChannel,
    *,
    me: int,
    my_role: int | None = None,
    support_channels: Collection[int] = (),
    staff_channel: int | None = None,
) -> Classified:
    """What ``message`` (written by a person, in ``channel``) is for Ondo."""
    if isinstance(channel, discord.DMChannel):
        return _customer(message, Target(channel.id), dm_key(channel.id), me, my_role, True)
    guild = message.guild
    if guild is None:
        return None  # a group DM: bots are never in one
    mentioned = mentions_me(message, me, my_role)
    if isinstance(channel, discord.Thread):
        if channel.parent_id == staff_channel:
            return AgentMessage(channel.id, message.id, _agent_text(message, me, my_role))
        forum_post = channel.parent_id in support_channels and isinstance(
            channel.parent, discord.ForumChannel
        )
        target = Target(channel.id, guild.id, channel.parent_id)
        key = guild_key(guild.id, channel.parent_id, channel.id)
        return _customer(message, target, key, me, my_role, mentioned or forum_post)
    if not isinstance(channel, discord.TextChannel) or channel.id == staff_channel:
        return None  # threads only open in text channels; the agents' channel is for people
    if not (mentioned or channel.id in support_channels):
        return None
    target = Target(message.id, guild.id, channel.id)
    return _customer(
        message, target, guild_key(guild.id, channel.id, message.id), me, my_role, True
    )


def _customer(
    message: discord.Message,
    target: Target,
    key: str,
    me: int,
    my_role: int | None,
    addressed: bool,
) -> CustomerMessage:
    author = message.author
    normalized = Message(
        platform=PLATFORM,
        conversation_key=key,
        user=str(author.id),
        text=strip_mentions(message.content, me, my_role),
        timestamp=message.created_at.timestamp(),
        message_id=str(message.id),
        raw={
            "channel_id": str(message.channel.id),
            "guild_id": str(message.guild.id) if message.guild else None,
            "author": author.display_name,
            "attachments": [a.url for a in message.attachments],
        },
    )
    name = f"Ondo · {author.display_name}"[:THREAD_NAME_LIMIT]
    return CustomerMessage(normalized, target, addressed, name)


def _agent_text(message: discord.Message, me: int, my_role: int | None) -> str:
    """The agent's words, with links to any files attached (relayed as text)."""
    parts = [strip_mentions(message.content, me, my_role)] if message.content else []
    parts.extend(a.url for a in message.attachments)
    return "\n".join(p for p in parts if p)
