"""SMS end to end: signed Twilio webhooks into the real app, answers through the real twilio
REST client into a fake Twilio on loopback, handoffs to the fake Slack and back (ko, en)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import openai
import pytest
import pytest_asyncio
from aiohttp import web

from adapters.twilio import TwilioAdapter, TwilioConfig
from adapters.twilio.segments import segments
from bot.app import Runtime
from bot.conversation.courier import Courier
from bot.conversation.routing import Router
from bot.journeys.service import JourneyService
from bot.responder.composer import ComposerResponder
from bot.responder.llm import LLMResponder
from bot.texts import text as fixed_text
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import FakeSlack
from tests.fakes.twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SHOP_NUMBER,
    FakeTwilio,
    message_sid,
    signed_form,
    sms_params,
)
from tests.slack_harness import AGENT, AGENTS, Slack, fake_slack, running_slack, slack_settings

PUBLIC = "https://ondo.example.com"
"""What Twilio calls (behind a proxy): signatures are checked against it, not the local URL."""
KO_CUSTOMER = "+821071829354"
EN_CUSTOMER = "+14155550123"
CUSTOMERS = {"ko": KO_CUSTOMER, "en": EN_CUSTOMER}


def twilio_settings(fake: FakeTwilio) -> dict[str, Any]:
    """Settings overrides for a runtime whose REST client talks to ``fake``."""
    return {
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_public_url": PUBLIC,
        "twilio_numbers": (SHOP_NUMBER,),
        "twilio_api_url": fake.url,
    }


@dataclass
class Sms:
    """The running SMS webhook, the fakes and helpers that read like a phone."""

    fake: FakeTwilio
    slack: Slack
    runtime: Runtime
    router: Router
    adapter: TwilioAdapter
    url: str
    session: aiohttp.ClientSession

    async def text(
        self, body: str, customer: str, *, sid: str | None = None, signature: str | None = None
    ) -> tuple[int, str]:
        """Post an SMS webhook as Twilio would; the status and the answer's body."""
        params = sms_params(body, customer, sid=sid)
        data, headers = signed_form(PUBLIC + "/twilio/sms", params)
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        async with self.session.post(f"{self.url}/twilio/sms", data=data, headers=headers) as r:
            return r.status, await r.text()

    async def answered(self, customer: str, count: int = 1) -> list[str]:
        """The bodies sent to ``customer`` once ``count`` have been (and the answers done)."""
        sent = await self.fake.wait_for(customer, count)
        await self.adapter.sms.drain()
        return [m.body for m in sent]

    def key(self, customer: str) -> str:
        return self.adapter.sms.phones.key_for("sms", customer, SHOP_NUMBER)


@pytest_asyncio.fixture
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()
    await fake.start()
    yield fake
    await fake.stop()


