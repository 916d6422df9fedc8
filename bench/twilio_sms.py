"""SMS webhook latency: ``python -m bench.twilio_sms [N]`` (not run in CI).

The real aiohttp server with the Twilio adapter on the bundled sample shop (real models,
offline composer, SQLite), signed SMS webhooks from ``N`` customers (default 200) posted one
after another, each a question from the sample's own (Korean and English alternately), the
answers sent through the real twilio REST client to the fake Twilio on loopback. Reports the
webhook's answer time (what Twilio waits for: at most 15 s) and the time until the reply SMS
reached the REST API, p50 and p95, in milliseconds.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from adapters.twilio import TwilioAdapter, TwilioConfig
from bench.common import percentile
from bot.app import build_runtime
from bot.conversation.routing import Router
from bot.settings import Settings
from tests.fakes.twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SHOP_NUMBER,
    FakeTwilio,
    signed_form,
    sms_params,
)

PUBLIC = "https://sms.example.com"
QUESTIONS = (
    "환불은 어떻게 받나요?",
    "How long does shipping take?",
    "주문을 취소하고 싶어요",
    "Can I change the size of my order?",
)


async def main(count: int) -> None:
    """Run the measurement and print one line per figure."""
    fake = FakeTwilio()
    await fake.start()
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
    rng = random.Random(0)
    webhook: list[float] = []
    reply: list[float] = []
    async with aiohttp.ClientSession() as session:
        for n in range(count + 5):
            customer = f"+8210{rng.randrange(10**7, 10**8)}"
            params = sms_params(QUESTIONS[n % len(QUESTIONS)], customer)
            data, headers = signed_form(PUBLIC + "/twilio/sms", params)
            started = time.perf_counter()
            async with session.post(
                f"http://{host}:{port}/twilio/sms", data=data, headers=headers
            ) as resp:
                await resp.read()
                assert resp.status == 200
            answered = time.perf_counter()
            await fake.wait_for(customer, 1, timeout=30)
            sent = time.perf_counter()
            if n >= 5:  # the first few warm the models' caches
                webhook.append((answered - started) * 1000)
                reply.append((sent - started) * 1000)
    await adapter.aclose()
    await runner.cleanup()
    await fake.stop()
    runtime.close()
    for name, values in (("webhook answer", webhook), ("reply SMS sent", reply)):
        print(
            f"{name}: p50 {percentile(values, 50):.1f} ms, p95 {percentile(values, 95):.1f} ms"
            f" ({len(values)} SMS)"
        )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
