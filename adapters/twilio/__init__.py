"""The Twilio adapter: SMS webhooks in (``/twilio/sms``), REST ``Messages.create`` out; calls
(``/twilio/voice`` and its callbacks) answered with TwiML.

Shared by both: :mod:`.config` (settings), :mod:`.signature` (``X-Twilio-Signature``),
:mod:`.client` (the REST client, pointable at another base URL), :mod:`.identity` (phone
numbers sealed into conversation keys, callers' pseudonyms, never a number in a log line).
"""

from adapters.twilio.app import TwilioAdapter, build_twilio
from adapters.twilio.config import TwilioConfig, TwilioConfigError
from adapters.twilio.identity import PhoneBook
from adapters.twilio.segments import fit, segments
from adapters.twilio.sms import SMS_PATH, TwilioSms
from adapters.twilio.twiml import VOICE_PATH
from adapters.twilio.voice import TwilioVoice

__all__ = [
    "SMS_PATH",
    "VOICE_PATH",
    "PhoneBook",
    "TwilioAdapter",
    "TwilioConfig",
    "TwilioConfigError",
    "TwilioSms",
    "TwilioVoice",
    "build_twilio",
    "fit",
    "segments",
]
