"""Voice end to end: signed Twilio call webhooks into the real app, TwiML parsed as XML, the
handoff's ticket in the fake Slack, the Dial's outcome in its thread (ko, en)."""

from __future__ import annotations

import asyncio
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import openai
import pytest
import pytest_asyncio

from adapters.twilio.speech import for_speech
from bot.app import Runtime
from bot.responder.composer import ComposerResponder
from bot.responder.llm import LLMResponder
from bot.settings import Settings, SettingsError
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.twilio import ACCOUNT_SID, SHOP_NUMBER, FakeTwilio, signed_form
from tests.slack_harness import AGENTS, fake_slack, slack_settings
from tests.test_twilio_sms import PUBLIC, Sms, running_sms, twilio_settings

KO_CALLER = "+821071829354"
EN_CALLER = "+14155550123"
CALLERS = {"ko": KO_CALLER, "en": EN_CALLER}
AGENTS_NUMBER = "+15005550009"
REFUND = {"ko": ("환불은 어떻게 받나요?", "환불"), "en": ("How do I get a refund?", "refund")}
ANGRY = {
    "ko": "세 번째 전화인데 아직도 환불이 안 됐어요. 정말 화가 납니다! 제 번호는 010-5555-1234예요",
    "en": "This is the third time I'm calling, I'm furious! My email is jane.doe@example.com",
}


def call_sid() -> str:
    return "CA" + uuid.uuid4().hex


@dataclass
class Twiml:
    """A parsed TwiML answer."""

    root: ET.Element

    def says(self) -> list[ET.Element]:
        return list(self.root.iter("Say"))

    def spoken(self) -> str:
        return " ".join(s.text or "" for s in self.says())

    def one(self, tag: str) -> ET.Element:
        [element] = list(self.root.iter(tag))
        return element

    def has(self, tag: str) -> bool:
        return any(True for _ in self.root.iter(tag))

    def next_url(self) -> str:
        """The callback Twilio calls next (the Gather's action or the Redirect)."""
        if self.has("Gather"):
            return self.one("Gather").attrib["action"]
        return self.one("Redirect").text or ""


@dataclass
class Call:
    """One phone call into the running app, as Twilio drives it."""

    sms: Sms
    caller: str
    sid: str

    def params(self, **fields: str) -> dict[str, str]:
        return {
            "CallSid": self.sid,
            "AccountSid": ACCOUNT_SID,
            "From": self.caller,
            "To": SHOP_NUMBER,
            "CallStatus": "in-progress",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
            **fields,
        }

    async def post(self, url: str, **fields: str) -> tuple[int, str]:
        """Post a webhook to ``url`` (an absolute public URL) signed as Twilio signs it."""
        assert url.startswith(PUBLIC), url
        data, headers = signed_form(url, self.params(**fields))
        local = self.sms.url + url.removeprefix(PUBLIC)
        async with self.sms.session.post(local, data=data, headers=headers) as response:
            return response.status, await response.text()

    async def twiml(self, url: str, **fields: str) -> Twiml:
        status, body = await self.post(url, **fields)
        assert status == 200, body
        root = ET.fromstring(body)
        assert root.tag == "Response"
        return Twiml(root)

    async def ring(self) -> Twiml:
        return await self.twiml(PUBLIC + "/twilio/voice", CallStatus="ringing")

    async def say(self, last: Twiml, speech: str) -> Twiml:
        return await self.twiml(last.next_url(), SpeechResult=speech, Confidence="0.91")

    async def settle(self, answer: Twiml) -> Twiml:
        """Follow "잠시만요" redirects until the answer is spoken."""
        for _ in range(40):
            if not answer.has("Redirect"):
                return answer
            answer = await self.twiml(answer.next_url())
        raise AssertionError("no answer after 40 redirects")

    @property
    def key(self) -> str:
        return f"voice:{self.sid}"


@pytest_asyncio.fixture
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()
    await fake.start()
    yield fake
    await fake.stop()


@pytest_asyncio.fixture
async def phone(
    fake_twilio: FakeTwilio, sample_runtime_factory: Callable[..., Runtime]
) -> AsyncIterator[Sms]:
    async with fake_slack() as slack_fake:
        runtime = sample_runtime_factory(
            **slack_settings(slack_fake),
            **twilio_settings(fake_twilio),
            twilio_agents_number=AGENTS_NUMBER,
        )
        async with running_sms(fake_twilio, slack_fake, runtime) as running:
            yield running


