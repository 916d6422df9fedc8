"""Audiences: staff get the internal handbook, customers never see a word of it.

The leak corpus (``tests/data/staff_only_questions.jsonl``: questions only the handbook
answers, as staff and as curious customers would ask them) is asked as a customer on every
path a customer has — the CLI, a Slack DM and channel, a Discord support channel, its thread
and a DM — and nothing a customer receives may contain eight consecutive words of a staff
entry. Asked as staff, the same questions are answered with a citation.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.app import Runtime
from bot.cli import main
from bot.cli.chat import _ask
from bot.corrections import live as kb_live
from bot.responder.base import ReplyRequest
from bot.types import Message
from knowledge.audience import StaffText, shingles, visible_to
from knowledge.entries import KnowledgeError
from knowledge.loader import SAMPLE_DIR, load_paths, parse_csv, parse_markdown, parse_yaml
from tests.chat import Chat
from tests.conftest import DATA
from tests.discord_harness import (
    DM_CHANNEL,
    Discord,
    discord_settings,
    fake_discord,
    running_discord,
)
from tests.plugins.staff_guard import check, take_violations
from tests.slack_harness import (
    AGENTS,
    Slack,
    customer_dm,
    fake_slack,
    running_slack,
    slack_settings,
)

STAFF_ONLY = [json.loads(line) for line in (DATA / "staff_only_questions.jsonl").open()]
CUSTOMER = [json.loads(line) for line in (DATA / "customer_questions.jsonl").open()]
# Every platform path gets a spread of the corpus (both languages, every section); the
# engine and the CLI get all of it.
PLATFORM_SAMPLE = STAFF_ONLY[::6]


def staff_text() -> StaffText:
    return StaffText(load_paths([SAMPLE_DIR]))


def assert_no_staff_text(texts: list[str]) -> None:
    guard = staff_text()
    leaked = [(t[:80], guard.leaked(t)[:1]) for t in texts if guard.leaks(t)]
    assert not leaked, leaked


# --- knowledge files ---------------------------------------------------------------------


def test_the_corpora_are_big_enough_and_in_both_languages() -> None:
    assert len(STAFF_ONLY) >= 60 and len(CUSTOMER) >= 40
    for corpus in (STAFF_ONLY, CUSTOMER):
        languages = {q["lang"] for q in corpus}
        assert languages == {"ko", "en"}
    assert {q["lang"] for q in PLATFORM_SAMPLE} == {"ko", "en"}


def test_yaml_and_csv_entries_are_for_customers_unless_marked() -> None:
    faq = "- {id: a, category: c, questions: {en: [hi]}, answer: {en: hello}}"
    assert parse_yaml(faq, "f.yaml")[0].audience == "customers"
    marked = "- {id: a, category: c, audience: staff, questions: {en: [hi]}, answer: {en: x}}"
    assert parse_yaml(marked, "f.yaml")[0].audience == "staff"
    csv = "id,category,lang,question,answer,audience\na,c,en,hi,yo,STAFF\nb,c,ko,안녕,네,\n"
    assert [e.audience for e in parse_csv(csv, "f.csv")] == ["staff", "customers"]


def test_a_markdown_document_is_for_staff_unless_its_front_matter_publishes_it() -> None:
    handbook = "# Handbook\n## Refund limits\nAgents approve up to 100,000 KRW alone.\n"
    assert {e.audience for e in parse_markdown(handbook, "h.md")} == {"staff"}
    published = "---\naudience: customers\n---\n# Policy\n## Returns\nWithin 7 days.\n"
    [entry] = parse_markdown(published, "p.md")
    assert entry.audience == "customers" and entry.source == "p.md § Returns"
    assert "audience" not in entry.answer["en"]


@pytest.mark.parametrize(
    ("name", "text", "error"),
    [
        (
            "a.yaml",
            "- {id: x, category: c, audience: public, questions: {en: [q]}, answer: {en: a}}",
            "a.yaml: entry 1 (x): unknown audience 'public'",
        ),
        (
            "b.csv",
            "id,category,lang,question,answer,audience\nx,c,en,q,a,everyone\n",
            "b.csv: line 2: unknown audience 'everyone'",
        ),
        (
            "c.csv",
            "id,category,lang,question,answer,audience\nx,c,en,q,a,staff\nx,c,en,q2,,customers\n",
            "c.csv: line 3: entry 'x' has audience 'customers'",
        ),
        (
            "d.md",
            "---\ntitle: x\naudience: 직원\n---\n## A\nbody text\n",
            "d.md: line 3: unknown audience '직원'",
        ),
        ("e.md", "---\naudience: staff\n## A\nbody\n", "e.md: line 1: front matter opened"),
        ("f.md", "---\n- staff\n---\n## A\nbody\n", "f.md: line 2: front matter must be"),
    ],
)
def test_an_unknown_audience_is_a_load_error_naming_where(
    tmp_path: Path, name: str, text: str, error: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        load_paths([path])
    assert str(caught.value).startswith(f"{path}{error[len(name) :]}")


def test_the_sample_splits_published_policies_from_the_handbook() -> None:
    entries = load_paths([SAMPLE_DIR])
    staff = [e for e in entries if e.audience == "staff"]
    assert staff and all(e.source.startswith("internal-operations") for e in staff)
    published = [e for e in entries if e.kind == "policy" and e.audience == "customers"]
    assert {e.source.split(" §")[0] for e in published} >= {
        "refund-policy.md",
        "refund-policy-en.md",
    }
    # No published sentence shares eight words with the handbook's own rules.
    guard = StaffText(entries)
    assert len(guard) > 500
    assert_no_staff_text([e.answer_in(lang) for e in published for lang in e.answer])


def test_text_shared_with_a_customer_entry_is_not_staff_text() -> None:
    entries = parse_markdown(
        "---\naudience: customers\n---\n## Returns\nYou can return any item within seven days "
        "of delivery for a refund.\n",
        "p.md",
    ) + parse_markdown(
        "## Returns\nYou can return any item within seven days of delivery for a refund. "
        "Agents may approve exceptions up to one hundred thousand won on their own.\n",
        "h.md",
    )
    guard = StaffText(entries)
    assert not guard.leaks("You can return any item within seven days of delivery for a refund.")
    assert guard.leaks("agents may APPROVE exceptions up to one hundred thousand won, ok?")
    # Invisible characters and full-width letters do not hide a quote.
    assert guard.leaks("Agents\u200b may approve exceptions up to ｏｎｅ hundred thousand won")
    assert shingles("too short") == set()


# --- retrieval ---------------------------------------------------------------------------


def test_a_customer_search_never_scores_a_staff_entry(runtime: Runtime) -> None:
    kb = runtime.knowledge
    assert all(e.audience == "customers" for e in kb.entries_for("customers"))
    assert len(kb.entries_for("staff")) == len(kb.entries)
    assert len(visible_to("customers", kb.entries)) == len(kb.entries_for("customers"))
    for q in STAFF_ONLY:
        result = kb.search_sync(q["question"], k=50, audience="customers")
        assert all(m.entry.audience == "customers" for m in result.matches), q["question"]


def test_staff_search_finds_the_handbook_and_customer_questions_still_answer(
    runtime: Runtime,
) -> None:
    kb = runtime.knowledge
    found = 0
    for q in STAFF_ONLY:
        best = kb.search_sync(q["question"], audience="staff").best
        found += best is not None and best.entry.source == f"{q['file']} § {q['section']}"
    assert found / len(STAFF_ONLY) >= 0.75, found
    answered = sum(kb.search_sync(q["question"]).confidence >= 0.5 for q in CUSTOMER)
    assert answered / len(CUSTOMER) >= 0.95, answered


# --- the engine and the CLI --------------------------------------------------------------


async def test_no_staff_text_reaches_a_customer_through_the_engine(runtime: Runtime) -> None:
    replies = []
    for q in STAFF_ONLY:
        outcome = await Chat(runtime.engine).say(q["question"])
        assert outcome.reply is not None
        replies.append(outcome.reply.text)
        if outcome.handoff is not None:
            replies.append(outcome.handoff.suggestion or "")
        assert all(m.entry.audience == "customers" for m in outcome.analysis.matches)
    assert_no_staff_text(replies)


async def test_staff_get_the_handbook_with_its_source_in_their_language(
    runtime: Runtime,
) -> None:
    answered = cited = 0
    for q in STAFF_ONLY:
        chat = Chat(runtime.engine)
        outcome = await runtime.engine.handle(staff_message(chat, q["question"]))
        assert outcome.reply is not None and outcome.handoff is None
        assert outcome.analysis is not None and not outcome.analysis.escalation.escalate
        text = outcome.reply.text
        label = "출처: " if q["lang"] == "ko" else "Source: "
        if outcome.analysis.answered:
            answered += 1
            cited += f"{label}{q['file']} § {q['section']}" in text
        for opener in ("따뜻한 말씀", "정말 죄송합니다", "I'm really sorry", "Thank you, that's"):
            assert opener not in text
        assert await chat.state() == "bot"
    assert answered / len(STAFF_ONLY) >= 0.85, answered
    assert cited / len(STAFF_ONLY) >= 0.75, cited


def staff_message(chat: Chat, text: str) -> Message:
    message = chat.message(text)
    return Message(**{**message.__dict__, "role": "staff", "user": "staff-1"})


@pytest.mark.parametrize(
    ("question", "angry_words"),
    [
        ("악성 고객은 어떻게 대응해야 해?", "악성 민원 대응"),
        ("How do I deal with a furious customer who keeps swearing at me?", "abusive customers"),
    ],
)
async def test_a_colleague_asking_about_angry_customers_is_not_escalated(
    runtime: Runtime, question: str, angry_words: str
) -> None:
    chat = Chat(runtime.engine)
    outcome = await runtime.engine.handle(staff_message(chat, question))
    assert outcome.handoff is None and outcome.reply is not None
    assert angry_words in outcome.reply.text
    assert await runtime.store.open_handoffs() == []


@pytest.mark.parametrize(
    ("question", "expect"),
    [
        (
            "신입 교육 일정 알려줘",
            "사내 지침에서 이 질문에 대한 답을 찾지 못했어요. 운영팀 김팀장",
        ),
        (
            "How do I book a meeting room?",
            "The handbook has no answer to this. Please ask 운영팀 김팀장",
        ),
    ],
)
async def test_no_answer_for_staff_names_who_to_ask_and_opens_no_ticket(
    sample_runtime_factory: Callable[..., Runtime], question: str, expect: str
) -> None:
    runtime = sample_runtime_factory(staff_contact="운영팀 김팀장 (#cs-help)")
    chat = Chat(runtime.engine)
    for _ in range(3):  # repeated misses never escalate a colleague either
        outcome = await runtime.engine.handle(staff_message(chat, question))
        assert outcome.reply is not None and outcome.reply.text.startswith(expect)
        assert outcome.handoff is None
    assert await chat.state() == "bot"


async def test_a_staff_question_recovered_after_a_crash_is_asked_as_staff_again(
    runtime: Runtime,
) -> None:
    chat = Chat(runtime.engine)
    message = staff_message(chat, "How big a goodwill coupon can I give without approval?")
    await runtime.store.unclaim((await runtime.store.record_inbound(message)).id)  # "crashed"
    [pending] = await runtime.store.unfinished_inbound(since=0, max_attempts=5, platforms=["test"])
    assert pending.message.role == "staff"
    customer = Chat(runtime.engine).message("How big a goodwill coupon can agents give?")
    await runtime.store.unclaim((await runtime.store.record_inbound(customer)).id)
    roles = [
        p.message.role
        for p in await runtime.store.unfinished_inbound(since=0, max_attempts=5, platforms=["test"])
    ]
    assert roles == ["staff", "customer"]


class _Knows:
    """A responder that knows the handbook by heart (a model trained on it, a prompt leak)."""

    def __init__(self, text: str) -> None:
        self.text = text

    async def reply(self, request: ReplyRequest) -> str:
        return self.text


@pytest.mark.parametrize("lang", ["ko", "en"])
async def test_a_reply_quoting_staff_text_is_withheld(runtime: Runtime, lang: str) -> None:
    handbook = {e.id: e for e in runtime.knowledge.entries if e.audience == "staff"}
    entry = next(e for e in handbook.values() if lang in e.answer)
    runtime.engine.responder = _Knows("Sure! " + entry.answer[lang][:200])
    question = "환불 요청하려면 어떻게 해야 하나요?" if lang == "ko" else "How do I get a refund?"
    outcome = await Chat(runtime.engine).say(question)
    assert outcome.reply is not None
    assert not runtime.knowledge.staff_text.leaks(outcome.reply.text)
    assert ("환불" if lang == "ko" else "refund") in outcome.reply.text.lower()


def test_the_suite_guard_fails_a_test_that_leaks() -> None:
    take_violations()
    entry = next(e for e in load_paths([SAMPLE_DIR]) if e.audience == "staff")
    check("Hello! " + entry.answer_in("en"), "reply")
    check("주문 내역 페이지에서 환불 신청을 누르세요.", "reply")
    found = take_violations()
    assert len(found) == 1 and "staff text reached a customer" in found[0]


async def test_cli_ask_as_customer_and_as_staff(runtime: Runtime) -> None:
    questions = "\n".join(q["question"] for q in STAFF_ONLY) + "\n"
    out = io.StringIO()
    await _ask(runtime, "-", True, io.StringIO(questions), out)
    replies = [json.loads(line)["reply"] for line in out.getvalue().splitlines()]
    assert len(replies) == len(STAFF_ONLY)
    assert_no_staff_text(replies)
    out = io.StringIO()
    await _ask(runtime, "-", True, io.StringIO(questions), out, role="staff")
    objects = [json.loads(line) for line in out.getvalue().splitlines()]
    assert not any(o["escalate"] for o in objects)
    assert sum("internal-operations" in o["reply"] for o in objects) >= 0.75 * len(objects)


def test_kb_list_shows_the_audience_and_search_takes_as(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["kb", "list", "--audience", "staff"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows and all(r.split("\t")[2] == "staff" for r in rows)
    assert main(["kb", "list"]) == 0
    assert {r.split("\t")[2] for r in capsys.readouterr().out.splitlines()} == {
        "customers",
        "staff",
    }
    question = "상담원이 혼자 승인할 수 있는 환불 한도는?"
    assert main(["kb", "search", question]) == 0
    as_customer = capsys.readouterr().out
    assert "staff" not in as_customer.split("\n", 1)[1]
    assert main(["kb", "search", "--as", "staff", question]) == 0
    assert "internal-operations#환불-승인-권한\tpolicy\tstaff" in capsys.readouterr().out


def test_cli_chat_as_staff(cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("악성 고객은 어떻게 대응해야 해?\n/quit\n"))
    assert main(["chat", "--staff"]) == 0
    out = capsys.readouterr().out
    assert "as staff" in out and "출처: internal-operations.md § 악성 민원 대응" in out
    assert "handed to a human" not in out


# --- the platforms -----------------------------------------------------------------------


@pytest_asyncio.fixture
async def slack(sample_runtime_factory: Callable[..., Runtime]) -> AsyncIterator[Slack]:
    async with fake_slack() as fake:
        runtime = sample_runtime_factory(**slack_settings(fake))
        async with running_slack(fake, runtime) as running:
            yield running


def _customer_posts_slack(slack: Slack) -> list[str]:
    texts = []
    for call in slack.fake.calls_to("chat.postMessage"):
        if call.params["channel"] != AGENTS:
            texts.append(json.dumps(call.params, ensure_ascii=False))
    return texts


async def test_slack_dm_and_channel_customers_never_get_staff_text(slack: Slack) -> None:
    done = 0
    for n, q in enumerate(PLATFORM_SAMPLE):
        # One customer per question: a DM is one conversation, and one handed over is
        # relayed, not answered.
        await slack.deliver(customer_dm(slack.fake, n, q["question"]))
        mention = slack.fake.app_mention_event(q["question"], channel="C0SUPPORT")
        await slack.deliver(mention)
        done += 2
        await slack.adapter.wait_completed(done)
    posts = _customer_posts_slack(slack)
    assert len(posts) >= len(PLATFORM_SAMPLE) * 2
    assert_no_staff_text(posts)
    # Tickets are for agents; what the customer would be sent (the suggestion) is checked
    # by the suite guard.


@pytest_asyncio.fixture
async def discord(sample_runtime_factory: Callable[..., Runtime]) -> AsyncIterator[Discord]:
    async with fake_discord() as fake:
        runtime = sample_runtime_factory(**discord_settings(fake))
        async with running_discord(fake, runtime) as running:
            yield running


async def test_discord_channel_thread_and_dm_customers_never_get_staff_text(
    discord: Discord,
) -> None:
    fake = discord.fake
    for q in PLATFORM_SAMPLE:
        asked = await discord.say(q["question"])
        await discord.say(q["question"] + "?", channel=int(asked["id"]))  # in its thread
        await discord.dm(q["question"])
    desk = {fake.staff_channel_id}
    desk |= {
        int(c)
        for c, ch in fake.channels.items()
        if ch.get("parent_id") == str(fake.staff_channel_id)
    }
    posts = [
        json.dumps(call.body, ensure_ascii=False)
        for call in discord.posts()
        if int(call.path.split("/")[2]) not in desk
    ]
    assert len(posts) >= len(PLATFORM_SAMPLE)  # a DM handed over is relayed, not answered
    assert any(int(c.path.split("/")[2]) == DM_CHANNEL for c in discord.posts())
    assert_no_staff_text(posts)


# --- corrections keep the audience -------------------------------------------------------


async def _staff_answer(runtime: Runtime, text: str) -> tuple[int, str | None]:
    outcome = await runtime.engine.handle(staff_message(Chat(runtime.engine), text))
    assert outcome.reply is not None and outcome.analysis is not None
    best = outcome.analysis.matches[0].entry.id if outcome.analysis.answered else None
    return int(outcome.reply.raw["reply_id"]), best


@pytest.mark.parametrize(
    ("question", "right"),
    [
        (
            "상담원이 혼자 승인할 수 있는 환불 한도는?",
            "이제 상담원 단독 승인 한도는 50,000원입니다.",
        ),
        (
            "How much can an agent refund without a team lead?",
            "Agents now approve up to 50,000 KRW.",
        ),
    ],
)
async def test_a_staff_answer_marked_wrong_becomes_a_staff_entry(
    runtime: Runtime, question: str, right: str
) -> None:
    from bot.corrections.loop import Corrections, describe

    queue = Corrections(runtime.store)
    reply_id, entry = await _staff_answer(runtime, question)
    assert entry is not None and entry.startswith("internal-operations")
    correction = await queue.mark_wrong(reply_id, right, "slack:U0LEAD")
    assert correction.audience == "staff" and "asked by staff" in describe(correction)[0]
    added = await queue.approve(correction.id, "slack:U0ADMIN", runtime.knowledge.entries)
    assert added.new.audience == "staff"
    # Updating the handbook section keeps it the staff's.
    again = await queue.mark_wrong((await _staff_answer(runtime, question))[0], right, "x")
    updated = await queue.approve(
        again.id, "slack:U0ADMIN", runtime.knowledge.entries, mode="update"
    )
    assert updated.new.audience == "staff"
    await kb_live.refresh(runtime.store, runtime.knowledge)
    customer = await Chat(runtime.engine).say(question)
    assert customer.reply is not None and right not in customer.reply.text
    staff = await runtime.engine.handle(staff_message(Chat(runtime.engine), question))
    assert staff.reply is not None and right in staff.reply.text


async def test_a_staff_question_never_rewrites_a_customer_answer_unless_said(
    runtime: Runtime,
) -> None:
    from bot.corrections.loop import CorrectionError, Corrections

    queue = Corrections(runtime.store)
    reply_id, entry = await _staff_answer(runtime, "환불은 며칠 걸려요?")
    assert entry == "refund-timing-by-payment-method"
    correction = await queue.mark_wrong(reply_id, "팀장 승인 건은 7일 걸립니다.", "slack:U0LEAD")
    with pytest.raises(CorrectionError, match="would show its answer to customers"):
        await queue.approve(correction.id, "admin", runtime.knowledge.entries, mode="update")
    change = await queue.approve(
        correction.id, "admin", runtime.knowledge.entries, mode="update", audience="customers"
    )
    assert change.new.audience == "customers"


# --- insights ----------------------------------------------------------------------------


async def test_staff_questions_are_counted_apart_and_suggest_handbook_sections(
    runtime: Runtime, real_embedders: Any
) -> None:
    import time
    from datetime import UTC

    from bot.insights.conversation_report import page, summary
    from bot.insights.conversation_stats import summarize

    for text in ("환불은 며칠 걸려요?", "How do I track my order?"):
        await Chat(runtime.engine).say(text)
    staff = [
        "악성 고객은 어떻게 대응해야 해?",
        "How big a goodwill coupon can I give without approval?",
        "신입 교육 일정 알려줘",
        "신입 교육 일정은 언제예요?",
        "How do I book a meeting room?",
    ]
    for text in staff:
        await runtime.engine.handle(staff_message(Chat(runtime.engine), text))
    rows = await runtime.store.insights.read_window(0, time.time() + 1)
    use = next(e for e in real_embedders if e.name == "use-multilingual-v3")
    stats = summarize(rows, since=0, until=time.time() + 1, tz=UTC, embedder=use)
    assert (stats.conversations, stats.messages) == (2, 2)  # customers only
    assert stats.staff is not None
    assert (stats.staff.questions, stats.staff.conversations) == (5, 5)
    assert stats.staff.answered == 2 and stats.staff.unanswered == 3
    asked = {s.question for s in stats.staff.suggestions} | {
        e for s in stats.staff.suggestions for e in s.examples
    }
    assert {"신입 교육 일정 알려줘", "How do I book a meeting room?"} <= asked
    assert not {s.question for s in stats.suggestions} & asked
    figures = stats.to_json()["staff"]
    assert figures["questions"] == 5 and figures["answer_rate"] == 0.4
    assert "counted apart" in summary(stats, "30 days", "en")
    assert "사내 지침 추가 제안" in page(stats, "30일", "ko")


# --- the LLM path ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "lang"),
    [("환불 요청하려면 어떻게 해야 하나요?", "ko"), ("How do I request a refund?", "en")],
)
async def test_a_model_that_quotes_the_handbook_is_refused_and_prompts_hold_no_staff_text(
    sample_runtime_factory: Callable[..., Runtime], question: str, lang: str
) -> None:
    from tests.fakes.openai_server import FakeOpenAI

    server = FakeOpenAI()
    base_url = await server.start()
    try:
        runtime = sample_runtime_factory(
            openai_api_key="test-key", openai_base_url=base_url, llm_model="fake-model"
        )
        staff_text = getattr(runtime.engine.responder, "staff_text", None)
        assert staff_text is not None
        # A rule without a number or a link: only the staff-text check can catch it.
        quote = {
            "ko": "욕설, 인격 모독, 성희롱 발언이 나오면 먼저 한 번 정중하게 중단을 요청하고, "
            "같은 행동이 반복되면 두 번째 경고 후 상담을 종료할 수 있습니다.",
            "en": "If a customer swears, insults or harasses you, politely ask them once to "
            "stop. If the behaviour continues, give a second warning.",
        }[lang]
        assert staff_text(quote)
        server.queue(quote)
        outcome = await Chat(runtime.engine).say(question)
        assert outcome.reply is not None
        assert not runtime.knowledge.staff_text.leaks(outcome.reply.text)
        assert ("환불" if lang == "ko" else "refund") in outcome.reply.text.lower()
        assert len(server.requests) == 1
        for q in PLATFORM_SAMPLE:  # the prompts themselves are checked by the suite guard
            await Chat(runtime.engine).say(q["question"])
    finally:
        await server.stop()
