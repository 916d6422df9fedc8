"""Load test with injected faults: ``python -m bench.load [--messages 2000 --customers 100
--seed 0]``. Not timed in CI; prints one table (``bench.table.Row``) and exits 1 on any
duplicate, loss or misdirected reply.

Methodology
-----------

*Set-up.* One process holds the fake Slack (Web API + signed Events API), the fake Discord
(REST + gateway) and the fake OpenAI-compatible LLM (``tests/fakes``). Ondo is the installed
``ondo serve all`` script, started as a subprocess with ``SLACK_API_URL``,
``DISCORD_API_BASE`` / ``DISCORD_GATEWAY_URL``, ``OPENAI_BASE_URL`` pointing at the fakes,
Slack events on a free ``PORT``, a fresh ``ONDO_DB`` (the first start embeds the sample
knowledge base) and the agents' desk in Slack (``ONDO_HANDOFF_CHANNEL=slack:C0AGENTS``), so
Discord customers' handoffs cross platforms.

*Customers.* 100 customers (``--customers``) share ``--messages`` evenly: even-numbered ones
write in Slack (half in DMs, half @mentioning Ondo in a channel, then in the thread), odd ones
in Discord (half in DMs, half in the support channel, then in the thread Ondo opens). Each has
a home language (Korean or English, 50/50) and writes 85 % in it. Messages are drawn from the
sample shop's FAQ questions (72 %), chit-chat (12 %), disappointed FAQ questions (9 %), angry
messages (4 %) and requests for a person (3 %); a non-question is always followed by a
question. Customers write one message at a time, as people do: they wait for the answer (up
to 5 minutes), think 0.5-3 s, then write again. Every message ends with a unique marker
``[zqxxxx]``.

*Handoffs.* Angry messages and requests for a person hand the conversation to the desk: Ondo
answers with a handoff notice and posts a ticket. A simulated agent clicks Resolve on every
ticket after 2-8 s (a signed ``block_actions`` request, as Slack sends it). While a
conversation waits for a person, the customer's messages are relayed into the ticket thread
instead of answered: for those messages the relay (found by its marker) is the one response
that must exist. The "conversation is back with the bot" notice after Resolve answers no
message and is not counted.

*Faults.* (1) Slack: 10 % of Slack messages are delivered a second time with
``X-Slack-Retry-Num: 1`` and the same ``event_id``, half at the same moment as the original,
half 0.5-8 s later; a channel message that @mentions Ondo arrives as two events
(``message`` + ``app_mention``), as in real Slack; a delivery without a 200 within 3 s is
retried like Slack does (nearly at once, after 1 minute, after 5 minutes). (2) Discord: op 7
RECONNECT three times and a resumable op 9 INVALID_SESSION twice, away from the kill; the
client resumes and the fake replays what it missed. (3) LLM: 15 % of calls stall 12 s (the
responder's per-call timeout is 10 s) and 15 % answer HTTP 500; the others answer with the
first knowledge passage they were shown; the responder retries, falls back to the offline
composer, and its circuit breaker may open. (4) SQLite: 25 times, another connection takes
the write lock (``BEGIN IMMEDIATE``) for 100-500 ms. (5) 0-2 s after the middle message was
sent, Ondo is killed with SIGKILL and started again on the same database.

*While Ondo is down.* Slack deliveries fail and are retried by the generator on Slack's
schedule. A Discord message sent while Ondo is down is counted as sent but not delivered: a
fresh IDENTIFY gets no replay in real Discord, so no bot could see it; its customer asks
again once Ondo is back (a new message). A message Ondo had recorded but not answered when it
was killed must be answered by the recovery sweep (at start and every 30 s, once the
message's 120 s claim has expired).

*Verification.* After the last customer, the run waits until every delivered message has a
response (at most 3 minutes more), 5 s more for late duplicates, stops Ondo with SIGTERM and
joins three records (``bench.load_check``): what the generator sent (marker, place,
conversation key, platform id), what the fakes recorded Ondo posting (place, platform id,
time) and Ondo's database (inbound rows by platform id; each bot reply's ``in_reply_to`` and
the platform id of its post). A customer-visible post is attributed via the database (post id
-> reply row -> inbound row -> sent message); a relay via its marker. *Lost*: a delivered
message with neither a reply nor a relay. *Duplicates*: every response beyond the first, plus
posts in customers' conversations that answer no message. *Wrong conversation*: a reply posted
anywhere but the message's thread/DM, a relay in another conversation's ticket thread, or a
post in no customer conversation. A platform-only cross-check compares, per conversation, the
replies posted with the delivered messages that were not relayed. *Latency*: from the
message's first delivery attempt to the first response's post; replies whose wait overlaps the
kill-to-ready window are reported separately. Each lost message is listed with what the
database knows of it (never recorded; recorded and unanswered; reply recorded but never
posted) and whether it was in flight when the SIGKILL came.

Machine load matters: Ondo, the fakes and the generator share the same cores, and the
think time is short (0.5-3 s) so the run takes minutes, not hours; latencies are those of a
saturated 2-core box, not of a production deployment.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.load_check import Verdict, verify
from bench.load_ondo import SubprocessOndo
from bench.load_world import LoadConfig, OndoHandle, World
from bench.report import BENCHMARKS_DOC, update_section
from bench.table import Row, markdown

_START = time.monotonic()


def progress(message: str) -> None:
    """One progress line on stderr, stamped with the seconds since start."""
    print(f"[{time.monotonic() - _START:7.1f}s] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Result:
    """One run: its configuration, world, verdict and Ondo's exit status."""

    config: LoadConfig
    world: World
    verdict: Verdict
    exit_status: int
    seconds: float
    log: str