def call(sms: Sms, language: str) -> Call:
    return Call(sms, CALLERS[language], call_sid())


def thread_posts(sms: Sms) -> list[str]:
    return [c.params["text"] for c in sms.slack.posts(AGENTS) if c.params.get("thread_ts")]


async def test_the_greeting_is_korean_with_a_line_in_english_and_listens_for_speech(
    phone: Sms,
) -> None:
    greeting = await call(phone, "ko").ring()
    gather = greeting.one("Gather")
    assert gather.attrib["input"] == "speech dtmf"
    assert gather.attrib["language"] == "ko-KR"
    assert gather.attrib["speechTimeout"] == "auto"
    assert gather.attrib["actionOnEmptyResult"] == "true"
    assert gather.attrib["action"].startswith(PUBLIC + "/twilio/voice/turn?")
    korean, english = greeting.says()
    assert korean.attrib == {"voice": "Polly.Seoyeon", "language": "ko-KR"}
    assert "0번" in (korean.text or "")
    assert english.attrib == {"voice": "Polly.Joanna", "language": "en-US"}
    assert "녹음" not in greeting.spoken()  # recording is off by default


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_a_call_about_a_refund_is_answered_in_its_language_and_ended(
    phone: Sms, language: str
) -> None:
    line = call(phone, language)
    question, word = REFUND[language]
    answer = await line.say(await line.ring(), question)
    assert word in answer.spoken().lower()
    [said] = answer.says()
    voice = "Polly.Seoyeon" if language == "ko" else "Polly.Joanna"
    assert said.attrib["voice"] == voice
    # An English first sentence switches the call to English.
    gather = answer.one("Gather")
    assert gather.attrib["language"] == ("ko-KR" if language == "ko" else "en-US")
    assert "http" not in answer.spoken() and "**" not in answer.spoken()
    # Silence twice: a reprompt, then a polite goodbye and the call ends.
    again = await line.twiml(answer.next_url())
    assert again.has("Gather") and not again.has("Hangup")
    bye = await line.twiml(again.next_url())
    assert bye.has("Hangup") and not bye.has("Gather")
    assert ("감사합니다" in bye.spoken()) if language == "ko" else ("Goodbye" in bye.spoken())
    # Stored like any conversation, keyed by the CallSid; no number in the key or the user.
    store = phone.runtime.store
    history = await store.history(line.key, 10)
    assert [m.role for m in history] == ["customer", "bot"]
    owner = await store.conversation_owner(line.key)
    assert owner == phone.adapter.sms.phones.user_for(line.caller)  # the SMS pseudonym
    assert line.caller.removeprefix("+") not in line.key + (owner or "")
    status, _ = await line.post(PUBLIC + "/twilio/voice/status", CallStatus="completed")
    assert status == 200 and phone.slack.tickets() == []


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_silence_is_reprompted_then_the_call_ends(phone: Sms, language: str) -> None:
    line = call(phone, language)
    greeting = await line.ring()
    if language == "en":
        greeting = await line.twiml(greeting.next_url(), Digits="1")
        assert greeting.one("Gather").attrib["language"] == "en-US"
    again = await line.twiml(greeting.next_url(), SpeechResult="")
    assert ("들리지" in again.spoken()) if language == "ko" else ("didn't hear" in again.spoken())
    bye = await line.twiml(again.next_url(), SpeechResult="")
    assert bye.has("Hangup")
    assert not await phone.runtime.store.has_conversation(line.key)  # nothing was said


async def test_a_key_press_switches_to_english(phone: Sms) -> None:
    line = call(phone, "en")
    english = await line.twiml((await line.ring()).next_url(), Digits="1")
    [prompt] = english.says()
    assert prompt.attrib["voice"] == "Polly.Joanna" and "help" in (prompt.text or "")
    answer = await line.say(english, "How long does shipping take?")
    assert answer.one("Gather").attrib["language"] == "en-US"
    assert answer.says()[0].attrib["language"] == "en-US"


