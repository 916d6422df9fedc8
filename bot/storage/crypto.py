"""Encryption of customer text at rest (Fernet: AES-128-CBC + HMAC-SHA256, authenticated).

The store seals message text, handoff summaries and agents' notes with a :class:`Cipher`
before they reach SQLite and opens them when they are read back. Sealed values carry a
prefix, so rows written before a key was set still read (and ``ondo keys rotate`` seals them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.settings import SettingsError

PREFIX = "enc1:"


class CipherError(SettingsError):
    """A key is malformed, or a sealed value cannot be opened with the keys given."""


class Cipher(Protocol):
    """Seals and opens text stored at rest."""

    @property
    def encrypts(self) -> bool:
        """Whether :meth:`seal` actually encrypts."""
        ...

    def seal(self, text: str) -> str:
        """The value to store for ``text``."""
        ...

    def open(self, stored: str) -> str:
        """The text of a stored value (plain values pass through)."""
        ...


class PlainCipher:
    """No key: text is stored as it is; sealed values cannot be read and say so."""

    encrypts = False

    def seal(self, text: str) -> str:
        """``text`` unchanged."""
        return text

    def open(self, stored: str) -> str:
        """Plain values unchanged; a sealed one raises :class:`CipherError`."""
        if stored.startswith(PREFIX):
            raise CipherError("this database holds encrypted text: set ONDO_ENCRYPTION_KEY")
        return stored


class FernetCipher:
    """Seals with the first key; opens with any of them (so a key can be rotated)."""

    encrypts = True

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise CipherError("no encryption key given")
        try:
            self._fernet = MultiFernet([Fernet(k.strip().encode("ascii")) for k in keys])
        except (ValueError, UnicodeEncodeError):
            raise CipherError(
                "ONDO_ENCRYPTION_KEY must be a Fernet key (urlsafe base64 of 32 bytes); "
                "`ondo keys generate` prints one"
            ) from None

    def seal(self, text: str) -> str:
        """``enc1:`` + the Fernet token of ``text``."""
        return PREFIX + self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def open(self, stored: str) -> str:
        """The text of a sealed value; plain values (from before the key) unchanged."""
        if not stored.startswith(PREFIX):
            return stored
        try:
            return self._fernet.decrypt(stored.removeprefix(PREFIX).encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise CipherError(
                "stored text cannot be decrypted with ONDO_ENCRYPTION_KEY (wrong or rotated key?)"
            ) from None


def generate_key() -> str:
    """A new random Fernet key."""
    return Fernet.generate_key().decode("ascii")


def cipher_for(key_setting: str | None) -> Cipher:
    """The cipher for ``ONDO_ENCRYPTION_KEY``: comma-separated keys, the first one sealing
    (keep an old key after it while rotating); unset means no encryption."""
    if not key_setting:
        return PlainCipher()
    return FernetCipher([k for k in key_setting.split(",") if k.strip()])
