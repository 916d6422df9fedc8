"""Catch up after a fresh gateway session: read what customers wrote while Ondo was away.

The gateway replays missed events only to a RESUMEd session. After a crash or a restart,
Ondo IDENTIFYs afresh, and a message Discord had already dispatched to the dead process (or
sent while no process was connected) would be lost. So on every fresh session the adapter
reads, over REST, the support channels and the channels of recently active conversations,
from a little before the last customer message Ondo recorded on Discord, and hands each
message to the same handler the gateway uses. Messages already recorded are recognised by
their id and not answered again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import discord

from adapters.discord.events import PLATFORM, target_of
from bot.storage.interface import Store

log = logging.getLogger("ondo.discord")

LOOKBACK_MARGIN_SECONDS = 60.0
"""Read from this long before the last recorded message: gateway events are handled
concurrently, so the last one recorded need not be the last one delivered."""
MAX_LOOKBACK_SECONDS = 3600.0
"""Messages older than this before the last recorded one are not caught up."""
MAX_CHANNELS = 200
MAX_MESSAGES_PER_CHANNEL = 200
DISCORD_EPOCH_MS = 1_420_070_400_000


def snowflake_at(seconds: float) -> int:
    """The smallest Discord id of a message created at Unix time ``seconds``."""
    return max(0, int(seconds * 1000) - DISCORD_EPOCH_MS) << 22


@dataclass(frozen=True)
class CatchUp:
    """Where to read, and from which message id on."""

    after: int
    channels: tuple[int, ...]


async def plan(store: Store, support_channels: Sequence[int]) -> CatchUp | None:
    """The channels to read and the id to read after; ``None`` when Ondo has never recorded a
    Discord message (a first start has nothing to catch up)."""

    recent = await store.recent_activity(
        PLATFORM, lookback=MAX_LOOKBACK_SECONDS, limit=MAX_CHANNELS
    )
    if recent is None:
        return None
    channels = list(dict.fromkeys(support_channels))
    for key in recent.conversation_keys:
        target = target_of(key)
        if target is not None and target.channel_id not in channels:
            channels.append(target.channel_id)
    since = max(recent.last_at - LOOKBACK_MARGIN_SECONDS, time.time() - MAX_LOOKBACK_SECONDS)
    return CatchUp(snowflake_at(since), tuple(channels[:MAX_CHANNELS]))


async def catch_up(
    client: discord.Client,
    catch: CatchUp,
    handle: Callable[[discord.Message], Awaitable[None]],
) -> int:
    """Read each channel of ``catch`` after its id, oldest first, and ``handle`` every
    message; returns how many were read. A channel that cannot be read is skipped."""
    read = 0
    for channel_id in catch.channels:
        try:
            channel = client.get_channel(channel_id) or await client.fetch_channel(channel_id)
            if not isinstance(channel, discord.abc.Messageable):
                continue
            async for message in channel.history(
                after=discord.Object(id=catch.after),
                oldest_first=True,
                limit=MAX_MESSAGES_PER_CHANNEL,
            ):
                read += 1
                await handle(message)
        except discord.HTTPException as exc:
            log.warning("catching up Discord channel %s failed: %s", channel_id, exc)
    return read
