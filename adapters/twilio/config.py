"""The Twilio adapter's settings, checked once: what is missing is named (never a number)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.settings import Settings, SettingsError


class TwilioConfigError(SettingsError):
    """Twilio cannot start with these settings; the message names the variable."""


@dataclass(frozen=True)
class TwilioConfig:
    """What the SMS (and voice) webhooks and the REST client need from the settings."""

    account_sid: str
    auth_token: str = field(repr=False)
    public_url: str
    """The base URL Twilio calls, without a trailing slash: signatures are checked against
    ``public_url + path?query``, as Twilio computed them, never the local request's URL."""
    numbers: tuple[str, ...] = field(default=(), repr=False)
    """The shop's numbers; empty: any number of the account may be written to."""
    agents_number: str | None = field(default=None, repr=False)
    api_url: str | None = None
    phone_key: str = field(default="", repr=False)
    """The secret sealing numbers into conversation keys (:mod:`adapters.twilio.identity`)."""
    answer_keywords: bool = False
    shop_name: str = "온도마켓"
    voice_ko: str = "Polly.Seoyeon"
    """The ``<Say>`` voice of Korean (ko-KR) on calls."""
    voice_en: str = "Polly.Joanna"
    """The ``<Say>`` voice of English (en-US) on calls."""
    voice_record: bool = False
    """Record the transferred part of calls (the caller is told in the greeting)."""
    voice_answer_seconds: float = 9.0
    """The longest a call's webhook waits for the engine's answer before it says "잠시만요"
    and redirects (Twilio gives up on a webhook after about 15 seconds)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioConfig:
        """Check and convert; raises :class:`TwilioConfigError`."""
        missing = [
            name
            for name, value in (
                ("TWILIO_ACCOUNT_SID", settings.twilio_account_sid),
                ("TWILIO_AUTH_TOKEN", settings.twilio_auth_token),
                ("TWILIO_PUBLIC_URL", settings.twilio_public_url),
            )
            if not value
        ]
        if missing:
            raise TwilioConfigError(
                f"{' and '.join(missing)} must be set to serve Twilio (see the README's Twilio "
                "section)"
            )
        assert settings.twilio_account_sid and settings.twilio_auth_token
        assert settings.twilio_public_url
        return cls(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            public_url=settings.twilio_public_url.rstrip("/"),
            numbers=settings.twilio_numbers,
            agents_number=settings.twilio_agents_number,
            api_url=settings.twilio_api_url,
            phone_key=phone_key_of(settings) or "",
            answer_keywords=settings.twilio_answer_keywords,
            shop_name=settings.shop_name,
            voice_ko=settings.twilio_voice_ko,
            voice_en=settings.twilio_voice_en,
            voice_record=settings.twilio_voice_record,
        )

    def is_shop_number(self, number: str) -> bool:
        """Whether ``number`` is one the shop serves (any, when ``TWILIO_NUMBERS`` is unset)."""
        return not self.numbers or number in self.numbers


def phone_key_of(settings: Settings) -> str | None:
    """The secret that seals phone numbers into keys and pseudonyms: ``ONDO_PHONE_KEY``, else
    one derived from ``TWILIO_AUTH_TOKEN`` (rotating the token then starts new conversations);
    ``None`` when neither is set."""
    if settings.phone_key:
        return settings.phone_key
    return f"auth-token:{settings.twilio_auth_token}" if settings.twilio_auth_token else None
