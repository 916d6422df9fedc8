"""Personal identifiers sealed into conversation keys and pseudonyms, for every channel that
keys a conversation by one (phone numbers, e-mail addresses).

Conversation keys and user ids are logged, so the identifier never stands in them in clear.
A key is ``<platform>:<token>``, the token being the plain text sealed with AES-SIV
(deterministic authenticated encryption: the same text always gives the same key, across
restarts and replicas, and only the secret's holder can open it); a user id is a keyed hash.
Both keys come from one secret through HKDF, salted per channel so two channels never share
keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Collection

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class Sealer:
    """Seals text into ``<platform>:<token>`` keys, opens them again, and makes pseudonyms."""

    def __init__(self, secret: str, salt: bytes, *, max_token_chars: int) -> None:
        self._siv = AESSIV(_derive(secret, salt, b"conversation keys", 64))
        self._mac = _derive(secret, salt, b"user ids", 32)
        self._max_token_chars = max_token_chars

    def seal(self, platform: str, plain: str) -> str:
        """The key of ``plain`` on ``platform`` (the platform is authenticated with it)."""
        sealed = self._siv.encrypt(plain.encode(), [platform.encode()])
        return f"{platform}:" + base64.b32encode(sealed).decode().rstrip("=").lower()

    def open(self, key: str, platforms: Collection[str]) -> tuple[str, str] | None:
        """The platform and plain text behind ``key``; ``None`` for a key of another platform
        or one this secret did not seal."""
        platform, _, token = key.partition(":")
        if platform not in platforms or not token or len(token) > self._max_token_chars:
            return None
        try:
            sealed = base64.b32decode(token.upper() + "=" * (-len(token) % 8))
            return platform, self._siv.decrypt(sealed, [platform.encode()]).decode()
        except (binascii.Error, ValueError, InvalidTag, UnicodeDecodeError):
            return None

    def pseudonym(self, prefix: str, value: str) -> str:
        """``prefix`` + 24 hex digits of a keyed hash of ``value``."""
        return prefix + hmac.new(self._mac, value.encode(), hashlib.sha256).hexdigest()[:24]


def _derive(secret: str, salt: bytes, info: bytes, length: int) -> bytes:
    return HKDF(hashes.SHA256(), length, salt=salt, info=info).derive(secret.encode())