async def assert_transferred(phone: Sms, line: Call, answer: Twiml, language: str) -> str:
    """The answer says the notice and dials the agents; the ticket and the transcript are in
    Slack already. Returns the Dial's action URL."""
    dial = answer.one("Dial")
    assert answer.one("Number").text == AGENTS_NUMBER
    assert dial.attrib["callerId"] == SHOP_NUMBER  # the agents never see the caller's number
    assert dial.attrib["action"].startswith(PUBLIC + "/twilio/voice/dialed")
    assert "record" not in dial.attrib
    assert ("상담원" in answer.spoken()) if language == "ko" else ("person" in answer.spoken())
    assert len(phone.slack.tickets()) == 1
    transcript = next(p for p in thread_posts(phone) if p.startswith("Call transcript"))
    assert "Caller:" in transcript and "Ondo:" in transcript
    state = (await phone.runtime.store.conversation(line.key, "voice")).state
    assert state == "waiting_human"
    return dial.attrib["action"]


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_an_angry_caller_is_transferred_with_the_ticket_and_transcript_in_slack(
    phone: Sms, language: str
) -> None:
    line = call(phone, language)
    first = await line.say(await line.ring(), REFUND[language][0])
    answer = await line.say(first, ANGRY[language])
    action = await assert_transferred(phone, line, answer, language)
    [ticket] = phone.slack.tickets()
    everything = str(ticket.params) + " ".join(thread_posts(phone))
    for secret in ("5555-1234", "01055551234", "jane.doe@example.com", line.caller[1:]):
        assert secret not in everything  # redacted everywhere the agents read
    transcript = next(p for p in thread_posts(phone) if p.startswith("Call transcript"))
    assert REFUND[language][0].rstrip("?") in transcript  # the call so far, not only the last
    # The agent picks up; the outcome goes to the ticket once.
    hangup = await line.twiml(action, DialCallStatus="completed", DialCallDuration="42")
    assert hangup.has("Hangup")
    await line.post(PUBLIC + "/twilio/voice/status", CallStatus="completed")
    notes = [p for p in thread_posts(phone) if p.startswith("📞")]
    assert notes == ["📞 The call was put through to an agent (42 s)."]


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_pressing_0_transfers_the_call(phone: Sms, language: str) -> None:
    line = call(phone, language)
    greeting = await line.ring()
    if language == "en":
        greeting = await line.twiml(greeting.next_url(), Digits="2")
    answer = await line.twiml(greeting.next_url(), Digits="0")
    await assert_transferred(phone, line, answer, language)
    [ticket] = phone.slack.tickets()
    assert "asked" in str(ticket.params).lower() or "요청" in str(ticket.params)


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_a_call_that_drops_mid_handoff_leaves_a_ticket_that_says_so(
    phone: Sms, language: str
) -> None:
    line = call(phone, language)
    answer = await line.say(await line.ring(), ANGRY[language])
    action = await assert_transferred(phone, line, answer, language)
    # The caller hangs up while the agents' phone rings.
    await line.twiml(action, DialCallStatus="no-answer", CallStatus="completed")
    await line.post(PUBLIC + "/twilio/voice/status", CallStatus="completed")
    notes = [p for p in thread_posts(phone) if p.startswith("📞")]
    assert len(notes) == 1 and "hung up" in notes[0]


async def test_no_agent_answering_is_said_to_the_caller_and_noted(phone: Sms) -> None:
    line = call(phone, "ko")
    answer = await line.say(await line.ring(), ANGRY["ko"])
    action = await assert_transferred(phone, line, answer, "ko")
    sorry = await line.twiml(action, DialCallStatus="busy")
    assert sorry.has("Hangup") and "문자로" in sorry.spoken()
    [note] = [p for p in thread_posts(phone) if p.startswith("📞")]
    assert "No agent answered" in note and "busy" in note


