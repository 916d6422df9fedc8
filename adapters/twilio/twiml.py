"""The TwiML a call is answered with: listen, answer, hold on, transfer, goodbye.

Every callback URL is absolute (``TWILIO_PUBLIC_URL``), so the signature Twilio sends with the
callback is computed over the URL checked (:mod:`adapters.twilio.signature`), and carries the
flow's state in its query (:class:`adapters.twilio.calls.Step`).
"""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web
from twilio.twiml.voice_response import Gather, VoiceResponse

from adapters.twilio.calls import Step
from adapters.twilio.config import TwilioConfig
from adapters.twilio.speech import locale
from bot.texts import text as fixed_text
from bot.types import Language

VOICE_PATH = "/twilio/voice"
TURN_PATH = "/twilio/voice/turn"
WAIT_PATH = "/twilio/voice/wait"
DIALED_PATH = "/twilio/voice/dialed"
STATUS_PATH = "/twilio/voice/status"
DIAL_SECONDS = 25
"""How long the agents' phone rings before the transfer counts as not answered."""


class Speaker:
    """Builds the TwiML of one shop's calls (its voices, URLs and agents' number)."""

    def __init__(self, config: TwilioConfig) -> None:
        self.config = config

    def url(self, path: str, **query: str | int) -> str:
        """The absolute callback URL of ``path`` with ``query``."""
        suffix = f"?{urlencode(query)}" if query else ""
        return f"{self.config.public_url}{path}{suffix}"

    def say(self, verb: VoiceResponse | Gather, text: str, language: Language) -> None:
        """Speak ``text`` in ``language``'s voice (nothing for an empty text)."""
        if text:
            voice = self.config.voice_ko if language == "ko" else self.config.voice_en
            verb.say(text, voice=voice, language=locale(language))

    def listen(
        self,
        step: Step,
        *lines: tuple[str, Language],
        before: tuple[tuple[str, Language], ...] = (),
    ) -> VoiceResponse:
        """Say ``before`` (heard whole), then ``lines`` (the caller may speak over them), and
        listen for turn ``step.turn``: speech in ``step.language``, or one key. Silence calls
        the action too (the reprompt)."""
        response = VoiceResponse()
        for text, language in before:
            self.say(response, text, language)
        gather = response.gather(
            input="speech dtmf",
            action=self.url(TURN_PATH, lang=step.language, turn=step.turn, silent=step.silent),
            method="POST",
            language=locale(step.language),
            speech_timeout="auto",
            num_digits=1,
            timeout=6,
            action_on_empty_result=True,
        )
        for text, language in lines:
            self.say(gather, text, language)
        return response

    def hold(self, step: Step, inbound_id: int, waits: int, text: str) -> VoiceResponse:
        """Say ``text`` ("잠시만요") and come back for the answer of ``inbound_id``."""
        response = VoiceResponse()
        self.say(response, text, step.language)
        query = {"lang": step.language, "turn": step.turn, "inbound": inbound_id, "wait": waits}
        response.redirect(self.url(WAIT_PATH, **query), method="POST")
        return response

    def transfer(self, language: Language, notice: str, caller_id: str) -> VoiceResponse:
        """Say ``notice`` and put the call through to the agents' number, its outcome posted
        to the Dial action; without an agents' number, say so and end the call."""
        response = VoiceResponse()
        self.say(response, notice, language)
        if not self.config.agents_number:
            self.say(response, fixed_text("voice.no_agent", language), language)
            response.hangup()
            return response
        dial = response.dial(
            action=self.url(DIALED_PATH, lang=language),
            method="POST",
            timeout=DIAL_SECONDS,
            # The shop's number, not the caller's, shows on the agents' phone.
            caller_id=caller_id,
            record="record-from-answer" if self.config.voice_record else None,
        )
        dial.number(self.config.agents_number)
        return response

    def goodbye(self, text: str, language: Language) -> VoiceResponse:
        """Say ``text`` and hang up."""
        response = VoiceResponse()
        self.say(response, text, language)
        response.hangup()
        return response


def twiml(response: VoiceResponse) -> web.Response:
    """``response`` as an HTTP answer."""
    return web.Response(text=str(response), content_type="text/xml")
