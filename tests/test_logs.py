"""Log lines: JSON on request, and never the customer's text."""

from __future__ import annotations

import json
import logging

import pytest

from bot.app import Runtime
from bot.logs import JsonFormatter
from bot.routing import MemoryCustomers, MemoryDesk, MemorySender, Router
from bot.settings import Settings, SettingsError
from tests.chat import Chat

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
        import sys

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
