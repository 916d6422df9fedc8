"""Log lines: JSON on request, and never the customer's text."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable, Iterator

import pytest

from bot.app import Runtime, build_responder
from bot.conversation.routing import MemoryCustomers, MemoryDesk, MemorySender, Router
from bot.logs import (
    BAD_SIGNATURE,
    TEXT_FORMAT,
    JsonFormatter,
    RedactingFilter,
    mask_url,
    secret_values,
)
from bot.settings import Settings, SettingsError
from tests.chat import Chat
from tests.fakes.slack_api import signed_request_headers
from tests.slack_harness import dm, fake_slack, running_slack, slack_settings

SECRETS = [
    "제 번호는 010-9876-5432 이고 이름은 김민지예요",
    "상담원 바꿔주세요 진짜 화나네요",
    "My email is sam.lee@example.com and I am furious",
    "card 4111 1111 1111 1111 was charged twice, get me a human",
]


def test_json_lines_carry_time_level_logger_message_and_error() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "ondo.test", logging.ERROR, __file__, 1, "한글 %s", ("ok",), exc_info=True
        )
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    data = json.loads(line)
    assert data["level"] == "ERROR" and data["logger"] == "ondo.test"
    assert data["message"] == "한글 ok" and "ValueError: boom" in data["error"]
    assert data["time"].endswith("Z") and "\n" not in line


def test_log_format_setting() -> None:
    assert Settings.from_env({"ONDO_LOG_FORMAT": "JSON"}, dotenv=None).log_format == "json"
    with pytest.raises(SettingsError, match="ONDO_LOG_FORMAT"):
        Settings.from_env({"ONDO_LOG_FORMAT": "xml"}, dotenv=None)


async def test_no_customer_text_in_any_log_record(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    router = Router(runtime.engine, handoff_channel="slack:AGENTS")
    customers = MemoryCustomers("slack")
    router.add_customer_side(customers)
    desk = MemoryDesk("slack")
    router.set_desk(desk)
    for n, text in enumerate(SECRETS):
        chat = Chat(runtime.engine, key=f"slack:T:D:{n}", platform="slack")
        await router.customer_message(chat.message(text))
        await router.customer_message(chat.message(text + " 다시 물어봐요"))
    # Failures are logged too: a failed post, recovery, a refused agent message.
    failing = Chat(runtime.engine, key="slack:T:D:fail", platform="slack")
    with pytest.raises(ConnectionError):
        await router.customer_message(failing.message(SECRETS[0]), MemorySender(fail_next=1))
    customers.senders["slack:T:D:fail"] = MemorySender(fail_next=1)
    await router.recover()
    await router.agent_message(
        platform="slack", event_id="x", thread_ref="slack:ticket-1", agent="A", text=SECRETS[2]
    )
    logged = "\n".join(
        [r.getMessage() for r in caplog.records]
        + [caplog.text]
        + [JsonFormatter().format(r) for r in caplog.records]
    )
    assert caplog.records  # the flow did log
    for secret in SECRETS:
        for piece in (secret, secret[:12], "010-9876-5432", "sam.lee@example.com", "4111"):
            assert piece not in logged, piece


# --- every record redacted (bot.logs.RedactingFilter) ---------------------------------------

PII = ["010-9876-5432", "sam.lee@example.com", "4111 1111 1111 1111", "900101-1234568"]
TOKENS = {
    "slack": "xoxb-2-123456789012-abcdefABCDEF",
    "app": "xapp-1-A0FAKE-1-0123456789abcdef",
    "openai": "sk-proj-Abc123Def456Ghi789",
    "discord": "MTE5MDAwMDAwMDAwMDAwMjAx.GaBcDe.abcdefghijklmnopqrstuvwxyz0123",
}


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """What :func:`bot.logs.configure` would write, at DEBUG, for any logger."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RedactingFilter(["configured-signing-secret-1"]))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield out
    root.removeHandler(handler)
    root.setLevel(level)


LIBRARIES = [
    "slack_bolt.App",
    "slack_sdk.web",
    "aiohttp.access",
    "discord.gateway",
    "httpx",
    "openai",
]


