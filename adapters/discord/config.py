"""The Discord adapter's settings, checked once: what is missing or malformed is named."""

from __future__ import annotations

from dataclasses import dataclass

from bot.settings import Settings, SettingsError


class DiscordConfigError(SettingsError):
    """Discord cannot start with these settings; the message names the variable."""


@dataclass(frozen=True)
class DiscordConfig:
    """What the adapter needs from :class:`bot.settings.Settings`."""

    token: str
    api_base: str | None = None
    gateway_url: str | None = None
    support_channels: frozenset[int] = frozenset()
    staff_channel: int | None = None
    """The agents' channel when ``ONDO_HANDOFF_CHANNEL=discord:<channel id>``."""
    staff_role: int | None = None
    shards: tuple[tuple[int, ...], int] | None = None
    """``(shard ids, shard count)`` this process runs; ``None``: all, as Discord advises."""

    @classmethod
    def from_settings(cls, settings: Settings) -> DiscordConfig:
        """Check and convert; raises :class:`DiscordConfigError`."""
        if not settings.discord_token:
            raise DiscordConfigError(
                "DISCORD_TOKEN must be set to run the Discord adapter (the bot token from the "
                "Discord Developer Portal, Bot page)"
            )
        return cls(
            token=settings.discord_token,
            api_base=settings.discord_api_base,
            gateway_url=settings.discord_gateway_url,
            support_channels=frozenset(settings.discord_channels),
            staff_channel=staff_channel_id(settings.handoff_channel),
            staff_role=settings.discord_staff_role,
            shards=settings.discord_shards,
        )


def staff_channel_id(handoff_channel: str | None) -> int | None:
    """The channel id of ``ONDO_HANDOFF_CHANNEL=discord:<id>``; ``None`` for another platform."""
    if not handoff_channel or not handoff_channel.startswith("discord:"):
        return None
    value = handoff_channel.removeprefix("discord:")
    if not value.isdecimal():
        raise DiscordConfigError(
            f"ONDO_HANDOFF_CHANNEL must be discord:<channel id> with a numeric channel id, "
            f"not {handoff_channel!r}"
        )
    return int(value)
