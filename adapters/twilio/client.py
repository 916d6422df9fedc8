"""The Twilio REST client, built once per process (SMS and voice share it).

``TWILIO_API_URL`` points it at another base URL (a compatible provider, or the tests' fake):
the client reads ``api.base_url`` on every request. The library logs every request's query
(``To`` of a Messages list, a phone number) at INFO, so its loggers are held at WARNING.
"""

from __future__ import annotations

import logging

from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from adapters.twilio.config import TwilioConfig

REQUEST_SECONDS = 8.0
"""The longest a REST call may take; the library itself sets no limit."""

for _name in ("twilio", "twilio.http_client"):
    logging.getLogger(_name).setLevel(logging.WARNING)


def build_client(config: TwilioConfig) -> tuple[Client, AsyncTwilioHttpClient]:
    """The REST client and its async HTTP client (close ``http.session`` when done); call
    inside the running event loop."""
    http = AsyncTwilioHttpClient(timeout=REQUEST_SECONDS)
    # Region and edge from the environment would rewrite the host the base URL names.
    client = Client(config.account_sid, config.auth_token, http_client=http, region=None)
    client.region = None
    client.edge = None
    if config.api_url:
        client.api.base_url = config.api_url
    return client, http


async def close_client(http: AsyncTwilioHttpClient) -> None:
    """Close the HTTP session of :func:`build_client`."""
    if http.session is not None:
        await http.session.close()
