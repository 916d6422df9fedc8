"""The Twilio adapter's parts SMS and voice share: settings, numbers in keys, segments,
keywords, the signature check, TwiML and the REST client against the fake (no models)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from twilio.base.exceptions import TwilioRestException
from twilio.twiml.messaging_response import MessagingResponse

from adapters.twilio.client import build_client, close_client
from adapters.twilio.config import TwilioConfig, TwilioConfigError
from adapters.twilio.events import keyword
from adapters.twilio.identity import PhoneBook
from adapters.twilio.segments import fit, is_gsm7, segments
from adapters.twilio.sms import empty_twiml
from bot.serve import ServeError, held_platforms, plan_platforms
from bot.settings import Settings, SettingsError
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, SHOP_NUMBER, FakeTwilio

BASE = {
    "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    "TWILIO_PUBLIC_URL": "https://ondo.example.com/",
}


def settings(**values: str) -> Settings:
    return Settings.from_env(values, dotenv=None)


def test_twilio_settings_are_read_and_checked() -> None:
    s = settings(**BASE, TWILIO_NUMBERS="+1 500-555-0006, +8215880000")
    config = TwilioConfig.from_settings(s)
    assert config.public_url == "https://ondo.example.com"
    assert config.numbers == ("+15005550006", "+8215880000")
    assert AUTH_TOKEN not in repr(s) and AUTH_TOKEN not in repr(config)
    assert "+15005550006" not in repr(config)


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"TWILIO_ACCOUNT_SID": "SK123"}, "TWILIO_ACCOUNT_SID"),
        ({"TWILIO_NUMBERS": "+8210987654321x"}, "TWILIO_NUMBERS"),
        ({"TWILIO_AGENTS_NUMBER": "010-9876-5432"}, "TWILIO_AGENTS_NUMBER"),
        ({"TWILIO_PUBLIC_URL": "ondo.example.com"}, "TWILIO_PUBLIC_URL"),
        ({"ONDO_PHONE_KEY": "short"}, "ONDO_PHONE_KEY"),
    ],
)
def test_a_bad_twilio_setting_is_named_in_one_line_without_the_number(
    values: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError, match=named) as caught:
        settings(**values)
    message = str(caught.value)
    assert "\n" not in message and "9876" not in message


def test_serve_twilio_needs_its_three_settings_and_all_includes_it() -> None:
    with pytest.raises(ServeError, match="TWILIO_AUTH_TOKEN and TWILIO_PUBLIC_URL"):
        plan_platforms(settings(TWILIO_ACCOUNT_SID=ACCOUNT_SID), "twilio")
    assert plan_platforms(settings(**BASE), "all") == ["twilio"]
    both = settings(**BASE, SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s")
    assert plan_platforms(both, "all") == ["slack", "twilio"]
    with_desk = settings(**BASE, SLACK_BOT_TOKEN="x", SLACK_SIGNING_SECRET="s",
                         ONDO_HANDOFF_CHANNEL="slack:C0AGENTS")  # fmt: skip
    assert plan_platforms(with_desk, "twilio") == ["twilio", "slack"]
    assert held_platforms(["twilio", "slack"]) == ("sms", "voice", "slack")
    with pytest.raises(TwilioConfigError):
        TwilioConfig.from_settings(settings())


def test_numbers_are_sealed_in_keys_and_opened_only_with_the_secret() -> None:
    phones = PhoneBook("a secret of sixteen+")
    key = phones.key_for("sms", "+821098765432", SHOP_NUMBER)
    assert key.startswith("sms:") and "98765432" not in key and "5550006" not in key
    assert key == phones.key_for("sms", "+821098765432", SHOP_NUMBER)  # stable
    numbers = phones.numbers_of(key)
    assert numbers is not None and (numbers.customer, numbers.shop) == (
        "+821098765432",
        SHOP_NUMBER,
    )
    assert phones.key_for("voice", "+821098765432", SHOP_NUMBER) != key
    assert PhoneBook("another secret!!!!").numbers_of(key) is None
    for hostile in ("sms:", "sms:!!!", "sms:" + "a" * 500, "slack:D0DM", key[:-2]):
        assert phones.numbers_of(hostile) is None
    user = phones.user_for("+821098765432")
    assert user.startswith("p") and len(user) == 25 and "98765432" not in user


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("{" * 80, 1),  # extended characters cost two septets
        ("{" * 81, 2),
        ("가" * 70, 1),
        ("가" * 71, 2),
        ("가" * 134, 2),
        ("가" * 135, 3),
        ("😀" * 35, 1),  # outside the BMP: two UTF-16 units each
        ("😀" * 36, 2),
    ],
)
def test_segments_are_counted_as_carriers_bill_them(text: str, count: int) -> None:
    assert segments(text) == count


def test_typographic_punctuation_keeps_english_in_gsm7() -> None:
    text = "We\u2019re sorry \u2014 it\u2019s on its way\u2026"
    assert not is_gsm7(text)
    assert fit(text) == "We're sorry - it's on its way..."
    assert is_gsm7(fit(text))


@pytest.mark.parametrize(
    "sentence",
    [
        "환불은 주문일로부터 7일 이내에 신청하실 수 있습니다. ",
        "Refunds can be requested within 7 days. ",
    ],
)
def test_a_long_reply_keeps_whole_sentences_within_three_segments(sentence: str) -> None:
    text = sentence * 20 + "\n" + sentence.strip()
    short = fit(text)
    assert segments(short) <= 3
    assert short.endswith(sentence.strip())  # the last line kept, whole
    unit = sentence.strip()
    joined = short.replace("\n", " ")
    count = joined.count(unit)
    assert count >= 2 and joined == " ".join([unit] * count)  # whole sentences only


def test_a_single_endless_sentence_is_cut_at_a_word_with_an_ellipsis() -> None:
    for text, ellipsis in (("word " * 400, "..."), ("가나다라 " * 200, "…")):
        short = fit(text)
        assert segments(short) <= 3 and short.endswith(ellipsis)
        assert not short.removesuffix(ellipsis).endswith(" ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("STOP", "stop"),
        (" stop. ", "stop"),
        ("StopAll", "stop"),
        ("unsubscribe", "stop"),
        ("QUIT!", "stop"),
        ("start", "start"),
        ("UNSTOP", "start"),
        ("help", "help"),
        ("stop sending me the wrong size", None),
        ("수신거부", None),  # Korean opt-out: the journeys' sentence reader, not a keyword
        ("", None),
    ],
)
def test_carrier_keywords_are_whole_messages(text: str, expected: str | None) -> None:
    assert keyword(text) == expected


def test_the_webhook_answer_is_empty_twiml() -> None:
    response = empty_twiml()
    assert response.content_type == "text/xml"
    assert response.text is not None
    root = ET.fromstring(response.text)
    assert root.tag == "Response" and len(root) == 0
    # What a TwiML answer with a message would look like (not used: replies go by REST).
    twiml = MessagingResponse()
    twiml.message("환불은 7일 이내에 가능합니다")
    assert ET.fromstring(str(twiml)).find("Message").text == "환불은 7일 이내에 가능합니다"  # type: ignore[union-attr]


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    server = FakeTwilio()
    await server.start()
    yield server
    await server.stop()


async def test_the_real_client_reaches_the_fake_for_messages_and_calls(fake: FakeTwilio) -> None:
    config = TwilioConfig.from_settings(settings(**BASE, TWILIO_API_URL=fake.url))
    client, http = build_client(config)
    try:
        sent = await client.messages.create_async(
            to="+821098765432", from_=SHOP_NUMBER, body="안녕"
        )
        assert sent.sid and sent.sid.startswith("SM")
        listed = await client.messages.list_async(to="+821098765432", limit=5)
        assert [m.sid for m in listed] == [sent.sid] and listed[0].body == "안녕"
        call = await client.calls("CA" + "1" * 32).update_async(twiml="<Response/>")
        assert call.sid == "CA" + "1" * 32
        assert fake.call_updates == [("CA" + "1" * 32, {"Twiml": "<Response/>"})]
        fake.fail_next(code=21610, status=400)
        with pytest.raises(TwilioRestException) as caught:
            await client.messages.create_async(to="+821098765432", from_=SHOP_NUMBER, body="x")
        assert caught.value.code == 21610
    finally:
        await close_client(http)
    wrong = TwilioConfig.from_settings(
        settings(**{**BASE, "TWILIO_AUTH_TOKEN": "wrong"}, TWILIO_API_URL=fake.url)
    )
    client, http = build_client(wrong)
    try:
        with pytest.raises(TwilioRestException) as refused:
            await client.messages.create_async(to="+821098765432", from_=SHOP_NUMBER, body="x")
        assert refused.value.status == 401
    finally:
        await close_client(http)


async def test_a_chunked_body_is_read_whole_and_a_huge_one_refused(fake: FakeTwilio) -> None:
    import aiohttp
    from aiohttp import web

    from adapters.twilio.signature import signed
    from tests.fakes.twilio import signed_form, sms_params

    config = TwilioConfig.from_settings(settings(**BASE))
    seen: list[str] = []

    async def handler(request: web.Request, form: object) -> web.Response:
        seen.append(str(form["Body"]))  # type: ignore[index]
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/twilio/sms", signed(config, handler))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    body_text = "가나다 " * 300
    data, headers = signed_form(
        "https://ondo.example.com/twilio/sms", sms_params(body_text, "+821098765432")
    )

    async def chunks(payload: bytes, size: int) -> AsyncIterator[bytes]:
        for start in range(0, len(payload), size):
            yield payload[start : start + size]

    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://{host}:{port}/twilio/sms"
            async with session.post(url, data=chunks(data, 1000), headers=headers) as resp:
                assert resp.status == 200
            huge = chunks(b"Body=" + b"x" * (200 * 1024), 8192)
            async with session.post(url, data=huge, headers=headers) as resp:
                assert resp.status == 413
    finally:
        await runner.cleanup()
    assert seen == [body_text]
