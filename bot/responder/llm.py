"""A responder that asks an OpenAI-compatible chat model, and falls back on any doubt."""

from __future__ import annotations

import asyncio
import json
import logging
import re

import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from bot.privacy import find_pii
from bot.responder.base import ReplyRequest, Responder
from bot.responder.breaker import CircuitBreaker
from bot.responder.prompts import (
    build_messages,
    echoes_instructions,
    instruction_references,
    passage_text,
    passages,
)

log = logging.getLogger("ondo.llm")

TEMPERATURE = 0.2
MAX_TOKENS = 400
DEADLINE_SECONDS = 15.0
"""However the client retries, a customer never waits longer than this for the model."""

# ASCII-only URL characters, so Korean particles glued to a link ("...com에서") stay outside it.
_URL = re.compile(r"(?:https?://|www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'*+,;=%]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?'/"
_SPACE = re.compile(r"\s+")
# No \b after the keyword: "@everyone에게" is still a mass mention (Hangul counts as \w).
_MENTION = re.compile(
    r"(?<![\w.])@(?:here|everyone|channel)(?![A-Za-z0-9_])|<[@!][^>\s]*>", re.IGNORECASE
)
# Host names, with or without a scheme ("refund-help.com/login", "evil.kr에서"): Slack links
# bare ones. Only well-known top-level domains, so "e.g." or "v1.2" never count.
_HOST = re.compile(
    r"(?<![A-Za-z0-9.-])(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"(?:com|net|org|info|biz|io|co|kr|me|app|dev|ai|xyz|shop|store|site|online|link|ly|gg"
    r"|us|uk|to|cc|tv|top|club|page|help|support|live|pro|asia|example|jp|cn|de|fr|eu|ca|au"
    r"|in|sg|hk|tw|vn|ru)(?![A-Za-z0-9-])",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# Grouped numbers (010-1234-5678, +82 2 123 4567, (555) 123-4567) and Korean 15xx-xxxx lines.
_PHONE = re.compile(
    r"(?<![\d-])(?:(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)|\d{1,4})[\s.-]\d{3,4}[\s.-]\d{4}"
    r"|1[5-9]\d{2}[\s.-]\d{4})(?![\d-])"
)


# Replies that say a refund, cancellation, payment or order change has been *done*: the bot can
# take none of these actions. Narrow on purpose: declarative past / perfect forms only, so
# "환불이 완료되면", "취소되었는지 확인해 주세요" and "Once your refund has been processed"
# (conditional) still pass.
_KO_ACTION = r"(?:환불|환급|취소|반품|교환|재발송|재배송|입금|결제|보상|배송지|주소)"
_KO_PARTICLE = r"(?:\s?(?:이|가|을|를|은|는|도))?"
_KO_CLAIM = re.compile(
    _KO_ACTION
    + _KO_PARTICLE
    + r"(?:\s?(?:모두|이미|정상적으로|바로|즉시|전액|방금))?"
    + r"(?:\s?(?:처리|요청|신청|취소|환불|변경))?"
    + _KO_PARTICLE
    + r"(?:\s?(?:완료|승인|접수|진행|지급|발급)){0,2}"
    + r"\s?(?:되었|됐|했|하였|해\s?드렸|해드렸)(?:습니다|어요|어|으니|으며|고요|다)(?=[\s.!,~)]|$)"
    + r"|"
    + _KO_ACTION
    + r"\s?(?:처리\s?|승인\s?)?완료\s?(?:[.!]|$)",
)
_EN_CLAIMS = (
    re.compile(
        r"\b(?:I|we)(?:\s+have|'ve|’ve)?\s+(?:just\s+|already\s+|now\s+|successfully\s+)?"
        r"(?:refunded|cancell?ed|reversed|credited|reshipped|re-?sent)\b",
        re.IGNORECASE,
    ),
    re.compile(
        r"\b(?:I|we)(?:\s+have|'ve|’ve)?\s+(?:just\s+|already\s+|now\s+|successfully\s+)?"
        r"(?:approved|issued|processed|initiated|completed|submitted|changed|updated|charged)\s+"
        r"(?:a|an|the|your)\s+(?:full\s+|partial\s+)?(?:refund|cancellation|return|exchange"
        r"|replacement|payment|order|address|charge|credit|card)",
        re.IGNORECASE,
    ),
    re.compile(
        r"\b(?:your|the)\s+(?:full\s+|partial\s+)?(?:refund|order|payment|charge|cancellation"
        r"|exchange|return|replacement|address)\s+(?:(?:has|have)\s+(?:now\s+|already\s+|just\s+)?"
        r"been|was|is\s+now)\s+(?:successfully\s+)?(?:refunded|cancell?ed|approved|issued"
        r"|processed|completed|confirmed|reversed|credited|changed|updated)\b",
        re.IGNORECASE,
    ),
    re.compile(
        r"\b(?:refund|cancellation)\s+(?:issued|approved|completed|confirmed|processed)\s*(?:[.!]|$)",
        re.IGNORECASE,
    ),
)
_CONDITIONAL = re.compile(
    r"\b(?:if|once|when|whenever|after|until|unless|whether|before)\b", re.IGNORECASE
)
_CLAUSE_END = re.compile(r"[.!?\n,;:]")
_QUOTES = "'\"‘’“”「」『』"


def failure_reason(exc: Exception) -> tuple[str, bool]:
    """Why a model call failed, for a log line (never the exception's text, which may carry
    a response body echoing customer text), and whether it counts against the service for the
    circuit breaker (an answer rejected by the content rules does not)."""
    if isinstance(exc, Rejected):
        return exc.reason, exc.service_failed
    if isinstance(exc, openai.APITimeoutError):
        return "timeout", True
    if isinstance(exc, openai.APIConnectionError):
        return "connection error", True
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}", True
    if isinstance(exc, openai.APIResponseValidationError):
        return "response failed schema validation", True
    if isinstance(exc, json.JSONDecodeError):
        return "response body is not valid JSON", True
    return f"unexpected {type(exc).__name__}", True


class Rejected(Exception):
    """The model answered, but the answer must not reach the customer.

    ``service_failed`` says whether this counts against the model's health (a malformed
    response does; a well-formed answer that breaks a content rule does not)."""

    def __init__(self, reason: str, *, service_failed: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.service_failed = service_failed


class LLMResponder:
    """Answers with a chat model, grounded in the request's passages.

    Any failure (transport, HTTP status after the client's own retries, malformed or unsafe
    output) is logged as one WARNING on ``ondo.llm`` and answered by ``fallback`` instead.
    """

    def __init__(
        self,
        *,
        client: openai.AsyncOpenAI,
        model: str,
        fallback: Responder,
        timeout: float = 10.0,
        max_retries: int = 2,
        deadline: float = DEADLINE_SECONDS,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        # The client retries 408/409/429/5xx and connection errors itself, honouring Retry-After.
        self.client = client.with_options(timeout=timeout, max_retries=max_retries)
        """The configured client (shared with the handoff writer)."""
        self.model = model
        self._fallback = fallback
        self._timeout = timeout
        self._deadline = deadline
        self.breaker = breaker or CircuitBreaker(name="the LLM")
        self._owns_client = False

    @classmethod
    def from_settings(
        cls, api_key: str, base_url: str | None, model: str, fallback: Responder
    ) -> LLMResponder:
        """Build a responder with its own client; ``base_url=None`` means the OpenAI default."""
        client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url)
        responder = cls(client=client, model=model, fallback=fallback)
        responder._owns_client = True
        return responder

    async def aclose(self) -> None:
        """Close the HTTP client if this responder created it; a passed-in client is left open."""
        if self._owns_client:
            await self.client.close()

    async def reply(self, request: ReplyRequest) -> str:
        """The model's checked reply to ``request``, else the fallback responder's reply.

        While the circuit breaker is open (the model failed repeatedly), the fallback answers
        at once instead of every customer waiting for another timeout.
        """
        if not self.breaker.allow():
            return await self._fallback.reply(request)
        service_failed = True
        try:
            async with asyncio.timeout(self._deadline):
                text = await self._complete(request)
            self.breaker.succeeded()
            return text
        except TimeoutError:
            reason = f"no answer within {self._deadline:g}s"
        except Exception as exc:
            reason, service_failed = failure_reason(exc)
        if service_failed:
            self.breaker.failed()
        else:
            self.breaker.succeeded()
        # Only the reason: exception messages may carry response bodies echoing customer text.
        log.warning("LLM reply unusable (%s), model=%s; using fallback", reason, self.model)
        return await self._fallback.reply(request)

    async def _complete(self, request: ReplyRequest) -> str:
        messages = [_param(message) for message in build_messages(request)]
        completion = await self.client.chat.completions.create(
            model=self.model,
            messages=messages,
            temperature=TEMPERATURE,
            max_tokens=MAX_TOKENS,
            timeout=self._timeout,
        )
        return checked_text(completion, _allowed_text(request))


def _param(message: dict[str, str]) -> ChatCompletionMessageParam:
    role, content = message["role"], message["content"]
    if role == "system":
        return {"role": "system", "content": content}
    if role == "assistant":
        return {"role": "assistant", "content": content}
    return {"role": "user", "content": content}


def _allowed_text(request: ReplyRequest) -> str:
    """Everything the model was shown as trusted passages; links etc. may only come from here."""
    parts: list[str] = []
    for match in passages(request):
        parts.append(passage_text(match, request.language))
        parts.append(match.entry.source)
    return "\n".join(parts)


def checked_text(completion: object, allowed: str) -> str:
    """The stripped reply text, or ``Rejected`` naming why it must not be sent."""
    # A non-JSON content type makes the client return a plain str; a JSON body of the wrong
    # shape yields a ChatCompletion with missing fields, since responses are not validated.
    if not isinstance(completion, ChatCompletion) or not completion.choices:
        raise Rejected("response has no choices")
    choice = completion.choices[0]
    if choice.finish_reason == "content_filter":
        raise Rejected("content filter", service_failed=False)
    if choice.finish_reason == "length":
        raise Rejected("reply truncated at max_tokens")
    message = choice.message
    if message is None or message.refusal:
        raise Rejected("model refused", service_failed=False)
    content = message.content
    if not isinstance(content, str) or not content.strip():
        raise Rejected("empty content")
    text = content.strip()
    if echoes_instructions(text):
        raise Rejected("reply echoes the system prompt", service_failed=False)
    if instruction_references(text) - instruction_references(allowed):
        raise Rejected("reply talks about its instructions", service_failed=False)
    checks = (
        (_mentions, "a mention"),
        (_urls, "a URL"),
        (_emails, "an email address"),
        (_hosts, "a URL"),
        (_phones, "a phone number"),
        (_numbers, "a card, account or ID number"),
        (_claims, "a claim of an action the bot cannot take"),
    )
    for extract, what in checks:
        if not extract(text) <= extract(allowed):
            raise Rejected(f"reply contains {what} not in the passages", service_failed=False)
    return text


def _mentions(text: str) -> set[str]:
    return {mention.casefold() for mention in _MENTION.findall(text)}


def _urls(text: str) -> set[str]:
    return {url.rstrip(_URL_TRAILING).casefold() for url in _URL.findall(text)}


def _emails(text: str) -> set[str]:
    return {email.casefold() for email in _EMAIL.findall(text)}


def _hosts(text: str) -> set[str]:
    # Every host name, also inside links and e-mail addresses, so a passage's link or address
    # allows its host written bare.
    return {host.casefold() for host in _HOST.findall(text)}


def _digits_of(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _phones(text: str) -> set[str]:
    # Grouped numbers, plus whatever the redactor reads as a phone (01012345678, +1 ...).
    phones = {_digits_of(phone) for phone in _PHONE.findall(text)}
    return phones | {_digits_of(s.text) for s in find_pii(text) if s.kind == "phone"}


def _numbers(text: str) -> set[str]:
    """Card, bank account and registration numbers, e.g. a made-up account to pay into."""
    numbers = (s.text for s in find_pii(text) if s.kind in {"card", "account", "rrn"})
    return {_digits_of(number) or number for number in numbers}


def _claims(text: str) -> set[str]:
    """Statements that a refund, cancellation, payment or order change has been done."""
    found = {m.group() for m in _KO_CLAIM.finditer(text)}
    for pattern in _EN_CLAIMS:
        for m in pattern.finditer(text):
            # "Once your refund has been processed, ..." describes, it does not claim.
            clause_start = max(
                (e.end() for e in _CLAUSE_END.finditer(text, 0, m.start())), default=0
            )
            quoted = m.start() > 0 and text[m.start() - 1] in _QUOTES
            if not quoted and not _CONDITIONAL.search(text, clause_start, m.start()):
                found.add(m.group())
    return {_SPACE.sub(" ", claim).strip().casefold() for claim in found}