OndoFactory = Callable[[Mapping[str, str]], OndoHandle]


async def run_load(
    config: LoadConfig,
    ondo_factory: OndoFactory,
    db_path: Path,
    *,
    report: Callable[[str], None] = progress,
) -> Result:
    """Run the load against an Ondo built by ``ondo_factory(env)`` on ``db_path``."""
    started = time.monotonic()
    world = World(config, free_port())
    await world.start()
    env = world.env(str(db_path))
    ondo = ondo_factory(env)
    world.timeline.start = time.time()
    status = 0
    try:
        report(f"starting Ondo on :{world.port} (database {db_path})")
        await ondo.start()
        await world.wait_ready(ondo)
        world.timeline.first_ready = time.time()
        report(f"Ondo ready after {world.timeline.first_ready - world.timeline.start:.1f}s")
        world.up.set()
        killer = world.spawn(_kill(world, ondo, report)) if config.kill else None
        ticker = world.spawn(_ticker(world, report))
        await asyncio.gather(*(world.run_customer(c) for c in world.customers))
        world.timeline.sent_done = time.time()
        report(f"all customers done; {world.unanswered()} messages still unanswered")
        if killer is not None:
            await killer
        await world.drain(config.drain_timeout)
        await asyncio.sleep(config.settle)
        world.timeline.drained = time.time()
        ticker.cancel()
    finally:
        status = await ondo.stop()
        log = ondo.log_text()
        await world.close()
    world.timeline.end = time.time()
    report("verifying")
    verdict = verify(world, str(db_path), log)
    return Result(config, world, verdict, status, time.monotonic() - started, log)


async def _kill(world: World, ondo: OndoHandle, report: Callable[[str], None]) -> None:
    task = world.spawn(world.kill_and_restart(ondo))
    while not task.done():
        if world.timeline.kill_at is not None:
            report(f"killed Ondo (SIGKILL) after {len(world.sent)} messages; restarting")
            break
        await asyncio.sleep(0.1)
    await task
    down = (world.timeline.ready_again or 0) - (world.timeline.kill_at or 0)
    report(f"Ondo is back after {down:.1f}s")


async def _ticker(world: World, report: Callable[[str], None]) -> None:
    while True:
        await asyncio.sleep(15)
        answered = sum(c.responses for c in world.customers)
        report(
            f"sent {len(world.sent)}/{world.config.messages}, answered {answered}, "
            f"waiting {world.unanswered()}, Ondo {'up' if world.up.is_set() else 'DOWN'}, "
            f"LLM {dict(world.openai.injected)}"
        )


# --- the table ---------------------------------------------------------------------------


