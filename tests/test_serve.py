"""``ondo serve``: which platforms run, and the installed script served as a black box."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest
import pytest_asyncio

from bot.serve import ServeError, plan_platforms
from bot.settings import Settings
from tests.conftest import copy_db
from tests.fakes.discord_gateway import FakeDiscord
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack, signed_request_headers
from tests.slack_harness import AGENT, AGENTS, SECRET


def settings(**values: str) -> Settings:
    return Settings.from_env(values, dotenv=None)


def test_plan_all_serves_every_configured_platform() -> None:
    assert plan_platforms(settings(SLACK_BOT_TOKEN="x", SLACK_SIGNING_SECRET="s"), "all") == [
        "slack"
    ]
    both = settings(SLACK_BOT_TOKEN="x", SLACK_APP_TOKEN="xapp", DISCORD_TOKEN="d")
    assert plan_platforms(both, "all") == ["slack", "discord"]
    with pytest.raises(ServeError, match="nothing to serve"):
        plan_platforms(settings(), "all")


def test_plan_brings_up_the_platform_of_the_agents_channel() -> None:
    discord_with_slack_agents = settings(
        DISCORD_TOKEN="d",
        SLACK_BOT_TOKEN="x",
        SLACK_SIGNING_SECRET="s",
        ONDO_HANDOFF_CHANNEL="slack:C1",
    )
    assert plan_platforms(discord_with_slack_agents, "discord") == ["discord", "slack"]
    with pytest.raises(ServeError, match="SLACK_BOT_TOKEN"):
        plan_platforms(settings(DISCORD_TOKEN="d", ONDO_HANDOFF_CHANNEL="slack:C1"), "discord")
    with pytest.raises(ServeError, match="DISCORD_TOKEN"):
        plan_platforms(settings(ONDO_HANDOFF_CHANNEL="discord:1"), "discord")
    with pytest.raises(ServeError, match="unknown platform"):
        plan_platforms(settings(), "teams")


def test_a_replica_on_a_shared_database_serves_only_its_own_platform() -> None:
    shared = settings(
        DISCORD_TOKEN="d",
        ONDO_HANDOFF_CHANNEL="slack:C1",
        ONDO_DB="postgresql://ondo:secret@db.internal:5432/ondo",
    )
    # The Slack replica holds the desk; this one needs no Slack token at all.
    assert plan_platforms(shared, "discord") == ["discord"]
    assert "secret" not in shared.db_label and shared.db_label.startswith("postgresql://ondo:")


# --- /healthz ------------------------------------------------------------------------------


class _Store:
    label = "ondo.db"
    shared = False

    def __init__(self, writable: bool) -> None:
        self._writable = writable
        self.replicas = SimpleNamespace(current="replica-1")

    async def writable(self) -> bool:
        return self._writable


@pytest.mark.parametrize(
    ("entries", "writable", "status", "problems"),
    [
        (("an entry",), True, 200, []),
        ((), True, 503, ["the knowledge base is empty"]),
        (("an entry",), False, 503, ["the database is not writable"]),
    ],
)
async def test_healthz_is_ready_only_with_knowledge_and_a_writable_database(
    entries: tuple[str, ...], writable: bool, status: int, problems: list[str]
) -> None:
    from types import SimpleNamespace

    from aiohttp import web

    from bot.serve import RUNTIME, slack_web_app

    app = slack_web_app(None)
    app[RUNTIME] = SimpleNamespace(  # type: ignore[assignment]
        knowledge=SimpleNamespace(entries=entries), store=_Store(writable)
    )
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/healthz") as resp,
        ):
            body = await resp.json()
    finally:
        await runner.cleanup()
    assert resp.status == status and body["problems"] == problems and body["ok"] is (status == 200)


async def test_store_writable_is_true_on_a_fresh_file(tmp_path: Path) -> None:
    from bot.storage.sqlite import SQLiteStore

    store = SQLiteStore.open(tmp_path / "h.db")
    try:
        assert await store.writable()
    finally:
        store.close()


async def test_healthz_is_503_when_sqlite_opened_the_file_read_only(tmp_path: Path) -> None:
    """A file SQLite may not write opens read-only without a word: the health check must
    really write to notice (taking the write lock alone succeeds)."""
    import sqlite3
    from types import SimpleNamespace

    import sqlite_utils
    from aiohttp import web

    from bot.serve import RUNTIME, slack_web_app
    from bot.storage.sqlite import SQLiteStore
    from bot.storage.sqlite.database import SQLiteDatabase

    SQLiteStore.open(tmp_path / "ro.db").close()
    conn = sqlite3.connect(f"file:{tmp_path / 'ro.db'}?mode=ro", uri=True, check_same_thread=False)
    store = SQLiteStore(SQLiteDatabase(sqlite_utils.Database(conn), str(tmp_path / "ro.db")))
    app = slack_web_app(None)
    app[RUNTIME] = SimpleNamespace(  # type: ignore[assignment]
        knowledge=SimpleNamespace(entries=("an entry",)), store=store
    )
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/healthz") as resp,
        ):
            body = await resp.json()
    finally:
        await runner.cleanup()
        store.close()
    assert resp.status == 503 and body["problems"] == ["the database is not writable"]


# --- the black box -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = FakeSlack()
    await server.start()
    server.set_members(AGENTS, [AGENT, server.bot_user_id])
    yield server
    await server.stop()


async def wait_healthy(url: str, process: asyncio.subprocess.Process) -> dict[str, object]:
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            if process.returncode is not None:
                raise AssertionError(f"ondo serve exited with {process.returncode}")
            try:
                async with session.get(url) as resp:
                    return dict(await resp.json())
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.25)
    raise AssertionError("ondo serve never became healthy")


async def start_ondo(
    tmp_path: Path, warm_db: Path, platform: str, settings: dict[str, str]
) -> tuple[asyncio.subprocess.Process, int]:
    """``ondo serve <platform>`` as a user starts it, on a copy of the warm database and a free
    port, with only ``settings`` configured; returns the process and its port."""
    copy_db(warm_db, tmp_path / "serve.db")
    port = free_port()
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("ONDO_", "SLACK_", "DISCORD_", "OPENAI_"))
    }
    environment |= {
        "ONDO_DB": str(tmp_path / "serve.db"),
        "HF_HUB_OFFLINE": "1",
        "PORT": str(port),
        **settings,
    }
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("ondo")),
        "serve",
        platform,
        env=environment,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return process, port


async def test_ondo_serve_slack_black_box(fake: FakeSlack, tmp_path: Path, warm_db: Path) -> None:
    """The installed script, started as a user starts it, answering signed events."""
    process, port = await start_ondo(
        tmp_path,
        warm_db,
        "slack",
        {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.api_url,
            "ONDO_HANDOFF_CHANNEL": f"slack:{AGENTS}",
        },
    )
    try:
        health = await wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        replica = health.pop("replica")
        assert isinstance(replica, str) and replica.startswith(socket.gethostname())
        assert health.pop("database").endswith("serve.db")
        assert health == {
            "ok": True,
            "problems": [],
            "platforms": ["slack"],
            "connected": {},
            "shared": False,
            "shards": "",
        }
        async with aiohttp.ClientSession() as session:

            async def deliver(text: str) -> int:
                event = fake.message_event(text, channel="D0DM", channel_type="im")
                body = json.dumps(fake.event_callback(event)).encode()
                async with session.post(
                    f"http://127.0.0.1:{port}/slack/events",
                    data=body,
                    headers=signed_request_headers(body, SECRET),
                ) as resp:
                    return resp.status

            assert await deliver("환불 요청하려면 어떻게 해야 하나요?") == 200
            [answer] = await fake.wait_for("chat.postMessage", 1, timeout=30)
            assert "환불" in answer.params["text"]
            assert await deliver("I want to talk to a human agent") == 200
            calls = await fake.wait_for("chat.postMessage", 3, timeout=30)
            assert {c.params["channel"] for c in calls[1:]} == {"D0DM", AGENTS}
            bad = b'{"type": "event_callback"}'
            async with session.post(
                f"http://127.0.0.1:{port}/slack/events",
                data=bad,
                headers=signed_request_headers(bad, "not-the-secret"),
            ) as resp:
                assert resp.status == 401
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    assert "Traceback" not in stderr.decode()
    assert "serving slack" in stderr.decode()


async def test_ondo_serve_discord_black_box(tmp_path: Path, warm_db: Path) -> None:
    """``ondo serve discord`` pointed at a fake Discord by DISCORD_API_BASE/GATEWAY_URL."""
    fake = FakeDiscord()
    await fake.start()
    process, port = await start_ondo(
        tmp_path,
        warm_db,
        "discord",
        {
            "DISCORD_TOKEN": fake.token,
            "DISCORD_API_BASE": fake.api_base,
            "DISCORD_GATEWAY_URL": fake.gateway_url,
            "ONDO_DISCORD_CHANNELS": str(fake.support_channel_id),
            "ONDO_HANDOFF_CHANNEL": f"discord:{fake.staff_channel_id}",
        },
    )
    try:
        url = f"http://127.0.0.1:{port}/healthz"
        health = await wait_healthy(url, process)
        assert health["platforms"] == ["discord"]
        async with aiohttp.ClientSession() as session:
            for _ in range(400):
                async with session.get(url) as resp:
                    if (await resp.json())["connected"] == {"discord": True}:
                        break
                await asyncio.sleep(0.25)
            else:
                raise AssertionError("Discord never connected")
        answered = []
        for text, expect in (
            ("환불 요청하려면 어떻게 해야 하나요?", "환불"),
            ("How do I request a refund?", "refund"),
        ):
            message = fake.message_create(fake.support_channel_id, text)
            assert await fake.dispatch("MESSAGE_CREATE", message) == 1
            [answer] = await fake.wait_for(
                "POST", f"/channels/{message['id']}/messages", timeout=30
            )
            assert expect in answer.body["content"].lower()
            answered.append(message["id"])
            assert await fake.dispatch("MESSAGE_CREATE", message) == 1  # a replay
        asked = fake.message_create(fake.support_channel_id, "상담원 연결해 주세요")
        await fake.dispatch("MESSAGE_CREATE", asked)
        await fake.wait_for("POST", f"/channels/{fake.staff_channel_id}/messages", timeout=30)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
        await fake.stop()
    log = stderr.decode()
    assert process.returncode == 0, log
    assert "Traceback" not in log and "serving discord" in log
    for thread in answered:  # a replayed MESSAGE_CREATE was not answered again
        path = f"/channels/{thread}/messages"
        assert len([c for c in fake.calls if c.method == "POST" and c.path == path]) == 1
