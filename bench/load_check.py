"""After a ``bench.load`` run: attribute every post to the inbound message it answers, and count
what was lost, duplicated or posted in the wrong conversation.

Two independent sources are joined:

* the fakes' record of what Ondo posted (each post's place, platform id and time), and what
  the generator sent (each message's marker, place, conversation key, platform id);
* Ondo's database: inbound rows by platform message id, and bot replies with ``in_reply_to``
  and the platform id of the posted reply.

A customer-visible post is attributed through the database (post id -> reply row -> inbound
row -> the generator's message); a relay at the desk by the marker in its text. A check that
uses the platform alone (per conversation, posts = messages answered there) backs it up.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.load_db import Row, read_rows
from bench.load_world import Location, Post, Sent, World, percentiles


@dataclass
class Problem:
    """One lost, duplicated or misdirected message, with what is known about it."""

    what: str
    marker: str
    detail: str


@dataclass
class Verdict:
    """The figures of one run."""

    sent: int = 0
    sent_by_platform: Counter[str] = field(default_factory=Counter)
    delivered: int = 0
    undelivered: Counter[str] = field(default_factory=Counter)
    replies: int = 0
    relays: int = 0
    notices: int = 0
    tickets: int = 0
    handoffs: int = 0
    duplicate_tickets: int = 0
    duplicates: int = 0
    lost: int = 0
    wrong: int = 0
    problems: list[Problem] = field(default_factory=list)
    attributed_by_conversation: int = 0
    count_mismatches: int = 0
    conversations: int = 0
    latency_steady: list[float] = field(default_factory=list)
    latency_restart: list[float] = field(default_factory=list)
    latency_relay: list[float] = field(default_factory=list)
    recovery: list[float] = field(default_factory=list)
    """Seconds from the SIGKILL to the answer of each message the killed process held."""
    takeover: list[float] = field(default_factory=list)
    """Seconds from the SIGKILL to the claim of each of them by another process (or by the
    restarted one): the part of the recovery that is noticing the death."""
    in_flight: int = 0
    throughput: float = 0.0
    """Answers (replies and relays) per second, from the first message sent to the answer
    that completes 95 % of them."""
    notices_undelivered: int = 0
    """Resolve notices a process could not post: the customer's platform does not run there."""
    recovered_total: int = 0
    recovered_after_restart: int = 0
    duplicates_ignored: int = 0
    llm_fallbacks: int = 0
    breaker_opened: int = 0
    tracebacks: int = 0
    errors: int = 0
    db_inbound: int = 0
    db_replies: int = 0
    customer_timeouts: int = 0

    @property
    def ok(self) -> bool:
        """No duplicate, no loss, nothing in the wrong conversation."""
        return self.duplicates == 0 and self.lost == 0 and self.wrong == 0

    def latency(self, which: str = "steady") -> tuple[float, float]:
        """``(p50, p95)`` in seconds."""
        values = {
            "steady": self.latency_steady,
            "restart": self.latency_restart,
            "relay": self.latency_relay,
            "recovery": self.recovery,
            "takeover": self.takeover,
        }[which]
        p50, p95 = percentiles(values, 50, 95)
        return p50, p95


