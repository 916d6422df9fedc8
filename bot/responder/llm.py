"""A responder that asks an OpenAI-compatible chat model, and falls back on any doubt."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from bot.responder.base import ReplyRequest, Responder
from bot.responder.breaker import CircuitBreaker
from bot.responder.guard import Grounds, refusal
from bot.responder.prompts import (
    HANDOFF_EXAMPLE,
    INSTRUCTION_TEXT,
    NOT_SURE,
    build_messages,
    passage_text,
    passages,
)

log = logging.getLogger("ondo.llm")

TEMPERATURE = 0.2
MAX_TOKENS = 400
DEADLINE_SECONDS = 15.0
"""However the client retries, a customer never waits longer than this for the model."""


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
        staff_text: Callable[[str], bool] | None = None,
    ) -> None:
        # The client retries 408/409/429/5xx and connection errors itself, honouring Retry-After.
        self.client = client.with_options(timeout=timeout, max_retries=max_retries)
        """The configured client (shared with the handoff writer)."""
        self.model = model
        self._fallback = fallback
        self._timeout = timeout
        self._deadline = deadline
        self.breaker = breaker or CircuitBreaker(name="the LLM")
        self.staff_text = staff_text
        """Whether a text is internal (staff) knowledge; such a model answer is refused."""
        self._owns_client = False

    @classmethod
    def from_settings(
        cls,
        api_key: str,
        base_url: str | None,
        model: str,
        fallback: Responder,
        *,
        staff_text: Callable[[str], bool] | None = None,
    ) -> LLMResponder:
        """Build a responder with its own client; ``base_url=None`` means the OpenAI default."""
        client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url)
        responder = cls(client=client, model=model, fallback=fallback, staff_text=staff_text)
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
        return checked_text(completion, self._grounds(request))

    def _grounds(self, request: ReplyRequest) -> Grounds:
        return Grounds(
            passages=_allowed_text(request),
            language=request.language,
            instructions=INSTRUCTION_TEXT,
            staff_text=self.staff_text,
        )


def _param(message: dict[str, str]) -> ChatCompletionMessageParam:
    role, content = message["role"], message["content"]
    if role == "system":
        return {"role": "system", "content": content}
    if role == "assistant":
        return {"role": "assistant", "content": content}
    return {"role": "user", "content": content}


def _allowed_text(request: ReplyRequest) -> str:
    """Everything the model was shown as trusted passages; facts may only come from here (the
    fixed sentences it may say hold none)."""
    parts = [NOT_SURE[request.language], HANDOFF_EXAMPLE[request.language]]
    for match in passages(request):
        parts.append(passage_text(match, request.language))
        parts.append(match.entry.source)
    return "\n".join(parts)


def checked_text(completion: object, grounds: Grounds) -> str:
    """The stripped reply text, or ``Rejected`` naming why it must not be sent: a malformed or
    filtered completion, or text :func:`bot.responder.guard.refusal` refuses on ``grounds``."""
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
    reason = refusal(text, grounds)
    if reason is not None:
        raise Rejected(reason, service_failed=False)
    return text
