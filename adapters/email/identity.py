"""E-mail addresses in and out of conversation keys, never in clear where keys go (logs).

An address is personal data, and conversation keys and user ids are logged. An e-mail
conversation's key is ``email:<token>``: the thread's root Message-ID and the customer's
address sealed together with AES-SIV (deterministic: the same thread and customer always give
the same key, across restarts and replicas; only the secret's holder can open it). A reply, an
agent's relay or an outbox retry finds the address and the thread from the key alone. The user
id is a keyed hash of the address (``m`` + 24 hex digits).

The sealing is :class:`adapters.sealing.Sealer`'s, with its own HKDF salt so e-mail and phone
keys never share keys.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.sealing import Sealer

PLATFORM = "email"
MAX_TOKEN_CHARS = 2000


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
        self._sealer = Sealer(secret, b"ondo-email", max_token_chars=MAX_TOKEN_CHARS)

    def key_for(self, root: str, customer: str) -> str:
        """The conversation key of ``customer``'s thread ``root``."""
        return self._sealer.seal(PLATFORM, f"{root}\n{customer.strip().lower()}")

    def thread_of(self, key: str) -> Thread | None:
        """The thread behind ``key``; ``None`` for another platform's key or one this secret
        did not seal."""
        opened = self._sealer.open(key, (PLATFORM,))
        if opened is None:
            return None
        root, _, customer = opened[1].partition("\n")
        return Thread(root, customer)

    def user_for(self, customer: str) -> str:
        """The customer's pseudonymous user id."""
        return self._sealer.pseudonym("m", customer.strip().lower())
