"""Journey DMs on Slack: the :class:`bot.conversation.direct.DirectMessenger` of the adapter.

``conversations.open`` with the user gives the DM channel (the same one each time), then
``chat.postMessage`` posts there. The client's retry handlers (:func:`adapters.slack.app.
build_client`) wait out 429s with Slack's ``Retry-After``. A journey's text carries the shop's
placeholder values unescaped, so it is made inert: shown as written, no mention or link
markup, and no link previews.

Slack keys a conversation by thread (:func:`adapters.slack.events.conversation_key`): the DM
opens the conversation of its own thread, ``slack:<team>:<dm channel>:<dm ts>``, where an
answer in the DM's thread lands. The team comes from ``auth.test``, asked once.
"""

from __future__ import annotations

import re

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.events import PLATFORM, conversation_key
from adapters.slack.inert import inert
from adapters.slack.sender import post
from bot.conversation.direct import Posted, Undeliverable
from bot.types import Language

OPEN_REFUSALS = frozenset({"cannot_dm_bot", "user_not_found", "user_disabled", "channel_not_found"})
"""``conversations.open`` errors meaning the user can never be messaged (a bot, an unknown or
deactivated user); anything else is transient."""
POST_REFUSALS = frozenset({"cannot_dm_bot", "user_disabled"})
"""``chat.postMessage`` errors into an opened DM meaning the same."""
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")
"""One Slack user id: ``conversations.open`` would open a group DM for a list of them."""


class SlackDirect:
    """Posts direct messages to Slack users with the bot token's client."""

    platform = PLATFORM

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._team: str | None = None

    async def send_dm(self, user: str, text: str, language: Language) -> Posted:
        """Open the DM with ``user`` and post ``text`` (inert) there; the posted ``ts`` and
        the conversation key of the DM's thread. Raises :class:`Undeliverable`
        (reason: Slack's error code) for a user Slack refuses."""
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
        try:
            ts = await post(self.client, channel_id, inert(text), unfurl=False)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "")
            if error in POST_REFUSALS:
                raise Undeliverable(error) from None
            raise
        return Posted(ts or "", conversation_key(await self._team_id(), channel_id, ts or ""))

    async def _team_id(self) -> str:
        """The bot token's workspace (``auth.test``), asked once; the key's team part."""
        if self._team is None:
            answer = await self.client.auth_test()
            team = answer.get("team_id")
            if not isinstance(team, str) or not team:
                raise ConnectionError("auth.test answered without a team id")
            self._team = team
        return self._team
