"""Settings, read once from the environment (and a ``.env`` file when present)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import time as dt_time
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from bot.types import Language
from knowledge.loader import SAMPLE_DIR, split_paths


class SettingsError(ValueError):
    """A setting has a value Ondo cannot use; the message names the variable."""


_SLACK_CHANNEL_RE = re.compile(r"[CG][A-Z0-9]{2,}")
_DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """Seconds in ``90d``, ``12h``, ``30m``, ``2w`` or ``45s``; ``ValueError`` otherwise."""
    match = _DURATION_RE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 90d, 12h or 2w")
    return float(int(match[1]) * _UNIT_SECONDS[match[2]])


_REPLICA_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
SAMPLE_JOURNEYS = Path(__file__).parent / "journeys" / "sample" / "ondo_market.yaml"
"""The bundled journeys of 온도마켓 (``bot.journeys.definitions.SAMPLE_JOURNEYS``; named here
because the settings sit below the journeys and do not import them)."""
DEFAULT_QUIET_HOURS = "21:00-08:00"
_URL_PASSWORD_RE = re.compile(r"(://[^:/@?#]*:)[^@/?#]*@")
_QUERY_PASSWORD_RE = re.compile(r"([?&]password=)[^&#]*")


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Build with :meth:`from_env`; pass it in, never re-read."""

    db_path: str = "ondo.db"
    kb_paths: tuple[Path, ...] = (SAMPLE_DIR,)
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    handoff_channel: str | None = None
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str | None = None
    slack_staff_channels: tuple[str, ...] = ()
    """``ONDO_SLACK_STAFF_CHANNELS``: the internal help channels, where full members of the
    workspace are staff (everywhere else, everyone is a customer)."""
    discord_token: str | None = None
    discord_api_base: str | None = None
    discord_gateway_url: str | None = None
    discord_channels: tuple[int, ...] = ()
    discord_staff_role: int | None = None
    encryption_key: str | None = None
    port: int = 3000
    log_format: str = "text"
    retention: float | None = None
    agent_language: Language | None = None
    """``ONDO_AGENT_LANGUAGE``: the agents' language, when tickets need a line in it."""
    admins: frozenset[str] = frozenset()
    """``<platform>:<user id>`` of the people who may approve knowledge changes from chat."""
    staff_contact: str | None = None
    """``ONDO_STAFF_CONTACT``: who staff are told to ask when the handbook has no answer."""
    db_pool: int = 4
    """``ONDO_DB_POOL``: connections to a PostgreSQL ``ONDO_DB`` per process."""
    discord_shards: tuple[tuple[int, ...], int] | None = None
    """``ONDO_DISCORD_SHARDS``: the shards this process runs, ``0,1/4`` (shards 0 and 1 of 4)
    or ``/4`` (all 4 here); unset, discord.py asks Discord how many and runs them all."""
    replica_id: str | None = None
    """``ONDO_REPLICA_ID``: this serving process's name among replicas (default: host, process
    id and a random suffix, new at every start)."""
    journeys_path: Path = SAMPLE_JOURNEYS
    """``ONDO_JOURNEYS``: the journey file (default: 온도마켓's bundled sample)."""
    shop_name: str = "온도마켓"
    """``ONDO_SHOP_NAME``: the sender's name in marketing messages and opt-out notices."""
    quiet_hours: str = DEFAULT_QUIET_HOURS
    """``ONDO_QUIET_HOURS``: no journey message (but transactional) in this local window,
    ``HH:MM-HH:MM`` (checked here; :class:`bot.journeys.rules.QuietHours` reads it)."""
    events_secret: str | None = field(default=None, repr=False)
    """``ONDO_EVENTS_SECRET``: the shared secret that signs ``POST /v1/events`` (a secret:
    masked in every log line)."""
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = field(default=None, repr=False)
    """``TWILIO_AUTH_TOKEN``: checks every webhook's signature and signs the REST calls."""
    twilio_public_url: str | None = None
    """``TWILIO_PUBLIC_URL``: the public base URL Twilio calls (``https://bot.example.com``);
    signatures are checked against it, never against the local request's URL."""
    twilio_numbers: tuple[str, ...] = field(default=(), repr=False)
    """``TWILIO_NUMBERS``: the shop's numbers (E.164); a reply goes from the one written to."""
    twilio_agents_number: str | None = field(default=None, repr=False)
    """``TWILIO_AGENTS_NUMBER``: the agents' phone number calls are transferred to (voice)."""
    twilio_api_url: str | None = None
    """``TWILIO_API_URL``: the REST API base (default Twilio's; compatible providers, tests)."""
    phone_key: str | None = field(default=None, repr=False)
    """``ONDO_PHONE_KEY``: the secret that seals phone numbers into conversation keys (default:
    derived from ``TWILIO_AUTH_TOKEN``)."""
    twilio_answer_keywords: bool = False
    """``TWILIO_ANSWER_KEYWORDS``: Ondo itself answers STOP/START/HELP (when the number's
    opt-out handling at Twilio is turned off); by default Twilio answers them, Ondo records."""
    twilio_voice_ko: str = "Polly.Seoyeon"
    """``TWILIO_VOICE_KO``: the ``<Say>`` voice of Korean answers on calls (ko-KR)."""
    twilio_voice_en: str = "Polly.Joanna"
    """``TWILIO_VOICE_EN``: the ``<Say>`` voice of English answers on calls (en-US)."""
    twilio_voice_record: bool = False
    """``TWILIO_VOICE_RECORD``: record transferred calls (the caller is told first); off."""
    email_imap_host: str | None = None
    """``ONDO_EMAIL_IMAP_HOST``: the support mailbox's IMAP server (``imap.gmail.com``)."""
    email_imap_port: int | None = None
    """``ONDO_EMAIL_IMAP_PORT``: default 993 (``ssl``) or 143 (``starttls``, ``plain``)."""
    email_imap_security: str = "ssl"
    """``ONDO_EMAIL_IMAP_SECURITY``: ``ssl``, ``starttls`` or ``plain`` (tests only)."""
    email_imap_user: str | None = field(default=None, repr=False)
    """``ONDO_EMAIL_IMAP_USER``: the mailbox login (often the address; never logged)."""
    email_imap_password: str | None = field(default=None, repr=False)
    """``ONDO_EMAIL_IMAP_PASSWORD``: its password or app password (a secret)."""
    email_folder: str = "INBOX"
    """``ONDO_EMAIL_FOLDER``: the folder read."""
    email_done_folder: str | None = None
    """``ONDO_EMAIL_DONE_FOLDER``: handled mail is moved there; unset, it is marked seen."""
    email_smtp_host: str | None = None
    """``ONDO_EMAIL_SMTP_HOST``: the SMTP server replies go through (``smtp.gmail.com``)."""
    email_smtp_port: int | None = None
    """``ONDO_EMAIL_SMTP_PORT``: default 465 (``ssl``), 587 (``starttls``) or 25 (``plain``)."""
    email_smtp_security: str = "ssl"
    """``ONDO_EMAIL_SMTP_SECURITY``: ``ssl``, ``starttls`` or ``plain`` (tests only)."""
    email_smtp_user: str | None = field(default=None, repr=False)
    """``ONDO_EMAIL_SMTP_USER``: the SMTP login; unset, the IMAP one."""
    email_smtp_password: str | None = field(default=None, repr=False)
    """``ONDO_EMAIL_SMTP_PASSWORD``: its password; unset, the IMAP one (a secret)."""
    email_address: str | None = field(default=None, repr=False)
    """``ONDO_EMAIL_ADDRESS``: the support address, the From of every reply."""
    email_name: str | None = None
    """``ONDO_EMAIL_NAME``: the From's display name (default ``ONDO_SHOP_NAME``)."""
    email_poll_seconds: float = 60.0
    email_key: str | None = field(default=None, repr=False)
    """``ONDO_EMAIL_KEY``: the secret that seals addresses into e-mail conversation keys
    (default: ``ONDO_ENCRYPTION_KEY``, else derived from the IMAP password)."""
    """``ONDO_EMAIL_POLL_SECONDS``: how often a server without IDLE is asked for new mail."""

    @property
    def shared_db(self) -> bool:
        """Whether ``ONDO_DB`` is a PostgreSQL URL (a database replicas share), not a file."""
        return self.db_path.startswith(("postgresql://", "postgres://"))

    @property
    def db_label(self) -> str:
        """``ONDO_DB`` as messages and logs may show it: a URL's password masked."""
        if not self.shared_db:
            return self.db_path
        masked = _URL_PASSWORD_RE.sub(r"\1***@", self.db_path)
        return _QUERY_PASSWORD_RE.sub(r"\1***", masked)

    @property
    def llm_enabled(self) -> bool:
        """Whether replies go through an LLM (an API key or a local base URL is set)."""
        return bool(self.openai_api_key or self.openai_base_url)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, dotenv: str | Path | None = ".env"
    ) -> Settings:
        """Read settings; real environment variables win over ``.env``."""
        values: dict[str, str] = {}
        if dotenv is not None and Path(dotenv).is_file():
            values.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
        values.update(os.environ if environ is None else environ)

        def get(name: str) -> str | None:
            value = values.get(name, "").strip()
            return value or None

        kb = get("ONDO_KB")
        port = get("PORT") or "3000"
        if not port.isdecimal() or not 0 < int(port) < 65536:
            raise SettingsError(f"PORT must be a TCP port number, not {port!r}")
        handoff = get("ONDO_HANDOFF_CHANNEL")
        platform, _, channel = (handoff or "").partition(":")
        if handoff and (
            platform not in ("slack", "discord")
            or not channel
            or (platform == "discord" and not channel.isdecimal())
        ):
            raise SettingsError(
                f"ONDO_HANDOFF_CHANNEL must look like slack:<channel id> or discord:<channel id>,"
                f" not {handoff!r}"
            )
        channels = get("ONDO_DISCORD_CHANNELS") or ""
        channel_ids = [c.strip() for c in channels.replace(";", ",").split(",") if c.strip()]
        staff_role = get("ONDO_DISCORD_STAFF_ROLE")
        for name, ids in (
            ("ONDO_DISCORD_CHANNELS", channel_ids),
            ("ONDO_DISCORD_STAFF_ROLE", [staff_role or "0"]),
        ):
            bad = [i for i in ids if not i.isdecimal()]
            if bad:
                raise SettingsError(f"{name} takes Discord ids (numbers), not {bad[0]!r}")
        slack_staff = [
            c.strip() for c in (get("ONDO_SLACK_STAFF_CHANNELS") or "").replace(";", ",").split(",")
        ]
        slack_staff = [c for c in slack_staff if c]
        bad_slack = [c for c in slack_staff if not _SLACK_CHANNEL_RE.fullmatch(c)]
        if bad_slack:
            raise SettingsError(
                "ONDO_SLACK_STAFF_CHANNELS takes Slack channel ids (C0123ABCD, G0123ABCD), "
                f"not {bad_slack[0]!r}"
            )
        log_format = (get("ONDO_LOG_FORMAT") or "text").lower()
        if log_format not in ("text", "json"):
            raise SettingsError(f"ONDO_LOG_FORMAT must be text or json, not {log_format!r}")
        retention = get("ONDO_RETENTION")
        try:
            retention_seconds = parse_duration(retention) if retention else None
        except ValueError as exc:
            raise SettingsError(f"ONDO_RETENTION: {exc}") from None
        admins = parse_admins(get("ONDO_ADMINS") or "")
        agents = (get("ONDO_AGENT_LANGUAGE") or "").lower()
        if agents not in ("", "ko", "en"):
            raise SettingsError(f"ONDO_AGENT_LANGUAGE must be ko or en, not {agents!r}")
        agent_language: Language | None = "ko" if agents == "ko" else "en" if agents else None
        pool = get("ONDO_DB_POOL") or "4"
        if not pool.isdecimal() or not 1 <= int(pool) <= 64:
            raise SettingsError(
                f"ONDO_DB_POOL must be a number of connections (1-64), not {pool!r}"
            )
        shards = parse_shards(get("ONDO_DISCORD_SHARDS") or "")
        replica = get("ONDO_REPLICA_ID") or None
        if replica is not None and not _REPLICA_RE.fullmatch(replica):
            raise SettingsError(
                "ONDO_REPLICA_ID takes letters, digits, '.', '_' and '-' (at most 64), "
                f"not {replica!r}"
            )
        shop = get("ONDO_SHOP_NAME") or "온도마켓"
        if len(shop) > 80 or any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in shop):
            raise SettingsError("ONDO_SHOP_NAME must be one line of at most 80 characters")
        quiet = parse_quiet_hours(get("ONDO_QUIET_HOURS") or DEFAULT_QUIET_HOURS)
        secret = get("ONDO_EVENTS_SECRET")
        if secret is not None and len(secret) < 16:
            raise SettingsError("ONDO_EVENTS_SECRET must be at least 16 characters")
        journeys = get("ONDO_JOURNEYS")
        twilio = parse_twilio(get)
        return cls(
            db_path=get("ONDO_DB") or "ondo.db",
            kb_paths=tuple(split_paths(kb)) if kb else (SAMPLE_DIR,),
            openai_api_key=get("OPENAI_API_KEY"),
            openai_base_url=get("OPENAI_BASE_URL"),
            llm_model=get("ONDO_LLM_MODEL") or "gpt-4o-mini",
            handoff_channel=handoff,
            slack_bot_token=get("SLACK_BOT_TOKEN"),
            slack_signing_secret=get("SLACK_SIGNING_SECRET"),
            slack_app_token=get("SLACK_APP_TOKEN"),
            slack_api_url=get("SLACK_API_URL"),
            slack_staff_channels=tuple(slack_staff),
            discord_token=get("DISCORD_TOKEN"),
            discord_api_base=get("DISCORD_API_BASE"),
            discord_gateway_url=get("DISCORD_GATEWAY_URL"),
            discord_channels=tuple(int(c) for c in channel_ids),
            discord_staff_role=int(staff_role) if staff_role else None,
            encryption_key=get("ONDO_ENCRYPTION_KEY"),
            port=int(port),
            log_format=log_format,
            retention=retention_seconds,
            agent_language=agent_language,
            admins=admins,
            staff_contact=get("ONDO_STAFF_CONTACT"),
            db_pool=int(pool),
            replica_id=replica,
            discord_shards=shards,
            journeys_path=Path(journeys) if journeys else SAMPLE_JOURNEYS,
            shop_name=shop,
            quiet_hours=quiet,
            events_secret=secret,
            **twilio,
            **parse_email(get),
        )


