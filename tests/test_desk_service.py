"""The help desk at work (bot/desk/service.py) through the router, with the memory desk and
customers, a real SQLite store and a controllable clock: out-of-hours notices, assignment,
SLA reminders once (also after a restart), satisfaction, stale conversations."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import Runtime
from bot.conversation.routing import MemoryCustomers, MemoryDesk, Router
from bot.desk import csat
from bot.desk.assign import least_loaded, policy, round_robin
from bot.desk.config import DeskConfig, load_desk_config
from bot.desk.hours import BusinessHours
from bot.desk.service import CUSTOMER_TEXTS, DeskService, comment_of
from bot.storage.desk_records import DutyAgent
from bot.types import Language, Message
from knowledge.loader import SAMPLE_DIR

SEOUL = ZoneInfo("Asia/Seoul")
H = 3600.0
ASK: dict[Language, str] = {"ko": "상담원 연결해 주세요", "en": "I want to talk to a human agent"}
ALWAYS = """
timezone: Asia/Seoul
holidays: none
hours: {mon: "00:00-24:00", tue: "00:00-24:00", wed: "00:00-24:00", thu: "00:00-24:00",
        fri: "00:00-24:00", sat: "00:00-24:00", sun: "00:00-24:00"}
sla:
  asked_for_human: {first_response: 1h, resolution: 8h}
