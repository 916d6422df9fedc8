"""Load test with injected faults: ``python -m bench.load [--messages 2000 --customers 100
--seed 0] [--db postgresql://… --replicas 3]``. Not timed in CI; prints one table
(``bench.table.Row``) and exits 1 on any duplicate, loss or misdirected reply.

Methodology
-----------

*Set-up.* One process holds the fake Slack (Web API + signed Events API), the fake Discord
(REST + gateway) and the fake OpenAI-compatible LLM (``tests/fakes``). Ondo is the installed
``ondo serve all`` script, started as a subprocess with ``SLACK_API_URL``,
``DISCORD_API_BASE`` / ``DISCORD_GATEWAY_URL``, ``OPENAI_BASE_URL`` pointing at the fakes,
Slack events on a free ``PORT``, a fresh ``ONDO_DB`` (the first start embeds the sample
knowledge base) and the agents' desk in Slack (``ONDO_HANDOFF_CHANNEL=slack:C0AGENTS``), so
Discord customers' handoffs cross platforms.

*Shared database* (``--db postgresql://…``, ``--replicas N``). The same load runs on up to
three set-ups in one invocation, one after another, each on a fresh database: SQLite with one
process (as above), PostgreSQL with one replica (``ondo serve all``), and PostgreSQL with ``N``
replicas; ``--no-baseline`` runs the last only. Each PostgreSQL set-up gets a schema of its own
in the database of the URL (``ondo_load_<hex>``, connections pointed at it with
``options=-csearch_path=…``; dropped afterwards unless ``--workdir`` keeps things), with the
SQLite run's embedding cache copied in when there was one, so the replicas start warm as on a
deployment's existing database. With ``N`` ≥ 2 replicas: ``N - 1`` are ``ondo serve slack``
behind a simulated load balancer (``bench/load_balancer.py``: every delivery, retries too, to a
random backend in rotation; a refused connection takes a backend out until its ``/healthz``
answers, a backend dying mid-request answers 502 and Slack retries) and one is ``ondo serve
discord``, the only process on the Discord gateway; it also runs Slack, because the agents'
desk is there (``ONDO_HANDOFF_CHANNEL=slack:…``, see ``bot.serve.plan_platforms``), so it
posts the tickets and relays of Discord customers. It is not behind the balancer. All run with
both platforms' settings. The first replica starts alone, the others once it is healthy. Until
replicas can hand each other platform posts (an outbox), a Resolve click on a Discord
customer's ticket that lands on a Slack-only replica resolves the handoff but cannot post the
customer's "back with the bot" notice (counted; such notices answer no message).

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
composer, and its circuit breaker may open. (4) Database: 25 times, another connection blocks
every write for 100-500 ms: on SQLite it takes the write lock (``BEGIN IMMEDIATE``), on
PostgreSQL it holds ``LOCK TABLE messages IN EXCLUSIVE MODE`` (reads go on, writes wait), what
a migration or maintenance job does to a table while replicas serve. (5) 0-2 s after the middle
message was sent, Ondo is killed with SIGKILL and started again on the same database; with
replicas, the Slack replica holding the most claims (unanswered messages it recorded, and
deliveries it is answering) is killed and stays down until the others have answered all it
held (their recovery sweep, every 3 s on a shared database, takes a dead replica's claims once
its heartbeat is 10 s old), then starts again and rejoins the balancer (``bench/load_kill.py``).

*While Ondo is down* (one process; replicas are never all down). Slack deliveries fail and
are retried by the generator on Slack's schedule. A Discord message sent while Ondo is down is
counted as sent but not delivered: a fresh IDENTIFY gets no replay in real Discord, so no bot
could see it; its customer asks again once Ondo is back (a new message). A message Ondo had
recorded but not answered when it was killed must be answered by the recovery sweep (at start
and every 30 s, once the message's 120 s claim has expired, or at once when the replica that
held it is dead).

*Verification.* After the last customer, the run waits until every delivered message has a
response (at most 3 minutes more), 5 s more for late duplicates, stops Ondo with SIGTERM and
joins three records (``bench.load_check``; the database is read by ``bench.load_db``:
``sqlite3`` read-only, or psycopg in read-only transactions): what the generator sent (marker,
place, conversation key, platform id), what the fakes recorded Ondo posting (place, platform id,
time) and Ondo's database (inbound rows by platform id; each bot reply's ``in_reply_to`` and
the platform id of its post). A customer-visible post is attributed via the database (post id
-> reply row -> inbound row -> sent message); a relay via its marker. *Lost*: a delivered
message with neither a reply nor a relay. *Duplicates*: every response beyond the first, plus
posts in customers' conversations that answer no message. *Wrong conversation*: a reply posted
anywhere but the message's thread/DM, a relay in another conversation's ticket thread, or a
post in no customer conversation. A platform-only cross-check compares, per conversation, the
replies posted with the delivered messages that were not relayed. *Latency*: from the
message's first delivery attempt to the first response's post; replies whose wait overlaps the
kill's window (to the restart, or with replicas to the answer of the last message the killed
one held) are reported separately. *Recovery*: from the SIGKILL to the first response of each
message the killed process held (written down just before the kill). *Throughput*: answers
(replies and relays) per second from the first message sent until 95 % of them are answered (a
customer stuck on a lost answer waits 5 minutes and would stretch the rate); customers wait for
each answer and think 0.5-3 s, so it is bounded by the customers as much as by Ondo.
Each lost message is listed with what the database knows of it (never recorded; recorded and
unanswered; reply recorded but never posted) and whether it was in flight when the SIGKILL
came.

Machine load matters: Ondo, the fakes and the generator share the same cores, and the
think time is short (0.5-3 s) so the run takes minutes, not hours; latencies are those of a
saturated 2-core box, not of a production deployment.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.load_check import Verdict, verify
from bench.load_db import copy_embedding_cache, fresh_schema, lock_description
from bench.load_kill import kill_and_restart, kill_one_replica
from bench.load_ondo import ClusterOndo, SubprocessOndo, replica_plan
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


@dataclass(frozen=True)
class Setup:
    """Where one run's Ondo keeps its data and how many processes share it."""

    label: str
    server: str | None = None
    """A PostgreSQL URL (a fresh schema is made in its database); ``None``: a SQLite file."""
    replicas: int = 1

    @property
    def slug(self) -> str:
        """A short name for files."""
        return "sqlite" if self.server is None else f"pg-{self.replicas}"


