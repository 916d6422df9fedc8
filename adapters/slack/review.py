"""The correction loop in Slack: mark an answer as wrong, review the queue, approve or reject.

* The message shortcut ``ondo_mark_wrong`` on one of Ondo's answers opens a modal
  (``views.open``) for the right answer; submitting it queues a correction. Agents (members of
  the agents' channel) and admins may propose.
* A customer's 👎 queues the answer too (once per answer).
* Each new correction is posted to the agents' channel as a card with **Approve (new
  entry)**, **Approve (update entry)**, **Reject** buttons (**Give answer** for a bare 👎);
  ``/ondo review`` lists the waiting ones privately with the same buttons, and
  ``/ondo review approve <#> [--update] [answer]`` / ``/ondo review reject <#>`` do it typed.
* Only the admins of ``ONDO_ADMINS`` approve or reject; everyone else is refused, and logged.
  An approval changes the knowledge base of the running bot at once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.events import PLATFORM
from adapters.slack.inert import inert, inert_lines, unescaped
from adapters.slack.sender import text_sections
from bot.conversation.engine import Engine
from bot.corrections import live as kb_live
from bot.corrections.loop import CorrectionError, Corrections, Mode, describe
from bot.storage.records import Correction
from bot.texts import shorten

log = logging.getLogger("ondo.slack")

MARK_WRONG_SHORTCUT = "ondo_mark_wrong"
CORRECTION_VIEW = "ondo_correction"
APPROVE_NEW_ACTION = "ondo_review_approve_new"
APPROVE_UPDATE_ACTION = "ondo_review_approve_update"
REJECT_ACTION = "ondo_review_reject"
ANSWER_ACTION = "ondo_review_answer"
ANSWER_BLOCK = "answer"
AGENTS_ONLY = "Only members of the agents' channel can mark answers as wrong."
ADMINS_ONLY = "Only Ondo's admins (ONDO_ADMINS) can approve or reject corrections."
NOT_AN_ANSWER = "That message is not one of Ondo's answers."
REVIEW_HELP = (
    "Usage: `/ondo review` (answers marked wrong), `/ondo review approve <#> [--update] "
    "[right answer]`, `/ondo review reject <#>`."
)


class SlackReview:
    """Slack's side of :mod:`bot.corrections.loop`, registered on the Bolt app by :meth:`register`.

    ``is_agent`` says whether a user is a member of the agents' channel; ``finished`` is
    called after every handled event (tests wait on it).
    """

    def __init__(
        self,
        engine: Engine,
        client: AsyncWebClient,
        *,
        handoff_channel: str | None,
        admins: frozenset[str],
        is_agent: Callable[[str], Awaitable[bool]],
        finished: Callable[[], Awaitable[None]],
    ) -> None:
        self.engine = engine
        self.queue = Corrections(engine.store)
        self.client = client
        self.handoff_channel = handoff_channel
        self.admins = admins
        self.is_agent = is_agent
        self.finished = finished

    def register(self, app: AsyncApp) -> None:
        """Add the shortcut, modal and button listeners to ``app``."""

        async def on_shortcut(ack: AsyncAck, body: dict[str, Any]) -> None:
            await ack()
            await self._handled(self.on_shortcut(body))

        async def on_submit(ack: AsyncAck, body: dict[str, Any]) -> None:
            await ack()
            await self._handled(self.on_submit(body))

        async def on_button(ack: AsyncAck, body: dict[str, Any]) -> None:
            await ack()
            await self._handled(self.on_button(body))

        app.shortcut(MARK_WRONG_SHORTCUT)(on_shortcut)
        app.view(CORRECTION_VIEW)(on_submit)
        for action in (APPROVE_NEW_ACTION, APPROVE_UPDATE_ACTION, REJECT_ACTION, ANSWER_ACTION):
            app.action(action)(on_button)

    async def _handled(self, work: Awaitable[None]) -> None:
        try:
            await work
        finally:
            await self.finished()

    def is_admin(self, user: str) -> bool:
        """Whether the Slack user ``user`` is one of ``ONDO_ADMINS``."""
        return f"{PLATFORM}:{user}" in self.admins

    # --- proposing -----------------------------------------------------------------------

    async def on_shortcut(self, body: Mapping[str, Any]) -> None:
        """ "Mark as wrong" on a message: open the modal for the right answer."""
        user = str(body["user"]["id"])
        channel = str((body.get("channel") or {}).get("id") or "")
        if not await self._may_propose(user, channel, "mark as wrong"):
            return
        ts = str(body.get("message_ts") or (body.get("message") or {}).get("ts") or "")
        reply_id = await self.queue.reply_by_platform_id(PLATFORM, ts) if ts else None
        if reply_id is None:
            await self._tell(channel, user, NOT_AN_ANSWER)
            return
        await self._open_modal(str(body["trigger_id"]), reply_id, channel)

    async def _open_modal(self, trigger_id: str, reply_id: int, channel: str) -> None:
        question, answer = await self._reply_texts(reply_id)
        try:
            await self.client.views_open(
                trigger_id=trigger_id, view=correction_view(reply_id, channel, question, answer)
            )
        except SlackApiError as exc:
            log.error("views.open for answer %d failed: %s", reply_id, exc.response.get("error"))

    async def _reply_texts(self, reply_id: int) -> tuple[str, str]:
        """The (redacted) question and the answer of bot reply ``reply_id``, for the modal."""
        correction = await self.queue.preview(reply_id)
        if correction is None:
            return "", ""
        return shorten(correction.shown_question, 500), shorten(correction.bot_answer, 1500)

    async def on_submit(self, body: Mapping[str, Any]) -> None:
        """The modal was submitted: queue the correction and show it to the reviewers."""
        user = str(body["user"]["id"])
        view = body.get("view") or {}
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
            reply_id, channel = int(meta["reply"]), str(meta.get("channel") or "")
        except (ValueError, KeyError, TypeError):
            log.warning("correction modal by %s without a valid answer reference", user)
            return
        if not await self._may_propose(user, channel, "correction"):
            return
        values = ((view.get("state") or {}).get("values") or {}).get(ANSWER_BLOCK) or {}
        answer = str((values.get(ANSWER_BLOCK) or {}).get("value") or "")
        try:
            correction = await self.queue.mark_wrong(reply_id, answer, f"{PLATFORM}:{user}")
        except CorrectionError as exc:
            await self._tell(channel, user, f"Not queued: {exc}.")
            return
        log.info("answer %d marked wrong by %s: correction #%d", reply_id, user, correction.id)
        await self._tell(
            channel, user, f"Thanks! Correction #{correction.id} waits for an admin's review."
        )
        await self._post_card(correction)

    async def thumbs_down(self, reply_id: int) -> None:
        """A customer's 👎 on answer ``reply_id``: queue it once, and show it to reviewers."""
        correction = await self.queue.thumbs_down(reply_id)
        if correction is not None:
            log.info("answer %d rated down: correction #%d", reply_id, correction.id)
            await self._post_card(correction)

    async def _may_propose(self, user: str, channel: str, what: str) -> bool:
        if self.is_admin(user) or await self.is_agent(user):
            return True
        log.warning("%s by %s refused: not an agent or admin", what, user)
        await self._tell(channel, user, AGENTS_ONLY)
        return False

    # --- reviewing -----------------------------------------------------------------------

    async def command(self, body: Mapping[str, Any], words: list[str]) -> None:
        """``/ondo review [approve <#> [--update|--as-new] [answer] | reject <#>]``."""
        user, channel = str(body.get("user_id", "")), str(body.get("channel_id", ""))
        verb = words[0].lower() if words else "list"
        if verb == "list":
            if await self._may_propose(user, channel, "/ondo review"):
                await self._tell_blocks(channel, user, *await self._pending_blocks())
            return
        number = words[1].lstrip("#") if len(words) > 1 else ""
        if verb not in ("approve", "reject") or not number.isdecimal():
            await self._tell(channel, user, REVIEW_HELP)
            return
        rest = words[2:]
        mode: Mode = "update" if "--update" in rest else "new"
        answer = unescaped(" ".join(w for w in rest if w not in ("--update", "--as-new"))) or None
        note = await self.decide(user, verb, int(number), mode, answer)
        await self._tell(channel, user, note)

    async def on_button(self, body: Mapping[str, Any]) -> None:
        """Approve / Reject / Give answer on a correction card."""
        action = body["actions"][0]
        action_id, value = str(action["action_id"]), str(action.get("value") or "")
        user = str(body["user"]["id"])
        container = body.get("container") or {}
        channel = str((body.get("channel") or {}).get("id") or container.get("channel_id") or "")
        if not value.isdecimal():
            return
        if action_id == ANSWER_ACTION:
            correction = await self.queue.get(int(value))
            if correction is not None and await self._may_propose(user, channel, "answer"):
                await self._open_modal(str(body["trigger_id"]), correction.reply_id, channel)
            return
        verb = "reject" if action_id == REJECT_ACTION else "approve"
        mode: Mode = "update" if action_id == APPROVE_UPDATE_ACTION else "new"
        note = await self.decide(user, verb, int(value), mode, None)
        ts = str(container.get("message_ts") or "")
        if not container.get("is_ephemeral") and ts and note.startswith("#"):
            await self._close_card(channel, ts, note)
        else:
            await self._tell(channel, user, note)

    async def decide(
        self, user: str, verb: str, number: int, mode: Mode, answer: str | None
    ) -> str:
        """Approve or reject correction ``number`` as ``user``; returns a note for them."""
        if not self.is_admin(user):
            log.warning("%s of correction #%d by %s refused: not an admin", verb, number, user)
            return ADMINS_ONLY
        by = f"{PLATFORM}:{user}"
        try:
            if verb == "reject":
                await self.queue.reject(number, by)
                log.info("correction #%d rejected by %s", number, user)
                return f"#{number} rejected by <@{user}>; the knowledge base is unchanged."
            change = await self.queue.approve(
                number, by, self.engine.knowledge.entries, mode=mode, answer=answer
            )
        except CorrectionError as exc:
            return f"Nothing done: {exc}."
        log.info(
            "correction #%d approved by %s: %s %s", number, user, change.action, change.entry_id
        )
        await kb_live.refresh(self.engine.store, self.engine.knowledge)
        verb_done = "added" if change.action == "add" else "updated"
        return (
            f"#{number} approved by <@{user}>: entry `{change.entry_id}` {verb_done}, in use now."
        )

    async def _pending_blocks(self) -> tuple[str, list[dict[str, Any]]]:
        pending = await self.queue.pending()
        if not pending:
            return "No answers are waiting for review.", []
        blocks: list[dict[str, Any]] = []
        for correction in pending[:15]:  # a message holds at most 50 blocks
            blocks.extend(card_blocks(correction))
        return f"{len(pending)} answer(s) waiting for review", blocks

    async def _post_card(self, correction: Correction) -> None:
        if self.handoff_channel is None:
            return
        try:
            await self.client.chat_postMessage(
                channel=self.handoff_channel,
                text=f"Correction #{correction.id} waits for review",
                blocks=card_blocks(correction),
            )
        except SlackApiError as exc:
            log.error(
                "correction card #%d not posted: %s", correction.id, exc.response.get("error")
            )

    async def _close_card(self, channel: str, ts: str, note: str) -> None:
        try:
            await self.client.chat_update(
                channel=channel, ts=ts, text=note, blocks=text_sections(note)
            )
        except SlackApiError as exc:
            log.error(
                "correction card %s:%s not updated: %s", channel, ts, exc.response.get("error")
            )

    async def _tell(self, channel: str, user: str, text: str) -> None:
        await self._tell_blocks(channel, user, text, [])

    async def _tell_blocks(
        self, channel: str, user: str, text: str, blocks: list[dict[str, Any]]
    ) -> None:
        try:
            await self.client.chat_postEphemeral(
                channel=channel, user=user, text=text, blocks=blocks or None
            )
        except SlackApiError as exc:
            log.error(
                "review note to %s in %s failed: %s", user, channel, exc.response.get("error")
            )


