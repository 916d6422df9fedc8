"""Direct messages to a platform user, outside any conversation: journey DMs.

The journeys' scheduler queues an outbox row of kind ``dm`` (target = the platform user id);
the courier of the replica holding that platform posts it through the platform's
:class:`DirectMessenger`. A platform that says the user can never be messaged (they blocked
the bot, left, were deactivated) raises :class:`Undeliverable`: the user is marked so and the
row is not retried. Any other failure is transient and the courier tries again later.

A posted DM comes back as :class:`Posted`: its platform id and the key of the conversation
the customer's answer in that DM will land in, so the courier records the DM there and the
history and the handoff summary show what the bot wrote before the answer.

Each DM is a :class:`DirectMessage`: besides the text, the category its opt-out button opts
out of (marketing and review requests carry one; transactional messages none) and what makes
it at most once: the outbox row's id as an idempotency token, and whether an earlier attempt
may have posted it already (a crash between the post and the delivered mark). On such a retry
the adapter first looks for the DM on the platform and returns the one it finds.

A click on the opt-out button comes back through :data:`OptOutClick` (the journeys' service),
with the clicking user checked against the DM's recipient by the adapter first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from bot.types import Language

MAX_REASON_CHARS = 200
OPT_OUT_CATEGORIES = frozenset({"marketing", "review_request"})
"""The categories whose DMs carry an opt-out button: what no customer is owed."""
OPT_OUT_LABELS: dict[Language, str] = {"ko": "수신거부", "en": "Unsubscribe"}
"""The opt-out button's label in the DM's language."""

OptOutClick = Callable[[str, str, str, str], Awaitable[str | None]]
"""``(platform, user, category, language)`` -> the confirmation (in the customer's language)
once ``user`` is opted out of ``category`` by the button under a DM, or ``None`` when the user
is no known customer (nothing recorded). Set on the router by the journeys' service."""


class Undeliverable(Exception):
    """The platform refuses direct messages to this user for good."""

    def __init__(self, reason: str) -> None:
        reason = " ".join(reason.split())[:MAX_REASON_CHARS] or "undeliverable"
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Posted:
    """A posted direct message: the platform's message id and the conversation it opens."""

    message_id: str
    conversation_key: str


@dataclass(frozen=True)
class DirectMessage:
    """One journey DM to post."""

    user: str
    """The recipient's platform user id."""
    text: str
    language: Language
    opt_out: str | None = None
    """The category the DM's opt-out button opts out of; ``None``: no button."""
    token: int | None = None
    """The idempotency token (the outbox row's id), carried by the posted message."""
    retry: bool = False
    """An earlier attempt may have posted it: look for it on the platform first."""
    queued_at: float | None = None
    """When it was queued (epoch seconds): a DM found on a retry was posted after this."""


def journey_ref(send_id: int, category: str) -> str:
    """The outbox ``ref`` of a journey's DM: ``journey:<send id>:<category>``."""
    return f"journey:{send_id}:{category}"


def opt_out_category(ref: str | None) -> str | None:
    """The category the opt-out button under the DM of outbox ``ref`` opts out of: the
    journey's category when it is marketing or a review request; ``None`` for a
    transactional DM and a ref without a category (a row queued before categories were)."""
    kind, _, rest = (ref or "").partition(":")
    category = rest.partition(":")[2]
    return category if kind == "journey" and category in OPT_OUT_CATEGORIES else None


class DirectMessenger(Protocol):
    """Posts a direct message to one user of a platform."""

    platform: str

    async def send_dm(self, message: DirectMessage) -> Posted:
        """Post ``message.text`` to ``message.user`` in a DM (with the opt-out button when
        ``message.opt_out`` names a category), carrying ``message.token``; on a
        ``message.retry`` return the DM already posted with that token instead of posting it
        again. Return the posted message's platform id and conversation key (as the adapter
        keys a reply in that DM). Raise :class:`Undeliverable` when the platform says the
        user cannot be messaged; anything else raised is a transient failure."""
        ...


# --- deterministic fake for tests ---------------------------------------------------------


@dataclass
class MemoryDirect:
    """A :class:`DirectMessenger` that records what it would post.

    ``refused`` maps user ids to the reason the platform would give (→ :class:`Undeliverable`);
    ``fail_next`` makes the next posts raise ``ConnectionError`` (transient). Like a platform
    it keeps what it posted by token, and a retry returns a DM posted before."""

    platform: str
    sent: list[tuple[str, str, Language]] = field(default_factory=list)
    messages: list[DirectMessage] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    fail_next: int = 0

    async def send_dm(self, message: DirectMessage) -> Posted:
        """Record the DM (once per token on a retry), or raise as scripted."""
        user = message.user
        if user in self.refused:
            raise Undeliverable(self.refused[user])
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("platform unavailable")
        key = f"{self.platform}:dm:{user}"
        if message.retry and message.token is not None:
            for number, earlier in enumerate(self.messages, 1):
                if earlier.token == message.token:
                    return Posted(f"dm-{number}", key)
        self.messages.append(message)
        self.sent.append((user, message.text, message.language))
        return Posted(f"dm-{len(self.sent)}", key)
