"""E-mail addresses in and out of conversation keys, never in clear where keys go (logs).

An address is personal data, and conversation keys and user ids are logged. An e-mail
conversation's key is ``email:<token>``: the thread's root Message-ID and the customer's
address sealed together with AES-SIV (deterministic: the same thread and customer always give
the same key, across restarts and replicas; only the secret's holder can open it). A reply, an
agent's relay or an outbox retry finds the address and the thread from the key alone. The user
id is a keyed hash of the address (``m`` + 24 hex digits).

A small copy of :class:`adapters.twilio.identity.PhoneBook` (channels may not import each
other), with its own HKDF salt so the two never share keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PLATFORM = "email"
MAX_TOKEN_CHARS = 2000


def _derive(secret: str, info: bytes, length: int) -> bytes:
    return HKDF(hashes.SHA256(), length, salt=b"ondo-email", info=info).derive(secret.encode())


@dataclass(frozen=True)
class Thread:
    """Who is answered, in which thread."""

    root: str
    """The thread's first Message-ID (:func:`adapters.email.compose.thread_root`)."""
    customer: str


class AddressBook:
    """Seals (thread, address) into conversation keys and opens them again."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("the e-mail sealing secret is empty")
        self._siv = AESSIV(_derive(secret, b"conversation keys", 64))
        self._mac = _derive(secret, b"user ids", 32)

    def key_for(self, root: str, customer: str) -> str:
        """The conversation key of ``customer``'s thread ``root``."""
        plain = f"{root}\n{customer.strip().lower()}".encode()
        sealed = self._siv.encrypt(plain, [PLATFORM.encode()])
        return f"{PLATFORM}:" + base64.b32encode(sealed).decode().rstrip("=").lower()

    def thread_of(self, key: str) -> Thread | None:
        """The thread behind ``key``; ``None`` for another platform's key or one this secret
        did not seal."""
        platform, _, token = key.partition(":")
        if platform != PLATFORM or not token or len(token) > MAX_TOKEN_CHARS:
            return None
        try:
            sealed = base64.b32decode(token.upper() + "=" * (-len(token) % 8))
            plain = self._siv.decrypt(sealed, [PLATFORM.encode()]).decode()
        except (binascii.Error, ValueError, InvalidTag, UnicodeDecodeError):
            return None
        root, _, customer = plain.partition("\n")
        return Thread(root, customer)

    def user_for(self, customer: str) -> str:
        """The customer's pseudonymous user id."""
        digest = hmac.new(self._mac, customer.strip().lower().encode(), hashlib.sha256)
        return "m" + digest.hexdigest()[:24]
