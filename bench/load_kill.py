"""The SIGKILL of ``bench.load``, in the middle of the run.

One process: it is killed and started again on the same database; Ondo is down in between
(Slack retries, Discord messages go unseen). Replicas: the replica behind the Slack load
balancer that holds the most claims (customer messages recorded and not answered, and
deliveries it is answering) is killed and *not* restarted until the others have answered
every message it held: their recovery sweep takes a dead replica's claims once its heartbeat
is 10 s old. It is started again afterwards and rejoins the balancer.

Before the kill, the messages the victim holds are written down (``World.in_flight``): the
recovery figures are from the kill to their answers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from bench.load_db import claims_by_replica, held_by
from bench.load_world import Customer, OndoHandle, Sent, World

PICK_TIMEOUT = 10.0
"""How long to wait for a replica to hold a claim before killing one anyway."""
TAKEOVER_TIMEOUT = 180.0
"""How long the killed replica stays down at most, waiting for its messages to be answered."""


async def kill_and_restart(world: World, ondo: OndoHandle, report: Callable[[str], None]) -> None:
    """One process: SIGKILL it at the planned moment and start it again on the same database."""
    await world.kill_moment()
    [endpoint] = ondo.endpoints()
    world.up.clear()
    await _note_in_flight(world, endpoint.name)
    world.timeline.kill_at = time.time()
    ondo.mark_log("kill")
    await ondo.kill()
    world.victim = endpoint.name
    world.faults["sigkill"] += 1
    report(f"killed Ondo (SIGKILL) after {len(world.sent)} messages; restarting")
    await ondo.start()
    await world.wait_ready(ondo)
    world.timeline.ready_again = world.timeline.window_end = time.time()
    world.up.set()
    down = world.timeline.ready_again - world.timeline.kill_at
    report(f"Ondo is back after {down:.1f}s")


async def kill_one_replica(world: World, ondo: OndoHandle, report: Callable[[str], None]) -> None:
    """Replicas: SIGKILL the Slack replica holding the most claims; start it again once the
    others have answered what it held."""
    await world.kill_moment()
    name = await _pick_victim(world, ondo)
    flight = await _note_in_flight(world, name)
    world.timeline.kill_at = time.time()
    ondo.mark_log("kill")
    await ondo.kill_replica(name)
    world.victim = name
    world.faults["sigkill"] += 1
    report(
        f"killed replica {name} (SIGKILL) after {len(world.sent)} messages, holding "
        f"{len(world.in_flight)} messages; the others take over"
    )
    deadline = time.monotonic() + TAKEOVER_TIMEOUT
    while time.monotonic() < deadline and not all(_answered(world, s) for s in flight):
        await asyncio.sleep(0.2)
    world.timeline.window_end = time.time()
    took = world.timeline.window_end - world.timeline.kill_at
    report(f"what {name} held was answered {took:.1f}s after the kill; restarting {name}")
    await ondo.restart_replica(name)
    await world.wait_ready(ondo, names=[name])
    world.timeline.ready_again = time.time()
    back = world.timeline.ready_again - world.timeline.kill_at
    report(f"replica {name} is back after {back:.1f}s")


async def _pick_victim(world: World, ondo: OndoHandle) -> str:
    """The Slack replica holding the most claims (waiting up to :data:`PICK_TIMEOUT` for one
    to hold any)."""
    candidates = [e.name for e in ondo.endpoints() if e.slack]
    deadline = time.monotonic() + PICK_TIMEOUT
    while True:
        claims = await asyncio.to_thread(claims_by_replica, world.db_path)
        load = {
            name: claims.get(world.replica_ids.get(name, ""), 0)
            + len(world.balancer.by_name(name).outstanding)
            for name in candidates
        }
        best = max(candidates, key=lambda name: load[name])
        if load[best] > 0 or time.monotonic() > deadline:
            return best
        await asyncio.sleep(0.1)


async def _note_in_flight(world: World, name: str) -> list[Sent]:
    """Write down what process ``name`` holds right now (``World.in_flight``) and return it."""
    held = await asyncio.to_thread(held_by, world.db_path, world.replica_ids.get(name, ""))
    ledger = {(s.platform, s.message_id): s for s in world.sent}
    flight = [ledger[key] for key in held if key in ledger]
    outstanding = world.balancer.by_name(name).outstanding.values()
    flight += [s for s in outstanding if s not in flight]
    world.in_flight = {s.marker for s in flight}
    return flight


def _answered(world: World, sent: Sent) -> bool:
    """Whether ``sent`` has had its answer, by its customer's count (customers write one
    message at a time, so once they have as many answers as delivered messages up to it)."""
    customer: Customer = world.customers[sent.customer]
    if not sent.delivered:
        return False
    upto = customer.sent[: customer.sent.index(sent) + 1]
    return customer.responses >= sum(1 for s in upto if s.delivered) - customer.forgiven
