"""The simulated world of ``bench.load``: customers, their scripts, the fake platforms as the
load generator drives them, the agents at the desk, and the faults.

Everything here runs in the load generator's own event loop; Ondo runs beside it (a
subprocess, or in-process for the smoke test) and only sees the fake platforms' protocols.
See ``bench/load.py`` for the methodology.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import time
from collections import Counter
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from adapters.discord.events import dm_key, guild_key
from adapters.slack import events as slack_events
from adapters.slack.events import conversation_key, is_dm
from bench.load_balancer import Balancer
from bench.load_db import handoff_conversation, hold_lock
from bot.desk import csat
from bot.desk.service import CUSTOMER_TEXTS
from bot.responder.prompts import NOT_ANSWERED_NOTE, NOT_SURE
from bot.texts import text as fixed_text
from bot.types import LANGUAGES, Language
from knowledge.loader import SAMPLE_DIR
from tests.fakes.discord_gateway import FakeDiscord, RestCall
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import (
    BOT_TOKEN,
    Call,
    FakeSlack,
    interactive_body,
    signed_request_headers,
)

SECRET = "load-test-signing-secret"
AGENTS = "C0AGENTS"
AGENT = "U0AGENT"
SUPPORT = "C0SUPPORT"
RESOLVE_ACTION = "ondo_resolve"
SLACK_ACK_TIMEOUT = 3.0
"""Slack counts a delivery as failed when the app does not answer within 3 s."""
SLACK_RETRY_BACKOFF = (1.0, 60.0, 300.0)
"""Slack retries a failed delivery three times: nearly at once, after a minute, after five."""

MARKER_RE = re.compile(r"\[(zq[a-z]{4})\]")
RESOLVED_NOTICES = frozenset(
    {fixed_text("resolved", lang) for lang in LANGUAGES}
    # The help desk's own posts to a customer: the rating question after a resolve, and the
    # stale reminder and closing (bot/desk/service.py); notices, not replies.
    | {csat.ask_text(lang, channel) for lang in LANGUAGES for channel in ("buttons", "sms")}
    | {text for texts in CUSTOMER_TEXTS.values() for text in texts.values()}
)

Location = tuple[str, ...]
"""Where a conversation's bot posts appear: ``("slack", channel, thread_ts)`` for a thread in
a Slack channel, ``("slack", DM channel)`` for a Slack DM (one conversation: its top level and
its threads), or ``("discord", channel_id)``."""


# --- configuration ----------------------------------------------------------------------


@dataclass(frozen=True)
class LoadConfig:
    """Sizes, fault rates and patience of one run (defaults: the issue's protocol)."""

    messages: int = 2000
    customers: int = 100
    seed: int = 0
    slack_retry_share: float = 0.10
    """Share of Slack messages delivered a second time with ``X-Slack-Retry-Num``."""
    slack_retries: int | None = None
    """Exact number of such re-deliveries instead of the share (smoke test)."""
    slack_retry_delay: tuple[float, float] = (0.5, 8.0)
    """How long after the original a later re-delivery comes."""
    llm_timeout_share: float = 0.15
    llm_error_share: float = 0.15
    llm_errors_first: int = 0
    """The first N LLM calls answer HTTP 500 (deterministic, for the smoke test)."""
    llm_stall: float = 12.0
    """A "timed out" LLM call stalls this long; the responder gives up after 10 s."""
    reconnects: int = 3
    """Discord op 7 RECONNECT (the client resumes)."""
    invalid_sessions: int = 2
    """Discord op 9 INVALID_SESSION, resumable (the client resumes)."""
    busy_locks: int = 25
    busy_hold: tuple[float, float] = (0.1, 0.5)
    kill: bool = True
    kill_delay: tuple[float, float] = (0.0, 2.0)
    """The SIGKILL comes this long after the middle message was sent (a random moment)."""
    think: tuple[float, float] = (0.5, 3.0)
    agent_delay: tuple[float, float] = (2.0, 8.0)
    response_timeout: float = 300.0
    """How long a customer waits for an answer before writing again."""
    drain_timeout: float = 180.0
    """After the last customer: how long to wait for answers still missing."""
    settle: float = 5.0
    slack_backoff: tuple[float, ...] = SLACK_RETRY_BACKOFF

    def __post_init__(self) -> None:
        if self.customers < 1 or self.messages < self.customers:
            raise ValueError("need at least one customer and one message per customer")


# --- what customers say ------------------------------------------------------------------

CHITCHAT = {
    "en": (
        "hello there",
        "good morning!",
        "thanks for the quick answer",
        "thank you, that helps a lot",
        "hi, I have a question",
        "have a nice day",
        "that makes sense, thanks",
        "great, appreciate it",
    ),
    "ko": (
        "안녕하세요",
        "감사합니다!",
        "빠른 답변 고마워요",
        "좋은 하루 보내세요",
        "문의 좀 드릴게요",
        "이해했어요 감사해요",
        "수고 많으세요",
    ),
}
DISAPPOINTED = {
    "en": ("I'm honestly a bit disappointed. ", "Kind of let down, second time asking. "),
    "ko": ("좀 실망스럽네요. ", "솔직히 아쉬워요. "),
}
ANGRY = {
    "en": (
        "This is ridiculous!! I've waited two weeks and still nothing. Worst service ever.",
        "I'm furious. Where is my refund?! Unacceptable!!",
    ),
    "ko": (
        "진짜 너무 화나요!! 2주째 아무 연락도 없고 최악이에요",
        "이게 말이 돼요?? 환불 언제 해줄 건데요! 짜증나네요 진짜",
    ),
}
PERSON = {
    "en": (
        "I want to talk to a human agent",
        "Can I speak to a real person please?",
        "connect me to an agent please",
    ),
    "ko": (
        "상담원 연결해 주세요",
        "사람이랑 직접 얘기하고 싶어요",
        "상담사님 좀 연결해 주실 수 있나요?",
    ),
}
KINDS = ("faq", "chitchat", "disappointed", "angry", "person")
WEIGHTS = (0.72, 0.12, 0.09, 0.04, 0.03)


@dataclass(frozen=True)
class Step:
    """One message a customer will send (before its marker is added)."""

    kind: str
    language: str
    text: str


def faq_questions() -> dict[str, list[str]]:
    """Every question of the sample shop's FAQ, by language."""
    entries = yaml.safe_load((SAMPLE_DIR / "faq.yaml").read_text(encoding="utf-8"))
    out: dict[str, list[str]] = {"ko": [], "en": []}
    for entry in entries:
        for language in out:
            out[language].extend(entry["questions"].get(language, ()))
    return out


def build_scripts(messages: int, customers: int, rng: random.Random) -> list[list[Step]]:
    """What each customer will say: ``messages`` in all, spread evenly, drawn from the mix
    (FAQ 72 %, chit-chat 12 %, disappointed FAQ 9 %, angry 4 %, asking for a person 3 %).

    A message that is not a question is always followed by one, so unanswered chit-chat never
    piles up into a "no answer" handoff by itself; angry messages and requests for a person do
    hand over.
    """
    questions = faq_questions()
    scripts: list[list[Step]] = []
    for index in range(customers):
        count = messages // customers + (1 if index < messages % customers else 0)
        home = "ko" if rng.random() < 0.5 else "en"
        steps: list[Step] = []
        for _ in range(count):
            language = home if rng.random() < 0.85 else ("en" if home == "ko" else "ko")
            kind = rng.choices(KINDS, WEIGHTS)[0]
            if steps and steps[-1].kind in ("chitchat", "angry", "person"):
                kind = "faq"
            question = rng.choice(questions[language])
            if kind == "faq":
                text = question
            elif kind == "chitchat":
                text = rng.choice(CHITCHAT[language])
            elif kind == "disappointed":
                text = rng.choice(DISAPPOINTED[language]) + question
            elif kind == "angry":
                text = rng.choice(ANGRY[language])
            else:
                text = rng.choice(PERSON[language])
            steps.append(Step(kind, language, text))
        scripts.append(steps)
    return scripts


def marker(number: int) -> str:
    """The unique token of the ``number``-th message: ``zq`` and four letters."""
    letters = ""
    for _ in range(4):
        number, rest = divmod(number, 26)
        letters = chr(ord("a") + rest) + letters
    return "zq" + letters


def llm_answer(body: Mapping[str, Any]) -> str:
    """What the fake model says: the first knowledge passage it was shown (grounded, so the
    responder's checks pass), or the "not sure" sentence when it has none it may use."""
    messages = body.get("messages") or []
    system = next((str(m.get("content")) for m in messages if m.get("role") == "system"), "")
    language: Language = "ko" if "Reply only in Korean" in system else "en"
    lines = system.splitlines()
    if NOT_ANSWERED_NOTE not in system:
        for number, line in enumerate(lines[:-1]):
            if line.startswith("[1] entry id:"):
                return lines[number + 1]
    return NOT_SURE[language]


# --- the ledger --------------------------------------------------------------------------


@dataclass
class Sent:
    """One customer message the generator sent, and what became of its delivery."""

    marker: str
    customer: int
    platform: str
    kind: str
    language: str
    text: str
    location: Location
    key: str
    """The conversation key Ondo should file it under."""
    message_id: str
    """The platform message id as Ondo stores it (Slack ``channel:ts``, Discord id)."""
    sent_at: float
    delivered: bool = False
    delivered_at: float | None = None
    attempts: int = 0
    failed_attempts: int = 0
    events: int = 1
    injected_retries: int = 0
    undelivered: str = ""


@dataclass(frozen=True)
class Post:
    """A message Ondo posted on a platform, as the fake recorded it."""

    platform: str
    location: Location
    post_id: str
    text: str
    at: float
    kind: str
    """``reply`` (in a customer's conversation), ``notice`` (the resolve notice), ``ticket`` /
    ``desk`` (agents' channel), ``stray`` (anywhere else)."""


@dataclass(frozen=True)
class Relay:
    """A customer message relayed into a ticket thread at the desk."""

    marker: str
    ticket_ts: str
    at: float


@dataclass
class Ticket:
    """A handoff ticket at the Slack desk."""

    ts: str
    key: str
    at: float
    handoff: int | None = None
    """The handoff number on the ticket (``#12 · reason · ...``)."""
    resolved: bool = False
    value: str = ""
    """The value on its Resolve button (the handoff id)."""


@dataclass
class Customer:
    """One simulated customer: a platform, a place to write, and a script."""

    index: int
    platform: str
    mode: str
    """Slack: ``dm`` / ``channel``; Discord: ``dm`` / ``support``."""
    script: list[Step]
    user_id: str
    location: Location | None = None
    root: str = ""
    """Slack: the thread's root ts; Discord: the thread or DM channel id."""
    sent: list[Sent] = field(default_factory=list)
    responses: int = 0
    forgiven: int = 0
    timeouts: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def delivered(self) -> int:
        """How many of its messages reached Ondo."""
        return sum(1 for s in self.sent if s.delivered)


# --- the world ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One Ondo process as the world reaches it: its name, HTTP port (``/healthz``, and
    ``/slack/events`` when ``slack``), and whether it holds the Discord gateway (ready only
    once connected)."""

    name: str
    port: int
    slack: bool = True
    """Behind the Slack load balancer."""
    discord: bool = True


class OndoHandle:
    """What the world needs of the Ondo it drives (see ``bench.load_ondo``): one process, or
    replicas sharing one database."""

    async def start(self) -> None:
        """Start Ondo; return once it was spawned."""
        raise NotImplementedError

    async def kill(self) -> None:
        """Kill it hard (SIGKILL), without letting it finish anything."""
        raise NotImplementedError

    async def stop(self) -> int:
        """Stop it gracefully; return its exit status."""
        raise NotImplementedError

    def alive(self) -> bool:
        """Whether it is still running."""
        raise NotImplementedError

    def endpoints(self) -> list[Endpoint]:
        """Its processes, as the fakes reach them."""
        raise NotImplementedError

    async def kill_replica(self, name: str) -> None:
        """Replicas: SIGKILL process ``name`` only."""
        raise NotImplementedError

    async def restart_replica(self, name: str) -> None:
        """Replicas: start process ``name`` again (after :meth:`kill_replica`)."""
        raise NotImplementedError

    def mark_log(self, line: str) -> None:
        """Write ``=== line ===`` into its log(s), to split them at a moment of the run."""
        raise NotImplementedError

    def logs(self) -> list[str]:
        """Everything each of its processes logged so far (one text per process)."""
        raise NotImplementedError

    def log_text(self) -> str:
        """Everything it logged so far."""
        return "\n".join(self.logs())


@dataclass
class Timeline:
    """When things happened (``time.time()``)."""

    start: float = 0.0
    first_ready: float = 0.0
    kill_at: float | None = None
    ready_again: float | None = None
    """When the killed process answered ``/healthz`` again after its restart."""
    window_end: float | None = None
    """The end of the kill's window for latencies "across the kill": ``ready_again`` for one
    process, the answer to the last message in flight when replicas took over."""
    sent_done: float = 0.0
    drained: float = 0.0
    end: float = 0.0


class World:
    """The fakes, the customers and the faults around one Ondo (one process, or replicas)."""

    def __init__(self, config: LoadConfig, port: int) -> None:
        self.config = config
        self.port = port
        """The port of the first (or only) Ondo process."""
        self.rng = random.Random(config.seed)
        self.slack = FakeSlack()
        self.discord = FakeDiscord()
        self.openai = FakeOpenAI()
        self.customers: list[Customer] = []
        self.sent: list[Sent] = []
        self.by_marker: dict[str, Sent] = {}
        self.owner: dict[Location, Customer] = {}
        self.posts: list[Post] = []
        self.relays: list[Relay] = []
        self.tickets: dict[str, Ticket] = {}
        self.faults: Counter[str] = Counter()
        self.timeline = Timeline()
        self.up = asyncio.Event()
        self.db_path = ""
        self.balancer = Balancer([("ondo", port)], config.seed + 7)
        self.replica_ids: dict[str, str] = {}
        """Each process's replica id (``/healthz``), by its name; a restart gets a new one."""
        self.victim = ""
        """The name of the process the SIGKILL hit."""
        self.in_flight: set[str] = set()
        """Markers of the messages the killed process held at the SIGKILL: claimed and not
        answered, or a Slack delivery it was answering."""
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._triggers: dict[int, list[str]] = {}
        self._kill_now = asyncio.Event()
        self._redeliveries: set[asyncio.Task[Any]] = set()
        self._retry_plan: set[int] = set()
        self._slack_counter = 0

    # --- set-up --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the three fakes and lay out customers, scripts and fault moments."""
        await self.slack.start()
        await self.discord.start()
        await self.openai.start()
        self.slack.on_call = self._on_slack_call
        self.discord.on_call = self._on_discord_call
        self.slack.set_members(AGENTS, [AGENT, self.slack.bot_user_id])
        self.slack.add_user(AGENT, name="agent")
        cfg = self.config
        for _ in range(cfg.llm_errors_first):
            self.openai.queue_status(500)
        self.openai.set_faults(
            timeout_rate=cfg.llm_timeout_share,
            error_rate=cfg.llm_error_share,
            stall=cfg.llm_stall,
            seed=cfg.seed,
            answer=llm_answer,
        )
        scripts = build_scripts(cfg.messages, cfg.customers, self.rng)
        for index, script in enumerate(scripts):
            platform = "slack" if index % 2 == 0 else "discord"
            mode = (
                ("dm", "channel")[index // 2 % 2]
                if platform == "slack"
                else ("dm", "support")[index // 2 % 2]
            )
            if platform == "slack":
                user = f"U0LOAD{index:03d}"
                self.slack.add_user(user, name=f"customer{index}")
            else:
                uid = 1_190_000_000_000_500_000 + index
                user = str(uid)
                self.discord.users[uid] = {
                    "id": user,
                    "username": f"customer{index}",
                    "discriminator": "0",
                    "global_name": f"Customer {index}",
                    "avatar": None,
                    "bot": False,
                    "public_flags": 0,
                    "flags": 0,
                    "banner": None,
                    "accent_color": None,
                }
                self.discord.member_roles[uid] = []
            self.customers.append(Customer(index, platform, mode, script, user))
        self._plan_faults()
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))

    def _plan_faults(self) -> None:
        cfg, total = self.config, self.config.messages
        rng = random.Random(cfg.seed + 1)

        def at(share: float) -> int:
            return min(total - 1, max(0, round(share * total)))

        def add(index: int, what: str) -> None:
            self._triggers.setdefault(index, []).append(what)

        # Away from the kill (the middle), so each fault is seen on its own.
        for n in range(cfg.reconnects):
            add(at(rng.uniform(0.08, 0.4) if n % 2 == 0 else rng.uniform(0.6, 0.92)), "op7")
        for n in range(cfg.invalid_sessions):
            add(at(rng.uniform(0.1, 0.4) if n % 2 == 0 else rng.uniform(0.6, 0.9)), "op9")
        for _ in range(cfg.busy_locks):
            share = rng.uniform(0.03, 0.97)
            add(at(share), "busy")
        if cfg.kill:
            add(at(0.5), "kill")
        slack_messages = sum(len(c.script) for c in self.customers if c.platform == "slack")
        wanted = (
            cfg.slack_retries
            if cfg.slack_retries is not None
            else round(cfg.slack_retry_share * slack_messages)
        )
        # Which Slack messages (numbered in the order they are sent) get a second delivery.
        self._retry_plan = set(rng.sample(range(slack_messages), min(wanted, slack_messages)))

    def attach(self, ondo: OndoHandle) -> None:
        """Put ``ondo``'s Slack processes behind the load balancer (``bench.load_balancer``)."""
        backends = [(e.name, e.port) for e in ondo.endpoints() if e.slack]
        self.balancer = Balancer(backends, self.config.seed + 7)
        if self.balancer.checked:
            assert self._session is not None
            self.spawn(self.balancer.health_checks(self._session))

    def env(self, db_path: str) -> dict[str, str]:
        """The environment ``ondo serve`` runs with (``db_path``: a SQLite file or a
        PostgreSQL URL)."""
        self.db_path = db_path
        return {
            "ONDO_DB": db_path,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "PORT": str(self.port),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": self.slack.api_url,
            "DISCORD_TOKEN": self.discord.token,
            "DISCORD_API_BASE": self.discord.api_base,
            "DISCORD_GATEWAY_URL": self.discord.gateway_url,
            "ONDO_DISCORD_CHANNELS": str(self.discord.support_channel_id),
            "ONDO_HANDOFF_CHANNEL": f"slack:{AGENTS}",
            "OPENAI_BASE_URL": self.openai.base_url,
            "OPENAI_API_KEY": "load-test",
            "ONDO_LLM_MODEL": "fake-model",
            # A checkout run with PYTHONPATH (not installed) is the code under test.
            **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"},
        }

    async def close(self) -> None:
        """Cancel background work and stop the fakes."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        await self.slack.stop()
        await self.discord.stop()
        await self.openai.stop()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` in the background, keeping a reference."""
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- readiness -----------------------------------------------------------------------

    async def wait_ready(
        self, ondo: OndoHandle, timeout: float = 900.0, names: Iterable[str] | None = None
    ) -> None:
        """Wait until every process (or those ``names``) says ready on ``/healthz``, and the
        one holding the Discord gateway is connected; remembers each one's replica id."""
        assert self._session is not None
        wanted = set(names) if names is not None else None
        waiting = [e for e in ondo.endpoints() if wanted is None or e.name in wanted]
        deadline = time.monotonic() + timeout
        while waiting and time.monotonic() < deadline:
            if not ondo.alive():
                raise RuntimeError("ondo exited while starting:\n" + ondo.log_text()[-3000:])
            for endpoint in list(waiting):
                url = f"http://127.0.0.1:{endpoint.port}/healthz"
                try:
                    async with self._session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as r:
                        body = await r.json()
                except (aiohttp.ClientError, TimeoutError):
                    continue
                connected = body.get("connected", {}).get("discord")
                if r.status == 200 and (connected or not endpoint.discord):
                    self.replica_ids[endpoint.name] = str(body.get("replica") or "")
                    waiting.remove(endpoint)
            if waiting:
                await asyncio.sleep(0.25)
        if waiting:
            raise RuntimeError(f"ondo was not ready within {timeout:g}s")

    # --- what the fakes saw --------------------------------------------------------------

    def _on_slack_call(self, call: Call) -> None:
        if call.method != "chat.postMessage" or not call.response.get("ok"):
            return
        now = time.time()
        channel = str(call.params.get("channel", ""))
        thread = call.params.get("thread_ts")
        ts = str(call.response.get("ts"))
        text = str(call.params.get("text") or "")
        if channel == AGENTS:
            if not thread:
                blocks = _blocks(call.params.get("blocks"))
                value = _resolve_value(blocks)
                key = self._conversation_of(value)
                self.posts.append(Post("slack", (channel, ts), ts, text, now, "ticket"))
                if value is not None and key is not None:
                    ticket = Ticket(ts, key, now, _handoff_number(blocks), value=value)
                    self.tickets[ts] = ticket
                    self.spawn(self._agent_resolves(ticket))
                return
            self.posts.append(Post("slack", (channel, str(thread)), ts, text, now, "desk"))
            for found in MARKER_RE.findall(text):
                self.relays.append(Relay(found, str(thread), now))
                sent = self.by_marker.get(found)
                if sent is not None:
                    self._answered(self.customers[sent.customer])
            return
        location = _slack_location(channel, str(thread or ts))
        owner = self.owner.get(location)
        if thread and is_dm(channel) and owner is not None and str(thread) != owner.root:
            # A DM's only thread is the one its customer writes in: any other is misplaced.
            stray: Location = ("slack", channel, str(thread))
            self.posts.append(Post("slack", stray, ts, text, now, "stray"))
            return
        self._customer_post(Post("slack", location, ts, text, now, "reply"))

    def _conversation_of(self, value: str | None) -> str | None:
        """The conversation of a ticket from its Resolve button's value (``<handoff id>.<token>``),
        looked up in Ondo's database as an agent's tool would (read-only)."""
        number = (value or "").partition(".")[0]
        if value is None or not number.isdigit() or not self.db_path:
            return value
        return handoff_conversation(self.db_path, int(number))

    def _on_discord_call(self, call: RestCall, response: web.StreamResponse) -> None:
        match = re.fullmatch(r"/channels/(\d+)/messages", call.path)
        if call.method != "POST" or match is None or call.status != 200:
            return
        now = time.time()
        raw = response.body if isinstance(response, web.Response) else None
        body = json.loads(raw) if isinstance(raw, bytes | bytearray) else {}
        assert isinstance(body, dict)
        content = str((call.body or {}).get("content") or "")
        location: Location = ("discord", match[1])
        self._customer_post(Post("discord", location, str(body.get("id")), content, now, "reply"))

    def _customer_post(self, post: Post) -> None:
        owner = self.owner.get(post.location)
        if owner is None:
            self.posts.append(
                Post(post.platform, post.location, post.post_id, post.text, post.at, "stray")
            )
            return
        if post.text in RESOLVED_NOTICES:
            self.posts.append(
                Post(post.platform, post.location, post.post_id, post.text, post.at, "notice")
            )
            return
        self.posts.append(post)
        self._answered(owner)

    def _answered(self, customer: Customer) -> None:
        customer.responses += 1
        customer.changed.set()

    # --- customers -----------------------------------------------------------------------

    async def run_customer(self, customer: Customer) -> None:
        """Say every line of the script, waiting for each answer (or relay) in between."""
        rng = random.Random(self.config.seed * 1000 + customer.index)
        await asyncio.sleep(rng.uniform(0, 5))
        for step in customer.script:
            await asyncio.sleep(rng.uniform(*self.config.think))
            while True:
                sent = await self._send(customer, step)
                if sent.delivered:
                    break
                # Nobody at Ondo saw it: like a person would, ask again once it is back.
                await self.up.wait()
            await self._wait_answer(customer)

    async def _wait_answer(self, customer: Customer) -> None:
        deadline = time.monotonic() + self.config.response_timeout
        while True:
            customer.changed.clear()
            if customer.responses >= customer.delivered - customer.forgiven:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                customer.timeouts += 1
                customer.forgiven = customer.delivered - customer.responses
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(customer.changed.wait(), remaining)

    def _compose(self, step: Step) -> str:
        """The text with the next marker; fires the faults planned for this message."""
        number = len(self.sent)
        for what in self._triggers.pop(number, []):
            self._fire(what)
        return f"{step.text} [{marker(number)}]"

    def _record(self, sent: Sent, customer: Customer) -> None:
        self.sent.append(sent)
        self.by_marker[sent.marker] = sent
        customer.sent.append(sent)

    async def _send(self, customer: Customer, step: Step) -> Sent:
        text = self._compose(step)
        token = MARKER_RE.search(text)
        assert token is not None
        if customer.platform == "slack":
            return await self._send_slack(customer, step, text, token[1])
        return await self._send_discord(customer, step, text, token[1])

    async def _send_slack(self, customer: Customer, step: Step, text: str, mark: str) -> Sent:
        fake = self.slack
        dm = customer.mode == "dm"
        channel = f"D0LOAD{customer.index:03d}" if dm else SUPPORT
        ts = fake.next_ts()
        first = not customer.root
        root = ts if first else customer.root
        events: list[dict[str, Any]] = []
        if dm:
            events.append(
                fake.message_event(
                    text,
                    user=customer.user_id,
                    channel=channel,
                    channel_type="im",
                    ts=ts,
                    thread_ts=None if first else root,
                )
            )
        elif first:
            # A channel message that @mentions the bot arrives twice: as message and app_mention.
            said = f"<@{fake.bot_user_id}> {text}"
            events.append(fake.message_event(said, user=customer.user_id, channel=channel, ts=ts))
            events.append(
                fake.app_mention_event(text, user=customer.user_id, channel=channel, ts=ts)
            )
        else:
            events.append(
                fake.message_event(
                    text, user=customer.user_id, channel=channel, ts=ts, thread_ts=root
                )
            )
        if first:
            customer.root = root
            customer.location = _slack_location(channel, root)
            self.owner[customer.location] = customer
        assert customer.location is not None
        key = (
            slack_events.dm_key(fake.team_id, channel)
            if dm
            else conversation_key(fake.team_id, channel, root)
        )
        sent = Sent(
            mark,
            customer.index,
            "slack",
            step.kind,
            step.language,
            text,
            customer.location,
            key,
            f"{channel}:{ts}",
            time.time(),
            events=len(events),
        )
        self._record(sent, customer)
        retry = self._slack_counter in self._retry_plan
        self._slack_counter += 1
        bodies = [json.dumps(fake.event_callback(e)).encode() for e in events]
        concurrent = retry and self.rng.random() < 0.5
        results = await asyncio.gather(
            *(self.deliver_slack(b, sent) for b in bodies),
            *([self._redeliver(bodies[0], sent, 0.0)] if concurrent else []),
        )
        if retry and not concurrent:
            delay = self.rng.uniform(*self.config.slack_retry_delay)
            self._redeliveries.add(self.spawn(self._redeliver(bodies[0], sent, delay)))
        if any(results):
            sent.delivered = True
        else:
            sent.undelivered = "Slack gave up after 3 retries"
            if first:  # nothing was ever answered there: the customer starts over
                self.owner.pop(customer.location, None)
                customer.root = ""
        return sent

    async def _redeliver(self, body: bytes, sent: Sent, delay: float) -> bool:
        """An injected Slack retry: the same event again, ``X-Slack-Retry-Num: 1``."""
        await asyncio.sleep(delay)
        sent.injected_retries += 1
        self.faults["slack_retry_concurrent" if delay == 0 else "slack_retry_later"] += 1
        status = await self._post_slack(body, retry=1, reason="http_timeout", sent=sent)
        if status == 200:
            if not sent.delivered:
                sent.delivered = True
            return True
        return False

    async def deliver_slack(self, body: bytes, sent: Sent | None = None) -> bool:
        """Deliver an Events API / interactivity body as Slack does: retried up to three times
        (``X-Slack-Retry-Num``) when Ondo does not answer 200 within 3 s."""
        reason = ""
        for attempt in range(len(self.config.slack_backoff) + 1):
            if attempt:
                await asyncio.sleep(self.config.slack_backoff[attempt - 1])
                self.faults["slack_retry_after_failure"] += 1
            status = await self._post_slack(body, retry=attempt, reason=reason, sent=sent)
            if sent is not None:
                sent.attempts += 1
            if status == 200:
                if sent is not None and sent.delivered_at is None:
                    sent.delivered_at = time.time()
                return True
            if sent is not None:
                sent.failed_attempts += 1
            reason = (
                "connection_failed"
                if status is None
                else "http_timeout"
                if status == 0
                else "http_error"
            )
            self.faults[f"slack_failed_{reason}"] += 1
        return False

    async def _post_slack(
        self, body: bytes, *, retry: int, reason: str, sent: Sent | None = None
    ) -> int | None:
        """POST ``body`` to Ondo's Events URL (through the load balancer), signed; the status,
        0 on timeout, ``None`` when nothing answered."""
        assert self._session is not None
        session = self._session
        headers = signed_request_headers(body, SECRET)
        if retry:
            headers["X-Slack-Retry-Num"] = str(retry)
            headers["X-Slack-Retry-Reason"] = reason or "http_error"

        async def send(port: int) -> int | None:
            url = f"http://127.0.0.1:{port}/slack/events"
            try:
                async with session.post(
                    url,
                    data=body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=SLACK_ACK_TIMEOUT),
                ) as resp:
                    await resp.read()
                    return resp.status
            except TimeoutError:
                return 0

        return await self.balancer.post(send, sent)

    async def _send_discord(self, customer: Customer, step: Step, text: str, mark: str) -> Sent:
        fake = self.discord
        author = fake.users[int(customer.user_id)]
        if customer.mode == "dm":
            channel = 1_190_000_000_001_000_000 + customer.index
            data = fake.message_create(channel, text, author=author)
            if customer.location is None:
                customer.root = str(channel)
                customer.location = ("discord", str(channel))
                self.owner[customer.location] = customer
            key = dm_key(channel)
        else:
            thread = int(customer.root) if customer.root else 0
            if thread and thread in fake.channels:
                data = fake.message_create(thread, text, author=author)
            else:
                # A new conversation: a message in #support, answered in a thread on it.
                data = fake.message_create(fake.support_channel_id, text, author=author)
                customer.root = str(data["id"])
                customer.location = ("discord", customer.root)
                self.owner[customer.location] = customer
            key = guild_key(fake.guild_id, fake.support_channel_id, int(customer.root))
        assert customer.location is not None
        sent = Sent(
            mark,
            customer.index,
            "discord",
            step.kind,
            step.language,
            text,
            customer.location,
            key,
            str(data["id"]),
            time.time(),
        )
        self._record(sent, customer)
        if not self.up.is_set():
            sent.undelivered = "Ondo was down (Discord replays nothing to a new session)"
            if customer.mode == "support" and customer.root == str(data["id"]):
                self.owner.pop(customer.location, None)
                customer.root = ""
                customer.location = None
            return sent
        sent.attempts = 1
        await fake.dispatch("MESSAGE_CREATE", data)
        sent.delivered = True
        sent.delivered_at = time.time()
        return sent

    # --- the agents ----------------------------------------------------------------------

    async def _agent_resolves(self, ticket: Ticket) -> None:
        """An agent reads the ticket, then clicks Resolve."""
        await asyncio.sleep(self.rng.uniform(*self.config.agent_delay))
        payload = self.slack.block_actions_payload(
            RESOLVE_ACTION,
            ticket.value or ticket.key,
            user=AGENT,
            channel=AGENTS,
            message_ts=ticket.ts,
            text="Resolve",
        )
        while not await self.deliver_slack(interactive_body(payload)):
            await self.up.wait()
        ticket.resolved = True
        self.faults["agent_resolves"] += 1

    # --- faults --------------------------------------------------------------------------

    def _fire(self, what: str) -> None:
        if what == "kill":
            self._kill_now.set()
        elif what == "busy":
            self.spawn(self._busy())
        else:
            self.spawn(self._gateway_fault(what))

    async def _gateway_fault(self, what: str) -> None:
        if not self.up.is_set():
            return
        if what == "op7":
            await self.discord.request_reconnect()
        else:
            await self.discord.invalidate_session(resumable=True)
        self.faults[what] += 1

    async def _busy(self) -> None:
        hold = self.rng.uniform(*self.config.busy_hold)
        waited = await asyncio.to_thread(hold_lock, self.db_path, hold)
        if waited is not None:
            self.faults["db_lock"] += 1
            self.faults["db_lock_ms"] += round(hold * 1000)

    async def kill_moment(self) -> None:
        """Wait for the planned moment of the SIGKILL: 0-2 s after the middle message."""
        await self._kill_now.wait()
        await asyncio.sleep(self.rng.uniform(*self.config.kill_delay))

    # --- the end -------------------------------------------------------------------------

    def unanswered(self) -> int:
        """Delivered messages still without an answer or relay, by the customers' count."""
        return sum(max(0, c.delivered - c.responses) for c in self.customers)

    async def drain(self, timeout: float) -> None:
        """Wait until every delivered message has had its answer, or ``timeout``."""
        deadline = time.monotonic() + timeout
        pending = [t for t in self._redeliveries if not t.done()]
        if pending:  # the re-deliveries still on their way must reach Ondo first
            await asyncio.wait(pending, timeout=timeout)
        while self.unanswered() and time.monotonic() < deadline:
            await asyncio.sleep(0.5)


