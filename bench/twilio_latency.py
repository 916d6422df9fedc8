"""Twilio webhook latency, SMS and voice: ``python -m bench.twilio_latency [N]`` (not in CI).

The real aiohttp server with the Twilio adapter on the bundled sample shop (real models,
SQLite), signed webhooks posted one after another, each a question from the sample's own
(Korean and English alternately), first with the offline composer, then with the LLM
responder against the fake OpenAI-compatible server on loopback (``tests/fakes``; it answers
at once, so what is measured is Ondo's own cost of the LLM path: the prompt, the HTTP round
trip, the output guard), in the same run. ``N`` (default 200) SMS from ``N`` customers and
``N`` calls, each timed on one spoken turn (the greeting is not timed).

Reported, p50 and p95 in milliseconds: the SMS webhook's answer (an empty ``<Response/>``,
what Twilio waits for; the reply goes by REST) and the time until the reply SMS reached the
fake Twilio REST API; the voice turn's webhook answer, which carries the spoken answer in its
TwiML (Twilio waits about 15 s; past ``voice_answer_seconds`` it would be "잠시만요").
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import openai
from aiohttp import web

from adapters.twilio import TwilioAdapter, TwilioConfig
from bench.common import percentile
from bot.app import Runtime, build_runtime
from bot.conversation.routing import Router
from bot.responder.composer import ComposerResponder
from bot.responder.llm import LLMResponder
from bot.settings import Settings
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SHOP_NUMBER,
    FakeTwilio,
    signed_form,
    sms_params,
)

PUBLIC = "https://twilio.example.com"
QUESTIONS = (
    "환불은 어떻게 받나요?",
    "How long does shipping take?",
    "주문을 취소하고 싶어요",
    "Can I change the size of my order?",
)
WARM_UP = 5


def _answer(body: Mapping[str, Any]) -> str:
    """The fake model's answer: short, in the question's language."""
    last = str(body.get("messages", [{}])[-1].get("content", ""))
    if any("가" <= ch <= "힣" for ch in last):
        return "주문 내역에서 바로 신청하실 수 있어요. 처리에는 영업일 기준 3일이 걸려요."
    return "You can do that from your order history. It takes about three business days."


class _Count(logging.Handler):
    """Counts the LLM responder's fallbacks (one WARNING each)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


class Bench:
    """One server around one runtime; times SMS and voice webhooks."""

    def __init__(self, runtime: Runtime, fake: FakeTwilio, url: str) -> None:
        self.runtime = runtime
        self.fake = fake
        self.url = url
        self.rng = random.Random(0)

    async def sms(self, session: aiohttp.ClientSession, count: int) -> tuple[list[float], ...]:
        webhook: list[float] = []
        reply: list[float] = []
        for n in range(count + WARM_UP):
            customer = f"+8210{self.rng.randrange(10**7, 10**8)}"
            params = sms_params(QUESTIONS[n % len(QUESTIONS)], customer)
            data, headers = signed_form(PUBLIC + "/twilio/sms", params)
            started = time.perf_counter()
            async with session.post(f"{self.url}/twilio/sms", data=data, headers=headers) as r:
                await r.read()
                assert r.status == 200
            answered = time.perf_counter()
            await self.fake.wait_for(customer, 1, timeout=30)
            sent = time.perf_counter()
            if n >= WARM_UP:
                webhook.append((answered - started) * 1000)
                reply.append((sent - started) * 1000)
        return webhook, reply

    async def voice(self, session: aiohttp.ClientSession, count: int) -> list[float]:
        turn: list[float] = []
        for n in range(count + WARM_UP):
            call = {
                "CallSid": "CA" + uuid.uuid4().hex,
                "AccountSid": ACCOUNT_SID,
                "From": f"+8210{self.rng.randrange(10**7, 10**8)}",
                "To": SHOP_NUMBER,
                "CallStatus": "in-progress",
            }
            greeting = await self._post(session, PUBLIC + "/twilio/voice", call)
            gather = ET.fromstring(greeting).find("Gather")
            assert gather is not None
            said = call | {"SpeechResult": QUESTIONS[n % len(QUESTIONS)], "Confidence": "0.9"}
            started = time.perf_counter()
            answer = await self._post(session, gather.attrib["action"], said)
            if n >= WARM_UP:
                turn.append((time.perf_counter() - started) * 1000)
            assert ET.fromstring(answer).find("Gather") is not None, answer
        return turn

    async def _post(self, session: aiohttp.ClientSession, url: str, form: dict[str, str]) -> str:
        data, headers = signed_form(url, form)
        local = self.url + url.removeprefix(PUBLIC)
        async with session.post(local, data=data, headers=headers) as r:
            assert r.status == 200
            return await r.text()


async def main(count: int) -> None:
    """Run the measurement and print one line per figure."""
    fake = FakeTwilio()
    await fake.start()
    llm = FakeOpenAI()
    await llm.start()
    llm.set_faults(answer=_answer)
    fallbacks = _Count()
    logging.getLogger("ondo.llm").addHandler(fallbacks)
    folder = Path(tempfile.mkdtemp())
    settings = Settings(
        db_path=str(folder / "bench.db"),
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_public_url=PUBLIC,
        twilio_numbers=(SHOP_NUMBER,),
        twilio_api_url=fake.url,
    )
    runtime = build_runtime(settings)
    router = Router(runtime.engine)
    adapter = TwilioAdapter(router, TwilioConfig.from_settings(settings))
    app = web.Application()
    adapter.add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    bench = Bench(runtime, fake, f"http://{host}:{port}")
    client = openai.AsyncOpenAI(api_key="bench", base_url=llm.base_url)
    rows: list[tuple[str, list[float]]] = []
    async with aiohttp.ClientSession() as session:
        for mode in ("offline composer", "fake LLM"):
            if mode == "fake LLM":
                runtime.engine.responder = LLMResponder(
                    client=client, model="fake-model", fallback=ComposerResponder()
                )
            webhook, reply = await bench.sms(session, count)
            rows.append((f"SMS webhook answer, {mode}", webhook))
            rows.append((f"SMS reply sent, {mode}", reply))
            rows.append((f"voice turn answer, {mode}", await bench.voice(session, count)))
    answered = llm.injected["answered"]
    await client.close()
    await adapter.aclose()
    await runner.cleanup()
    await llm.stop()
    await fake.stop()
    runtime.close()
    for name, values in rows:
        print(
            f"{name}: p50 {percentile(values, 50):.1f} ms, p95 {percentile(values, 95):.1f} ms"
            f" ({len(values)})"
        )
    print(f"fake LLM requests answered: {answered}, offline fallbacks: {fallbacks.count}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