def secs(seconds: float) -> str:
    """``0.8123`` -> ``812 ms``; ``4.1`` -> ``4.10 s``."""
    return f"{1000 * seconds:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def faults_text(result: Result) -> str:
    """The faults injected, by type."""
    f, w = result.world.faults, result.world
    resumes = sum(s.resumes for s in w.discord.sessions.values())
    llm = w.openai.injected
    calls = len(w.openai.requests)
    failed = sum(n for name, n in f.items() if name.startswith("slack_failed_"))
    parts = [
        f"Slack re-deliveries {f['slack_retry_concurrent'] + f['slack_retry_later']} "
        f"({f['slack_retry_concurrent']} concurrent, {f['slack_retry_later']} later)",
        f"failed Slack deliveries {failed} ({f['slack_failed_connection_failed']} refused, "
        f"{f['slack_failed_http_timeout']} not acked within 3 s, "
        f"{f['slack_failed_http_error']} other; {f['slack_retry_after_failure']} Slack retries)",
        f"Discord op 7 ×{f['op7']} + op 9 ×{f['op9']} ({resumes} resumes)",
        f"LLM {llm['timeout']} timeouts + {llm['status']} HTTP 500 of {calls} calls "
        f"({(llm['timeout'] + llm['status']) / max(calls, 1):.0%})",
        f"SQLite write lock ×{f['sqlite_write_lock']} ({f['sqlite_write_lock_ms'] / 1000:.1f} s)",
        f"SIGKILL + restart ×{f['sigkill']}",
    ]
    return "; ".join(parts)


def rows(result: Result) -> list[Row]:
    """The result as table rows (``benchmark``, ``metric``, value in the Ondo column)."""
    cfg, v, w = result.config, result.verdict, result.world
    name = f"Load {cfg.messages:,} msgs / {cfg.customers} customers"
    dash = "—"

    def row(metric: str, value: str, target: str = dash, protocol: str = "") -> Row:
        return Row(name, metric, value, dash, dash, dash, target, protocol)

    undelivered = sum(v.undelivered.values())
    p50, p95 = v.latency("steady")
    r50, r95 = v.latency("restart")
    t = w.timeline
    down = (t.ready_again - t.kill_at) if t.kill_at and t.ready_again else 0.0
    protocol = (
        f"`python -m bench.load --messages {cfg.messages} --customers {cfg.customers} "
        f"--seed {cfg.seed}`: the installed `ondo serve all` against fake Slack, Discord and "
        "LLM with injected faults (methodology in bench/load.py); every inbound message must "
        "get exactly one reply (or one relay while a person has the conversation)."
    )
    return [
        row(
            "messages sent (Slack / Discord)",
            f"{v.sent:,} ({v.sent_by_platform['slack']:,} / {v.sent_by_platform['discord']:,})",
            f"≥ {cfg.messages:,}",
            protocol,
        ),
        row(
            "delivered to Ondo",
            f"{v.delivered:,}"
            + (
                f" ({undelivered} sent while Ondo was down and not delivered; asked again)"
                if undelivered
                else ""
            ),
        ),
        row(
            "answered: replies + relays",
            f"{v.replies:,} + {v.relays:,} = {v.replies + v.relays:,} "
            f"({v.tickets} handoffs, {w.faults['agent_resolves']} resolved by agents)",
            "= delivered",
        ),
        row("duplicates", str(v.duplicates), "0"),
        row("lost", str(v.lost), "0"),
        row("wrong conversation", str(v.wrong), "0"),
        row(
            "latency p50 / p95, delivery → reply posted",
            f"{secs(p50)} / {secs(p95)} (n = {len(v.latency_steady):,})",
        ),
        row(
            "latency p50 / p95 across the kill",
            f"{secs(r50)} / {secs(r95)} (n = {len(v.latency_restart)}; Ondo down {down:.0f} s)"
            if cfg.kill
            else "no kill",
        ),
        row("faults injected", faults_text(result)),
        row(
            "restart recovery",
            f"{v.recovered_after_restart} messages answered by the recovery sweep after the "
            f"restart ({v.recovered_total} in all); {v.duplicates_ignored} duplicate "
            "deliveries ignored",
        ),
    ]