assignment: {mode}
stale: {{remind_after: 24h, close_after: 48h}}
"""


def seoul(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> float:
    return datetime(y, m, d, hh, mm, tzinfo=SEOUL).timestamp()


@dataclass
class Clock:
    now: float

    def __call__(self) -> float:
        return self.now


@dataclass
class Desk:
    router: Router
    desk: MemoryDesk
    customers: dict[str, MemoryCustomers]
    service: DeskService
    clock: Clock

    def sent(self, key: str) -> list[str]:
        sender = self.customers[key.partition(":")[0]].senders.get(key)
        return [r.text for r in sender.sent] if sender else []

    def posts(self, ref: str) -> list[str]:
        return [text for where, text in self.desk.posts if where == ref]


def config(tmp_path: Path, mode: str = "round_robin") -> DeskConfig:
    path = tmp_path / "desk.yaml"
    path.write_text(ALWAYS.replace("{mode}", mode).replace("{{", "{").replace("}}", "}"))
    return load_desk_config(path)


def build(
    runtime: Runtime,
    cfg: DeskConfig,
    *,
    now: float | None = None,
    agent_language: Language | None = None,
    group: str | None = None,
) -> Desk:
    router = Router(runtime.engine, handoff_channel="slack:AGENTS")
    customers = {p: MemoryCustomers(p) for p in ("slack", "twilio", "email")}
    for side in customers.values():
        router.add_customer_side(side)
    desk = MemoryDesk("slack", agent_language=agent_language)
    router.set_desk(desk)
    clock = Clock(time.time() if now is None else now)
    service = DeskService(router, cfg, clock=clock, group_mention=group)
    service.install()
    return Desk(router, desk, customers, service, clock)


def key_of(n: int, platform: str = "slack") -> str:
    return f"{platform}:T1:D{n}:1.{n:06d}"


def message(key: str, text: str, message_id: str) -> Message:
    return Message(key.partition(":")[0], key, "customer-1", text, time.time(), message_id)


async def hand_over(d: Desk, key: str, language: Language = "ko") -> tuple[int, str]:
    outcome = await d.router.customer_message(message(key, ASK[language], f"ask-{key}"))
    assert outcome.handoff is not None
    return outcome.handoff.id, f"slack:ticket-{outcome.handoff.id}"


# --- out of hours ----------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_the_handoff_notice_says_when_a_person_reads_it(
    runtime: Runtime, language: Language
) -> None:
    market = load_desk_config(SAMPLE_DIR / "desk.yaml")
    hours = BusinessHours(market)
    # Monday 12:00: open, the notice is as before; 19:00: "tomorrow after 9"; after midnight
    # (Tuesday 00:30) it is today's 9 o'clock; Christmas Eve evening: Monday the 28th.
    cases = [
        (seoul(2026, 12, 7, 12), None),
        (
            seoul(2026, 12, 7, 19),
            {
                "ko": "지금은 상담 시간이 아니에요. 내일 오전 9시 이후 상담원이 답변드릴게요.",
                "en": "Our team is offline right now; a person will reply tomorrow after 9 AM.",
            }[language],
        ),
        (seoul(2026, 12, 8, 0, 30), hours.handoff_notice(seoul(2026, 12, 8, 0, 30), language)),
        (
            seoul(2026, 12, 24, 19),
            {
                "ko": hours.handoff_notice(seoul(2026, 12, 24, 19), "ko"),
                "en": "Our team is offline right now; a person will reply on Mon, Dec 28 "
                "after 9 AM.",
            }[language],
        ),
    ]
    d = build(runtime, market)
    for n, (instant, line) in enumerate(cases):
        d.clock.now = instant
        key = key_of(n)
        ticket_id, _ref = await hand_over(d, key, language)
        notice = d.sent(key)[0]
        if line is None:
            assert "상담 시간이 아니에요" not in notice and "offline" not in notice
        else:
            assert line and notice.endswith("\n" + line)
        # The ticket is opened all the same.
        assert any(t.id == ticket_id for t in d.desk.tickets)
    assert "9시" in (cases[2][1] or "") if language == "ko" else "9 AM" in (cases[2][1] or "")
    assert "12월 28일" in (cases[3][1] or "") if language == "ko" else True


# --- assignment ------------------------------------------------------------------------------


def owners(d: Desk) -> list[str]:
    return [agent for agent, _ in d.desk.notified]


async def test_round_robin_skips_an_agent_off_duty(runtime: Runtime, tmp_path: Path) -> None:
    d = build(runtime, config(tmp_path))
    desk = runtime.store.desk
    for agent in ("U3", "U1", "U2"):
        await desk.set_duty("slack", agent, True, d.clock.now)
    await desk.set_duty("discord", "D9", True, d.clock.now)  # another desk's agent: never
    for n in range(4):
        await hand_over(d, key_of(n), "ko" if n % 2 else "en")
    assert owners(d) == ["U1", "U2", "U3", "U1"]
    await desk.set_duty("slack", "U2", False, d.clock.now)
    for n in range(4, 7):
        await hand_over(d, key_of(n))
    assert owners(d)[4:] == ["U3", "U1", "U3"]
    # The ticket's line names the due times and the owner; the owner is notified.
    ticket_id, ref = 1, "slack:ticket-1"
    [line] = d.posts(ref)
    assert line.startswith("⏱ First response due ") and "resolution due" in line
    assert "(Asia/Seoul)" in line and line.endswith("Assigned to U1")
    assert d.desk.notified[0][1].startswith(f"New ticket #{ticket_id} is yours")


async def test_least_loaded_with_agents_coming_and_going(runtime: Runtime, tmp_path: Path) -> None:
    d = build(runtime, config(tmp_path, "least_loaded"), agent_language="ko")
    desk = runtime.store.desk
    await desk.set_duty("slack", "U1", True, d.clock.now)
    await hand_over(d, key_of(1))
    await hand_over(d, key_of(2), "en")
    await desk.set_duty("slack", "U3", True, d.clock.now)
    await hand_over(d, key_of(3))  # U1 has 2, U3 none
    await desk.set_duty("slack", "U2", True, d.clock.now)
    await hand_over(d, key_of(4))  # U2 none, U3 one
    await desk.set_duty("slack", "U2", False, d.clock.now)
    await hand_over(d, key_of(5))  # U1 2, U3 1
    assert owners(d) == ["U1", "U1", "U3", "U2", "U3"]
    line = d.posts("slack:ticket-1")[0]
    assert line.startswith("⏱ 첫 응답 기한 ") and line.endswith("담당: U1")
    # Nobody on duty: the ticket says so, nobody is notified.
    for agent in ("U1", "U3"):
        await desk.set_duty("slack", agent, False, d.clock.now)
    _, ref = await hand_over(d, key_of(6))
    assert d.posts(ref)[0].endswith("담당: 담당자 없음 (근무 중인 상담원이 없어요)")
    assert len(d.desk.notified) == 5


# --- SLA reminders ---------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_sla_reminders_once_each_also_after_a_restart(
    runtime: Runtime,
    tmp_path: Path,
    sample_runtime_factory: Callable[..., Runtime],
    language: Language,
) -> None:
    cfg = config(tmp_path)
    d = build(runtime, cfg, agent_language=language)
    await runtime.store.desk.set_duty("slack", "U1", True, d.clock.now)
    ticket_id, ref = await hand_over(d, key_of(1), language)
    created = (await runtime.store.handoff_by_id(ticket_id)).created_at  # type: ignore[union-attr]
    before = len(d.posts(ref))
    await d.service.tick(created + 47 * 60)
    assert len(d.posts(ref)) == before
    await d.service.tick(created + 48 * 60 + 1)  # 80 % of the hour
    await d.service.tick(created + 50 * 60)
    [eighty] = d.posts(ref)[before:]
    assert eighty.startswith("⏰ 첫 응답 기한" if language == "ko" else "⏰ First response due")
    assert eighty.endswith("U1")

    # A restart: a new runtime and service on the same database post the breach once only.
    again = sample_runtime_factory(Path(runtime.settings.db_path))
    d2 = build(again, cfg, agent_language=language)
    await d2.service.tick(created + 48 * 60 + 2)  # the 80 % is not posted again
    assert d2.posts(ref) == []
    await d2.service.tick(created + 61 * 60)
    await d.service.tick(created + 62 * 60)  # the old one, still running: nothing
    await d2.service.tick(created + 63 * 60)
    breaches = d.posts(ref)[before + 1 :] + d2.posts(ref)
    assert len(breaches) == 1 and breaches[0].startswith("🚨")

    # The resolution target: once at 80 % (6.4 h) and once at its breach.
    for hours in (6.5, 6.6, 8.1, 9.0, 30.0):
        await d2.service.tick(created + hours * H)
    resolution = d2.posts(ref)[1:]
    assert [text[0] for text in resolution] == ["⏰", "🚨"]
    assert ("해결 기한" if language == "ko" else "Resolution") in resolution[0]


async def test_a_ticker_down_past_both_points_posts_the_breach_only_and_the_group_once(
    runtime: Runtime, tmp_path: Path
) -> None:
    d = build(runtime, config(tmp_path), group="<!subteam^S1>")
    ticket_id, ref = await hand_over(d, key_of(1), "en")  # nobody on duty: unassigned
    created = (await runtime.store.handoff_by_id(ticket_id)).created_at  # type: ignore[union-attr]
    await d.service.tick(created + 2 * H)
    await d.service.tick(created + 7 * H)
    await d.service.tick(created + 9 * H)
    reminders = d.posts(ref)[1:]
    assert [r.split(" · ")[-1] for r in reminders] == ["<!subteam^S1>", "unassigned", "unassigned"]
    assert [r[0] for r in reminders] == ["🚨", "⏰", "🚨"]
    # Without a group setting the on-duty agents are named, once.
    d2 = build(runtime, config(tmp_path), agent_language="ko")
    for agent in ("U1", "U2"):
        await runtime.store.desk.set_duty("slack", agent, True, d2.clock.now)
    await runtime.store.desk.set_duty("slack", "U2", False, d2.clock.now)
    second, ref2 = await hand_over(d2, key_of(2))
    await runtime.store.desk.assign(second, "U1", d2.clock.now)  # no-op: owned already
    created2 = (await runtime.store.handoff_by_id(second)).created_at  # type: ignore[union-attr]
    await d2.service.tick(created2 + 2 * H)
    assert d2.posts(ref2)[-1].endswith("· U1")


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_an_agent_answering_an_unowned_ticket_becomes_its_owner(
    runtime: Runtime, tmp_path: Path, language: Language
) -> None:
    d = build(runtime, config(tmp_path))
    ticket_id, ref = await hand_over(d, key_of(1), language)  # nobody on duty: unowned
    said = "확인해 볼게요." if language == "ko" else "Let me check."
    await d.router.agent_message(
        platform="slack", event_id="typed-1", thread_ref=ref, agent="U7", text=said
    )
    await d.router.agent_message(
        platform="slack", event_id="typed-2", thread_ref=ref, agent="U8", text=said
    )
    [owned] = [t for t in await runtime.store.desk.sla_rows(0, 2e9) if t.handoff_id == ticket_id]
    assert owned.assignee == "U7"  # the first to answer; a second agent does not take it


# --- satisfaction ----------------------------------------------------------------------------


async def resolved(d: Desk, key: str, language: Language) -> tuple[int, str]:
    ticket_id, ref = await hand_over(d, key, language)
    agent_text = "확인해 볼게요." if language == "ko" else "Let me check."
    result = await d.router.agent_message(
        platform="slack", event_id=f"e-{key}", thread_ref=ref, agent="U1", text=agent_text
    )
    assert result == "relayed"
    assert await d.router.resolve(key, "U1")
    return ticket_id, ref


@pytest.mark.parametrize(
    ("platform", "channel", "language"),
    [("slack", "buttons", "ko"), ("twilio", "sms", "en"), ("email", "email", "ko")],
)
async def test_a_good_score_is_thanked_on_each_channel(
    runtime: Runtime, tmp_path: Path, platform: str, channel: csat.Channel, language: Language
) -> None:
    d = build(runtime, config(tmp_path))
    key = key_of(1, platform)
    ticket_id, _ref = await resolved(d, key, language)
    question = d.customers[platform].senders[key].sent[-1]
    assert question.text == csat.ask_text(language, channel)
    assert question.raw == {"csat": ticket_id}
    assert not await d.router.resolve(key, "U1")  # asked once
    outcome = await d.router.customer_message(message(key, "5", "r1"))
    assert outcome.notes == ("csat",) and d.sent(key)[-1] == csat.thanks_text(5, language)
    row = await runtime.store.desk.csat(ticket_id)
    assert row is not None and row.score == 5 and row.comment is None and row.agent == "U1"
    # Answered: the next message is the bot's again.
    later = await d.router.customer_message(message(key, "4", "r2"))
    assert later.notes != ("csat",)


@pytest.mark.parametrize(
    ("language", "answer", "note"),
    [
        ("ko", "2점 배송이 너무 늦었어요 <!channel>", "⚠️ 만족도 2점"),
        ("en", "1 - nobody read my messages @everyone", "⚠️ Satisfaction 1/5"),
    ],
)
async def test_a_low_score_opens_a_follow_up_note(
    runtime: Runtime, tmp_path: Path, language: Language, answer: str, note: str
) -> None:
    d = build(runtime, config(tmp_path), agent_language=language)
    ticket_id, ref = await resolved(d, key_of(1), language)
    await d.router.customer_message(message(key_of(1), answer, "r1"))
    score = csat.read_score(answer)
    assert score is not None and d.sent(key_of(1))[-1] == csat.thanks_text(score, language)
    head, said = d.posts(ref)[-2:]
    assert head.startswith(note) and "<!channel>" not in head and "@everyone" not in head
    # The customer's comment comes as a relay (inert on the desk), not in Ondo's own note.
    assert said == f"Customer: {comment_of(answer)}"
    row = await runtime.store.desk.csat(ticket_id)
    assert row is not None and row.score == score and row.comment == comment_of(answer)


@pytest.mark.parametrize(
    ("language", "first", "second"), [("ko", "6", "최고"), ("en", "", "great")]
)
async def test_a_bad_answer_is_asked_again_once_then_the_bot_answers(
    runtime: Runtime, tmp_path: Path, language: Language, first: str, second: str
) -> None:
    d = build(runtime, config(tmp_path))
    key = key_of(1)
    ticket_id, _ = await resolved(d, key, language)
    retry = await d.router.customer_message(message(key, first, "r1"))
    assert retry.notes == ("csat",) and d.sent(key)[-1] == csat.retry_text(language)
    dropped = await d.router.customer_message(message(key, second, "r2"))
    assert dropped.notes != ("csat",) and d.sent(key)[-1] != csat.retry_text(language)
    # Dropped: a score now is no answer any more.
    late = await d.router.customer_message(message(key, "5", "r3"))
    assert late.notes != ("csat",)
    row = await runtime.store.desk.csat(ticket_id)
    assert row is not None and row.score is None and row.retries == 2


@pytest.mark.parametrize(
    ("language", "moved_on"),
    [
        ("ko", "상담원 연결해 주세요"),
        ("ko", "배송은 언제 오나요?"),
        ("en", "I want to talk to a human"),
        ("en", "Where is my other parcel?"),
    ],
)
async def test_a_customer_who_moved_on_is_answered_at_once_not_asked_again(
    runtime: Runtime, tmp_path: Path, language: Language, moved_on: str
) -> None:
    """Asking for a person or a new question after the rating question drops the rating:
    no "please answer 1-5" in the way."""
    d = build(runtime, config(tmp_path))
    key = key_of(1)
    ticket_id, _ = await resolved(d, key, language)
    outcome = await d.router.customer_message(message(key, moved_on, "r1"))
    assert outcome.notes != ("csat",) and d.sent(key)[-1] != csat.retry_text(language)
    row = await runtime.store.desk.csat(ticket_id)
    assert row is not None and row.score is None and row.retries == 2
    late = await d.router.customer_message(message(key, "5", "r2"))
    assert late.notes != ("csat",)


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_a_button_click_is_the_customers_own(
    runtime: Runtime, tmp_path: Path, language: Language
) -> None:
    d = build(runtime, config(tmp_path), agent_language=language)
    ticket_id, ref = await resolved(d, key_of(1), language)
    assert await d.service.csat_click(ticket_id, 2, "someone-else") is None
    assert await d.service.csat_click(ticket_id, 2, "customer-1") == csat.thanks_text(2, language)
    assert await d.service.csat_click(ticket_id, 5, "customer-1") is None  # answered once
    assert d.posts(ref)[-1].startswith("⚠️") and d.posts(ref)[-1].endswith(")")  # no comment
    # The question is answered: a later "3" goes to the bot.
    later = await d.router.customer_message(message(key_of(1), "3", "r1"))
    assert later.notes != ("csat",)


async def test_csat_off_asks_nothing(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "off" / "desk.yaml"
    path.parent.mkdir()
    path.write_text("csat: false\n")
    d = build(runtime, load_desk_config(path))
    ticket_id, _ = await resolved(d, key_of(1), "en")
    assert await runtime.store.desk.csat(ticket_id) is None


def test_the_comment_is_the_words_besides_the_score() -> None:
    assert comment_of("5") is None and comment_of("5점") is None
    assert comment_of("4 - quick and kind") == "quick and kind"
    assert comment_of("친절했어요 5") == "친절했어요"
    assert comment_of("3/5 ok") == "ok"


# --- stale conversations ---------------------------------------------------------------------


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_stale_reminder_then_close_then_the_customer_reopens(
    runtime: Runtime, tmp_path: Path, language: Language
) -> None:
    d = build(runtime, config(tmp_path), agent_language=language)
    key = key_of(1)
    ticket_id, ref = await hand_over(d, key, language)
    t0 = d.clock.now
    await d.router.agent_message(
        platform="slack", event_id="e1", thread_ref=ref, agent="U1", text="주문번호 알려주세요"
    )
    handoff = await runtime.store.handoff_by_id(ticket_id)
    assert handoff is not None
    told = len(d.sent(key))
    await d.service.tick(t0 + 23 * H)
    assert len(d.sent(key)) == told
    await d.service.tick(t0 + 24 * H)
    await d.service.tick(t0 + 30 * H)
    # A restart does not remind twice.
    await build(runtime, config(tmp_path)).service.tick(t0 + 31 * H)
    assert d.sent(key)[told:] == [CUSTOMER_TEXTS["stale_reminder"][language]]
    await d.service.tick(t0 + 48 * H)
    assert d.sent(key)[-1] == CUSTOMER_TEXTS["stale_closed"][language]
    assert (await runtime.store.conversation(key, "slack")).state == "closed"
    assert await runtime.store.current_handoff(key) is None
    assert d.posts(ref)[-1].startswith("고객의 답이 없어" if language == "ko" else "Closed:")
    await d.service.tick(t0 + 50 * H)
    assert d.sent(key)[-1] == CUSTOMER_TEXTS["stale_closed"][language]
    assert len(d.sent(key)) == told + 2
    # The customer writes again: the bot has the conversation back and answers.
    question = "배송은 얼마나 걸려요?" if language == "ko" else "How long does shipping take?"
    outcome = await d.router.customer_message(message(key, question, "back"))
    assert outcome.action == "replied"
    assert (await runtime.store.conversation(key, "slack")).state == "bot"


async def test_a_customer_who_answers_is_not_reminded(runtime: Runtime, tmp_path: Path) -> None:
    d = build(runtime, config(tmp_path))
    key = key_of(1)
    _, ref = await hand_over(d, key, "en")
    t0 = d.clock.now
    await d.router.agent_message(
        platform="slack", event_id="e1", thread_ref=ref, agent="U1", text="Your order number?"
    )
    relayed = await d.router.customer_message(message(key, "It is 12345", "m2"))
    assert relayed.action == "relayed"
    told = len(d.sent(key))
    await d.service.tick(t0 + 50 * H)
    assert len(d.sent(key)) == told and await runtime.store.current_handoff(key) is not None


async def test_a_failing_desk_hook_costs_the_customer_nothing(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = build(runtime, config(tmp_path))

    async def broken(*_args: object) -> None:
        raise RuntimeError("desk table locked")

    monkeypatch.setattr(d.service, "ticket_posted", broken)
    monkeypatch.setattr(d.service, "agent_replied", broken)
    ticket_id, ref = await hand_over(d, key_of(1), "en")
    assert [t.id for t in d.desk.tickets] == [ticket_id] and len(d.sent(key_of(1))) == 1
    result = await d.router.agent_message(
        platform="slack", event_id="e1", thread_ref=ref, agent="U1", text="Hello"
    )
    assert result == "relayed" and d.sent(key_of(1))[-1] == "Hello"


def test_the_pick_policies_are_total_and_deterministic() -> None:
    def agent(name: str, load: int, last: float | None) -> DutyAgent:
        return DutyAgent("slack", name, load, last, 0.0)

    team = [agent("U2", 1, 10.0), agent("U3", 0, None), agent("U1", 0, None), agent("U4", 0, 5.0)]
    assert round_robin(team) == "U1"  # never assigned first, then by id
    assert round_robin(team[:1] + team[3:]) == "U4"  # the oldest assignment
    assert least_loaded([agent("U2", 1, None), agent("U4", 0, 5.0), agent("U5", 0, 9.0)]) == "U4"
    assert round_robin([]) is None and least_loaded([]) is None
    assert policy("least_loaded") is least_loaded and policy("round_robin") is round_robin