def card_blocks(correction: Correction) -> list[dict[str, Any]]:
    """Block Kit for one waiting correction: what was asked, answered, proposed, and buttons."""
    head, *rest = inert_lines(describe(correction))
    text = f"*{head}*\n" + "\n".join(rest)
    if correction.proposed_answer:
        buttons = [(APPROVE_NEW_ACTION, "Approve (new entry)", "primary")]
        if correction.entry_id:
            buttons.append((APPROVE_UPDATE_ACTION, "Approve (update entry)", ""))
    else:
        buttons = [(ANSWER_ACTION, "Give answer", "primary")]
    buttons.append((REJECT_ACTION, "Reject", "danger"))
    return [
        *text_sections(text),
        {
            "type": "actions",
            "block_id": f"ondo_review_{correction.id}",
            "elements": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "text": {"type": "plain_text", "text": label},
                    "value": str(correction.id),
                    **({"style": style} if style else {}),
                }
                for action_id, label, style in buttons
            ],
        },
    ]


def correction_view(reply_id: int, channel: str, question: str, answer: str) -> dict[str, Any]:
    """The "Mark as wrong" modal: the question and answer for context, and the right answer."""
    context = f"*Question:* {inert(question) or '—'}\n*Ondo answered:* {inert(answer) or '—'}"
    return {
        "type": "modal",
        "callback_id": CORRECTION_VIEW,
        "private_metadata": json.dumps({"reply": reply_id, "channel": channel}),
        "title": {"type": "plain_text", "text": "Mark as wrong"},
        "submit": {"type": "plain_text", "text": "Send for review"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": context[:2900]}},
            {
                "type": "input",
                "block_id": ANSWER_BLOCK,
                "label": {"type": "plain_text", "text": "The right answer"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": ANSWER_BLOCK,
                    "multiline": True,
                    "max_length": 3000,
                },
            },
        ],
    }
