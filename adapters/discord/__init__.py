"""The Discord adapter: gateway events in, REST posts out (discord.py).

Customers write in a support channel (``ONDO_DISCORD_CHANNELS``), @mention Ondo, or DM it;
Ondo answers in a thread opened on their message (or in the DM). With
``ONDO_HANDOFF_CHANNEL=discord:<channel id>`` that channel is the agents' desk: one ticket and
thread per handoff, with Take over / Resolve buttons.
"""

from adapters.discord.app import DiscordAdapter, build_client, run_discord
from adapters.discord.config import DiscordConfig, DiscordConfigError
from adapters.discord.desk import DiscordDesk
from adapters.discord.endpoints import DiscordEndpointsMoved, discord_endpoints
from adapters.discord.events import classify, dm_key, guild_key, target_of
from adapters.discord.sender import DiscordCustomers, DiscordSender
from adapters.discord.split import split_message
from adapters.discord.staff import StaffPolicy

__all__ = [
    "DiscordAdapter",
    "DiscordConfig",
    "DiscordConfigError",
    "DiscordCustomers",
    "DiscordDesk",
    "DiscordEndpointsMoved",
    "DiscordSender",
    "StaffPolicy",
    "build_client",
    "classify",
    "discord_endpoints",
    "dm_key",
    "guild_key",
    "run_discord",
    "split_message",
    "target_of",
]