def _slack_location(channel: str, thread_ts: str) -> Location:
    """Where a Slack post (in the thread ``thread_ts``, or at its own ts at the top level)
    belongs: the DM as a whole, or the thread of a channel."""
    return ("slack", channel) if is_dm(channel) else ("slack", channel, thread_ts)


def _blocks(value: Any) -> list[Any]:
    """Block Kit blocks, whether sent as JSON or as a JSON string (form bodies)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return []
    return value if isinstance(value, list) else []


def _handoff_number(blocks: list[Any]) -> int | None:
    """The ``#<id>`` in a ticket's context line."""
    for block in blocks:
        if isinstance(block, dict) and block.get("type") == "context":
            for element in block.get("elements") or []:
                found = re.match(r"#(\d+) ", str(element.get("text", "")))
                if found:
                    return int(found[1])
    return None


def _resolve_value(blocks: list[Any]) -> str | None:
    """The value of a ticket's Resolve button."""
    for block in blocks:
        if isinstance(block, dict) and block.get("type") == "actions":
            for element in block.get("elements") or []:
                if element.get("action_id") == RESOLVE_ACTION:
                    return str(element.get("value"))
    return None


def percentiles(values: Iterable[float], *qs: float) -> list[float]:
    """The ``qs`` percentiles (0..100) of ``values`` (nearest rank); empty gives zeros."""
    data = sorted(values)
    if not data:
        return [0.0 for _ in qs]
    out = []
    for q in qs:
        rank = max(0, min(len(data) - 1, round(q / 100 * (len(data) - 1))))
        out.append(data[rank])
    return out
