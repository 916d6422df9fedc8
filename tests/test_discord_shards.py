"""Discord shards split across processes sharing one PostgreSQL database: a shard runs in one
of them only. Two real discord.py clients ask for the same shards of the fake gateway; one
connects, the other waits on the database's lock and takes over when the first stops."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from adapters.discord import DiscordAdapter, DiscordConfig, build_client, discord_endpoints
from bot.app import build_runtime
from bot.conversation.routing import Router
from bot.settings import Settings
from knowledge.embedders import Embedder
from tests.backends import pg_schema, raw, seed_embeddings
from tests.discord_harness import discord_settings
from tests.fakes.discord_gateway import FakeDiscord


async def _until(check: object, what: str) -> None:
    assert callable(check)
    for _ in range(400):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def test_a_shard_runs_in_one_replica_and_a_waiting_one_takes_over(
    real_embedders: Sequence[Embedder], warm_db: Path
) -> None:
    fake = FakeDiscord(shard_count=2)
    await fake.start()
    try:
        with pg_schema() as url:
            seed_embeddings(url, warm_db)
            settings = Settings(
                db_path=url, discord_shards=((0, 1), 2), **discord_settings(fake, desk=None)
            )
            runtime = build_runtime(settings, embedders=real_embedders)
            try:
                await _race(fake, settings, runtime.engine)
            finally:
                runtime.close()
    finally:
        await fake.stop()


async def _race(fake: FakeDiscord, settings: Settings, engine: object) -> None:
    config = DiscordConfig.from_settings(settings)
    assert config.shards == ((0, 1), 2)

    def adapter() -> DiscordAdapter:
        router = Router(engine, handoff_channel=None)  # type: ignore[arg-type]
        client = build_client(guild_ready_timeout=0.05, shards=config.shards)
        return DiscordAdapter(router, client, config)

    first, second = adapter(), adapter()
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    ready_first, ready_second = asyncio.Event(), asyncio.Event()
    store = first.router.engine.store
    with discord_endpoints(config.api_base, config.gateway_url):
        one = asyncio.create_task(first.run(stop_first, ready=ready_first))
        await asyncio.wait_for(ready_first.wait(), 30)
        identified = {tuple(s.shard or ()) for s in fake.sessions.values()}
        assert identified == {(0, 2), (1, 2)}
        two = asyncio.create_task(second.run(stop_second, ready=ready_second))

        def waiting() -> bool:
            rows = raw(
                store,  # type: ignore[arg-type]
                "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
            )
            return bool(rows[0][0] >= 1)

        await _until(waiting, "the second replica waits for shard 0")
        assert not ready_second.is_set()
        sessions = len(fake.sessions)
        assert sessions == 2  # nobody identified a shard twice
        stop_first.set()
        await asyncio.wait_for(one, 30)
        await asyncio.wait_for(ready_second.wait(), 30)
        assert len(fake.sessions) >= 2
        stop_second.set()
        await asyncio.wait_for(two, 30)
