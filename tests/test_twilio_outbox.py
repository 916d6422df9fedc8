"""SMS sends that fail, on both backends: queued in the outbox as ``send`` rows of platform
``sms`` and retried by the courier at most once (Twilio's message list is read first), with
the real twilio REST client against the fake Twilio (ko, en)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import cast

import pytest
import pytest_asyncio

from adapters.twilio.client import build_client, close_client
from adapters.twilio.config import TwilioConfig
from adapters.twilio.identity import PhoneBook
from adapters.twilio.sender import SmsCustomers
from bot.conversation.courier import Courier
from bot.conversation.engine import Engine
from bot.conversation.routing import Router
from bot.storage.sql.store import SqlStore
from bot.types import Reply
from tests.backends import raw
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, SHOP_NUMBER, FakeTwilio

CUSTOMER = "+821071829354"
TEXTS = {"ko": "환불은 7일 이내에 가능합니다.", "en": "Refunds take up to 7 days."}


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    server = FakeTwilio()
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def side(fake: FakeTwilio, any_store: SqlStore) -> AsyncIterator[SmsCustomers]:
    config = TwilioConfig(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        public_url="https://ondo.example.com",
        api_url=fake.url,
        phone_key="a phone key of at least sixteen",
    )
    client, http = build_client(config)
    yield SmsCustomers(client, any_store, PhoneBook(config.phone_key))
    await close_client(http)


def courier_for(store: SqlStore, side: SmsCustomers) -> Courier:
    router = Router(cast(Engine, SimpleNamespace(store=store)))
    router.add_customer_side(side)
    return Courier(router)


def make_due(store: SqlStore) -> None:
    raw(store, "UPDATE outbox SET due_at = 0")


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_a_send_whose_answer_was_lost_is_not_sent_again(
    fake: FakeTwilio, side: SmsCustomers, any_store: SqlStore, language: str
) -> None:
    key = side.phones.key_for("sms", CUSTOMER, SHOP_NUMBER)
    sender = side.sender_for(key)
    assert sender is not None
    fake.fail_next(how="drop")
    assert await sender.send(Reply(key, TEXTS[language], "m1", "ko")) is None
    assert len(fake.to(CUSTOMER)) == 1  # it did go out
    [(kind, platform, target)] = raw(any_store, "SELECT kind, platform, target FROM outbox")
    assert (kind, platform, target) == ("send", "sms", key) and CUSTOMER[1:] not in str(target)
    courier = courier_for(any_store, side)
    assert await courier.deliver_due() == 1
    assert len(fake.to(CUSTOMER)) == 1
    assert await any_store.outbox.waiting("sms") == 0


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_a_refused_send_is_retried_after_the_lookup_and_sent_once(
    fake: FakeTwilio, side: SmsCustomers, any_store: SqlStore, language: str
) -> None:
    key = side.phones.key_for("sms", CUSTOMER, SHOP_NUMBER)
    sender = side.sender_for(key)
    assert sender is not None
    fake.fail_next(how="error", code=20429, status=429)
    assert await sender.send(Reply(key, TEXTS[language], "m1", "ko")) is None
    assert fake.to(CUSTOMER) == []
    courier = courier_for(any_store, side)
    fake.fail_next(how="error", code=20500, status=500)  # the retry fails too: later again
    assert await courier.deliver_due() == 0
    [(error,)] = raw(any_store, "SELECT error FROM outbox")
    assert error == "Twilio error 20500 (HTTP 500)"  # no number, no text
    make_due(any_store)
    assert await courier.deliver_due() == 1
    [sent] = fake.to(CUSTOMER)
    assert sent.body == TEXTS[language] and sent.from_ == SHOP_NUMBER
    make_due(any_store)
    assert await courier.deliver_due() == 0
    assert len(fake.to(CUSTOMER)) == 1


async def test_a_key_another_secret_sealed_has_no_sender(side: SmsCustomers) -> None:
    other = PhoneBook("another phone key, sixteen+").key_for("sms", CUSTOMER, SHOP_NUMBER)
    assert side.sender_for(other) is None
    assert side.sender_for("slack:D0DM") is None