_SECURITIES = ("ssl", "starttls", "plain")
_HOST_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.\-]{0,252})|\[[0-9A-Fa-f:.]+\]")
_ADDRESS_RE = re.compile(r"[^@\s<>\"]{1,64}@[A-Za-z0-9.\-]{1,253}\.[A-Za-z]{2,63}")


def parse_email(get: Callable[[str], str | None]) -> dict[str, Any]:
    """The ``ONDO_EMAIL_*`` settings, checked: each bad one is named in one line (never a
    password or an address)."""
    found: dict[str, Any] = {}
    for side in ("IMAP", "SMTP"):
        prefix = f"ONDO_EMAIL_{side}_"
        host = get(prefix + "HOST")
        if host is not None and not _HOST_RE.fullmatch(host):
            raise SettingsError(f"{prefix}HOST must be a host name such as imap.example.com")
        port = get(prefix + "PORT")
        if port is not None and (not port.isdecimal() or not 1 <= int(port) <= 65535):
            raise SettingsError(f"{prefix}PORT must be a port number (1-65535), not {port[:20]!r}")
        security = (get(prefix + "SECURITY") or "ssl").lower()
        if security not in _SECURITIES:
            raise SettingsError(
                f"{prefix}SECURITY must be ssl, starttls or plain, not {security[:20]!r}"
            )
        low = f"email_{side.lower()}_"
        found[low + "host"] = host
        found[low + "port"] = int(port) if port else None
        found[low + "security"] = security
        found[low + "user"] = get(prefix + "USER")
        found[low + "password"] = get(prefix + "PASSWORD")
    for name in ("ONDO_EMAIL_FOLDER", "ONDO_EMAIL_DONE_FOLDER"):
        folder = get(name)
        if folder is not None and (
            len(folder) > 200 or any(ord(c) < 32 or c in '"\\' for c in folder)
        ):
            raise SettingsError(f"{name} must be one folder name without quotes or backslashes")
    found["email_folder"] = get("ONDO_EMAIL_FOLDER") or "INBOX"
    found["email_done_folder"] = get("ONDO_EMAIL_DONE_FOLDER")
    address = get("ONDO_EMAIL_ADDRESS")
    if address is not None and not _ADDRESS_RE.fullmatch(address):
        # Not echoed: it is an address.
        raise SettingsError("ONDO_EMAIL_ADDRESS must be one e-mail address like help@example.com")
    found["email_address"] = address
    display = get("ONDO_EMAIL_NAME")
    if display is not None and (len(display) > 80 or any(ord(c) < 32 for c in display)):
        raise SettingsError("ONDO_EMAIL_NAME must be one line of at most 80 characters")
    found["email_name"] = display
    poll = get("ONDO_EMAIL_POLL_SECONDS") or "60"
    try:
        seconds = float(poll)
    except ValueError:
        seconds = -1.0
    if not 5 <= seconds <= 3600:
        raise SettingsError(
            f"ONDO_EMAIL_POLL_SECONDS must be a number of seconds (5-3600), not {poll[:20]!r}"
        )
    found["email_poll_seconds"] = seconds
    email_key = get("ONDO_EMAIL_KEY")
    if email_key is not None and len(email_key) < 16:
        raise SettingsError("ONDO_EMAIL_KEY must be at least 16 characters")
    found["email_key"] = email_key
    return found