@contextlib.asynccontextmanager
async def running_sms(
    fake: FakeTwilio, slack_fake: FakeSlack, runtime: Runtime
) -> AsyncIterator[Sms]:
    """The Slack app and the Twilio webhook around one router, as ``ondo serve`` builds them."""
    router = Router(runtime.engine, handoff_channel=runtime.settings.handoff_channel)
    router.opt_out = JourneyService.from_settings(runtime.store, runtime.settings).opt_out
    adapter = TwilioAdapter(router, TwilioConfig.from_settings(runtime.settings))
    web_app = web.Application()
    adapter.add_routes(web_app)
    runner = web.AppRunner(web_app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        async with (
            running_slack(slack_fake, runtime, router) as slack,
            aiohttp.ClientSession() as session,
        ):
            yield Sms(fake, slack, runtime, router, adapter, f"http://{host}:{port}", session)
    finally:
        await adapter.aclose()
        await runner.cleanup()


@pytest_asyncio.fixture
async def sms(
    fake_twilio: FakeTwilio, sample_runtime_factory: Callable[..., Runtime]
) -> AsyncIterator[Sms]:
    async with fake_slack() as slack_fake:
        runtime = sample_runtime_factory(
            **slack_settings(slack_fake), **twilio_settings(fake_twilio)
        )
        async with running_sms(fake_twilio, slack_fake, runtime) as running:
            yield running


def empty_response(body: str) -> bool:
    """Whether ``body`` is TwiML with nothing to send (the answer goes by REST)."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(body)
    return root.tag == "Response" and len(root) == 0


QUESTIONS = {
    "ko": ("환불은 어떻게 받나요?", "환불"),
    "en": ("How do I get a refund?", "refund"),
}


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_an_sms_question_is_answered_once_by_rest_in_its_language(
    sms: Sms, language: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    customer = CUSTOMERS[language]
    question, word = QUESTIONS[language]
    status, body = await sms.text(question, customer)
    assert status == 200 and empty_response(body)
    [answer] = await sms.answered(customer)
    assert word in answer.lower()
    assert segments(answer) <= 3
    [sent] = sms.fake.to(customer)
    assert sent.from_ == SHOP_NUMBER  # from the number the customer wrote to
    # The number is in no log line and no conversation key.
    digits = customer.removeprefix("+")
    assert digits not in caplog.text and digits[-8:] not in caplog.text
    key = sms.key(customer)
    assert digits not in key and key.startswith("sms:")
    history = await sms.runtime.store.history(key, 5)
    assert [m.role for m in history] == ["customer", "bot"]
    owner = await sms.runtime.store.conversation_owner(key)
    assert owner is not None and owner.startswith("p") and digits not in owner


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_the_same_message_sid_twice_is_answered_once(sms: Sms, language: str) -> None:
    customer = CUSTOMERS[language]
    sid = message_sid()
    question, _ = QUESTIONS[language]
    first = await sms.text(question, customer, sid=sid)
    await sms.answered(customer)
    again = await asyncio.gather(*(sms.text(question, customer, sid=sid) for _ in range(3)))
    await sms.adapter.sms.drain()
    assert first[0] == 200 and all(status == 200 and empty_response(b) for status, b in again)
    assert len(sms.fake.to(customer)) == 1


async def test_a_forged_or_missing_signature_is_403_and_nothing_is_processed(
    sms: Sms,
) -> None:
    from tests.fakes.twilio import signed_form as sign

    customer = EN_CUSTOMER
    assert (await sms.text("hi", customer, signature="bm90IGEgc2lnbmF0dXJl"))[0] == 403
    # Signed with another token, or for the local URL instead of the public one.
    params = sms_params("How do I get a refund?", customer)
    for data, headers in (
        sign(PUBLIC + "/twilio/sms", params, token="another-token"),
        sign(sms.url + "/twilio/sms", params),
        sign(PUBLIC + "/twilio/sms/", params),
    ):
        async with sms.session.post(f"{sms.url}/twilio/sms", data=data, headers=headers) as r:
            assert r.status == 403
    # A field changed after signing.
    data, headers = sign(PUBLIC + "/twilio/sms", params)
    tampered = data.replace(b"refund", b"refunds")
    async with sms.session.post(f"{sms.url}/twilio/sms", data=tampered, headers=headers) as r:
        assert r.status == 403
    headers.pop("X-Twilio-Signature")
    async with sms.session.post(f"{sms.url}/twilio/sms", data=data, headers=headers) as r:
        assert r.status == 403
    await sms.adapter.sms.drain()
    assert sms.fake.messages == []
    assert not await sms.runtime.store.has_conversation(sms.key(customer))


@pytest.mark.parametrize(
    ("params", "status", "reason"),
    [
        ({"MessageSid": "SM123"}, 400, "MessageSid"),
        ({"From": "not a number"}, 400, "From"),
        ({"Body": "가" * 1601}, 400, "Body"),
    ],
)
async def test_a_malformed_signed_form_is_400_in_one_line_without_the_number(
    sms: Sms, params: dict[str, str], status: int, reason: str
) -> None:
    form = sms_params("hello", EN_CUSTOMER) | params
    data, headers = signed_form(PUBLIC + "/twilio/sms", form)
    async with sms.session.post(f"{sms.url}/twilio/sms", data=data, headers=headers) as r:
        text = await r.text()
        assert r.status == status
    assert reason in text and text.count("\n") == 1 and "4155550123" not in text
    assert sms.fake.messages == []


async def test_hostile_bodies_get_one_line_answers(sms: Sms) -> None:
    url = f"{sms.url}/twilio/sms"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    async with sms.session.post(url, data=b"x" * (70 * 1024), headers=form) as r:
        assert r.status == 413
    async with sms.session.post(url, data=b"\xff\xfe=%%", headers=form) as r:
        assert r.status == 400
    async with sms.session.post(url, json={"Body": "hi"}) as r:
        assert r.status == 415
    # Markup in a signed SMS is text like any other: answered, nothing breaks.
    status, body = await sms.text("<Response><Dial>+1900</Dial></Response>]]>", EN_CUSTOMER)
    assert status == 200 and empty_response(body)
    await sms.answered(EN_CUSTOMER)


@pytest.mark.parametrize(
    ("language", "opt_out"), [("ko", "수신거부"), ("en", "Please stop sending me messages")]
)
async def test_an_opt_out_sentence_is_confirmed_and_recorded_in_the_ledger(
    sms: Sms, language: str, opt_out: str
) -> None:
    customer = CUSTOMERS[language]
    assert (await sms.text(opt_out, customer))[0] == 200
    [confirmation] = await sms.answered(customer)
    assert ("수신거부" in confirmation) if language == "ko" else ("unsubscribed" in confirmation)
    assert segments(confirmation) <= 3
    journeys = sms.runtime.store.journeys
    customer_id = await journeys.customer_for("sms", sms.adapter.sms.phones.user_for(customer))
    assert customer_id is not None and customer.removeprefix("+") not in customer_id
    consent = await journeys.consent(customer_id, "marketing")
    assert consent is not None and not consent.granted and consent.source == "reply"


@pytest.mark.parametrize("word", ["STOP", "stop.", "Unsubscribe"])
async def test_a_carrier_keyword_is_recorded_and_left_to_twilio_to_answer(
    sms: Sms, word: str
) -> None:
    customer = EN_CUSTOMER
    assert (await sms.text(word, customer))[0] == 200
    await sms.adapter.sms.drain()
    assert sms.fake.messages == []  # Twilio's opt-out handling answers it, not Ondo
    journeys = sms.runtime.store.journeys
    customer_id = await journeys.customer_for("sms", sms.adapter.sms.phones.user_for(customer))
    assert customer_id is not None
    for category in ("marketing", "review_request", "transactional"):
        consent = await journeys.consent(customer_id, category)
        assert consent is not None and not consent.granted and consent.source == "sms_keyword"
    # START lifts the carrier's block: transactional texts again, marketing stays off.
    assert (await sms.text("START", customer))[0] == 200
    await sms.adapter.sms.drain()
    transactional = await journeys.consent(customer_id, "transactional")
    marketing = await journeys.consent(customer_id, "marketing")
    assert transactional is not None and transactional.granted
    assert marketing is not None and not marketing.granted
    assert sms.fake.messages == []
    # Nothing is left for the recovery sweep to answer.
    assert await sms.router.recover() == 0
    assert sms.fake.messages == []


async def test_a_stop_recorded_before_a_crash_is_still_a_keyword_for_the_recovery_sweep(
    sms: Sms,
) -> None:
    from multidict import MultiDict

    from adapters.twilio.events import parse_sms, to_message

    form = MultiDict(sms_params("STOP", KO_CUSTOMER))
    message = to_message(parse_sms(form), sms.adapter.sms.phones, time.time())
    inbound = await sms.adapter.sms._record(message)
    await sms.runtime.store.unclaim(inbound.id)  # the process died before answering
    await sms.router.recover()
    assert sms.fake.messages == []  # no confirmation of Ondo's beside Twilio's
    journeys = sms.runtime.store.journeys
    user = sms.adapter.sms.phones.user_for(KO_CUSTOMER)
    customer_id = await journeys.customer_for("sms", user)
    assert customer_id is not None
    consent = await journeys.consent(customer_id, "transactional")
    assert consent is not None and not consent.granted and consent.source == "sms_keyword"
    assert await sms.router.recover() == 0


async def test_keywords_are_answered_when_ondo_answers_them(
    fake_twilio: FakeTwilio, sample_runtime_factory: Callable[..., Runtime]
) -> None:
    async with fake_slack() as slack_fake:
        runtime = sample_runtime_factory(
            **slack_settings(slack_fake),
            **twilio_settings(fake_twilio),
            twilio_answer_keywords=True,
        )
        async with running_sms(fake_twilio, slack_fake, runtime) as sms:
            await sms.text("STOP", KO_CUSTOMER)
            [stopped] = await sms.answered(KO_CUSTOMER)
            assert stopped == fixed_text("sms.stop", "en", shop=runtime.settings.shop_name)
            await sms.text("HELP", EN_CUSTOMER)
            [helped] = await sms.answered(EN_CUSTOMER)
            assert "STOP" in helped


@pytest.mark.parametrize(
    ("language", "angry", "agent"),
    [
        (
            "ko",
            "세 번째 연락인데 아직도 환불이 안 됐어요. 정말 화가 납니다!! 상담원 바꿔 주세요",
            "제가 바로 확인해 드릴게요.",
        ),
        ("en", "This is the third time I'm asking, I'm furious!! Get me a human now", "I'm on it."),
    ],
)
async def test_an_angry_customer_is_handed_to_slack_and_the_agent_reply_reaches_the_phone(
    sms: Sms, language: str, angry: str, agent: str
) -> None:
    customer = CUSTOMERS[language]
    await sms.text(angry, customer)
    [notice] = await sms.answered(customer)
    assert ("상담원" in notice) if language == "ko" else ("person" in notice.lower())
    [ticket] = sms.slack.tickets()
    assert customer.removeprefix("+") not in str(ticket.params)
    key = sms.key(customer)
    assert (await sms.runtime.store.conversation(key, "sms")).state == "waiting_human"
    ts = ticket.response["ts"]
    said = sms.slack.fake.message_event(agent, user=AGENT, channel=AGENTS, thread_ts=ts)
    await sms.slack.deliver(said)
    await sms.slack.adapter.wait_completed(1)
    await sms.slack.deliver(said, retry=1)
    await sms.slack.adapter.wait_completed(2)
    sent = await sms.answered(customer, 2)
    assert sent == [notice, agent]
    assert (await sms.runtime.store.conversation(key, "sms")).state == "human"
    # The customer's next SMS goes to the ticket thread, not to the bot.
    await sms.text("감사합니다" if language == "ko" else "thanks", customer)
    await sms.adapter.sms.drain()
    relayed = sms.slack.posts(AGENTS)[-1]
    assert relayed.params["thread_ts"] == ts and relayed.params["text"].startswith("Customer:")
    assert len(sms.fake.to(customer)) == 2


async def test_a_failed_send_is_queued_and_sent_once_even_when_the_first_went_out(
    sms: Sms,
) -> None:
    customer = EN_CUSTOMER
    courier = Courier(sms.router)
    # The first create is sent but its answer is lost: the retry finds it and sends nothing.
    sms.fake.fail_next(how="drop")
    await sms.text("How do I get a refund?", customer)
    await sms.answered(customer)
    assert await sms.runtime.store.outbox.waiting("sms") == 1
    assert await courier.deliver_due() == 1
    assert len(sms.fake.to(customer)) == 1
    assert await sms.runtime.store.outbox.waiting("sms") == 0
    # A refused create (nothing sent): the retry sends it, once.
    sms.fake.fail_next(how="error", code=20500, status=500)
    await sms.text("How long does shipping take?", customer)
    await sms.adapter.sms.drain()
    assert len(sms.fake.to(customer)) == 1
    sms.fake.list_failures = 1  # the look-up fails: no send, tried again later
    assert await courier.deliver_due() == 0
    await _due_now(sms)
    assert await courier.deliver_due() == 1
    assert len(sms.fake.to(customer)) == 2
    assert await courier.deliver_due() == 0


async def _due_now(sms: Sms) -> None:
    """Make every waiting outbox row due (the courier's pause, without waiting it out)."""
    store: Any = sms.runtime.store
    await store._run(lambda: store._sql.execute("UPDATE outbox SET due_at = 0"))


async def test_a_number_that_opted_out_at_twilio_is_not_retried(sms: Sms) -> None:
    sms.fake.fail_next(how="error", code=21610, status=400)
    await sms.text("How do I get a refund?", EN_CUSTOMER)
    await sms.adapter.sms.drain()
    assert sms.fake.messages == []
    assert await sms.runtime.store.outbox.waiting("sms") == 0


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_a_slow_llm_never_holds_the_webhook_and_the_fallback_answers(
    sms: Sms, language: str
) -> None:
    llm = FakeOpenAI()
    await llm.start()
    client = openai.AsyncOpenAI(api_key="k", base_url=llm.base_url)
    try:
        llm.queue_delay(30.0, "too late")
        sms.runtime.engine.responder = LLMResponder(
            client=client, model="fake-model", fallback=ComposerResponder(), deadline=0.3
        )
        customer = CUSTOMERS[language]
        question, word = QUESTIONS[language]
        started = time.perf_counter()
        status, body = await sms.text(question, customer)
        answered_in = time.perf_counter() - started
        assert status == 200 and empty_response(body)
        assert answered_in < 1.0  # Twilio waits 15 s; the webhook never waits for the LLM
        [answer] = await sms.answered(customer)
        assert "too late" not in answer and word in answer.lower()
    finally:
        await client.close()
        await llm.stop()


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_an_sms_recorded_but_never_answered_is_answered_by_the_recovery_sweep(
    sms: Sms, language: str
) -> None:
    """The process died between the webhook's record and the answer: the sweep answers."""
    from multidict import MultiDict

    from adapters.twilio.events import parse_sms, to_message

    customer = CUSTOMERS[language]
    question, word = QUESTIONS[language]
    form = MultiDict(sms_params(question, customer))
    message = to_message(parse_sms(form), sms.adapter.sms.phones, time.time())
    inbound = await sms.adapter.sms._record(message)
    assert inbound.process
    await sms.runtime.store.unclaim(inbound.id)  # its claim lapsed with the dead process
    assert await sms.router.recover() == 1
    [answer] = await sms.answered(customer)
    assert word in answer.lower()
    status, _ = await sms.text(question, customer, sid=message.message_id)  # Twilio's retry
    await sms.adapter.sms.drain()
    assert status == 200 and len(sms.fake.to(customer)) == 1
