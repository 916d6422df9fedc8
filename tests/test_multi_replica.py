"""Two real ``ondo serve slack`` replicas on one PostgreSQL schema, against the fake Slack and
the fake LLM: a Slack event delivered to both (and retried) is answered once, and the message
a replica held when it was killed with SIGKILL is answered by the other.

The replicas are the installed script as ``bench.load`` starts it (``SubprocessOndo``), on a
schema that starts with the embedding cache of the session's warm database, so they start
warm. They are started once for the module: each loads the models, which is slow on two cores.
Every wait is a condition polled with a deadline; nothing asserts a duration.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
import pytest_asyncio

from bench.load import free_port
from bench.load_db import copy_embedding_cache
from bench.load_ondo import SubprocessOndo, wait_healthy
from bench.load_world import llm_answer
from tests.backends import pg_schema
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack, signed_request_headers
from tests.slack_harness import AGENT, AGENTS, SECRET

pytestmark = pytest.mark.asyncio(loop_scope="module")

DEADLINE = 180.0
"""How long a condition may take to come true (a takeover waits for a 10 s old heartbeat and
a sweep, on a loaded machine)."""
HANG = 3600.0
"""A scripted LLM call that never answers in time (the responder gives up after 10 s)."""


async def until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after :data:`DEADLINE`."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {DEADLINE:g}s: {what}")


@dataclass
class Cluster:
    """The two replicas, the fakes they talk to, and their database."""

    url: str
    slack: FakeSlack
    llm: FakeOpenAI
    replicas: dict[str, SubprocessOndo]

    def port(self, name: str) -> int:
        return self.replicas[name].endpoint.port

    async def ensure_up(self) -> None:
        """Start every replica that is not running (a test killed it) and wait for all."""
        for replica in self.replicas.values():
            if not replica.alive():
                await replica.start()
        for replica in self.replicas.values():
            await wait_healthy(replica.endpoint.port, replica)

    async def replica_id(self, name: str) -> str:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{self.port(name)}/healthz") as resp,
        ):
            return str((await resp.json())["replica"])

    async def deliver(self, name: str, body: bytes, retry: int = 0) -> int:
        """POST a signed Events API body to replica ``name`` (``X-Slack-Retry-Num`` if
        ``retry``); the HTTP status."""
        headers = signed_request_headers(body, SECRET)
        if retry:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        url = f"http://127.0.0.1:{self.port(name)}/slack/events"
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=body, headers=headers) as resp,
        ):
            return resp.status

    def posts_in(self, channel: str) -> list[dict[str, Any]]:
        """What Ondo posted in ``channel``."""
        return [
            c.params
            for c in self.slack.calls_to("chat.postMessage")
            if c.params.get("channel") == channel
        ]

    def rows(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return [tuple(r) for r in conn.execute(sql, params)]

    def inbound(self, message_id: str) -> tuple[int, float | None, int, str | None]:
        """``(id, handled_at, attempts, claimed_by)`` of the inbound message."""
        [row] = self.rows(
            "SELECT id, handled_at, attempts, claimed_by FROM messages "
            "WHERE platform = 'slack' AND platform_message_id = %s AND direction = 'in'",
            [message_id],
        )
        return int(row[0]), row[1], int(row[2]), row[3]

    def replies_to(self, inbound_id: int) -> int:
        [(count,)] = self.rows(
            "SELECT COUNT(*) FROM messages WHERE in_reply_to = %s AND direction = 'out'",
            [inbound_id],
        )
        return int(count)


@pytest.fixture(scope="module")
def schema_url() -> Iterator[str]:
    with pg_schema() as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(
    schema_url: str, warm_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Cluster]:
    copy_embedding_cache(str(warm_db), schema_url)
    slack, llm = FakeSlack(), FakeOpenAI()
    await slack.start()
    await llm.start()
    slack.set_members(AGENTS, [AGENT, slack.bot_user_id])
    llm.set_faults(answer=llm_answer)
    workdir = tmp_path_factory.mktemp("replicas")
    replicas = {}
    for name in ("a", "b"):
        env = {
            "ONDO_DB": schema_url,
            "HF_HUB_OFFLINE": "1",
            "PORT": str(free_port()),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack.api_url,
            "ONDO_HANDOFF_CHANNEL": f"slack:{AGENTS}",
            "OPENAI_BASE_URL": llm.base_url,
            "OPENAI_API_KEY": "test",
            "ONDO_LLM_MODEL": "fake-model",
        }
        replicas[name] = SubprocessOndo(env, workdir, command="slack", name=name, discord=False)
    found = Cluster(schema_url, slack, llm, replicas)
    try:
        await found.ensure_up()
        yield found
    finally:
        running = [r for r in replicas.values() if r.alive()]
        statuses = [await r.stop() for r in running]
        await slack.stop()
        await llm.stop()
    logs = "\n".join(text for r in replicas.values() for text in r.logs())
    assert "Traceback" not in logs
    assert statuses == [0] * len(running), logs[-3000:]


def duplicates_logged(cluster: Cluster, message_id: str) -> int:
    needle = f"duplicate delivery of slack:{message_id} ignored"
    return sum(text.count(needle) for r in cluster.replicas.values() for text in r.logs())


@pytest.mark.parametrize(
    ("channel", "text", "expect"),
    [
        ("D0DUPKO", "환불 요청하려면 어떻게 해야 하나요?", "환불"),
        ("D0DUPEN", "How do I request a refund?", "refund"),
    ],
)
async def test_one_event_delivered_to_both_replicas_is_answered_once(
    cluster: Cluster, channel: str, text: str, expect: str
) -> None:
    await cluster.ensure_up()
    slack = cluster.slack
    event = slack.message_event(text, channel=channel, channel_type="im")
    body = json.dumps(slack.event_callback(event)).encode()
    message_id = f"{channel}:{event['ts']}"
    # The same event_id to both at once (a load balancer's two backends), then Slack's retry.
    statuses = await asyncio.gather(cluster.deliver("a", body), cluster.deliver("b", body))
    assert list(statuses) == [200, 200]
    assert await cluster.deliver("b", body, retry=1) == 200

    await until(lambda: bool(cluster.posts_in(channel)), "an answer is posted")
    # Every delivery was settled: the two that did not win the claim were logged as duplicates.
    await until(lambda: duplicates_logged(cluster, message_id) == 2, "two duplicates ignored")
    await until(lambda: cluster.inbound(message_id)[1] is not None, "the message is handled")
    inbound_id, _, attempts, _ = cluster.inbound(message_id)
    [answer] = cluster.posts_in(channel)
    assert expect in answer["text"].lower()
    assert attempts == 0  # claimed when recorded, and never again
    assert cluster.replies_to(inbound_id) == 1


async def test_the_message_a_killed_replica_held_is_answered_by_the_other(
    cluster: Cluster,
) -> None:
    await cluster.ensure_up()
    slack, llm = cluster.slack, cluster.llm
    survivor = await cluster.replica_id("b")
    asked = {
        "D0KILLKO": ("배송 기간 얼마나 걸려요?", "출고"),
        "D0KILLEN": ("How long does delivery take?", "business day"),
    }
    ids = {}
    before = len(llm.requests)
    for _ in asked:
        llm.queue_delay(HANG, "too late")
    for channel, (text, _) in asked.items():
        event = slack.message_event(text, channel=channel, channel_type="im")
        ids[channel] = f"{channel}:{event['ts']}"
        assert await cluster.deliver("a", json.dumps(slack.event_callback(event)).encode()) == 200
    # Replica a holds both claims and waits on the LLM: kill it there.
    await until(lambda: len(llm.requests) >= before + len(asked), "a asks the LLM twice")
    await cluster.replicas["a"].kill()
    assert all(cluster.posts_in(channel) == [] for channel in asked)
    victim = {cluster.inbound(m)[3] for m in ids.values()}
    assert survivor not in victim and None not in victim

    for channel in asked:
        await until(lambda channel=channel: bool(cluster.posts_in(channel)), f"{channel} answered")
    for channel, (_, expect) in asked.items():
        [answer] = cluster.posts_in(channel)
        assert expect in answer["text"].lower()
        inbound_id, _, attempts, holder = cluster.inbound(ids[channel])
        assert holder == survivor and attempts == 1  # taken over once
        assert cluster.replies_to(inbound_id) == 1
    [log_b] = cluster.replicas["b"].logs()
    assert log_b.count("answered on retry") >= len(asked)