_E164_RE = re.compile(r"\+[1-9][0-9]{6,14}")
_TWILIO_SID_RE = re.compile(r"AC[0-9a-fA-F]{32}")
_VOICE_RE = re.compile(r"[A-Za-z][A-Za-z0-9.\-]{0,60}")


def parse_twilio(get: Callable[[str], str | None]) -> dict[str, Any]:
    """The ``TWILIO_*`` settings (and ``ONDO_PHONE_KEY``), checked: each bad one is named."""
    sid = get("TWILIO_ACCOUNT_SID")
    if sid is not None and not _TWILIO_SID_RE.fullmatch(sid):
        raise SettingsError("TWILIO_ACCOUNT_SID must look like AC followed by 32 hex digits")
    public = get("TWILIO_PUBLIC_URL")
    if public is not None:
        public = public.rstrip("/")
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", public):
            raise SettingsError(
                f"TWILIO_PUBLIC_URL must be the http(s) base URL Twilio calls, not {public[:60]!r}"
            )
    numbers = [n.strip() for n in (get("TWILIO_NUMBERS") or "").replace(";", ",").split(",")]
    numbers = [n.replace(" ", "").replace("-", "") for n in numbers if n]
    agents = get("TWILIO_AGENTS_NUMBER")
    for name, values in (("TWILIO_NUMBERS", numbers), ("TWILIO_AGENTS_NUMBER", [agents or ""])):
        bad = [v for v in values if v and not _E164_RE.fullmatch(v)]
        if bad:
            # The value itself is not echoed: it is a phone number.
            raise SettingsError(f"{name} takes E.164 phone numbers like +821012345678")
    api = get("TWILIO_API_URL")
    if api is not None and not re.fullmatch(r"https?://\S+", api):
        raise SettingsError(f"TWILIO_API_URL must be an http(s) URL, not {api[:60]!r}")
    phone_key = get("ONDO_PHONE_KEY")
    if phone_key is not None and len(phone_key) < 16:
        raise SettingsError("ONDO_PHONE_KEY must be at least 16 characters")
    answer = (get("TWILIO_ANSWER_KEYWORDS") or "0").lower()
    if answer not in ("0", "1", "true", "false", "yes", "no"):
        raise SettingsError(f"TWILIO_ANSWER_KEYWORDS must be 1 or 0, not {answer[:20]!r}")
    record = (get("TWILIO_VOICE_RECORD") or "0").lower()
    if record not in ("0", "1", "true", "false", "yes", "no"):
        raise SettingsError(f"TWILIO_VOICE_RECORD must be 1 or 0, not {record[:20]!r}")
    voices = {}
    for name in ("TWILIO_VOICE_KO", "TWILIO_VOICE_EN"):
        field_name = name.lower()
        voice = get(name)
        if voice is not None:
            if not _VOICE_RE.fullmatch(voice):
                raise SettingsError(f"{name} must be a Twilio voice name such as Polly.Seoyeon")
            voices[field_name] = voice
    return {
        "twilio_account_sid": sid,
        "twilio_auth_token": get("TWILIO_AUTH_TOKEN"),
        "twilio_public_url": public,
        "twilio_numbers": tuple(dict.fromkeys(numbers)),
        "twilio_agents_number": agents,
        "twilio_api_url": api.rstrip("/") if api else None,
        "phone_key": phone_key,
        "twilio_answer_keywords": answer in ("1", "true", "yes"),
        "twilio_voice_record": record in ("1", "true", "yes"),
        **voices,
    }


