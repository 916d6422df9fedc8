"""``ondo serve twilio`` as a user starts it: signed SMS in on ``PORT``, answers out through
the real REST client to the fake Twilio named by ``TWILIO_API_URL``."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp

from tests.fakes.twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SHOP_NUMBER,
    FakeTwilio,
    message_sid,
    signed_form,
    sms_params,
)
from tests.test_serve import start_ondo, wait_healthy

PUBLIC = "https://sms.example.com"
CUSTOMER = "+821071829354"


async def test_ondo_serve_twilio_black_box(tmp_path: Path, warm_db: Path) -> None:
    fake = FakeTwilio()
    await fake.start()
    process, port = await start_ondo(
        tmp_path,
        warm_db,
        "twilio",
        {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_PUBLIC_URL": PUBLIC,
            "TWILIO_NUMBERS": SHOP_NUMBER,
            "TWILIO_API_URL": fake.url,
        },
    )
    try:
        health = await wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        assert health["ok"] is True and health["platforms"] == ["twilio"]
        async with aiohttp.ClientSession() as session:
            sid = message_sid()
            data, headers = signed_form(
                PUBLIC + "/twilio/sms", sms_params("배송은 얼마나 걸리나요?", CUSTOMER, sid=sid)
            )
            for _ in range(2):  # Twilio's retry of the same MessageSid
                async with session.post(
                    f"http://127.0.0.1:{port}/twilio/sms", data=data, headers=headers
                ) as resp:
                    assert resp.status == 200
                    assert (await resp.text()).endswith("<Response />")
            [answer] = await fake.wait_for(CUSTOMER, 1, timeout=30)
            assert "출고" in answer.body and answer.from_ == SHOP_NUMBER
            headers["X-Twilio-Signature"] = "Zm9yZ2Vk"
            async with session.post(
                f"http://127.0.0.1:{port}/twilio/sms", data=data, headers=headers
            ) as resp:
                assert resp.status == 403
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
        await fake.stop()
    logs = stderr.decode()
    assert process.returncode == 0, logs
    assert "Traceback" not in logs and "serving twilio" in logs
    assert CUSTOMER[1:] not in logs and CUSTOMER[-8:] not in logs
    assert len(fake.to(CUSTOMER)) == 1


async def test_ondo_serve_twilio_voice_black_box(tmp_path: Path, warm_db: Path) -> None:
    """A call through ``ondo serve``: greeted, a question answered with <Say>, the same
    callback twice answered alike, a forged one refused; no number in the logs."""
    import uuid
    import xml.etree.ElementTree as ET

    fake = FakeTwilio()
    await fake.start()
    process, port = await start_ondo(
        tmp_path,
        warm_db,
        "twilio",
        {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_PUBLIC_URL": PUBLIC,
            "TWILIO_NUMBERS": SHOP_NUMBER,
            "TWILIO_API_URL": fake.url,
        },
    )
    call = {
        "CallSid": "CA" + uuid.uuid4().hex,
        "AccountSid": ACCOUNT_SID,
        "From": CUSTOMER,
        "To": SHOP_NUMBER,
        "CallStatus": "in-progress",
    }
    try:
        await wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        async with aiohttp.ClientSession() as session:

            async def post(url: str, **fields: str) -> tuple[int, str]:
                data, headers = signed_form(url, call | fields)
                local = f"http://127.0.0.1:{port}" + url.removeprefix(PUBLIC)
                async with session.post(local, data=data, headers=headers) as resp:
                    return resp.status, await resp.text()

            status, greeting = await post(PUBLIC + "/twilio/voice")
            assert status == 200
            gather = ET.fromstring(greeting).find("Gather")
            assert gather is not None and gather.attrib["language"] == "ko-KR"
            turn = gather.attrib["action"]
            answers = [await post(turn, SpeechResult="배송은 얼마나 걸리나요?") for _ in range(2)]
            assert answers[0] == answers[1] and answers[0][0] == 200
            spoken = " ".join(s.text or "" for s in ET.fromstring(answers[0][1]).iter("Say"))
            assert "출고" in spoken
            data, headers = signed_form(turn, call | {"SpeechResult": "x"}, token="forged")
            local = f"http://127.0.0.1:{port}" + turn.removeprefix(PUBLIC)
            async with session.post(local, data=data, headers=headers) as resp:
                assert resp.status == 403
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
        await fake.stop()
    logs = stderr.decode()
    assert process.returncode == 0, logs
    assert "Traceback" not in logs and "voice on /twilio/voice" in logs
    assert CUSTOMER[1:] not in logs and CUSTOMER[-8:] not in logs