async def test_a_caller_who_hangs_up_before_the_transfer_is_noted_by_the_status_callback(
    phone: Sms,
) -> None:
    line = call(phone, "en")
    await line.say(await line.ring(), ANGRY["en"])  # the Dial is never reached
    await line.post(PUBLIC + "/twilio/voice/status", CallStatus="completed")
    await line.post(PUBLIC + "/twilio/voice/status", CallStatus="completed")  # redelivered
    notes = [p for p in thread_posts(phone) if p.startswith("📞")]
    assert notes == ["📞 The caller hung up before the transfer (call completed)."]


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_the_same_callback_twice_is_answered_once_with_the_same_twiml(
    phone: Sms, language: str
) -> None:
    line = call(phone, language)
    greeting = await line.ring()
    question = REFUND[language][0]
    bodies = await asyncio.gather(
        *(line.post(greeting.next_url(), SpeechResult=question) for _ in range(3))
    )
    later = await line.post(greeting.next_url(), SpeechResult=question)
    assert {b for _, b in [*bodies, later]} == {bodies[0][1]}
    assert all(status == 200 for status, _ in bodies)
    history = await phone.runtime.store.history(line.key, 10)
    assert [m.role for m in history] == ["customer", "bot"]


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_a_slow_llm_gets_a_hold_and_the_redirect_picks_up_the_answer_once(
    phone: Sms, language: str
) -> None:
    llm = FakeOpenAI()
    await llm.start()
    client = openai.AsyncOpenAI(api_key="k", base_url=llm.base_url)
    late = {
        "ko": "환불은 주문 내역에서 신청하실 수 있어요. 영업일 기준 3일 안에 처리됩니다.",
        "en": "You can ask for a refund from your order history. It takes three business days.",
    }[language]
    try:
        llm.queue_delay(0.6, late)
        phone.runtime.engine.responder = LLMResponder(
            client=client, model="fake-model", fallback=ComposerResponder(), deadline=5.0
        )
        phone.adapter.voice.answer_seconds = 0.25  # the injected deadline (Twilio's is 15 s)
        line = call(phone, language)
        held = await line.say(await line.ring(), REFUND[language][0])
        assert held.has("Redirect") and not held.has("Gather")
        assert held.spoken() == ("잠시만요." if language == "ko" else "One moment, please.")
        redirect = held.next_url()
        assert redirect.startswith(PUBLIC + "/twilio/voice/wait?")
        answer = await line.settle(held)
        spoken = answer.spoken()
        assert late.split(".")[0] in spoken
        # Twilio retries a redirect it did not get: the same answer, not a second one.
        phone.adapter.voice.answer_seconds = 2.0
        again = await line.twiml(redirect)
        assert again.spoken() == spoken
        history = await phone.runtime.store.history(line.key, 10)
        assert [m.role for m in history] == ["customer", "bot"]
        assert len(llm.requests) == 1
    finally:
        await client.close()
        await llm.stop()


async def test_a_forged_signature_is_403_and_a_malformed_form_400(phone: Sms) -> None:
    line = call(phone, "en")
    params = line.params(SpeechResult="refund please")
    url = PUBLIC + "/twilio/voice/turn?lang=en&turn=1&silent=0"
    for data, headers in (
        signed_form(url, params, token="another-token"),
        signed_form(phone.url + "/twilio/voice/turn?lang=en&turn=1&silent=0", params),
        signed_form(PUBLIC + "/twilio/voice/turn?lang=ko&turn=1&silent=0", params),
    ):
        local = phone.url + "/twilio/voice/turn?lang=en&turn=1&silent=0"
        async with phone.session.post(local, data=data, headers=headers) as r:
            assert r.status == 403
    assert not await phone.runtime.store.has_conversation(line.key)
    for path, fields, reason in (
        ("/twilio/voice", {"CallSid": "CA123"}, "CallSid"),
        ("/twilio/voice/turn?lang=fr&turn=1", {}, "lang"),
        ("/twilio/voice/turn?lang=ko&turn=0", {}, "turn"),
        ("/twilio/voice/turn?lang=ko&turn=1", {"SpeechResult": "가" * 2001}, "SpeechResult"),
        ("/twilio/voice/turn?lang=ko&turn=1", {"Digits": "<Dial>"}, "Digits"),
        ("/twilio/voice/wait?lang=ko&turn=1&inbound=x&wait=1", {}, "inbound"),
    ):
        status, text = await line.post(PUBLIC + path, **fields)
        assert status == 400 and reason in text and text.count("\n") == 1, (path, text)
        assert "4155550123" not in text


async def test_markup_in_speech_is_spoken_as_text_and_the_twiml_stays_valid(phone: Sms) -> None:
    line = call(phone, "en")
    answer = await line.say(await line.ring(), "<Response><Dial>+1900</Dial></Response> refund?")
    assert not answer.has("Dial")  # parsed as XML: the caller's words are text in it


