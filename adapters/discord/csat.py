"""A customer's click on one of the satisfaction question's score buttons on Discord.

The click is judged by its custom id alone (:func:`bot.desk.csat.read_button`); the help
desk's :meth:`bot.desk.service.DeskService.csat_click` checks that the question is the
clicking customer's and still unanswered, and stores the score. The click is answered by
editing the question: its buttons come off and the score chosen is shown; then the thanks is
posted where the question was (the conversation's thread or DM).

Decisions:

- **Ignored clicks.** A custom id that starts like a score button's but is forged or malformed
  (``csat:999:x``, ``csat:1:9``, ``csat:``) is one warning; a click that is not the
  customer's, or on a question already answered, is one info line. Both are acknowledged
  without a word (Discord would show the clicker "This interaction failed" otherwise): a
  second click changes nothing, and a bystander's is not answered.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from adapters.discord.sender import NO_MENTIONS, Channel, channel_for, describe, post
from adapters.discord.split import MESSAGE_LIMIT
from bot.conversation.routing import Router
from bot.desk.csat import BUTTON_PREFIX, read_button

log = logging.getLogger("ondo.discord")

CsatClick = Callable[[int, int, str], Awaitable[str | None]]
"""The help desk's :meth:`bot.desk.service.DeskService.csat_click`: ``(handoff id, score,
user)`` -> the thanks, or ``None`` when the question is not the user's or not pending."""


class DiscordCsat:
    """Handles the score buttons' clicks from the raw interaction."""

    def __init__(
        self, router: Router, client: discord.Client, *, finished: Callable[[], Awaitable[None]]
    ) -> None:
        """``finished`` is called after every click handled (the adapter's completion count)."""
        self.router = router
        self.client = client
        self.finished = finished

    async def handle(self, interaction: discord.Interaction) -> bool:
        """Handle a click on a score button; ``False`` for any other interaction."""
        if interaction.type is not discord.InteractionType.component:
            return False
        data: dict[str, Any] = dict(interaction.data or {})
        custom_id = str(data.get("custom_id") or "")
        if not custom_id.startswith(f"{BUTTON_PREFIX}:"):
            return False
        try:
            await self._click(interaction, custom_id)
        except Exception as exc:
            log.error("satisfaction click not handled: %s", describe(exc)[:300])
        finally:
            await self.finished()
        return True

    async def _click(self, interaction: discord.Interaction, custom_id: str) -> None:
        user = str(interaction.user.id)
        click = read_button(custom_id)
        if click is None:
            log.warning(
                "satisfaction click by %s ignored: %r is not a score button", user, custom_id[:40]
            )
            await _acknowledge(interaction)
            return
        csat_click: CsatClick | None = getattr(self.router.desk_hooks, "csat_click", None)
        if csat_click is None:
            log.warning("satisfaction click on #%d ignored: no help desk", click.handoff_id)
            await _acknowledge(interaction)
            return
        thanks = await csat_click(click.handoff_id, click.score, user)
        if thanks is None:
            log.info(
                "satisfaction click on #%d by %s ignored: not theirs, or answered",
                click.handoff_id,
                user,
            )
            await _acknowledge(interaction)
            return
        log.info("handoff #%d rated %d/5 by %s", click.handoff_id, click.score, user)
        await _drop_buttons(interaction, custom_id)
        here = interaction.channel
        channel: Channel = (
            here
            if isinstance(here, discord.TextChannel | discord.Thread | discord.DMChannel)
            else channel_for(self.client, interaction.channel_id or 0, interaction.guild_id)
        )
        await post(channel, thanks)


async def _drop_buttons(interaction: discord.Interaction, custom_id: str) -> None:
    """Answer the click by taking the buttons off the question and showing the score chosen
    (its text stays). A failure is one warning: the score is stored, another click changes
    nothing."""
    message = interaction.message
    content = message.content if message is not None else ""
    label = _label(message, custom_id) if message is not None else None
    if label and content and len(content) + len(label) + 3 <= MESSAGE_LIMIT:
        content = f"{content}\n✓ {label}"
    try:
        await interaction.response.edit_message(
            content=content or None, view=None, allowed_mentions=NO_MENTIONS
        )
    except discord.HTTPException as exc:
        log.warning("satisfaction buttons left on the question: %s", describe(exc))


def _label(message: discord.Message, custom_id: str) -> str | None:
    """The label of the button ``custom_id`` on ``message``."""
    for row in message.components:
        for child in getattr(row, "children", ()):
            if getattr(child, "custom_id", None) == custom_id:
                label = getattr(child, "label", None)
                return label if isinstance(label, str) else None
    return None


async def _acknowledge(interaction: discord.Interaction) -> None:
    try:
        await interaction.response.defer()
    except discord.HTTPException as exc:
        log.warning("satisfaction click not acknowledged: %s", describe(exc))