SQLITE = Setup("SQLite, 1 process")


def setups(server: str | None, replicas: int, baseline: bool) -> list[Setup]:
    """The set-ups of one invocation: SQLite alone without ``server``; else SQLite and one
    PostgreSQL replica beside ``replicas`` (unless not ``baseline``)."""
    if server is None:
        return [SQLITE]
    wanted = Setup(f"PostgreSQL, {replicas} replica{'s' if replicas > 1 else ''}", server, replicas)
    if not baseline:
        return [wanted]
    one = Setup("PostgreSQL, 1 replica", server, 1)
    return [SQLITE, one] if replicas == 1 else [SQLITE, one, wanted]


@dataclass
class Result:
    """One run: its configuration, world, verdict and Ondo's exit status."""

    config: LoadConfig
    world: World
    verdict: Verdict
    exit_status: int
    seconds: float
    log: str
    setup: Setup = SQLITE
    replicas: int = 1


OndoFactory = Callable[[Mapping[str, str]], OndoHandle]


async def run_load(
    config: LoadConfig,
    ondo_factory: OndoFactory,
    db: Path | str,
    *,
    report: Callable[[str], None] = progress,
    setup: Setup = SQLITE,
) -> Result:
    """Run the load against an Ondo built by ``ondo_factory(env)`` on ``db`` (a SQLite file
    or a PostgreSQL URL); several processes (replicas) when the factory makes them."""
    started = time.monotonic()
    world = World(config, free_port())
    await world.start()
    env = world.env(str(db))
    ondo = ondo_factory(env)
    world.attach(ondo)
    replicas = len(ondo.endpoints())
    world.timeline.start = time.time()
    status = 0
    try:
        report(f"starting Ondo ({setup.label}) on :{world.port}")
        await ondo.start()
        await world.wait_ready(ondo)
        world.timeline.first_ready = time.time()
        report(f"Ondo ready after {world.timeline.first_ready - world.timeline.start:.1f}s")
        world.up.set()
        killer = None
        if config.kill:
            kill = kill_one_replica if replicas > 1 else kill_and_restart
            killer = world.spawn(kill(world, ondo, report))
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
        logs = ondo.logs()
        await world.close()
    world.timeline.end = time.time()
    report("verifying")
    verdict = verify(world, str(db), logs)
    seconds = time.monotonic() - started
    return Result(config, world, verdict, status, seconds, "\n".join(logs), setup, replicas)


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
    kill = "SIGKILL of one replica ×" if result.replicas > 1 else "SIGKILL + restart ×"
    parts = [
        f"Slack re-deliveries {f['slack_retry_concurrent'] + f['slack_retry_later']} "
        f"({f['slack_retry_concurrent']} concurrent, {f['slack_retry_later']} later)",
        f"failed Slack deliveries {failed} ({f['slack_failed_connection_failed']} refused, "
        f"{f['slack_failed_http_timeout']} not acked within 3 s, "
        f"{f['slack_failed_http_error']} other; {f['slack_retry_after_failure']} Slack retries)",
        f"Discord op 7 ×{f['op7']} + op 9 ×{f['op9']} ({resumes} resumes)",
        f"LLM {llm['timeout']} timeouts + {llm['status']} HTTP 500 of {calls} calls "
        f"({(llm['timeout'] + llm['status']) / max(calls, 1):.0%})",
        f"{lock_description(w.db_path)} ×{f['db_lock']} ({f['db_lock_ms'] / 1000:.1f} s)",
        f"{kill}{f['sigkill']}",
    ]
    return "; ".join(parts)


