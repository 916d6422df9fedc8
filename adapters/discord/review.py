"""The correction loop on Discord: mark an answer as wrong, rate answers, approve or reject.

* A message context-menu command **Mark as wrong** (registered on connect with
  ``POST /applications/{id}/commands``) on one of Ondo's answers opens a modal (interaction
  response type 9) for the right answer; its submission (``ondo:fix:<reply id>``) queues a
  correction. Staff (``adapters.discord.staff``) and admins may propose.
* 👍 / 👎 under answers (:mod:`adapters.discord.rating`): only the customer who asked may
  rate; a 👎 queues the answer (once per answer).
* Each new correction is posted to the staff channel with **Approve (new entry)**,
  **Approve (update entry)**, **Reject** buttons (**Give answer** for a bare 👎),
  ``ondo:review:<action>:<correction id>``. Only the admins of ``ONDO_ADMINS`` approve or
  reject; refusals are answered privately and logged. An approval is used at once.
"""

from __future__ import annotations

import logging
from typing import Any, cast

import discord

from adapters.discord.components import StaticButtons, button
from adapters.discord.events import PLATFORM
from adapters.discord.inert import inert_lines
from adapters.discord.rating import parse_rate_custom_id
from adapters.discord.sender import NO_MENTIONS, channel_for, describe, post
from adapters.discord.staff import StaffPolicy
from bot.conversation.engine import Engine
from bot.corrections import live as kb_live
from bot.corrections.loop import CorrectionError, Corrections, Mode
from bot.corrections.loop import describe as describe_correction
from bot.storage.records import Correction
from bot.texts import shorten

log = logging.getLogger("ondo.discord")

MARK_WRONG_COMMAND = "Mark as wrong"
MESSAGE_COMMAND = 3
FIX_PREFIX = "ondo:fix:"
REVIEW_PREFIX = "ondo:review:"
APPROVE, UPDATE, REJECT, ANSWER = "approve", "update", "reject", "answer"
ANSWER_INPUT = "answer"
TEXT_INPUT_LIMIT = 2000
STAFF_ONLY = "Only Ondo's support staff can mark answers as wrong."
ADMINS_ONLY = "Only Ondo's admins (ONDO_ADMINS) can approve or reject corrections."
NOT_AN_ANSWER = "That message is not one of Ondo's answers."
RATING_THANKS = {
    "ko": "평가해 주셔서 감사합니다! 더 나은 답변을 드리는 데 참고하겠습니다.",
    "en": "Thanks for rating this answer! It helps us improve.",
}
NOT_YOURS = {
    "ko": "질문하신 분만 이 답변을 평가할 수 있어요.",
    "en": "Only the person who asked can rate this answer.",
}


def review_custom_id(action: str, correction_id: int) -> str:
    """``ondo:review:<approve|update|reject|answer>:<correction id>``."""
    return f"{REVIEW_PREFIX}{action}:{correction_id}"


def _number_after(prefix: str, value: str | None) -> int | None:
    rest = (value or "").removeprefix(prefix)
    return int(rest) if (value or "").startswith(prefix) and rest.isdecimal() else None


class ReviewButtons(StaticButtons):
    """The buttons of a correction card."""

    def __init__(self, correction: Correction) -> None:
        buttons = [(ANSWER, "Give answer", discord.ButtonStyle.primary)]
        if correction.proposed_answer:
            buttons = [(APPROVE, "Approve (new entry)", discord.ButtonStyle.success)]
            if correction.entry_id:
                buttons.append((UPDATE, "Approve (update entry)", discord.ButtonStyle.primary))
        buttons.append((REJECT, "Reject", discord.ButtonStyle.danger))
        super().__init__(
            button(review_custom_id(action, correction.id), label=label, style=style)
            for action, label, style in buttons
        )


def correction_modal(reply_id: int, question: str) -> discord.ui.Modal:
    """The "Mark as wrong" modal: the right answer for bot reply ``reply_id``."""
    modal = discord.ui.Modal(title="Mark as wrong", custom_id=f"{FIX_PREFIX}{reply_id}")
    modal.add_item(
        discord.ui.TextInput(
            label="The right answer",
            style=discord.TextStyle.paragraph,
            custom_id=ANSWER_INPUT,
            placeholder=shorten(f"Question: {question}", 100),
            max_length=TEXT_INPUT_LIMIT,
        )
    )
    return modal