@pytest.mark.parametrize("name", LIBRARIES)
def test_every_library_record_is_redacted_and_masked(stream: io.StringIO, name: str) -> None:
    logger = logging.getLogger(name)
    logger.info("고객 %s / %s 님 body=%r", PII[0], PII[1], {"text": f"카드 {PII[2]}"})
    logger.debug("주민번호 %s", PII[3])
    logger.warning("tokens %s", " ".join(TOKENS.values()))
    logger.error("secret configured-signing-secret-1 and http://user:hunter2pass@llm.local/v1")
    try:
        raise ValueError(f"customer wrote {PII[1]} with {TOKENS['slack']}")
    except ValueError:
        logger.exception("failed for %s", PII[0])
    written = stream.getvalue()
    assert written.count(name) == 5 and "ValueError: customer wrote [EMAIL]" in written
    for value in [*PII, *TOKENS.values(), "configured-signing-secret-1", "hunter2pass"]:
        assert value not in written, value
    assert "[PHONE]" in written and "[SECRET]" in written and "***:***@llm.local" in written


def test_json_lines_are_redacted_too() -> None:
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "to %s", (PII[1],), None)
    try:
        raise KeyError(TOKENS["openai"])
    except KeyError:
        record.exc_info = sys.exc_info()
    RedactingFilter().filter(record)
    data = json.loads(JsonFormatter().format(record))
    assert data["message"] == "to [EMAIL]" and TOKENS["openai"] not in data["error"]


async def test_a_refused_slack_request_logs_one_line_without_its_body(
    stream: io.StringIO, sample_runtime_factory: Callable[..., Runtime]
) -> None:
    async with fake_slack() as fake:
        runtime = sample_runtime_factory(**slack_settings(fake))
        async with running_slack(fake, runtime) as slack:
            text = f"제 번호는 {PII[0]}, 카드 {PII[2]}, 메일 {PII[1]}"
            body = json.dumps(fake.event_callback(dm(fake, text))).encode()
            headers = signed_request_headers(body, "a-rotated-secret")
            assert await slack.post_signed(body, headers) == 401
    written = stream.getvalue()
    [line] = [ln for ln in written.splitlines() if " slack_bolt.RequestVerification: " in ln]
    assert line.endswith(BAD_SIGNATURE) and " WARNING " in line
    for value in (*PII[:3], "event_callback", "D0DM"):
        assert value not in written


def test_the_llm_url_is_logged_without_its_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    settings = Settings(
        openai_api_key=TOKENS["openai"], openai_base_url="http://ondo:hunter2pass@127.0.0.1:9/v1"
    )
    build_responder(settings)
    assert "hunter2pass" not in caplog.text and "http://***:***@127.0.0.1:9/v1" in caplog.text
    assert mask_url("https://a:b@h/x?q=1") == "https://***:***@h/x?q=1"
    assert mask_url("https://h/x") == "https://h/x"
    assert secret_values(settings) == [TOKENS["openai"], "hunter2pass"]


def test_a_slack_verification_token_in_a_dumped_payload_is_masked() -> None:
    from bot.logs import RedactingFilter

    clean = RedactingFilter().clean
    assert clean("{'token': 'fake-verification-token', 'type': 'events_api'}") == (
        "{'token': '[SECRET]', 'type': 'events_api'}"
    )
    assert "verification" not in clean('{"token":"fake-verification-token"}')


def test_every_credential_setting_is_masked() -> None:
    """Each setting that holds a token, key, password or secret is among the masked values,
    so a new credential cannot be forgotten here (Twilio's token, the sealing keys)."""
    import dataclasses

    from bot.logs import secret_values
    from bot.settings import Settings

    credentials = [
        f.name
        for f in dataclasses.fields(Settings)
        if {"token", "key", "password", "secret"} & set(f.name.split("_"))
    ]
    assert {"twilio_auth_token", "phone_key", "email_key", "encryption_key"} <= set(credentials)
    settings = dataclasses.replace(
        Settings(), **{name: f"value-of-{name}-0123456789" for name in credentials}
    )
    masked = set(secret_values(settings))
    assert {f"value-of-{name}-0123456789" for name in credentials} <= masked