def rows(result: Result) -> list[Row]:
    """The result as table rows (``benchmark``, ``metric``, value in the Ondo column)."""
    cfg, v, w = result.config, result.verdict, result.world
    name = f"Load {cfg.messages:,} msgs / {cfg.customers} customers · {result.setup.label}"
    dash = "—"

    def row(metric: str, value: str, target: str = dash, protocol: str = "") -> Row:
        return Row(name, metric, value, dash, dash, dash, target, protocol)

    undelivered = sum(v.undelivered.values())
    answers = len(v.latency_steady) + len(v.latency_restart) + len(v.latency_relay)
    p50, p95 = v.latency("steady")
    r50, r95 = v.latency("restart")
    k50, k95 = v.latency("recovery")
    c50, c95 = v.latency("takeover")
    t = w.timeline
    shared = result.replicas > 1
    down = (t.ready_again - t.kill_at) if t.kill_at and t.ready_again else 0.0
    window = (
        f"killed replica {w.victim} down {down:.0f} s, the others took over"
        if shared
        else f"Ondo down {down:.0f} s"
    )
    db = "" if result.setup.server is None else " --db postgresql://…"
    many = f" --replicas {result.setup.replicas}" if result.setup.replicas > 1 else ""
    if cfg.think != LoadConfig.think:
        many += f" --think {cfg.think[0]:g},{cfg.think[1]:g}"
    if not cfg.kill:
        many += " --no-kill"
    protocol = (
        f"`python -m bench.load --messages {cfg.messages} --customers {cfg.customers} "
        f"--seed {cfg.seed}{db}{many}`: the installed `ondo serve` against fake Slack, Discord "
        "and LLM with injected faults (methodology in bench/load.py); every inbound message "
        "must get exactly one reply (or one relay while a person has the conversation)."
    )
    out = [
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
            f"{secs(r50)} / {secs(r95)} (n = {len(v.latency_restart)}; {window})"
            if cfg.kill
            else "no kill",
        ),
        row(
            "recovery p50 / p95, SIGKILL → answer of the messages it held",
            f"{secs(k50)} / {secs(k95)} (n = {len(v.recovery)} of {v.in_flight} held; "
            f"claimed again {secs(c50)} / {secs(c95)} after the kill)"
            if cfg.kill
            else "no kill",
            "p95 ≤ 20 s" if shared else dash,
        ),
        row(
            "throughput, answers / s (first message → 95 % answered)",
            f"{v.throughput:.2f} ({answers:,} answers; run took {result.seconds / 60:.1f} min)",
        ),
        row("faults injected", faults_text(result)),
        row(
            "takeover" if shared else "restart recovery",
            f"{v.recovered_after_restart} messages answered by a recovery sweep after the kill "
            f"({v.recovered_total} in all); {v.duplicates_ignored} duplicate deliveries ignored",
        ),
        row(
            "run",
            f"LLM fallbacks {v.llm_fallbacks}, breaker opened {v.breaker_opened}×; desk: "
            f"{v.tickets} tickets for {v.handoffs} handoffs; platform-only check: "
            f"{v.count_mismatches} of {v.conversations} conversations differ; "
            f"{v.tracebacks} tracebacks, {v.errors} ERROR lines",
        ),
    ]
    if shared:
        out.append(row("replicas", replicas_text(result)))
    return out


