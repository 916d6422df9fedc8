"""Voice on two replicas sharing PostgreSQL: a turn computed on one is heard through the
other's redirect, and a turn Twilio delivers to both is answered once with the same TwiML."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import openai
import pytest_asyncio
from aiohttp import web

from adapters.twilio import TwilioAdapter, TwilioConfig
from bot.app import Runtime, build_runtime
from bot.conversation.routing import Router
from bot.responder.composer import ComposerResponder
from bot.responder.llm import LLMResponder
from bot.settings import Settings
from knowledge.embedders import Embedder
from tests.backends import pg_schema, seed_embeddings
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.twilio import ACCOUNT_SID, SHOP_NUMBER, FakeTwilio, signed_form
from tests.test_twilio_sms import PUBLIC, twilio_settings

CALLER = "+821071829354"


@dataclass
class Replica:
    runtime: Runtime
    adapter: TwilioAdapter
    url: str


@dataclass
class Pair:
    a: Replica
    b: Replica
    session: aiohttp.ClientSession

    async def post(self, replica: Replica, url: str, form: dict[str, str]) -> str:
        data, headers = signed_form(url, form)
        local = replica.url + url.removeprefix(PUBLIC)
        async with self.session.post(local, data=data, headers=headers) as response:
            assert response.status == 200
            return await response.text()


@contextlib.asynccontextmanager
async def replica(
    url: str, fake: FakeTwilio, embedders: Sequence[Embedder]
) -> AsyncIterator[Replica]:
    runtime = build_runtime(Settings(db_path=url, **twilio_settings(fake)), embedders=embedders)
    adapter = TwilioAdapter(Router(runtime.engine), TwilioConfig.from_settings(runtime.settings))
    web_app = web.Application()
    adapter.add_routes(web_app)
    runner = web.AppRunner(web_app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield Replica(runtime, adapter, f"http://{host}:{port}")
    finally:
        await adapter.aclose()
        await runner.cleanup()
        runtime.close()


@pytest_asyncio.fixture
async def pair(real_embedders: Sequence[Embedder], warm_db: Path) -> AsyncIterator[Pair]:
    fake = FakeTwilio()
    await fake.start()
    try:
        with pg_schema() as url:
            seed_embeddings(url, warm_db)
            async with (
                replica(url, fake, real_embedders) as a,
                replica(url, fake, real_embedders) as b,
                aiohttp.ClientSession() as session,
            ):
                assert a.runtime.store.shared
                yield Pair(a, b, session)
    finally:
        await fake.stop()


def call_form(sid: str, **fields: str) -> dict[str, str]:
    return {
        "CallSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": CALLER,
        "To": SHOP_NUMBER,
        "CallStatus": "in-progress",
        **fields,
    }


async def test_a_turn_computed_on_one_replica_is_heard_through_the_others_redirect(
    pair: Pair,
) -> None:
    llm = FakeOpenAI()
    await llm.start()
    client = openai.AsyncOpenAI(api_key="k", base_url=llm.base_url)
    try:
        llm.queue_delay(0.5, "환불은 주문 내역에서 신청하실 수 있어요.")
        pair.a.runtime.engine.responder = LLMResponder(
            client=client, model="fake-model", fallback=ComposerResponder(), deadline=5.0
        )
        pair.a.adapter.voice.answer_seconds = 0.1
        pair.b.adapter.voice.answer_seconds = 3.0
        sid = "CA" + uuid.uuid4().hex
        greeting = ET.fromstring(await pair.post(pair.a, PUBLIC + "/twilio/voice", call_form(sid)))
        gather = greeting.find("Gather")
        assert gather is not None
        said = call_form(sid, SpeechResult="환불은 어떻게 받나요?")
        held = ET.fromstring(await pair.post(pair.a, gather.attrib["action"], said))
        redirect = held.find("Redirect")
        assert redirect is not None and redirect.text
        answer = await pair.post(pair.b, redirect.text, call_form(sid))
        assert "주문 내역" in answer and "<Gather" in answer
        await pair.a.adapter.voice.drain()
        assert len(llm.requests) == 1
    finally:
        await client.close()
        await llm.stop()


async def test_a_turn_delivered_to_both_replicas_is_answered_once_alike(pair: Pair) -> None:
    sid = "CA" + uuid.uuid4().hex
    greeting = ET.fromstring(await pair.post(pair.a, PUBLIC + "/twilio/voice", call_form(sid)))
    gather = greeting.find("Gather")
    assert gather is not None
    said = call_form(sid, SpeechResult="How long does shipping take?")
    bodies = await asyncio.gather(
        pair.post(pair.a, gather.attrib["action"], said),
        pair.post(pair.b, gather.attrib["action"], said),
    )
    assert bodies[0] == bodies[1] and "<Gather" in bodies[0]
    history = await pair.a.runtime.store.history(f"voice:{sid}", 10)
    assert [m.role for m in history] == ["customer", "bot"]