async def test_recording_when_enabled_is_announced_first_and_records_the_transfer(
    fake_twilio: FakeTwilio, sample_runtime_factory: Callable[..., Runtime]
) -> None:
    async with fake_slack() as slack_fake:
        runtime = sample_runtime_factory(
            **slack_settings(slack_fake),
            **twilio_settings(fake_twilio),
            twilio_agents_number=AGENTS_NUMBER,
            twilio_voice_record=True,
        )
        async with running_sms(fake_twilio, slack_fake, runtime) as phone:
            line = call(phone, "ko")
            greeting = await line.ring()
            first = greeting.says()[0]
            assert "녹음" in (first.text or "")
            assert first not in list(greeting.one("Gather"))  # heard whole, before listening
            answer = await line.twiml(greeting.next_url(), Digits="0")
            assert answer.one("Dial").attrib["record"] == "record-from-answer"


@pytest.mark.parametrize(
    ("language", "written", "spoken"),
    [
        (
            "ko",
            "**환불**은 [주문 내역](https://shop.example.com/orders)에서 신청하세요. "
            "자세한 안내는 https://shop.example.com/refund 를 보세요. 세 번째 문장입니다.",
            "환불 은 주문 내역에서 신청하세요.",
        ),
        (
            "en",
            "- Go to *My orders*.\n- Choose `Refund`. See www.example.com/help for more. Third.",
            "Go to My orders .",
        ),
    ],
)
def test_answers_are_spoken_without_markup_or_urls_in_two_sentences(
    language: str, written: str, spoken: str
) -> None:
    out = for_speech(written, "ko" if language == "ko" else "en")
    assert out.startswith(spoken.split(" ")[0])
    assert "http" not in out and "www" not in out and "*" not in out and "`" not in out
    assert "세 번째" not in out and "Third" not in out
    assert ("문자로" in out) if language == "ko" else ("Text us" in out)


def test_voices_and_recording_are_settings() -> None:
    settings = Settings.from_env(
        {"TWILIO_VOICE_KO": "Google.ko-KR-Standard-A", "TWILIO_VOICE_RECORD": "1"}
    )
    assert settings.twilio_voice_ko == "Google.ko-KR-Standard-A"
    assert settings.twilio_voice_en == "Polly.Joanna" and settings.twilio_voice_record
    with pytest.raises(SettingsError, match="TWILIO_VOICE_EN"):
        Settings.from_env({"TWILIO_VOICE_EN": "<Say>"})


