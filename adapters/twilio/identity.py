"""Phone numbers in and out of conversation keys, never in clear where keys go (logs).

A phone number is personal data, and conversation keys and user ids are logged. So an SMS
conversation's key is ``sms:<token>``, the token being the customer's and the shop's numbers
sealed together with AES-SIV (deterministic authenticated encryption: the same pair always
gives the same key, and only the key's holder can open it). Replies find the numbers from the
key alone, on any replica and after a restart, with no table of numbers to keep, encrypt or
forget: erasing the conversation erases the number. The user id is a keyed hash of the
customer's number (``p`` + 24 hex digits), the same for SMS and voice, which is what the
journeys' consent ledger links (platform ``sms``).

Both keys come from one secret (``ONDO_PHONE_KEY``, else the auth token) through HKDF
(:class:`adapters.sealing.Sealer`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from adapters.sealing import Sealer

E164_RE = re.compile(r"\+[1-9][0-9]{6,14}")
CHANNELS = ("sms", "voice")
"""The conversation-key prefixes (platforms) of the Twilio adapter's channels."""
IDENTITY_PLATFORM = "sms"
"""The platform of the phone identity in the journeys' ledger (SMS and voice share it)."""


@dataclass(frozen=True)
class Numbers:
    """Who talks to whom in one phone conversation."""

    customer: str
    shop: str


class PhoneBook:
    """Seals numbers into conversation keys and opens them again."""

    def __init__(self, secret: str) -> None:
        self._sealer = Sealer(secret, b"ondo-phone", max_token_chars=200)

    def key_for(self, channel: str, customer: str, shop: str) -> str:
        """The conversation key of ``customer`` writing (or calling) ``shop`` on ``channel``."""
        if channel not in CHANNELS:
            raise ValueError(f"unknown phone channel {channel!r}")
        return self._sealer.seal(channel, f"{customer}|{shop}")

    def numbers_of(self, key: str) -> Numbers | None:
        """The numbers behind conversation ``key``; ``None`` for another platform's key or
        one this secret did not seal."""
        opened = self._sealer.open(key, CHANNELS)
        if opened is None:
            return None
        customer, _, shop = opened[1].partition("|")
        return Numbers(customer, shop)

    def user_for(self, customer: str) -> str:
        """The customer's pseudonymous user id (the same on SMS and voice)."""
        return self._sealer.pseudonym("p", customer)


def mask(number: str) -> str:
    """``number`` as a log line may show it: its last two digits only."""
    return f"…{number[-2:]}" if len(number) > 2 else "…"
