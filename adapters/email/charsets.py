"""Bytes and RFC 2047 words into text, in every charset Korean mail still arrives in.

Real "euc-kr" mail carries CP949 characters (똠, 햏: the 8,822 syllables EUC-KR lacks), so
EUC-KR and its aliases decode as CP949, its superset; KS_C_5601-1987 is Microsoft's name for
CP949. Undeclared 8-bit text is tried as UTF-8, then CP949. Nothing here raises on bad bytes:
what cannot be read becomes U+FFFD.
"""

from __future__ import annotations

import codecs
import email.header
import re

_CP949_ALIASES = frozenset(
    {
        "euc-kr",
        "euc_kr",
        "euckr",
        "ks_c_5601-1987",
        "ks_c_5601",
        "ksc5601",
        "ksc_5601",
        "ks_c_5601_1987",
        "korean",
        "cp949",
        "uhc",
        "x-windows-949",
        "windows-949",
        "ms949",
    }
)
_UNDECLARED = frozenset({"", "unknown-8bit", "x-unknown", "unknown", "us-ascii", "ascii"})


def codec_for(charset: str | None) -> str | None:
    """The Python codec for a declared ``charset``, or ``None`` when none is usable."""
    name = (charset or "").strip().strip('"').lower()
    if name in _CP949_ALIASES:
        return "cp949"
    if name in _UNDECLARED:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """``data`` as text: the declared charset when Python knows it, else UTF-8, else CP949.

    A declared charset that does not fit the bytes (mislabelled mail) falls back the same way
    before replacing what still cannot be read.
    """
    codec = codec_for(charset)
    if codec is not None:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
    candidates = [c for c in (codec, "utf-8", "cp949") if c is not None]
    for guess in candidates[1:] if codec else candidates:
        try:
            return data.decode(guess)
        except UnicodeDecodeError:
            continue
    # Broken bytes: the reading that loses the fewest characters.
    readings = [data.decode(c, errors="replace") for c in candidates]
    return min(readings, key=lambda text: text.count("\ufffd"))


def _text(value: str, charset: str | None) -> str:
    # The parser keeps undeclared 8-bit header bytes as surrogate escapes; text already
    # decoded (non-ASCII without surrogates) stays as it is.
    try:
        raw = value.encode("ascii", errors="surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")
    return decode_bytes(raw, charset)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def decode_header_text(value: str | None) -> str:
    """A raw header value with its RFC 2047 words (B and Q) decoded, on one line."""
    if not value:
        return ""
    try:
        chunks = email.header.decode_header(value)
    except (ValueError, LookupError, AssertionError):
        return " ".join(_CONTROL.sub(" ", _text(value, None)).split())
    parts: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            parts.append(_text(chunk, charset))
        else:
            parts.append(decode_bytes(chunk, charset))
    return " ".join(_CONTROL.sub(" ", "".join(parts)).split())
