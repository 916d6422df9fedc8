"""Message buttons that are only layout: clicks are handled by custom id."""

from __future__ import annotations

from collections.abc import Iterable

import discord


def button(
    custom_id: str,
    *,
    label: str | None = None,
    emoji: str | None = None,
    style: discord.ButtonStyle = discord.ButtonStyle.secondary,
) -> discord.ui.Button[discord.ui.View]:
    """One button with ``custom_id``."""
    return discord.ui.Button(label=label, emoji=emoji, style=style, custom_id=custom_id)


class StaticButtons(discord.ui.View):
    """A row of buttons whose clicks reach
    :meth:`adapters.discord.app.DiscordAdapter.on_interaction` by custom id (so they keep
    working after a restart); discord.py must not keep the view in memory waiting for them."""

    def __init__(self, buttons: Iterable[discord.ui.Button[discord.ui.View]]) -> None:
        super().__init__(timeout=None)
        for item in buttons:
            self.add_item(item)

    def is_dispatchable(self) -> bool:
        """Never: see the class docstring."""
        return False
