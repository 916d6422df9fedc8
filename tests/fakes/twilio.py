"""A fake Twilio REST API on loopback, and webhook requests signed as Twilio signs them.

Tests drive the real ``twilio`` client against it: ``TWILIO_API_URL`` (or
``client.api.base_url``) is the fake's ``http://127.0.0.1:PORT``. It answers Messages create
and list and Calls update under ``/2010-04-01/Accounts/{sid}/``, checks Basic auth, records
every call, and can fail the next requests: with a Twilio error (nothing created), or by
dropping the connection after creating the message (the ambiguous failure a real network
gives).
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import itertools
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

from aiohttp import web
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-twilio-auth-token-0123456789"
SHOP_NUMBER = "+15005550006"
KOREAN_SHOP_NUMBER = "+8215880000"

Failure = Literal["error", "drop"]


def message_sid() -> str:
    """A fresh sid in Twilio's shape (``SM`` + 32 hex digits)."""
    return "SM" + uuid.uuid4().hex


def signed_form(
    url: str, params: dict[str, str], token: str = AUTH_TOKEN
) -> tuple[bytes, dict[str, str]]:
    """A form body and headers signed for ``url`` by ``RequestValidator``, as Twilio sends."""
    signature = RequestValidator(token).compute_signature(url, params)
    headers = {
        "X-Twilio-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return urlencode(params).encode(), headers


def sms_params(
    body: str, customer: str, *, sid: str | None = None, shop: str = SHOP_NUMBER
) -> dict[str, str]:
    """The fields Twilio posts for an inbound SMS."""
    return {
        "MessageSid": sid or message_sid(),
        "SmsSid": sid or message_sid(),
        "AccountSid": ACCOUNT_SID,
        "MessagingServiceSid": "",
        "From": customer,
        "To": shop,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }


@dataclass
class Sent:
    """One message created through the fake."""

    sid: str
    to: str
    from_: str
    body: str
    created_at: float


@dataclass
class FakeTwilio:
    """The REST API; :attr:`messages` holds what was sent, :attr:`call_updates` the calls'."""

    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    messages: list[Sent] = field(default_factory=list)
    call_updates: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    failures: list[tuple[Failure, int, int]] = field(default_factory=list)
    list_failures: int = 0
    clock: Any = time.time
    _runner: web.AppRunner | None = None
    _changed: asyncio.Condition | None = None
    _sids: Any = field(default_factory=lambda: itertools.count(1))
    url: str = ""

    async def start(self) -> str:
        """Serve on a free loopback port; returns the base URL."""
        app = web.Application()
        base = "/2010-04-01/Accounts/{sid}"
        app.router.add_post(base + "/Messages.json", self._create)
        app.router.add_get(base + "/Messages.json", self._list)
        app.router.add_post(base + "/Calls/{call}.json", self._update_call)
        self._changed = asyncio.Condition()
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()

    def fail_next(
        self, count: int = 1, how: Failure = "error", code: int = 20500, status: int = 500
    ) -> None:
        """Make the next ``count`` creates fail: ``error`` answers ``status`` with Twilio error
        ``code`` (nothing sent); ``drop`` sends the message, then drops the connection."""
        self.failures.extend([(how, code, status)] * count)

    def to(self, number: str) -> list[Sent]:
        """The messages sent to ``number``, oldest first."""
        return [m for m in self.messages if m.to == number]

    async def wait_for(self, number: str, count: int = 1, timeout: float = 10.0) -> list[Sent]:
        """Wait until ``count`` messages went to ``number``; returns them."""
        assert self._changed is not None
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.to(number)) >= count)
        return self.to(number)

    async def _changed_now(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    def _authorized(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return (
            request.headers.get("Authorization") == f"Basic {expected}"
            and request.match_info["sid"] == self.account_sid
        )

    @staticmethod
    def _error(status: int, code: int, message: str) -> web.Response:
        body = {"code": code, "message": message, "more_info": "", "status": status}
        return web.json_response(body, status=status)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(("POST", request.path))
        if not self._authorized(request):
            return self._error(401, 20003, "Authenticate")
        form = await request.post()
        to, from_, body = str(form.get("To", "")), str(form.get("From", "")), form.get("Body")
        if not to or not from_ or body is None:
            return self._error(400, 21604, "A 'To', 'From' and 'Body' are required")
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None and failure[0] == "error":
            return self._error(failure[2], failure[1], f"Unable to create record for {to}")
        sent = Sent(message_sid(), to, from_, str(body), self.clock())
        self.messages.append(sent)
        await self._changed_now()
        if failure is not None:  # "drop": created, but the answer never arrives
            assert request.transport is not None
            request.transport.close()
            raise ConnectionResetError("dropped by the fake")
        return web.json_response(self._resource(sent), status=201)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(("GET", request.path_qs))
        if not self._authorized(request):
            return self._error(401, 20003, "Authenticate")
        if self.list_failures:
            self.list_failures -= 1
            return self._error(503, 20503, "Service unavailable")
        to, from_ = request.query.get("To"), request.query.get("From")
        size = int(request.query.get("PageSize", "50"))
        found = [
            m
            for m in reversed(self.messages)  # newest first, as Twilio lists
            if (to is None or m.to == to) and (from_ is None or m.from_ == from_)
        ][:size]
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        return web.json_response(
            {
                "messages": [self._resource(m) for m in found],
                "first_page_uri": uri,
                "next_page_uri": None,
                "previous_page_uri": None,
                "page": 0,
                "page_size": size,
                "start": 0,
                "end": max(0, len(found) - 1),
                "uri": uri,
            }
        )

    async def _update_call(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(("POST", request.path))
        if not self._authorized(request):
            return self._error(401, 20003, "Authenticate")
        form = {k: str(v) for k, v in (await request.post()).items()}
        call = request.match_info["call"]
        self.call_updates.append((call, form))
        await self._changed_now()
        return web.json_response(
            {
                "sid": call,
                "account_sid": self.account_sid,
                "status": form.get("Status", "in-progress"),
            }
        )

    def _resource(self, sent: Sent) -> dict[str, Any]:
        created = email.utils.formatdate(sent.created_at, usegmt=True)
        return {
            "sid": sent.sid,
            "account_sid": self.account_sid,
            "to": sent.to,
            "from": sent.from_,
            "body": sent.body,
            "status": "queued",
            "direction": "outbound-api",
            "num_segments": "1",
            "date_created": created,
            "date_updated": created,
            "date_sent": None,
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sent.sid}.json",
        }