def header(result: Result, load_start: str) -> str:
    """One line: what ran where, and how long."""
    return (
        f"Load test · {os.cpu_count()} cores · Python {platform.python_version()} · "
        f"seed {result.config.seed} · run took {result.seconds / 60:.1f} min · "
        f"1-min load average at start {load_start}, at end {_load_average()} · "
        f"LLM fallbacks {result.verdict.llm_fallbacks}, breaker opened "
        f"{result.verdict.breaker_opened}× · desk: {result.verdict.tickets} tickets for "
        f"{result.verdict.handoffs} handoffs · platform-only check: "
        f"{result.verdict.count_mismatches} of {result.verdict.conversations} conversations "
        "differ"
    )


def _load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "n/a"


def problems_text(verdict: Verdict, limit: int = 30) -> str:
    """The first ``limit`` problems, one per line."""
    lines = [f"- {p.what} {p.marker}: {p.detail}" for p in verdict.problems[:limit]]
    if len(verdict.problems) > limit:
        lines.append(f"- ... and {len(verdict.problems) - limit} more")
    return "\n".join(lines)


# --- entry points ------------------------------------------------------------------------


def suite(cfg: Any, models: Any) -> list[Row]:
    """For ``bench.run``: the load test (200 messages / 20 customers with ``--quick``)."""
    config = LoadConfig()
    if getattr(cfg, "quick", False):
        config = replace(config, messages=200, customers=20, busy_locks=5)
    workdir = Path(tempfile.mkdtemp(prefix="ondo-load-"))
    try:
        result = asyncio.run(
            run_load(config, lambda env: SubprocessOndo(env, workdir), workdir / "ondo.db")
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return rows(result)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--messages", type=int, default=LoadConfig.messages)
    parser.add_argument("--customers", type=int, default=LoadConfig.customers)
    parser.add_argument("--seed", type=int, default=LoadConfig.seed)
    parser.add_argument("--no-kill", action="store_true", help="skip the SIGKILL and restart")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="keep the database and Ondo's log here"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="markdown file whose load section is rewritten (default: docs/benchmarks.md "
        "for a run with the default size, seed and kill; nothing otherwise)",
    )
    return parser.parse_args(argv)


def section(result: Result, load_start: str) -> str:
    """The load section of ``docs/benchmarks.md``: header, table, problems."""
    v = result.verdict
    text = (
        "## Load test with faults\n\n"
        "Produced by `python -m bench.load` (method: the docstring of `bench/load.py`; "
        "not run in CI). The real adapters in the installed `ondo serve all`, against the "
        "fake Slack, Discord and LLM, with retried deliveries, gateway reconnects, LLM "
        "timeouts and 500s, SQLite write locks and one SIGKILL + restart.\n\n"
        f"{header(result, load_start)}\n\n{markdown(rows(result))}\n"
    )
    if v.problems:
        text += "\nProblems:\n\n" + problems_text(v) + "\n"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; 0 when nothing was lost, duplicated or misdirected, else 1."""
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    config = LoadConfig(
        messages=args.messages,
        customers=args.customers,
        seed=args.seed,
        kill=not args.no_kill,
        busy_locks=max(1, round(25 * args.messages / 2000)),
    )
    keep = args.workdir is not None
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="ondo-load-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "ondo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    (workdir / "ondo.log").unlink(missing_ok=True)
    load_start = _load_average()
    result = asyncio.run(run_load(config, lambda env: SubprocessOndo(env, workdir), db))
    v = result.verdict
    print(header(result, load_start) + "\n\n" + markdown(rows(result)))
    if v.problems:
        print("\nProblems:\n" + problems_text(v))
    default_run = (args.messages, args.customers, args.seed, args.no_kill) == (
        LoadConfig.messages,
        LoadConfig.customers,
        LoadConfig.seed,
        False,
    )
    out = args.out or (BENCHMARKS_DOC if default_run else None)
    if out is not None:
        update_section(out, "load", section(result, load_start))
        progress(f"wrote the load section of {out}")
    if result.exit_status != 0 or v.tracebacks:
        print(
            f"\nOndo exited with {result.exit_status}; {v.tracebacks} tracebacks and "
            f"{v.errors} ERROR lines in {workdir / 'ondo.log'}"
        )
    if v.ok and not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        progress(f"database and log kept in {workdir}")
    return 0 if v.ok else 1


if __name__ == "__main__":
    sys.exit(main())