def replicas_text(result: Result) -> str:
    """Who ran what, where the balancer sent the deliveries, and the notices no replica
    could post."""
    lb = result.world.balancer
    spread = ", ".join(f"{b.name} {b.deliveries:,}" for b in lb.backends)
    return (
        f"{len(lb.backends)} × `ondo serve slack` behind the balancer (deliveries: {spread}; "
        f"taken out of rotation {lb.taken_out}×) + 1 × `ondo serve discord` (gateway and "
        f"desk); {result.verdict.notices_undelivered} resolve notices to Discord customers "
        "not posted (clicked on a Slack-only replica: needs the outbox)"
    )


def header(results: Sequence[Result], load_start: str) -> str:
    """One line: what ran where, and how long."""
    first = results[0]
    minutes = sum(r.seconds for r in results) / 60
    return (
        f"Load test · {os.cpu_count()} cores · Python {platform.python_version()} · "
        f"seed {first.config.seed} · {len(results)} set-up{'s' if len(results) > 1 else ''}, "
        f"run took {minutes:.1f} min · 1-min load average at start {load_start}, at end "
        f"{_load_average()}"
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
    parser.add_argument("--no-kill", action="store_true", help="skip the SIGKILL")
    parser.add_argument(
        "--think",
        type=_think,
        default=LoadConfig.think,
        metavar="LO,HI",
        help="seconds a customer thinks between an answer and the next message (default "
        "0.5,3; 0,0 measures how fast Ondo answers customers who never pause)",
    )
    parser.add_argument(
        "--db",
        default=None,
        metavar="postgresql://…",
        help="also run on PostgreSQL: a fresh schema in this database per set-up",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="with --db: this many `ondo serve` processes share it (3: two Slack replicas "
        "behind a load balancer and the Discord one)",
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="with --db: skip the SQLite and one-replica set-ups",
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="keep the databases and Ondo's logs here"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="markdown file whose load section is rewritten (default: docs/benchmarks.md "
        "for a SQLite run with the default size, seed and kill; nothing otherwise)",
    )
    args = parser.parse_args(argv)
    if args.replicas < 1 or (args.replicas > 1 and args.db is None):
        parser.error("--replicas needs --db postgresql://… (and at least 1)")
    if args.db is not None and not args.db.startswith(("postgresql://", "postgres://")):
        parser.error("--db takes a postgresql:// URL")
    return args


def _think(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    try:
        bounds = (float(low), float(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO,HI seconds, not {text!r}") from None
    if not 0 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(f"expected 0 <= LO <= HI, not {text!r}")
    return bounds


def section(results: Sequence[Result], load_start: str) -> str:
    """The load section of ``docs/benchmarks.md``: header, table, problems."""
    text = (
        "## Load test with faults\n\n"
        "Produced by `python -m bench.load` (method: the docstring of `bench/load.py`; "
        "not run in CI). The real adapters in the installed `ondo serve`, against the "
        "fake Slack, Discord and LLM, with retried deliveries, gateway reconnects, LLM "
        "timeouts and 500s, database locks and one SIGKILL.\n\n"
        f"{header(results, load_start)}\n\n"
        f"{markdown([r for result in results for r in rows(result)])}\n"
    )
    for result in results:
        if result.verdict.problems:
            text += f"\nProblems ({result.setup.label}):\n\n{problems_text(result.verdict)}\n"
    return text


@contextlib.contextmanager
def database_for(setup: Setup, workdir: Path, keep: bool) -> Iterator[str]:
    """A fresh database for ``setup``: a SQLite file in ``workdir``, or a new schema."""
    if setup.server is None:
        db = workdir / "ondo.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        yield str(db)
        return
    with fresh_schema(setup.server, keep=keep) as url:
        yield url


def factory(setup: Setup, workdir: Path) -> OndoFactory:
    """How ``setup``'s Ondo is started: one ``ondo serve all``, or replicas."""
    if setup.replicas == 1:
        return lambda env: SubprocessOndo(env, workdir)
    plan = replica_plan(setup.replicas)
    return lambda env: ClusterOndo(env, workdir, plan, free_port)


def run_setups(config: LoadConfig, plan: Sequence[Setup], root: Path, keep: bool) -> list[Result]:
    """Run the load on each set-up in turn, each on a fresh database (PostgreSQL ones start
    from the SQLite run's embedding cache when it ran first)."""
    results: list[Result] = []
    cache: str | None = None
    for setup in plan:
        workdir = root / setup.slug
        workdir.mkdir(parents=True, exist_ok=True)
        for old in workdir.glob("*.log"):
            old.unlink()
        with database_for(setup, workdir, keep) as db:
            if setup.server is not None and cache is not None:
                copied = copy_embedding_cache(cache, db)
                progress(f"{setup.label}: {copied} cached embeddings copied from the SQLite run")
            progress(f"=== {setup.label} ===")
            result = asyncio.run(run_load(config, factory(setup, workdir), db, setup=setup))
            if setup.server is None:
                cache = db
            if keep:
                progress(f"{setup.label}: database {db}")
        results.append(result)
    return results


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
        think=args.think,
    )
    keep = args.workdir is not None
    root = (args.workdir or Path(tempfile.mkdtemp(prefix="ondo-load-"))).resolve()
    root.mkdir(parents=True, exist_ok=True)
    load_start = _load_average()
    plan = setups(args.db, args.replicas, not args.no_baseline)
    results = run_setups(config, plan, root, keep)
    table = markdown([r for result in results for r in rows(result)])
    print(header(results, load_start) + "\n\n" + table)
    for result in results:
        if result.verdict.problems:
            print(f"\nProblems ({result.setup.label}):\n" + problems_text(result.verdict))
    default_run = (
        args.messages,
        args.customers,
        args.seed,
        args.no_kill,
        args.db,
        args.think,
    ) == (LoadConfig.messages, LoadConfig.customers, LoadConfig.seed, False, None, LoadConfig.think)
    out = args.out or (BENCHMARKS_DOC if default_run else None)
    if out is not None:
        update_section(out, "load", section(results, load_start))
        progress(f"wrote the load section of {out}")
    ok = all(r.verdict.ok for r in results)
    for result in results:
        v = result.verdict
        if result.exit_status != 0 or v.tracebacks:
            print(
                f"\n{result.setup.label}: Ondo exited with {result.exit_status}; "
                f"{v.tracebacks} tracebacks and {v.errors} ERROR lines in "
                f"{root / result.setup.slug}"
            )
    if ok and not keep:
        shutil.rmtree(root, ignore_errors=True)
    else:
        progress(f"databases and logs kept in {root}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
