"""The Twilio adapter in ``ondo serve``: its webhooks on the shared HTTP port, its REST client.

SMS is served at ``/twilio/sms``, voice at ``/twilio/voice`` and its callbacks
(:mod:`adapters.twilio.voice`), with the same parts: the config
(:mod:`adapters.twilio.config`), the signature check (:func:`adapters.twilio.signature.signed`),
the REST client (:func:`adapters.twilio.client.build_client`) and the caller's pseudonym
(:class:`adapters.twilio.identity.PhoneBook`).
"""

from __future__ import annotations

from aiohttp import web
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from adapters.twilio.client import build_client, close_client
from adapters.twilio.config import TwilioConfig
from adapters.twilio.sms import TwilioSms
from adapters.twilio.voice import TwilioVoice
from bot.conversation.routing import Router
from bot.settings import Settings


class TwilioAdapter:
    """SMS and voice on one REST client, registered with the router."""

    def __init__(self, router: Router, config: TwilioConfig) -> None:
        self.config = config
        client, http = build_client(config)
        self.client: Client = client
        self._http: AsyncTwilioHttpClient = http
        self.sms = TwilioSms(router, config, client)
        router.add_customer_side(self.sms.customers)
        self.voice = TwilioVoice(router, config, link=self.sms.customer_id)
        router.add_customer_side(self.voice.customers)

    @property
    def platforms(self) -> tuple[str, ...]:
        """The conversation platforms this adapter serves (what the replica holds)."""
        return (self.sms.customers.platform, self.voice.customers.platform)

    def add_routes(self, web_app: web.Application) -> None:
        """Serve the webhooks on ``web_app``."""
        self.sms.add_routes(web_app)
        self.voice.add_routes(web_app)

    async def aclose(self) -> None:
        """Let the answers being written finish, then close the REST client."""
        await self.sms.drain()
        await self.voice.drain()
        await close_client(self._http)


def build_twilio(router: Router, settings: Settings) -> TwilioAdapter:
    """The adapter for ``settings`` (call inside the running loop); raises
    :class:`adapters.twilio.config.TwilioConfigError` when a setting is missing."""
    return TwilioAdapter(router, TwilioConfig.from_settings(settings))