def parse_quiet_hours(text: str) -> str:
    """``ONDO_QUIET_HOURS`` (``21:00-08:00``) checked and normalised to ``HH:MM-HH:MM``."""
    start, sep, end = text.replace(" ", "").partition("-")
    try:
        if not sep or len(start) != 5 or len(end) != 5:
            raise ValueError
        times = [dt_time.fromisoformat(start), dt_time.fromisoformat(end)]
    except ValueError:
        raise SettingsError(
            f"ONDO_QUIET_HOURS takes HH:MM-HH:MM (like 21:00-08:00), not {text[:40]!r}"
        ) from None
    return "-".join(t.strftime("%H:%M") for t in times)


def parse_shards(text: str) -> tuple[tuple[int, ...], int] | None:
    """``ONDO_DISCORD_SHARDS`` (``0,1/4`` or ``/4``) as ``(shard ids, shard count)``."""
    if not text.strip():
        return None
    ids_text, slash, count_text = text.replace(" ", "").partition("/")
    if not slash or not count_text.isdecimal() or not 1 <= int(count_text) <= 4096:
        raise SettingsError(
            f"ONDO_DISCORD_SHARDS takes shard ids and the shard count, like 0,1/4 or /4, "
            f"not {text!r}"
        )
    count = int(count_text)
    parts = [p for p in ids_text.split(",") if p]
    if not all(p.isdecimal() and int(p) < count for p in parts):
        raise SettingsError(f"ONDO_DISCORD_SHARDS: every shard id must be below {count}: {text!r}")
    ids = tuple(sorted({int(p) for p in parts})) or tuple(range(count))
    return ids, count


def parse_admins(text: str) -> frozenset[str]:
    """``ONDO_ADMINS`` (``slack:U123,discord:456``) as a set of ``<platform>:<user id>``."""
    admins = set()
    for item in (i.strip() for i in text.replace(";", ",").split(",")):
        if not item:
            continue
        platform, _, user = item.partition(":")
        if (
            platform not in ("slack", "discord")
            or not user
            or (platform == "discord" and not user.isdecimal())
        ):
            raise SettingsError(
                f"ONDO_ADMINS takes slack:<user id> and discord:<user id>, not {item!r}"
            )
        admins.add(f"{platform}:{user}")
    return frozenset(admins)