def submitted_answer(data: object) -> str | None:
    """The text typed into :func:`correction_modal`, from a submission's raw ``data``."""
    if isinstance(data, dict):
        if data.get("custom_id") == ANSWER_INPUT and isinstance(data.get("value"), str):
            return str(data["value"])
        return submitted_answer([*(data.get("components") or []), data.get("component")])
    if isinstance(data, list):
        for child in data:
            found = submitted_answer(child)
            if found is not None:
                return found
    return None


class DiscordReview:
    """Discord's side of :mod:`bot.corrections.loop` for one client."""

    def __init__(
        self,
        engine: Engine,
        client: discord.Client,
        *,
        staff: StaffPolicy,
        staff_channel: int | None,
        admins: frozenset[str],
    ) -> None:
        self.engine = engine
        self.queue = Corrections(engine.store)
        self.client = client
        self.staff = staff
        self.staff_channel = staff_channel
        self.admins = admins

    async def register_commands(self) -> None:
        """Create (or update) the **Mark as wrong** message command; failures are logged."""
        application_id = self.client.application_id
        if application_id is None:
            return
        payload = {"name": MARK_WRONG_COMMAND, "type": MESSAGE_COMMAND, "contexts": [0]}
        try:
            await self.client.http.upsert_global_command(application_id, cast(Any, payload))
        except discord.HTTPException as exc:
            log.error("the Mark as wrong command could not be registered: %s", describe(exc))

    async def handle(self, interaction: discord.Interaction) -> bool:
        """Handle one of the correction loop's interactions; ``False`` for any other."""
        kind = interaction.type
        data: dict[str, Any] = dict(interaction.data or {})
        custom_id = str(data.get("custom_id") or "")
        if kind is discord.InteractionType.application_command:
            if data.get("name") != MARK_WRONG_COMMAND:
                return False
            await self._mark_wrong(interaction, int(str(data.get("target_id") or 0)))
        elif kind is discord.InteractionType.modal_submit:
            reply_id = _number_after(FIX_PREFIX, custom_id)
            if reply_id is None:
                return False
            await self._submitted(interaction, reply_id, submitted_answer(data) or "")
        elif kind is discord.InteractionType.component:
            rating = parse_rate_custom_id(custom_id)
            if rating is not None:
                await self._rate(interaction, *rating)
            elif custom_id.startswith(REVIEW_PREFIX):
                action, _, number = custom_id.removeprefix(REVIEW_PREFIX).partition(":")
                if not number.isdecimal():
                    return False
                await self._review(interaction, action, int(number))
            else:
                return False
        else:
            return False
        return True

    # --- proposing -----------------------------------------------------------------------

    def is_admin(self, user: discord.abc.User) -> bool:
        """Whether ``user`` is one of ``ONDO_ADMINS``."""
        return f"{PLATFORM}:{user.id}" in self.admins

    def _may_propose(self, interaction: discord.Interaction, what: str) -> bool:
        user = interaction.user
        if self.is_admin(user):
            return True
        channel = self.client.get_channel(self.staff_channel) if self.staff_channel else None
        permissions = interaction.permissions
        if isinstance(channel, discord.TextChannel) and isinstance(user, discord.Member):
            permissions = channel.permissions_for(user)
        if self.staff.allows(user, permissions):
            return True
        log.warning("%s by %s refused: %s", what, user.id, self.staff.rule)
        return False

    async def _mark_wrong(self, interaction: discord.Interaction, message_id: int) -> None:
        if not self._may_propose(interaction, "mark as wrong"):
            await _tell(interaction, STAFF_ONLY)
            return
        reply_id = await self.queue.reply_by_platform_id(PLATFORM, str(message_id))
        preview = await self.queue.preview(reply_id) if reply_id is not None else None
        if reply_id is None or preview is None:
            await _tell(interaction, NOT_AN_ANSWER)
            return
        await self._open_modal(interaction, reply_id, preview.shown_question)

    async def _open_modal(
        self, interaction: discord.Interaction, reply_id: int, question: str
    ) -> None:
        modal = correction_modal(reply_id, question)
        try:
            await interaction.response.send_modal(modal)
        except discord.HTTPException as exc:
            log.warning("correction modal for answer %d not opened: %s", reply_id, describe(exc))
        modal.stop()  # its submission is handled here by custom id, not by discord.py

    async def _submitted(self, interaction: discord.Interaction, reply_id: int, text: str) -> None:
        if not self._may_propose(interaction, "correction"):
            await _tell(interaction, STAFF_ONLY)
            return
        by = f"{PLATFORM}:{interaction.user.id}"
        try:
            correction = await self.queue.mark_wrong(reply_id, text, by)
        except CorrectionError as exc:
            await _tell(interaction, f"Not queued: {exc}.")
            return
        log.info("answer %d marked wrong by %s: correction #%d", reply_id, by, correction.id)
        await _tell(
            interaction, f"Thanks! Correction #{correction.id} waits for an admin's review."
        )
        await self._post_card(correction)

    async def _rate(self, interaction: discord.Interaction, rating: int, reply_id: int) -> None:
        preview = await self.queue.preview(reply_id)
        language = preview.language if preview is not None else "en"
        user = str(interaction.user.id)
        if preview is None or await self.queue.asker_of(reply_id) != user:
            log.warning(
                "rating %+d of answer %d by %s refused: not the asker", rating, reply_id, user
            )
            await _tell(interaction, NOT_YOURS[language])
            return
        entry_id = await self.engine.store.rate(reply_id, user, rating)
        if entry_id is None:
            log.warning(
                "rating %+d by %s refused: %d is not a rateable answer", rating, user, reply_id
            )
            await _tell(interaction, NOT_YOURS[language])
            return
        log.info("answer %d (entry %s) rated %+d by %s", reply_id, entry_id, rating, user)
        await _tell(interaction, RATING_THANKS[language])
        if rating < 0:
            correction = await self.queue.thumbs_down(reply_id)
            if correction is not None:
                await self._post_card(correction)

    # --- reviewing -----------------------------------------------------------------------

    async def _review(self, interaction: discord.Interaction, action: str, number: int) -> None:
        user = interaction.user
        if action == ANSWER:
            correction = await self.queue.get(number)
            if not self._may_propose(interaction, "answer"):
                await _tell(interaction, STAFF_ONLY)
            elif correction is not None:
                await self._open_modal(interaction, correction.reply_id, correction.shown_question)
            return
        if not self.is_admin(user):
            log.warning("%s of correction #%d by %s refused: not an admin", action, number, user.id)
            await _tell(interaction, ADMINS_ONLY)
            return
        by = f"{PLATFORM}:{user.id}"
        try:
            if action == REJECT:
                await self.queue.reject(number, by)
                note = f"#{number} rejected by <@{user.id}>; the knowledge base is unchanged."
            else:
                mode: Mode = "update" if action == UPDATE else "new"
                change = await self.queue.approve(
                    number, by, self.engine.knowledge.entries, mode=mode
                )
                done = "added" if change.action == "add" else "updated"
                note = f"#{number} approved by <@{user.id}>: entry `{change.entry_id}` {done}."
        except CorrectionError as exc:
            await _tell(interaction, f"Nothing done: {exc}.")
            return
        log.info("correction #%d: %s by %s", number, action, user.id)
        try:
            await interaction.response.edit_message(
                content=note, view=None, allowed_mentions=NO_MENTIONS
            )
        except discord.HTTPException as exc:
            log.warning("correction card #%d not updated: %s", number, describe(exc))
        if action != REJECT:
            # After answering: Discord wants an answer within 3 s, a rebuild may take longer.
            await kb_live.refresh(self.engine.store, self.engine.knowledge)

    async def _post_card(self, correction: Correction) -> None:
        if self.staff_channel is None:
            return
        try:
            await post(
                channel_for(self.client, self.staff_channel),
                card_content(correction),
                view=ReviewButtons(correction),
                suppress_embeds=True,
            )
        except Exception as exc:
            log.error("correction card #%d not posted: %s", correction.id, describe(exc))


def card_content(correction: Correction) -> str:
    """The review card's text: what was asked, answered and proposed, every line inert (the
    question is a customer's, the answers a model's or staff's)."""
    head, *rest = inert_lines(describe_correction(correction))
    return f"**{head}**\n" + "\n".join(rest)


async def _tell(interaction: discord.Interaction, text: str) -> None:
    try:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException as exc:
        log.warning("private answer to an interaction failed: %s", describe(exc))
