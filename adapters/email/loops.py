"""Mail Ondo must never answer, so that no two robots talk forever (RFC 3834).

:func:`why_not_answer` gives the reason a mail gets no answer, a short stable string counted in
the figures ("ignored by reason"), or ``None`` when it may be answered. The checks, first match
wins: our own mail coming back, bounces, auto-replies (Auto-Submitted, X-Autoreply and kin, an
out-of-office subject in Korean or English), Precedence bulk/list/junk, mailing lists (List-Id,
List-Unsubscribe), an empty Return-Path, a noreply sender, and last a per-sender rate limit
(:class:`SenderRate`, only counted for a mail that passed every other check).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import deque
from collections.abc import Callable, Collection

from adapters.email.parse import InboundMail

OWN_ADDRESS = "own_address"
OWN_MESSAGE_ID = "own_message_id"
BOUNCE = "bounce"
AUTO_SUBMITTED = "auto_submitted"
AUTO_REPLY_HEADER = "auto_reply_header"
OUT_OF_OFFICE = "out_of_office"
PRECEDENCE = "precedence"
MAILING_LIST = "mailing_list"
EMPTY_RETURN_PATH = "empty_return_path"
NOREPLY_SENDER = "noreply_sender"
RATE_LIMITED = "rate_limited"
REASONS = (
    OWN_ADDRESS,
    OWN_MESSAGE_ID,
    BOUNCE,
    AUTO_SUBMITTED,
    AUTO_REPLY_HEADER,
    OUT_OF_OFFICE,
    PRECEDENCE,
    MAILING_LIST,
    EMPTY_RETURN_PATH,
    NOREPLY_SENDER,
    RATE_LIMITED,
)
"""Every reason :func:`why_not_answer` can give."""

_BOUNCE_SENDERS = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon|mailerdaemon)$")
_NOREPLY = re.compile(r"^(?:no|do[-_.]?not)[-_.]?repl(?:y|ies)|^bounces?[-+.]")
_OUT_OF_OFFICE = re.compile(
    r"out of (?:the )?office|automatic reply|auto[- ]?reply|autoreply|auto[- ]?response|"
    r"vacation (?:reply|response|notice)|away from (?:the )?office|"
    r"자동\s*(?:회신|응답|답장|답변)|부재\s*중|부재\s*알림",
    re.IGNORECASE,
)
_PRECEDENCE = frozenset({"bulk", "list", "junk", "auto_reply"})


def _own_message_id(message_id: str, ours: Collection[str]) -> bool:
    found = message_id.lower()
    for entry in ours:
        entry = entry.strip().lower()
        if entry.startswith("<") and entry == found:
            return True
        if not entry.startswith("<") and found.endswith(f"@{entry.lstrip('@')}>"):
            return True
    return False


class SenderRate:
    """At most ``limit`` answers per sender in a sliding ``window`` (seconds).

    Senders are kept by a hash of the address only, never the address, with a hash of each
    admitted mail's Message-ID: the same mail read again (a redelivery, a second copy in the
    mailbox) is admitted without using the budget, and the record dedupes it. ``clock`` is a
    monotonic seconds source (a fake in tests).
    """

    def __init__(
        self,
        *,
        limit: int = 5,
        window: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        max_senders: int = 10000,
    ) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._max_senders = max_senders
        self._seen: dict[str, deque[tuple[float, str]]] = {}

    @staticmethod
    def key(address: str) -> str:
        """The hash a sender is counted under."""
        return hashlib.sha256(address.strip().lower().encode("utf-8")).hexdigest()[:32]

    def admit(self, address: str, message_id: str = "") -> bool:
        """Count one answer to ``address`` for the mail ``message_id``; ``False`` (and not
        counted) when over the limit. A Message-ID admitted within the window is admitted
        again without being counted twice."""
        now = self._clock()
        key = self.key(address)
        times = self._seen.setdefault(key, deque())
        while times and times[0][0] <= now - self._window:
            times.popleft()
        mark = hashlib.sha256(message_id.strip().encode("utf-8")).hexdigest()[:16]
        if message_id and any(seen == mark for _, seen in times):
            return True
        if len(times) >= self._limit:
            return False
        times.append((now, mark if message_id else ""))
        if len(self._seen) > self._max_senders:
            self._forget(now)
        return True

    def _forget(self, now: float) -> None:
        for key in [k for k, v in self._seen.items() if not v or v[-1][0] <= now - self._window]:
            del self._seen[key]
        # Still too many (a flood of distinct senders): the longest quiet go first.
        excess = len(self._seen) - self._max_senders
        if excess > 0:
            for key in sorted(self._seen, key=lambda k: self._seen[k][-1][0])[:excess]:
                del self._seen[key]


def why_not_answer(
    mail: InboundMail,
    *,
    our_addresses: Collection[str],
    our_message_ids: Collection[str] = (),
    rate: SenderRate | None = None,
) -> str | None:
    """The reason ``mail`` gets no answer (one of :data:`REASONS`), or ``None`` to answer it.

    ``our_addresses`` are the support mailbox's own addresses; ``our_message_ids`` holds the
    domains our Message-IDs are made in (``"ondo.example"``) and/or exact Message-IDs we sent.
    ``rate``, when given, is counted for a mail that passes every other check (once per
    Message-ID: a redelivered mail is no second answer and uses no budget).
    """
    sender = mail.from_address.lower()
    ours = {address.strip().lower() for address in our_addresses}
    if sender in ours or (mail.reply_to or "").lower() in ours:
        return OWN_ADDRESS
    if _own_message_id(mail.message_id, our_message_ids):
        return OWN_MESSAGE_ID
    local = sender.partition("@")[0]
    if mail.is_report or _BOUNCE_SENDERS.match(local):
        return BOUNCE
    if mail.auto_submitted and mail.auto_submitted.strip().lower().split(";")[0] != "no":
        return AUTO_SUBMITTED
    if mail.auto_reply_headers:
        return AUTO_REPLY_HEADER
    if _OUT_OF_OFFICE.search(mail.subject):
        return OUT_OF_OFFICE
    if (mail.precedence or "").strip().lower() in _PRECEDENCE:
        return PRECEDENCE
    if mail.list_id or mail.list_unsubscribe:
        return MAILING_LIST
    if mail.return_path is not None and mail.return_path.replace(" ", "") == "<>":
        return EMPTY_RETURN_PATH
    if _NOREPLY.search(local):
        return NOREPLY_SENDER
    if rate is not None and not rate.admit(sender, mail.message_id):
        return RATE_LIMITED
    return None