async def test_the_redirect_is_answered_by_another_replica_sharing_the_store(
    phone: Sms, sample_runtime_factory: Callable[..., Runtime]
) -> None:
    """Replica A computes the answer; Twilio's redirect reaches replica B, which reads it
    from the shared store (and computes nothing itself)."""
    from pathlib import Path

    from aiohttp import web

    from adapters.twilio import TwilioAdapter, TwilioConfig
    from bot.conversation.routing import Router

    llm = FakeOpenAI()
    await llm.start()
    client = openai.AsyncOpenAI(api_key="k", base_url=llm.base_url)
    other = sample_runtime_factory(
        db=Path(phone.runtime.settings.db_path), **twilio_settings(phone.fake)
    )
    adapter = TwilioAdapter(Router(other.engine), TwilioConfig.from_settings(other.settings))
    web_app = web.Application()
    adapter.add_routes(web_app)
    runner = web.AppRunner(web_app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        llm.queue_delay(0.5, "환불은 주문 내역에서 신청하실 수 있어요.")
        phone.runtime.engine.responder = LLMResponder(
            client=client, model="fake-model", fallback=ComposerResponder(), deadline=5.0
        )
        phone.adapter.voice.answer_seconds = 0.1
        adapter.voice.answer_seconds = 2.0
        line = call(phone, "ko")
        held = await line.say(await line.ring(), REFUND["ko"][0])
        assert held.has("Redirect")
        line.sms = Sms(**{**phone.__dict__, "url": f"http://{host}:{port}"})  # replica B
        answer = await line.twiml(held.next_url())
        assert "주문 내역" in answer.spoken() and answer.has("Gather")
        await phone.adapter.voice.drain()
        assert len(llm.requests) == 1
        history = await phone.runtime.store.history(line.key, 10)
        assert [m.role for m in history] == ["customer", "bot"]
    finally:
        await adapter.aclose()
        await runner.cleanup()
        await client.close()
        await llm.stop()


@pytest.mark.parametrize(
    ("language", "asked"),
    [("ko", "상담원 연결해 주세요"), ("en", "I want to talk to a real person")],
)
async def test_asking_for_a_person_transfers_the_call(
    phone: Sms, language: str, asked: str
) -> None:
    line = call(phone, language)
    answer = await line.say(await line.ring(), asked)
    await assert_transferred(phone, line, answer, language)


@pytest.mark.parametrize(
    ("language", "riddles"),
    [
        ("ko", ("보라색 코끼리가 노래해요", "달나라 우체국 주소가 뭐예요", "구름 맛 젤리")),
        ("en", ("purple elephants sing", "postal code of the moon", "cloud flavored jelly")),
    ],
)
async def test_a_repeated_miss_transfers_the_call(
    phone: Sms, language: str, riddles: tuple[str, ...]
) -> None:
    line = call(phone, language)
    answer = await line.ring()
    for riddle in riddles:
        answer = await line.say(answer, riddle)
        if answer.has("Dial"):
            break
    await assert_transferred(phone, line, answer, language)


async def test_a_call_is_stored_sealed_when_a_key_is_set(
    fake_twilio: FakeTwilio, sample_runtime_factory: Callable[..., Runtime], tmp_path: Any
) -> None:
    from bot.storage.crypto import PREFIX, generate_key

    async with fake_slack() as slack_fake:
        runtime = sample_runtime_factory(
            tmp_path / "sealed.db",
            encryption_key=generate_key(),
            **slack_settings(slack_fake),
            **twilio_settings(fake_twilio),
        )
        async with running_sms(fake_twilio, slack_fake, runtime) as phone:
            line = call(phone, "ko")
            answer = await line.say(await line.ring(), REFUND["ko"][0])
            assert "환불" in answer.spoken()
            store: Any = runtime.store
            rows = store._db.execute(
                "SELECT text FROM messages WHERE conversation_key = ?", [line.key]
            ).fetchall()
            assert len(rows) == 2 and all(text.startswith(PREFIX) for (text,) in rows)


@pytest.mark.parametrize(
    ("language", "opt_out"), [("ko", "수신거부"), ("en", "Please stop sending me messages")]
)
async def test_a_callers_opt_out_is_confirmed_and_recorded_for_the_phone_identity(
    phone: Sms, language: str, opt_out: str
) -> None:
    line = call(phone, language)
    greeting = await line.ring()
    if language == "en":
        greeting = await line.twiml(greeting.next_url(), Digits="1")
    answer = await line.say(greeting, opt_out)
    assert ("수신" in answer.spoken()) if language == "ko" else ("unsubscribed" in answer.spoken())
    journeys = phone.runtime.store.journeys
    user = phone.adapter.sms.phones.user_for(line.caller)
    customer_id = await journeys.customer_for("sms", user)  # the same as their texts'
    assert customer_id is not None
    consent = await journeys.consent(customer_id, "marketing")
    assert consent is not None and not consent.granted and consent.source == "reply"


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_a_turn_whose_replica_died_is_answered_by_the_sweep_and_the_redirect_hears_it(
    phone: Sms, language: str
) -> None:
    import time

    from multidict import MultiDict

    from adapters.twilio.calls import Step, parse_call, to_message

    line = call(phone, language)
    question, word = REFUND[language]
    form = MultiDict(line.params(SpeechResult=question))
    step = Step("ko" if language == "ko" else "en")
    message = to_message(parse_call(form), question, step, phone.adapter.voice.phones, time.time())
    inbound = await phone.adapter.voice._record(message)
    await phone.runtime.store.unclaim(inbound.id)  # the replica died before answering
    phone.adapter.voice.answer_seconds = 0.05
    wait = f"{PUBLIC}/twilio/voice/wait?lang={language}&turn=1&inbound={inbound.id}&wait=1"
    held = await line.twiml(wait)
    assert held.has("Redirect")  # never a dead line
    assert await phone.router.recover() == 1
    answer = await line.twiml(held.next_url())
    assert word in answer.spoken().lower() and answer.has("Gather")
    assert await phone.router.recover() == 0
