"""Reading review files: formats, encodings (CP949!), columns, and clear errors."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from bot.insights import InsightsError
from bot.insights.reading import (
    MAX_TEXT_CHARS,
    SAMPLE_REVIEWS,
    decode,
    parse_date,
    parse_rating,
    read_reviews,
)

KO_CSV = (
    "리뷰,별점,작성일\n"
    "빠른 배송 감사합니다,5,2026.11.01\n"
    "포장 문제로 파손됐어요,1,2026년 11월 2일\n"
)


def test_cp949_export_from_a_korean_tool_reads_correctly(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(KO_CSV.encode("cp949"))
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")  # really not UTF-8
    file = read_reviews(path)
    assert file.encoding == "cp949"
    assert (file.text_column, file.rating_column, file.date_column) == ("리뷰", "별점", "작성일")
    assert [r.text for r in file.reviews] == ["빠른 배송 감사합니다", "포장 문제로 파손됐어요"]
    assert [r.rating for r in file.reviews] == [5.0, 1.0]
    assert [r.date for r in file.reviews] == [dt.date(2026, 11, 1), dt.date(2026, 11, 2)]


def test_euc_kr_bytes_are_read_as_cp949(tmp_path: Path) -> None:
    path = tmp_path / "euc.csv"
    path.write_bytes("내용\n교환 지연이 심해요\n".encode("euc-kr"))
    assert read_reviews(path).reviews[0].text == "교환 지연이 심해요"


def test_a_file_mixing_utf8_and_cp949_lines_reads_both(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"review\n" + "친절한 상담\n".encode() + "포장 문제\n".encode("cp949"))
    file = read_reviews(path)
    assert file.encoding == "utf-8+cp949"
    assert [r.text for r in file.reviews] == ["친절한 상담", "포장 문제"]


def test_bytes_in_no_known_encoding_name_the_line() -> None:
    with pytest.raises(InsightsError, match=r"x\.csv: line 2: neither UTF-8 nor CP949"):
        decode(b"review\n\xff\xff\xff\n", "x.csv")


def test_utf8_bom_is_stripped_from_the_header(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffReview,Rating\nFast delivery,5\n".encode())
    file = read_reviews(path)
    assert file.encoding == "utf-8-sig"
    assert file.text_column == "Review"
    assert file.reviews[0].text == "Fast delivery"


def test_utf16_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "unicode.txt"
    path.write_bytes("후기\t평점\n좋아요\t4\n".encode("utf-16"))
    file = read_reviews(path)
    assert (file.encoding, file.reviews[0].text, file.reviews[0].rating) == (
        "utf-16",
        "좋아요",
        4.0,
    )


def test_json_lines_with_korean_keys_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "reviews.jsonl"
    rows = [{"후기": "빠른 배송", "별점": 5}, {"후기": "late delivery", "별점": "2점"}]
    path.write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n", encoding="utf-8"
    )
    file = read_reviews(path)
    assert [(r.text, r.rating, r.line) for r in file.reviews] == [
        ("빠른 배송", 5.0, 1),
        ("late delivery", 2.0, 2),
    ]


def test_a_json_array_is_accepted_too(tmp_path: Path) -> None:
    path = tmp_path / "reviews.json"
    path.write_text(json.dumps([{"text": "great quality"}, {"text": ""}]), encoding="utf-8")
    assert [r.text for r in read_reviews(path).reviews] == ["great quality"]


def test_bad_json_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"review": "ok"}\n{"review": oops}\n', encoding="utf-8")
    with pytest.raises(InsightsError, match=r"bad\.jsonl: line 2: not valid JSON"):
        read_reviews(path)


def test_json_line_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "list.jsonl"
    path.write_text('{"review": "ok"}\n["a"]\n', encoding="utf-8")
    with pytest.raises(InsightsError, match="line 2: expected a JSON object, got list"):
        read_reviews(path)


def test_wrong_columns_name_the_file_and_the_columns_found(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("order_id,amount,status\n1,3000,paid\n", encoding="utf-8")
    with pytest.raises(InsightsError) as caught:
        read_reviews(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: no review text column")
    assert "'order_id', 'amount', 'status'" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the file is empty"),
        (b"\n  \n", "the file is empty"),
        (b"review,rating\n", "no reviews (no rows)"),
        (b"review,rating\n,5\n  ,4\n", "no reviews (no text in column 'review')"),
    ],
)
def test_empty_files_say_so(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(InsightsError, match=re.escape(expected)):
        read_reviews(path)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InsightsError, match="no such file"):
        read_reviews(tmp_path / "nope.csv")
    with pytest.raises(InsightsError, match="is a folder"):
        read_reviews(tmp_path)


def test_huge_field_is_read_and_cut(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    huge = "배송이 빨라요 " * 40_000  # ~320k characters, over csv's default field limit
    path.write_text(f'review\n"{huge}"\nshort one\n', encoding="utf-8")
    file = read_reviews(path)
    assert len(file.reviews[0].text) == MAX_TEXT_CHARS
    assert file.reviews[1].text == "short one"
    assert file.reviews[1].line == 3


def test_quoted_newlines_keep_the_starting_line(tmp_path: Path) -> None:
    path = tmp_path / "multi.csv"
    path.write_text('review\n"line one\nline two"\nnext\n', encoding="utf-8")
    file = read_reviews(path)
    assert [(r.text, r.line) for r in file.reviews] == [("line one line two", 2), ("next", 4)]


def test_semicolon_and_tab_delimiters(tmp_path: Path) -> None:
    semi = tmp_path / "semi.csv"
    semi.write_text("comment;score\nnice, really nice;4\n", encoding="utf-8")
    assert read_reviews(semi).reviews[0].text == "nice, really nice"
    tsv = tmp_path / "reviews.tsv"
    tsv.write_text("body\tstars\nok, fine\t3\n", encoding="utf-8")
    assert read_reviews(tsv).reviews[0].rating == 3.0


def test_ten_point_ratings_are_rescaled_to_five(tmp_path: Path) -> None:
    path = tmp_path / "ten.csv"
    path.write_text("review,rating\ngood,10\nbad,2\n", encoding="utf-8")
    assert [r.rating for r in read_reviews(path).reviews] == [5.0, 1.0]


@pytest.mark.parametrize(
    ("value", "stars"),
    [(4, 4.0), ("4.5", 4.5), ("4/5", 4.0), ("5점", 5.0), ("★★★★☆", 4.0), ("", None), (None, None)],
)
def test_parse_rating(value: object, stars: float | None) -> None:
    assert parse_rating(value) == stars


@pytest.mark.parametrize(
    ("value", "day"),
    [
        ("2026-11-27", dt.date(2026, 11, 27)),
        ("2026-11-27T10:00:00Z", dt.date(2026, 11, 27)),
        ("2026.1.5", dt.date(2026, 1, 5)),
        ("2026년 11월 27일", dt.date(2026, 11, 27)),
        ("yesterday", None),
        ("2026-02-31", None),
    ],
)
def test_parse_date(value: str, day: dt.date | None) -> None:
    assert parse_date(value) == day


def test_the_bundled_sample_is_big_bilingual_and_rated() -> None:
    file = read_reviews(SAMPLE_REVIEWS)
    assert len(file.reviews) >= 150
    korean = sum(any("가" <= ch <= "힣" for ch in r.text) for r in file.reviews)
    assert 0.5 <= korean / len(file.reviews) <= 0.7
    assert file.rating_column == "rating" and file.date_column == "date"
    assert any(r.rating is None for r in file.reviews)
