"""The load test's machinery (``bench/load.py``) on a tiny load: every message answered once.

Four customers (a Slack DM, a Discord DM, a Slack channel thread, a Discord support thread)
send three messages each through the real adapters against the fake platforms, with one
Slack re-delivery, one LLM HTTP 500, one Discord reconnect and one SQLite write lock; Ondo
runs in-process on the session's loaded models (no kill: that needs the subprocess). Waits
are on conditions; nothing here asserts a duration.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.load import run_load
from bench.load_ondo import InProcessOndo
from bench.load_world import LoadConfig
from bot.app import build_runtime
from knowledge.embedders import Embedder
from tests.conftest import copy_db


async def test_tiny_load_is_answered_once_each(
    tmp_path: Path, warm_db: Path, real_embedders: Sequence[Embedder]
) -> None:
    db = tmp_path / "ondo.db"
    copy_db(warm_db, db)
    config = LoadConfig(
        messages=12,
        customers=4,
        slack_retries=1,
        slack_retry_delay=(0.2, 0.5),
        llm_timeout_share=0.0,
        llm_error_share=0.0,
        llm_errors_first=1,
        reconnects=1,
        invalid_sessions=0,
        busy_locks=1,
        kill=False,
        think=(0.05, 0.2),
        agent_delay=(0.1, 0.3),
        response_timeout=60.0,
        drain_timeout=60.0,
        settle=0.5,
    )
    result = await run_load(
        config,
        lambda env: InProcessOndo(env, lambda s: build_runtime(s, embedders=real_embedders)),
        db,
        report=lambda _line: None,
    )
    verdict, world = result.verdict, result.world
    assert verdict.problems == []
    assert (verdict.duplicates, verdict.lost, verdict.wrong) == (0, 0, 0)
    assert verdict.sent == verdict.delivered == 12
    assert verdict.replies + verdict.relays == 12
    assert verdict.count_mismatches == 0
    assert {c.mode for c in world.customers} == {"dm", "channel", "support"}
    assert world.faults["slack_retry_concurrent"] + world.faults["slack_retry_later"] == 1
    assert world.faults["op7"] == 1 and world.faults["db_lock"] == 1
    assert world.openai.injected["status"] == 0 and len(world.openai.requests) >= 2
    assert result.exit_status == 0 and verdict.tracebacks == 0
    assert verdict.db_inbound == 12 and verdict.db_replies == verdict.replies