def verify(world: World, db: str, logs: Sequence[str]) -> Verdict:
    """Join the generator's ledger, the fakes' posts and the database (a SQLite file or a
    PostgreSQL URL) into a :class:`Verdict`; ``logs``: one text per Ondo process."""
    v = Verdict()
    rows = read_rows(db)
    inbound = {(r.platform, r.platform_message_id): r for r in rows if r.direction == "in"}
    by_id = {r.id: r for r in rows}
    reply_rows = [r for r in rows if r.direction == "out" and r.role == "bot" and r.in_reply_to]
    reply_by_pid = {(r.platform, r.platform_message_id): r for r in reply_rows}
    reply_of = {r.in_reply_to: r for r in reply_rows}
    v.db_inbound = sum(1 for r in rows if r.direction == "in" and r.role == "customer")
    v.db_replies = len(reply_rows)
    ledger: dict[tuple[str, str | None], Sent] = {(s.platform, s.message_id): s for s in world.sent}

    v.sent = len(world.sent)
    v.sent_by_platform = Counter(s.platform for s in world.sent)
    answers: dict[str, list[Post]] = defaultdict(list)
    relays: dict[str, list[float]] = defaultdict(list)

    posts = [p for p in world.posts if p.kind == "reply"]
    v.replies = len(posts)
    v.notices = sum(1 for p in world.posts if p.kind == "notice")
    v.tickets = sum(1 for p in world.posts if p.kind == "ticket")
    for post in world.posts:
        if post.kind == "stray":
            v.wrong += 1
            v.problems.append(
                Problem("wrong", "-", f"post {post.post_id} in {post.location}: no conversation")
            )

    unmatched: list[Post] = []
    for post in posts:
        row = reply_by_pid.get((post.platform, post.post_id))
        source = by_id.get(row.in_reply_to) if row and row.in_reply_to else None
        sent = ledger.get((source.platform, source.platform_message_id)) if source else None
        if row is None:
            unmatched.append(post)
        elif sent is None:
            v.wrong += 1
            v.problems.append(Problem("wrong", "-", f"post {post.post_id} answers no sent message"))
        else:
            answers[sent.marker].append(post)
            if post.location != sent.location:
                v.wrong += 1
                v.problems.append(
                    Problem(
                        "wrong", sent.marker, f"answered in {post.location}, not {sent.location}"
                    )
                )

    # A reply posted just before the kill may lack its platform id in the database: match it
    # to a reply row without one in the same conversation.
    open_rows: dict[Location, list[Sent]] = defaultdict(list)
    for sent in world.sent:
        source = inbound.get((sent.platform, sent.message_id))
        row = reply_of.get(source.id) if source else None
        if row is not None and row.platform_message_id is None:
            open_rows[sent.location].append(sent)
    for post in unmatched:
        candidates = [s for s in open_rows.get(post.location, []) if not answers[s.marker]]
        if candidates:
            answers[candidates[0].marker].append(post)
            v.attributed_by_conversation += 1
        else:
            v.duplicates += 1
            v.problems.append(
                Problem("duplicate", "-", f"post {post.post_id} in {post.location} is no reply")
            )

    tickets = world.tickets
    per_handoff = Counter(t.handoff for t in tickets.values() if t.handoff is not None)
    v.handoffs = len(per_handoff)
    for number, count in sorted(per_handoff.items()):
        if count > 1:
            v.duplicate_tickets += count - 1
            v.problems.append(
                Problem(
                    "duplicate ticket", "-", f"handoff #{number} posted {count} times at the desk"
                )
            )
    for relay in world.relays:
        sent = world.by_marker.get(relay.marker)
        if sent is None:
            continue
        relays[relay.marker].append(relay.at)
        ticket = tickets.get(relay.ticket_ts)
        if ticket is not None and ticket.key != sent.key:
            v.wrong += 1
            v.problems.append(
                Problem("wrong", sent.marker, f"relayed to the ticket of {ticket.key}")
            )
    v.relays = sum(len(x) for x in relays.values())

    kill = world.timeline.kill_at
    firsts: dict[str, float] = {}
    for sent in world.sent:
        times = [p.at for p in answers.get(sent.marker, [])] + relays.get(sent.marker, [])
        if times:
            firsts[sent.marker] = min(times)
    # The messages the killed process held, less any answered in the instant before the kill.
    open_at_kill = [m for m in world.in_flight if kill and firsts.get(m, kill) >= kill]
    held = [firsts[m] for m in open_at_kill if m in firsts]
    v.in_flight = len(open_at_kill)
    v.recovery = [at - (kill or at) for at in held]
    for marker in open_at_kill:
        sent = world.by_marker[marker]
        row = inbound.get((sent.platform, sent.message_id))
        if kill and row is not None and row.claimed_at is not None and row.claimed_at >= kill:
            v.takeover.append(row.claimed_at - kill)
    # Latencies "across the kill": waits that overlap the kill's window (to the restart, or
    # to the answer of the last message the killed replica held).
    end = max([*held, world.timeline.window_end or 0.0]) or world.timeline.ready_again
    for sent in world.sent:
        source = inbound.get((sent.platform, sent.message_id))
        delivered = sent.delivered or source is not None
        if not delivered:
            v.undelivered[sent.undelivered or "not delivered"] += 1
            continue
        v.delivered += 1
        got = [p.at for p in answers.get(sent.marker, [])]
        relayed = relays.get(sent.marker, [])
        total = len(got) + len(relayed)
        if total > 1:
            v.duplicates += total - 1
            v.problems.append(
                Problem("duplicate", sent.marker, f"{len(got)} replies, {len(relayed)} relays")
            )
        if total == 0:
            v.lost += 1
            why = _why_lost(sent, source, reply_of)
            if sent.marker in world.in_flight:
                why += f"; held by {world.victim} at the SIGKILL"
            elif kill is not None and sent.delivered_at is not None:
                before = kill - sent.delivered_at
                if 0 <= before <= 5:
                    why += f"; in flight at the SIGKILL (delivered {before:.2f}s before it)"
            v.problems.append(Problem("lost", sent.marker, why))
            continue
        first = firsts[sent.marker]
        latency = first - sent.sent_at
        if not got:
            v.latency_relay.append(latency)
        elif kill is not None and sent.sent_at <= (end or first) and first >= kill:
            v.latency_restart.append(latency)
        else:
            v.latency_steady.append(latency)
    if firsts and world.sent:
        # Up to the 95th-percentile answer: one customer stuck waiting for a lost answer (a
        # customer waits 5 minutes) must not stretch the whole run's rate.
        times = sorted(firsts.values())
        upto = times[max(0, round(0.95 * len(times)) - 1)]
        span = upto - min(s.sent_at for s in world.sent)
        v.throughput = round(0.95 * len(times)) / span if span > 0 else 0.0

    recorded = set(inbound)
    v.count_mismatches, v.conversations = _count_check(world, relays, recorded)
    v.customer_timeouts = sum(c.timeouts for c in world.customers)
    for log in logs:
        _read_log(v, log)
    return v


