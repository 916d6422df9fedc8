"""The Twilio adapter: SMS webhooks in (``/twilio/sms``), REST ``Messages.create`` out.

Shared with voice: :mod:`.config` (settings), :mod:`.signature` (``X-Twilio-Signature``),
:mod:`.client` (the REST client, pointable at another base URL), :mod:`.identity` (phone
numbers sealed into conversation keys, never in clear in a log line).
"""

from adapters.twilio.app import TwilioAdapter, build_twilio
from adapters.twilio.config import TwilioConfig, TwilioConfigError
from adapters.twilio.identity import PhoneBook
from adapters.twilio.segments import fit, segments
from adapters.twilio.sms import SMS_PATH, TwilioSms

__all__ = [
    "SMS_PATH",
    "PhoneBook",
    "TwilioAdapter",
    "TwilioConfig",
    "TwilioConfigError",
    "TwilioSms",
    "build_twilio",
    "fit",
    "segments",
]
