"""Twilio's ``X-Twilio-Signature`` on every webhook (SMS and voice share this check).

Twilio signs the URL it called plus every posted parameter with the auth token. The URL is
rebuilt from ``TWILIO_PUBLIC_URL`` and the request's path and query (behind a proxy the local
URL differs: scheme, host, port). A bad or missing signature is answered 403 and nothing is
processed. Bodies are form-encoded, at most :data:`MAX_BODY_BYTES`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from adapters.twilio.config import TwilioConfig

log = logging.getLogger("ondo.twilio")

MAX_BODY_BYTES = 64 * 1024
"""Twilio's webhook bodies are a few kilobytes; more is not Twilio."""

SignedHandler = Callable[[web.Request, MultiDict[str]], Awaitable[web.StreamResponse]]


def plain(status: int, text: str) -> web.Response:
    """A one-line plain-text answer (what a refused webhook gets)."""
    return web.Response(status=status, text=text + "\n")


def signed(
    config: TwilioConfig, handler: SignedHandler
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """``handler`` behind the signature check; it gets the request and its checked form."""
    validator = RequestValidator(config.auth_token)

    async def checked(request: web.Request) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return plain(413, "body too large for a Twilio webhook")
        if request.content_type != "application/x-www-form-urlencoded":
            return plain(415, "a Twilio webhook is form-encoded")
        body = bytearray()
        try:
            # Chunk by chunk: a body sent without a length is refused once it is too long.
            while chunk := await request.content.read(16 * 1024):
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    return plain(413, "body too large for a Twilio webhook")
        except Exception:
            return plain(400, "the body could not be read")
        try:
            text = bytes(body).decode("utf-8")
            form: MultiDict[str] = MultiDict(_parse_form(text))
        except (UnicodeDecodeError, ValueError):
            return plain(400, "the body is not a UTF-8 form")
        url = config.public_url + request.path_qs
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not validator.validate(url, form, signature):
            log.warning("Twilio webhook %s refused: bad or missing signature", request.path)
            return plain(403, "bad Twilio signature")
        if form.get("AccountSid", config.account_sid) != config.account_sid:
            log.warning("Twilio webhook %s refused: another account's request", request.path)
            return plain(403, "another account's request")
        return await handler(request, form)

    return checked


def _parse_form(text: str) -> list[tuple[str, str]]:
    return parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), errors="strict")