def _why_lost(sent: Sent, source: Row | None, reply_of: dict[int | None, Row]) -> str:
    where = f"{sent.platform} {sent.kind} message {sent.message_id} ({sent.key})"
    if source is None:
        return f"{where}: delivered ({sent.attempts} attempts) but never recorded by Ondo"
    reply = reply_of.get(source.id)
    if reply is not None:
        posted_as = reply.platform_message_id
        return f"{where}: reply #{reply.id} recorded (platform id {posted_as}) but never posted"
    if source.handled_at is not None:
        return f"{where}: recorded and marked handled with no reply (relay or suppressed)"
    return f"{where}: recorded, never answered ({source.attempts} recovery attempts)"


def _count_check(
    world: World, relays: dict[str, list[float]], recorded: set[tuple[str, str | None]]
) -> tuple[int, int]:
    """Per conversation, from the platform alone: replies posted = delivered messages there
    that were not relayed (delivered: by the world, or read by Ondo itself, as its Discord
    catch-up does with messages sent while it was down). Returns ``(conversations that
    differ, conversations)``."""
    expected: Counter[Location] = Counter()
    for sent in world.sent:
        delivered = sent.delivered or (sent.platform, sent.message_id) in recorded
        if delivered and not relays.get(sent.marker):
            expected[sent.location] += 1
    actual = Counter(p.location for p in world.posts if p.kind == "reply")
    places = set(expected) | set(actual)
    return sum(1 for place in places if expected[place] != actual[place]), len(places)


def _read_log(v: Verdict, log: str) -> None:
    """Add what one process's log says to ``v``; "after the kill" is what follows its
    ``=== kill ===`` line (a restarted process logs after it too)."""
    later = log.split("=== kill ===", 1)[1] if "=== kill ===" in log else ""
    v.recovered_total += len(re.findall(r"answered on retry", log))
    v.recovered_after_restart += len(re.findall(r"answered on retry", later))
    v.duplicates_ignored += len(re.findall(r"duplicate delivery of", log))
    v.llm_fallbacks += len(re.findall(r"LLM reply unusable", log))
    v.breaker_opened += len(re.findall(r"circuit open", log))
    v.notices_undelivered += len(re.findall(r"resolve notice for \S+ not delivered", log))
    v.tracebacks += log.count("Traceback")
    v.errors += len(re.findall(r"\bERROR\b", log))
