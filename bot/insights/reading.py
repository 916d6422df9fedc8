"""Read a file of customer reviews: CSV (or TSV) or JSON lines, in UTF-8 or CP949.

Encodings: UTF-8 (with or without a BOM) and UTF-16 with a BOM are read as a whole; otherwise
each line is decoded as strict UTF-8 and, failing that, as CP949 (a superset of EUC-KR, what
Korean spreadsheet tools export), so a file that mixes both still reads correctly. Korean CP949
text is never valid UTF-8, which makes the per-line guess safe.

Columns are found by name: the review text (``review``, ``text``, ``content``, ``body``,
``comment``, ``리뷰``, ``내용``, ``후기`` …), and optionally a star rating (``rating``,
``score``, ``stars``, ``별점``, ``평점`` …) and a date (``date``, ``created_at``, ``작성일`` …).
Problems raise :class:`~bot.insights.InsightsError` with one line naming the file, the line and
the columns that were found.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.insights import InsightsError
from bot.storage.records import StoredReview
from knowledge.loader import csv_field_limit

SAMPLE_REVIEWS = Path(__file__).resolve().parent / "sample" / "reviews.csv"
"""The bundled sample: 151 reviews of the fictional shop 온도마켓 (Korean and English)."""

MAX_TEXT_CHARS = 5000
"""Review text beyond this many characters is cut (a review is not an essay; keeps the
analysis fast on exports with pasted-in junk)."""

_MAX_FIELD = 16 * 1024 * 1024

TEXT_COLUMNS = (
    "review",
    "reviews",
    "reviewtext",
    "reviewbody",
    "text",
    "content",
    "contents",
    "body",
    "comment",
    "comments",
    "message",
    "feedback",
    "리뷰",
    "리뷰내용",
    "내용",
    "후기",
    "후기내용",
    "상품평",
    "본문",
    "평가내용",
    "댓글",
)
RATING_COLUMNS = (
    "rating",
    "stars",
    "star",
    "starrating",
    "score",
    "reviewrating",
    "별점",
    "평점",
    "점수",
    "만족도",
)
DATE_COLUMNS = (
    "date",
    "createdat",
    "created",
    "reviewdate",
    "datetime",
    "timestamp",
    "time",
    "날짜",
    "작성일",
    "작성일자",
    "등록일",
    "작성일시",
    "일자",
)


@dataclass(frozen=True)
class Review:
    """One review: its text, the line it starts on, and the optional rating and date."""

    text: str
    line: int
    rating: float | None = None
    """Stars normalized to 1..5 (a 10- or 100-point scale is rescaled)."""
    date: dt.date | None = None


@dataclass(frozen=True)
class ReviewFile:
    """The reviews of one file and how the file was read."""

    path: Path
    reviews: list[Review]
    encoding: str
    """``utf-8``, ``utf-8-sig``, ``utf-16``, ``cp949``, or ``utf-8+cp949`` for a mixed file."""
    text_column: str
    rating_column: str | None
    date_column: str | None


def read_reviews(path: Path) -> ReviewFile:
    """Read the reviews in ``path`` (CSV/TSV, or JSON lines for ``.jsonl``/``.json`` files)."""
    name = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InsightsError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InsightsError(f"{name}: is a folder, not a reviews file") from None
    except OSError as exc:
        raise InsightsError(f"{name}: cannot read: {exc.strerror}") from None
    text, encoding = decode(data, name)
    if not text.strip():
        raise InsightsError(f"{name}: the file is empty")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json") or (
        suffix not in (".csv", ".tsv", ".txt") and text.lstrip().startswith(("{", "["))
    ):
        headers, records = _json_records(text, name)
    else:
        headers, records = _csv_records(text, name, "\t" if suffix == ".tsv" else None)
    return _reviews(path, encoding, headers, records)


STORED_ENCODING = "database"
"""The ``encoding`` of the reviews read from the database (``file.encoding`` in the JSON)."""


def stored_reviews(rows: Sequence[StoredReview], source: str, tz: dt.tzinfo) -> ReviewFile:
    """The reviews stored in the database (``store.reviews``) as a :class:`ReviewFile` named
    ``source`` (the database's label), dated in ``tz``; their text is cut as a file's is."""
    reviews = [
        Review(
            text=row.text[:MAX_TEXT_CHARS],
            line=number,
            rating=float(row.rating) if row.rating is not None else None,
            date=dt.datetime.fromtimestamp(row.created_at, tz).date(),
        )
        for number, row in enumerate(rows, start=1)
    ]
    return ReviewFile(Path(source), reviews, STORED_ENCODING, "text", "rating", "created_at")


def decode(data: bytes, name: str) -> tuple[str, str]:
    """``data`` as text and the encoding it was read with (see the module docstring)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return _strict(data[3:], "utf-8", name), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _strict(data, "utf-16", name), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    lines: list[str] = []
    used: set[str] = set()
    for number, raw in enumerate(data.split(b"\n"), 1):
        for encoding in ("utf-8", "cp949"):
            try:
                lines.append(raw.decode(encoding))
            except UnicodeDecodeError:
                continue
            if not raw.isascii():
                used.add(encoding)
            break
        else:
            raise InsightsError(
                f"{name}: line {number}: neither UTF-8 nor CP949/EUC-KR text; "
                "save the file as UTF-8 and try again"
            )
    return "\n".join(lines), "utf-8+cp949" if len(used) == 2 else "cp949"


def _strict(data: bytes, encoding: str, name: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InsightsError(
            f"{name}: starts like {encoding} but byte {exc.start} is not valid {encoding}"
        ) from None


Record = tuple[int, dict[str, Any]]


def _csv_records(text: str, name: str, delimiter: str | None) -> tuple[list[str], list[Record]]:
    if delimiter is None:
        header_line = text.lstrip("\r\n").split("\n", 1)[0]
        delimiter = max(",\t;|", key=header_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    headers: list[str] | None = None
    records: list[Record] = []
    start = 1
    try:
        with csv_field_limit(_MAX_FIELD):
            for row in reader:
                if any(cell.strip() for cell in row):
                    if headers is None:
                        headers = [cell.strip() for cell in row]
                    else:
                        records.append((start, dict(zip(headers, row, strict=False))))
                start = reader.line_num + 1
    except csv.Error as exc:
        raise InsightsError(f"{name}: line {start}: unreadable CSV: {exc}") from None
    return headers or [], records


def _json_records(text: str, name: str) -> tuple[list[str], list[Record]]:
    stripped = text.lstrip()
    if stripped.startswith("["):  # a JSON array of objects is accepted too
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InsightsError(f"{name}: line {exc.lineno}: not valid JSON: {exc.msg}") from None
        numbered = list(enumerate(items if isinstance(items, list) else [items], 1))
        where = "item"
    else:
        numbered = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                numbered.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise InsightsError(f"{name}: line {number}: not valid JSON: {exc.msg}") from None
        where = "line"
    headers: list[str] = []
    records: list[Record] = []
    for number, item in numbered:
        if not isinstance(item, dict):
            kind = type(item).__name__
            raise InsightsError(f"{name}: {where} {number}: expected a JSON object, got {kind}")
        headers.extend(str(key) for key in item if str(key) not in headers)
        records.append((number, {str(k): v for k, v in item.items()}))
    return headers, records


def _reviews(
    path: Path, encoding: str, headers: Sequence[str], records: Sequence[Record]
) -> ReviewFile:
    name = str(path)
    text_column = find_column(headers, TEXT_COLUMNS)
    if text_column is None:
        found = ", ".join(repr(h) for h in headers[:12]) or "none"
        raise InsightsError(
            f"{name}: no review text column (found columns: {found}; expected one of "
            "review, text, content, body, comment, 리뷰, 내용, 후기)"
        )
    rating_column = find_column(headers, RATING_COLUMNS)
    date_column = find_column(headers, DATE_COLUMNS)
    ratings = {n: parse_rating(r.get(rating_column)) for n, r in records} if rating_column else {}
    scale = _scale([r for r in ratings.values() if r is not None])
    reviews: list[Review] = []
    for number, record in records:
        text = _text(record.get(text_column))
        if not text:
            continue
        rating = ratings.get(number)
        reviews.append(
            Review(
                text=text,
                line=number,
                rating=None if rating is None else round(rating * 5 / scale, 2),
                date=parse_date(record.get(date_column)) if date_column else None,
            )
        )
    if not reviews:
        what = "no rows" if not records else f"no text in column {text_column!r}"
        raise InsightsError(f"{name}: no reviews ({what})")
    return ReviewFile(path, reviews, encoding, text_column, rating_column, date_column)


def find_column(headers: Sequence[str], names: Sequence[str]) -> str | None:
    """The first header matching one of ``names`` (case, spaces, ``_`` and ``-`` ignored)."""
    keyed = {_key(h): h for h in reversed(headers)}
    return next((keyed[n] for n in names if n in keyed), None)


def _key(header: str) -> str:
    return re.sub(r"[\s_\-]+", "", header.strip().lstrip("\ufeff").lower())


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    text = " ".join(str(value).split())
    return text[:MAX_TEXT_CHARS]


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def parse_rating(value: Any) -> float | None:
    """Stars from ``4``, ``4.5``, ``"4/5"``, ``"5점"``, ``"★★★★☆"``; ``None`` if there are none."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value > 0 else None
    text = str(value).strip()
    if "★" in text:
        return float(text.count("★"))
    match = _NUMBER.search(text)
    if match is None:
        return None
    number = float(match.group())
    return number if number > 0 else None


def _scale(ratings: Sequence[float]) -> float:
    top = max(ratings, default=5.0)
    return 5.0 if top <= 5 else 10.0 if top <= 10 else 100.0


_DATE = re.compile(r"(\d{4})\s*[-./년]\s*(\d{1,2})\s*[-./월]\s*(\d{1,2})")


def parse_date(value: Any) -> dt.date | None:
    """The date in ``2026-11-27``, ``2026.11.27``, ``2026년 11월 27일``, ISO timestamps, or epoch
    seconds; ``None`` when there is none."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return dt.datetime.fromtimestamp(float(value), dt.UTC).date()
        except (OverflowError, OSError, ValueError):
            return None
    match = _DATE.search(str(value))
    if match is None:
        return None
    try:
        return dt.date(*(int(part) for part in match.groups()))
    except ValueError:
        return None
