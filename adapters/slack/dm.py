"""Journey DMs on Slack: the :class:`bot.conversation.direct.DirectMessenger` of the adapter.

``conversations.open`` with the user gives the DM channel (the same one each time), then
``chat.postMessage`` posts there. The client's retry handlers (:func:`adapters.slack.app.
build_client`) wait out 429s with Slack's ``Retry-After``. A journey's text carries the shop's
placeholder values unescaped, so it is made inert: shown as written, no mention or link
markup, and no link previews.

Every message in a Slack DM is one conversation (:func:`adapters.slack.events.dm_key`,
``slack:<team>:<dm channel>``), so the customer's answer at the top level of the DM, or in the
DM's thread, lands where the DM was recorded. The team comes from ``auth.test``, asked once.

At most once: the DM carries its outbox row in the message metadata (:data:`DM_EVENT`,
payload ``{"outbox": <row id>}``); on a retry the DM's newest messages are read first
(``conversations.history`` with ``include_all_metadata``) and a DM already posted under that
row is returned instead of posting it again.

A marketing message or review request gets an opt-out button (:data:`OPT_OUT_ACTION`) whose
value names the category, the DM's language and the recipient — nothing secret: the click
counts only from that recipient (:func:`parse_opt_out_value`, checked by the adapter).
"""

from __future__ import annotations

import re
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.events import PLATFORM, dm_key
from adapters.slack.inert import inert
from adapters.slack.sender import post, posted_with, text_sections
from bot.conversation.direct import (
    OPT_OUT_CATEGORIES,
    OPT_OUT_LABELS,
    DirectMessage,
    Posted,
    Undeliverable,
)
from bot.types import Language

OPEN_REFUSALS = frozenset({"cannot_dm_bot", "user_not_found", "user_disabled", "channel_not_found"})
"""``conversations.open`` errors meaning the user can never be messaged (a bot, an unknown or
deactivated user); anything else is transient."""
POST_REFUSALS = frozenset({"cannot_dm_bot", "user_disabled"})
"""``chat.postMessage`` errors into an opened DM meaning the same."""
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")
"""One Slack user id: ``conversations.open`` would open a group DM for a list of them."""
DM_EVENT = "ondo_dm"
"""Message metadata event type of a journey DM (payload: its ``outbox`` row id)."""
OPT_OUT_ACTION = "ondo_dm_opt_out"
OPT_OUT_BLOCK = "ondo_dm_opt_out"


def opt_out_value(category: str, language: Language, user: str) -> str:
    """The opt-out button's value: ``<category>:<language>:<recipient>``."""
    return f"{category}:{language}:{user}"


def parse_opt_out_value(value: str) -> tuple[str, Language, str] | None:
    """``(category, language, recipient)`` of an opt-out button's value; ``None`` for
    anything else (a forged or garbled value)."""
    parts = value.split(":")
    if len(parts) != 3:
        return None
    category, language, user = parts
    if category not in OPT_OUT_CATEGORIES or not _USER_ID.fullmatch(user):
        return None
    if language == "ko":
        return category, "ko", user
    if language == "en":
        return category, "en", user
    return None


def dm_blocks(text: str, category: str, language: Language, user: str) -> list[dict[str, Any]]:
    """Block Kit for a DM with the opt-out button: the (inert) text, then the button."""
    return [
        *text_sections(text),
        {
            "type": "actions",
            "block_id": OPT_OUT_BLOCK,
            "elements": [
                {
                    "type": "button",
                    "action_id": OPT_OUT_ACTION,
                    "text": {"type": "plain_text", "text": OPT_OUT_LABELS[language]},
                    "value": opt_out_value(category, language, user),
                }
            ],
        },
    ]


class SlackDirect:
    """Posts direct messages to Slack users with the bot token's client."""

    platform = PLATFORM

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._team: str | None = None

    async def send_dm(self, message: DirectMessage) -> Posted:
        """Open the DM with the user and post the text (inert) there, with the opt-out
        button for its category if it has one; the posted ``ts`` and the DM's conversation
        key. On a retry, a DM Slack already has under the same token is returned instead.
        Raises :class:`Undeliverable` (reason: Slack's error code) for a user Slack refuses."""
        user = message.user
        if not _USER_ID.fullmatch(user):
            raise Undeliverable("not a Slack user id")
        try:
            opened = await self.client.conversations_open(users=user)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "")
            if error in OPEN_REFUSALS:
                raise Undeliverable(error) from None
            raise
        channel = opened.get("channel") or {}
        channel_id = channel.get("id") if isinstance(channel, dict) else None
        if not isinstance(channel_id, str) or not channel_id:
            raise ConnectionError("conversations.open answered without a channel id")
        key = dm_key(await self._team_id(), channel_id)
        if message.retry and message.token is not None:
            found = await posted_with(
                self.client, channel_id, None, DM_EVENT, "outbox", message.token
            )
            if found is not None:
                return Posted(found, key)
        text = inert(message.text)
        blocks = (
            dm_blocks(text, message.opt_out, message.language, user) if message.opt_out else None
        )
        metadata = (
            {"event_type": DM_EVENT, "event_payload": {"outbox": message.token}}
            if message.token is not None
            else None
        )
        try:
            ts = await post(
                self.client, channel_id, text, blocks=blocks, metadata=metadata, unfurl=False
            )
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "")
            if error in POST_REFUSALS:
                raise Undeliverable(error) from None
            raise
        return Posted(ts or "", key)

    async def _team_id(self) -> str:
        """The bot token's workspace (``auth.test``), asked once; the key's team part."""
        if self._team is None:
            answer = await self.client.auth_test()
            team = answer.get("team_id")
            if not isinstance(team, str) or not team:
                raise ConnectionError("auth.test answered without a team id")
            self._team = team
        return self._team
