"""Customers' reviews in the database (``store.reviews``): one row per message that gave one,
whichever channel it came through, its text sealed with the store's cipher.

Once per message by the schema (``UNIQUE (source, ref)``), and a journey's review request is
answered once (``UNIQUE (send_id)``): a redelivery, or two replicas racing, store one row.
"""

from __future__ import annotations

import time

from bot.storage.records import REVIEW_MAX_CHARS, ReviewPolarity, StoredReview
from bot.storage.sql.database import Bound

_COLUMNS = (
    "id, source, ref, customer_id, platform, conversation_key, send_id, language, rating, "
    "polarity, text, created_at"
)
_POLARITIES: tuple[ReviewPolarity, ...] = ("positive", "negative", "neutral")
_MAX_KEY_CHARS = 500


def _clean(value: str | None, limit: int = _MAX_KEY_CHARS) -> str | None:
    """``value`` fit for a column: NULs and lone surrogates gone, cut at ``limit``."""
    if value is None:
        return None
    text = str(value).replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return text[:limit]


def _text(value: str) -> str:
    text = _clean(value, len(value)) or ""
    if len(text) > REVIEW_MAX_CHARS:
        cut = len(text) - REVIEW_MAX_CHARS
        text = text[:REVIEW_MAX_CHARS] + f" […{cut} characters cut]"
    return text


def _polarity(value: object) -> ReviewPolarity:
    return next((p for p in _POLARITIES if p == value), "neutral")


def _rating(value: int | None) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        return None
    return value


class SqlReviews(Bound):
    """:class:`bot.storage.interface.Reviews` over the database."""

    async def record_review(
        self,
        source: str,
        ref: str,
        *,
        polarity: ReviewPolarity,
        text: str,
        customer_id: str | None = None,
        platform: str | None = None,
        conversation_key: str | None = None,
        send_id: int | None = None,
        language: str | None = None,
        rating: int | None = None,
        at: float | None = None,
    ) -> int | None:
        """Store a review once per message; the id of that message's review (stored now or
        before), or ``None`` when ``send_id`` was answered by another message already."""
        source_key = _clean(source) or "unknown"
        ref_key = _clean(ref) or "-"
        values = [
            source_key,
            ref_key,
            _clean(customer_id),
            _clean(platform),
            _clean(conversation_key),
            send_id,
            _clean(language, 10),
            _rating(rating),
            _polarity(polarity),
            self.cipher.seal(_text(text)),
            time.time() if at is None else float(at),
        ]

        def run() -> int | None:
            with self._write():
                new = self._sql.insert(
                    "INSERT INTO reviews (source, ref, customer_id, platform, conversation_key, "
                    "send_id, language, rating, polarity, text, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    values,
                )
                if new is not None:
                    return new
                row = self._one(
                    "SELECT id FROM reviews WHERE source = ? AND ref = ?", [source_key, ref_key]
                )
                return int(row[0]) if row else None

        return await self._run(run)

    async def review_for_send(self, send_id: int) -> StoredReview | None:
        """The review answering journey send ``send_id``, if any."""

        def run() -> StoredReview | None:
            row = self._one(f"SELECT {_COLUMNS} FROM reviews WHERE send_id = ?", [send_id])
            return self._review(row) if row else None

        return await self._run(run)

    async def reviews(self, since: float, until: float) -> list[StoredReview]:
        """The reviews created in ``[since, until)``, oldest first, opened."""

        def run() -> list[StoredReview]:
            rows = self._sql.execute(
                f"SELECT {_COLUMNS} FROM reviews WHERE created_at >= ? AND created_at < ? "
                "ORDER BY created_at, id",
                [since, until],
            ).fetchall()
            return [self._review(tuple(row)) for row in rows]

        return await self._run(run)

    def _review(self, row: tuple[object, ...]) -> StoredReview:
        rating = row[8]
        send = row[6]
        return StoredReview(
            id=int(str(row[0])),
            source=str(row[1]),
            ref=str(row[2]),
            customer_id=None if row[3] is None else str(row[3]),
            platform=None if row[4] is None else str(row[4]),
            conversation_key=None if row[5] is None else str(row[5]),
            send_id=None if send is None else int(str(send)),
            language=None if row[7] is None else str(row[7]),
            rating=None if rating is None else int(str(rating)),
            polarity=_polarity(row[9]),
            text=self.cipher.open(str(row[10])),
            created_at=float(str(row[11])),
        )
