"""The new text of a mail: the quoted history and the signature cut off.

The reply parser is ``mail-parser-reply`` (MIT, multi-language, maintained): it splits a body
at the quote headers of many clients (Apple/Gmail "On … wrote:", Outlook's "From:/Sent:" and
"보낸 사람:/보낸 날짜:" blocks, "-----Original Message-----") and finds signatures and
"Sent from my …" lines. It misses what Korean clients write, so rules of our own run first:
Gmail's "2026년 12월 7일 (월) 오후 3:00, 김민지 <…>님이 작성:" (its own Korean rule never
matches), Naver/Daum's "------- Original Message -------" / "----- 원본 메일 -----" banners,
"iPhone에서 보냄", and a closing "김민지 드림" line. Signatures are cut only when what would go
is short (a long "감사합니다." block is the customer still writing), and hyphen lists
("- 주문번호 …") are never taken for a signature.
"""

from __future__ import annotations

import re

from mailparser_reply.parser import EmailMessage

_LANGUAGES = ["ko", "en"]
_MAX_SIGNATURE_LINES = 5
_MAX_SIGNATURE_CHARS = 250

# Gmail (ko): "2026년 12월 7일 (월) 오후 3:00, 김민지 <minji@example.com>님이 작성:" — a long
# address may wrap, so the line that ends the attribution is enough.
_KO_WROTE = re.compile(r"님이\s*(?:작성|쓴\s*글|작성하였습니다|작성했습니다)\s*:\s*$")
_KO_DATE = re.compile(r"\d{4}\s*년\s*\d{1,2}\s*월\s*\d{1,2}\s*일|\d{4}[-./]\d{1,2}[-./]\d{1,2}")
_BANNER = re.compile(
    r"^[-=_\s]{3,}\s*(?:original message|forwarded message|원본\s*(?:메일|메시지)|원래\s*메시지|"
    r"전달된\s*(?:메일|메시지))\s*[-=_\s]{3,}$",
    re.IGNORECASE,
)
_SENT_FROM = re.compile(r"^(?:\S.{0,30}에서\s*보냄|sent from my \S.{0,30})$", re.IGNORECASE)
_KO_CLOSING = re.compile(r"^\S{1,12}(?:\s\S{1,12})?\s*(?:드림|올림|배상)\s*[.!]?$")
_CLOSING = re.compile(
    r"(?:best regards|kind regards|warm regards|regards|thanks|thank you|all the best|best|"
    r"cheers|감사합니다|고맙습니다|안부\s*전합니다|좋은\s*하루\s*되세요)[\s,.!~]*",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[?？]|(?:요|다|까|죠|네)[.!~]*$")
_QUOTED = re.compile(r"^\s*>")
_BLANKS = re.compile(r"\n{3,}")
_INVISIBLE = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff]")


def tidy(text: str) -> str:
    """Line ends unified, invisible characters gone, each line trimmed, blank runs collapsed."""
    text = _INVISIBLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = text.replace("\xa0", " ")
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def _cut_korean_headers(lines: list[str]) -> list[str]:
    for index, line in enumerate(lines):
        if _BANNER.match(line):
            return lines[:index]
        if _KO_WROTE.search(line):
            start = index
            if not _KO_DATE.search(line) and index > 0 and _KO_DATE.search(lines[index - 1]):
                start = index - 1
            return lines[:start]
    return lines


def _strip_closing(lines: list[str]) -> list[str]:
    while lines and (not lines[-1] or _SENT_FROM.match(lines[-1]) or _KO_CLOSING.match(lines[-1])):
        lines = lines[:-1]
    return lines


def _is_signature(block: str) -> bool:
    """Whether the parser's signature is one: short, and a closing line that says nothing more.

    "Thanks, but where is my refund?" or "감사합니다. 환불 부탁드려요" starts like a closing
    and is the customer still writing.
    """
    if not block or block.count("\n") >= _MAX_SIGNATURE_LINES or len(block) > _MAX_SIGNATURE_CHARS:
        return False
    first = block.strip().split("\n", 1)[0].lstrip("> ").strip()
    closing = _CLOSING.match(first)
    if closing is None:
        return True  # "--", "Sent from …", Outlook's rule: delimiters, not words
    rest = first[closing.end() :].strip()
    if not re.sub(r"[\W_]", "", rest):
        return True
    # "Thanks, John": a name may follow; a question or a sentence may not.
    return len(rest.split()) <= 2 and len(rest) <= 20 and not _SENTENCE_END.search(rest)


def new_text(body: str) -> str:
    """The text the sender wrote in this mail, without quoted history and signature."""
    lines = tidy(body).split("\n")
    lines = _cut_korean_headers(lines)
    lines = [line for line in lines if not _QUOTED.match(line)]
    text = "\n".join(lines).strip()
    if not text:
        return ""
    message = EmailMessage(text=text, languages=list(_LANGUAGES), keep_hyphen_lists=True).read()
    if not message.replies:
        return tidy(text)
    reply = message.replies[0]
    kept = reply.body if _is_signature(reply.signatures or "") else reply.full_body
    if not kept.strip():
        # A mail that is all "signature" ("감사합니다." alone) still says something.
        kept = reply.full_body
    return tidy("\n".join(_strip_closing(tidy(kept).split("\n"))))
