"""Phone numbers in and out of conversation keys, never in clear where keys go (logs).

A phone number is personal data, and conversation keys and user ids are logged. So an SMS
conversation's key is ``sms:<token>``, the token being the customer's and the shop's numbers
sealed together with AES-SIV (deterministic authenticated encryption: the same pair always
gives the same key, and only the key's holder can open it). Replies find the numbers from the
key alone, on any replica and after a restart, with no table of numbers to keep, encrypt or
forget: erasing the conversation erases the number. The user id is a keyed hash of the
customer's number (``p`` + 24 hex digits), the same for SMS and voice, which is what the
journeys' consent ledger links (platform ``sms``).

Both keys come from one secret (``ONDO_PHONE_KEY``, else the auth token) through HKDF.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

E164_RE = re.compile(r"\+[1-9][0-9]{6,14}")
CHANNELS = ("sms", "voice")
"""The conversation-key prefixes (platforms) of the Twilio adapter's channels."""
IDENTITY_PLATFORM = "sms"
"""The platform of the phone identity in the journeys' ledger (SMS and voice share it)."""


def _derive(secret: str, info: bytes, length: int) -> bytes:
    return HKDF(hashes.SHA256(), length, salt=b"ondo-phone", info=info).derive(secret.encode())


@dataclass(frozen=True)
class Numbers:
    """Who talks to whom in one phone conversation."""

    customer: str
    shop: str


class PhoneBook:
    """Seals numbers into conversation keys and opens them again."""

    def __init__(self, secret: str) -> None:
        self._siv = AESSIV(_derive(secret, b"conversation keys", 64))
        self._mac = _derive(secret, b"user ids", 32)

    def key_for(self, channel: str, customer: str, shop: str) -> str:
        """The conversation key of ``customer`` writing (or calling) ``shop`` on ``channel``."""
        if channel not in CHANNELS:
            raise ValueError(f"unknown phone channel {channel!r}")
        sealed = self._siv.encrypt(f"{customer}|{shop}".encode(), [channel.encode()])
        return f"{channel}:" + base64.b32encode(sealed).decode().rstrip("=").lower()

    def numbers_of(self, key: str) -> Numbers | None:
        """The numbers behind conversation ``key``; ``None`` for another platform's key or
        one this secret did not seal."""
        channel, _, token = key.partition(":")
        if channel not in CHANNELS or not token or len(token) > 200:
            return None
        try:
            sealed = base64.b32decode(token.upper() + "=" * (-len(token) % 8))
            plain = self._siv.decrypt(sealed, [channel.encode()]).decode()
        except (binascii.Error, ValueError, InvalidTag, UnicodeDecodeError):
            return None
        customer, _, shop = plain.partition("|")
        return Numbers(customer, shop)

    def user_for(self, customer: str) -> str:
        """The customer's pseudonymous user id (the same on SMS and voice)."""
        return "p" + hmac.new(self._mac, customer.encode(), hashlib.sha256).hexdigest()[:24]


def mask(number: str) -> str:
    """``number`` as a log line may show it: its last two digits only."""
    return f"…{number[-2:]}" if len(number) > 2 else "…"
