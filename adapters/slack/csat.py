"""A customer's click on one of the satisfaction question's score buttons on Slack.

The click is judged by its value alone (:func:`bot.desk.csat.read_button`); the help desk's
:meth:`bot.desk.service.DeskService.csat_click` checks that the question is the clicking
customer's and still unanswered, and stores the score. Then the buttons come off the
question (replaced by the score chosen) and the thanks is posted where the question was.

Decisions:

- **Ignored clicks.** An empty, forged or malformed value is one warning; a click that is not
  the customer's, or on a question already answered, is one info line and nothing in Slack:
  a second click changes nothing, and a bystander's is not answered (the desk gives no reason
  and no language for it).
- **Order.** The buttons are dropped before the thanks is posted, so a fast second click
  finds the score stored (``csat_click`` answers it ``None``) or no buttons at all.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.csat_buttons import CSAT_ACTIONS, CSAT_BLOCK
from adapters.slack.sender import post
from bot.conversation.routing import Router
from bot.desk.csat import read_button

log = logging.getLogger("ondo.slack")


CsatClick = Callable[[int, int, str], Awaitable[str | None]]
"""The help desk's :meth:`bot.desk.service.DeskService.csat_click`: ``(handoff id, score,
user)`` -> the thanks, or ``None`` when the question is not the user's or not pending."""


class SlackCsat:
    """Handles the score buttons' clicks (:meth:`register` adds the Bolt listener)."""

    def __init__(
        self, router: Router, client: AsyncWebClient, *, finished: Callable[[], Awaitable[None]]
    ) -> None:
        """``finished`` is called after every click handled (the adapter's completion count)."""
        self.router = router
        self.client = client
        self.finished = finished

    def register(self, app: AsyncApp) -> None:
        """Listen to the five buttons' actions on ``app``."""

        async def on_click(ack: AsyncAck, body: dict[str, Any]) -> None:
            await ack()
            await self.on_click(body)

        app.action(CSAT_ACTIONS)(on_click)

    async def on_click(self, body: Mapping[str, Any]) -> None:
        """Handle one click on a score button; a failure is logged in one line."""
        try:
            await self._click(body)
        except Exception as exc:
            log.error("satisfaction click not handled: %s", f"{type(exc).__name__}: {exc}"[:300])
        finally:
            await self.finished()

    async def _click(self, body: Mapping[str, Any]) -> None:
        actions = body.get("actions") or [{}]
        action = actions[0] if isinstance(actions[0], Mapping) else {}
        user = str((body.get("user") or {}).get("id") or "")
        value = action.get("value")
        click = read_button(value)
        if click is None:
            shown = value[:40] if isinstance(value, str) else type(value).__name__
            log.warning("satisfaction click by %s ignored: %r is not a score button", user, shown)
            return
        csat_click: CsatClick | None = getattr(self.router.desk_hooks, "csat_click", None)
        if csat_click is None:
            log.warning("satisfaction click on #%d ignored: no help desk", click.handoff_id)
            return
        thanks = await csat_click(click.handoff_id, click.score, user)
        if thanks is None:
            log.info(
                "satisfaction click on #%d by %s ignored: not theirs, or answered",
                click.handoff_id,
                user,
            )
            return
        log.info("handoff #%d rated %d/5 by %s", click.handoff_id, click.score, user)
        container = body.get("container") or {}
        message = body.get("message") or {}
        channel = str((body.get("channel") or {}).get("id") or container.get("channel_id") or "")
        thread_ts = container.get("thread_ts") or message.get("thread_ts") or None
        await self._drop_buttons(channel, message, str(value))
        await post(self.client, channel, thanks, thread_ts=thread_ts)

    async def _drop_buttons(self, channel: str, message: Mapping[str, Any], value: str) -> None:
        """Replace the question's buttons with the score chosen (its text stays). A failure
        is one warning: the score is stored, and another click changes nothing."""
        blocks = message.get("blocks")
        ts = message.get("ts")
        if not isinstance(blocks, list) or not isinstance(ts, str):
            return
        kept: list[Any] = []
        for block in blocks:
            if isinstance(block, Mapping) and block.get("block_id") == CSAT_BLOCK:
                label = _label(block, value)
                if label:
                    kept.append(
                        {"type": "context", "elements": [{"type": "plain_text", "text": label}]}
                    )
            else:
                kept.append(block)
        try:
            await self.client.chat_update(
                channel=channel, ts=ts, text=str(message.get("text") or ""), blocks=kept
            )
        except SlackApiError as exc:
            log.warning("satisfaction buttons left in %s: %s", channel, exc.response.get("error"))


def _label(row: Mapping[str, Any], value: str) -> str | None:
    """``✓ <label>`` of the button in ``row`` whose value is ``value``."""
    for element in row.get("elements") or []:
        if isinstance(element, Mapping) and element.get("value") == value:
            text = (element.get("text") or {}).get("text")
            return f"✓ {text}" if isinstance(text, str) else None
    return None
