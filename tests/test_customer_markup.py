"""Customer markup is inert wherever agents see it (tests/data/customer_markup.jsonl).

Every payload goes through the real adapters against the fake platforms: into a ticket (its
summary), relayed into a ticket thread, across platforms both ways, as a suggested reply and
on correction cards; the assertions are on what the fake platform received.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from html.parser import HTMLParser

import pytest
import pytest_asyncio

from adapters.discord.desk import sent_content
from adapters.discord.inert import inert as discord_inert
from adapters.discord.review import card_content
from adapters.discord.split import split_message
from adapters.slack.desk import sent_blocks
from adapters.slack.inert import inert as slack_inert
from adapters.slack.review import card_blocks, correction_view
from bot.app import Runtime
from bot.conversation.engine import HandoffTicket
from bot.conversation.routing import Router
from bot.corrections.loop import Correction
from bot.insights import html
from bot.types import Emotion
from tests.discord_harness import Discord, discord_settings, fake_discord, running_discord
from tests.fakes.discord_gateway import FakeDiscord
from tests.fakes.slack_api import FakeSlack
from tests.markup import (
    Payload,
    discord_live,
    discord_visible,
    html_visible,
    load_payloads,
    slack_live,
    slack_mrkdwn,
    slack_visible,
)
from tests.slack_harness import (
    AGENT,
    AGENTS,
    customer_dm,
    dm,
    fake_slack,
    running_slack,
    slack_settings,
)

PAYLOADS = load_payloads()
ISSUE = next(p for p in PAYLOADS if p.id == "slack-issue-example")
ASKS = [
    pytest.param("상담원 연결해 주세요", id="ko"),
    pytest.param("I want a human agent", id="en"),
]
SLACK_OWN = ("<@U0CUSTOMER>", f"<@{AGENT}>")


def test_corpus_covers_every_kind_of_markup() -> None:
    assert len(PAYLOADS) >= 40 and len({p.id for p in PAYLOADS}) == len(PAYLOADS)
    kinds = {p.id.split("-")[0] for p in PAYLOADS}
    assert kinds >= {"slack", "discord", "md", "html", "zw", "bidi", "mixed"}
    assert sum(any("\uac00" <= c <= "\ud7a3" for c in p.text) for p in PAYLOADS) >= 20
    # The detectors see the raw payloads as live: the checks below can fail.
    assert sum(bool(slack_live(p.text)) for p in PAYLOADS) >= 35
    assert sum(bool(discord_live(p.text)) for p in PAYLOADS) >= 40


@pytest.mark.parametrize("payload", PAYLOADS, ids=[p.id for p in PAYLOADS])
def test_each_payload_is_inert_and_still_readable(payload: Payload) -> None:
    slack, discord = slack_inert(payload.text), discord_inert(payload.text)
    assert slack_live(slack) == [] and payload.shows in slack_visible(slack)
    assert discord_live(discord) == [] and payload.shows in discord_visible(discord)


def assert_slack_inert(params: dict[str, object], payload: Payload | None = None) -> None:
    for text in slack_mrkdwn(params):  # type: ignore[arg-type]
        assert slack_live(text, SLACK_OWN) == [], text
    assert params.get("unfurl_links") is False and params.get("unfurl_media") is False
    assert not params.get("link_names") and not params.get("parse")
    if payload is not None:
        shown = "\n".join(slack_visible(t) for t in slack_mrkdwn(params))  # type: ignore[arg-type]
        assert payload.shows in shown, (payload.id, shown)


def assert_discord_inert(discord: Discord, body: object, payload: Payload | None = None) -> None:
    assert isinstance(body, dict)
    content = str(body["content"])
    own = (f"<@{discord.fake.customer_id}>", f"<@{discord.fake.staff_id}>")
    assert discord_live(content, own) == [], content
    assert body["allowed_mentions"]["parse"] == []
    assert int(body.get("flags") or 0) & 4, "embeds suppressed"
    if payload is not None:
        assert payload.shows in discord_visible(content), (payload.id, content)


@pytest_asyncio.fixture
async def fakes() -> AsyncIterator[tuple[FakeSlack, FakeDiscord]]:
    async with fake_slack() as slack, fake_discord() as discord:
        yield slack, discord


@pytest.mark.parametrize("ask", ASKS)
async def test_slack_customer_markup_in_slack_tickets_and_relays(
    fakes: tuple[FakeSlack, FakeDiscord], sample_runtime_factory: Callable[..., Runtime], ask: str
) -> None:
    fake = fakes[0]
    runtime = sample_runtime_factory(**slack_settings(fake))
    async with running_slack(fake, runtime) as slack:
        # One ticket per payload (one customer's DM each): their words are in its summary.
        for n, payload in enumerate(PAYLOADS, start=1):
            await slack.deliver(customer_dm(fake, n, f"{ask} {payload.text}"))
            await slack.adapter.wait_completed(n)
        tickets = slack.tickets()
        assert len(tickets) == len(PAYLOADS)
        for payload, ticket in zip(PAYLOADS, tickets, strict=True):
            assert_slack_inert(ticket.params, payload)
        # Every payload relayed into one ticket's thread (the default customer's DM, written
        # in the thread of their first message: the same conversation).
        first = dm(fake, ask)
        await slack.deliver(first)
        done = len(PAYLOADS) + 1
        await slack.adapter.wait_completed(done)
        [*_, ticket] = slack.tickets()
        ts = ticket.response["ts"]
        for payload in PAYLOADS:
            await slack.deliver(dm(fake, payload.text, thread_ts=first["ts"]))
            done += 1
            await slack.adapter.wait_completed(done)
            relay = slack.posts(AGENTS)[-1]
            assert relay.params["thread_ts"] == ts and relay.params["text"].startswith(
                "<@U0CUSTOMER>: "
            )
            assert_slack_inert(relay.params, payload)


@pytest.mark.parametrize("ask", ASKS)
async def test_discord_customer_markup_in_discord_tickets_and_relays(
    fakes: tuple[FakeSlack, FakeDiscord], sample_runtime_factory: Callable[..., Runtime], ask: str
) -> None:
    fake = fakes[1]
    runtime = sample_runtime_factory(**discord_settings(fake))
    staff = fake.staff_channel_id
    async with running_discord(fake, runtime) as discord:
        for payload in PAYLOADS:
            await discord.say(f"{ask} {payload.text}")
        tickets = discord.posts(staff)
        assert len(tickets) == len(PAYLOADS)
        for payload, ticket in zip(PAYLOADS, tickets, strict=True):
            assert_discord_inert(discord, ticket.body, payload)
        asked = await discord.say(ask)
        thread = int(asked["id"])
        [*_, ticket] = discord.threads_opened(staff)
        for payload in PAYLOADS:
            await discord.say(payload.text, channel=thread)
            relay = discord.posts(ticket)[-1]
            assert str(relay.body["content"]).startswith(f"<@{fake.customer_id}>: ")
            assert_discord_inert(discord, relay.body, payload)
        discord.assert_nobody_pinged()


@pytest.mark.parametrize("ask", ASKS)
async def test_discord_customer_markup_relayed_into_slack(
    fakes: tuple[FakeSlack, FakeDiscord], sample_runtime_factory: Callable[..., Runtime], ask: str
) -> None:
    fake_s, fake_d = fakes
    runtime = sample_runtime_factory(
        **{**discord_settings(fake_d, desk=f"slack:{AGENTS}"), **slack_settings(fake_s)}
    )
    router = Router(runtime.engine, handoff_channel=f"slack:{AGENTS}")
    async with (
        running_slack(fake_s, runtime, router) as slack,
        running_discord(fake_d, runtime, router) as discord,
    ):
        asked = await discord.say(f"{ask} {ISSUE.text}")
        [ticket] = slack.tickets()
        assert_slack_inert(ticket.params, ISSUE)
        for payload in PAYLOADS:
            await discord.say(payload.text, channel=int(asked["id"]))
            relay = slack.posts(AGENTS)[-1]
            assert relay.params["text"].startswith("Customer: ")  # no cross-platform mention
            assert_slack_inert(relay.params, payload)


@pytest.mark.parametrize("ask", ASKS)
async def test_slack_customer_markup_relayed_into_discord(
    fakes: tuple[FakeSlack, FakeDiscord], sample_runtime_factory: Callable[..., Runtime], ask: str
) -> None:
    fake_s, fake_d = fakes
    desk = f"discord:{fake_d.staff_channel_id}"
    runtime = sample_runtime_factory(
        **{**slack_settings(fake_s, handoff_channel=desk), **discord_settings(fake_d)}
    )
    router = Router(runtime.engine, handoff_channel=desk)
    async with (
        running_slack(fake_s, runtime, router) as slack,
        running_discord(fake_d, runtime, router) as discord,
    ):
        event = dm(fake_s, f"{ask} {ISSUE.text}")
        await slack.deliver(event)
        await slack.adapter.wait_completed(1)
        [ticket] = discord.posts(fake_d.staff_channel_id)
        assert_discord_inert(discord, ticket.body, ISSUE)
        [thread] = discord.threads_opened(fake_d.staff_channel_id)
        for n, payload in enumerate(PAYLOADS, start=2):
            await slack.deliver(dm(fake_s, payload.text, thread_ts=event["ts"]))
            await slack.adapter.wait_completed(n)
            relay = discord.posts(thread)[-1]
            assert str(relay.body["content"]).startswith("Customer: ")
            assert_discord_inert(discord, relay.body, payload)
        discord.assert_nobody_pinged()


def ticket_with(payload: Payload, number: int) -> HandoffTicket:
    """A ticket whose summary and suggested reply (a model's, say) carry ``payload``."""
    return HandoffTicket(
        id=number,
        conversation_key=f"slack:T:D:{number}",
        reason="asked_for_human",
        summary=f"[상담원 연결 요청] 사유: 고객이 상담원을 요청했어요\n고객 요청: {payload.text}",
        language="ko",
        intent="refund",
        emotion=Emotion("angry", 0.8),
        suggestion=f"안녕하세요.\n{payload.text}\n감사합니다.",
    )


async def test_suggested_replies_with_markup_on_both_desks(
    fakes: tuple[FakeSlack, FakeDiscord], sample_runtime_factory: Callable[..., Runtime]
) -> None:
    fake_s, fake_d = fakes
    runtime = sample_runtime_factory(**slack_settings(fake_s))
    async with running_slack(fake_s, runtime) as slack:
        assert slack.router.desk is not None
        for n, payload in enumerate(PAYLOADS, start=1):
            await slack.router.desk.open_ticket(ticket_with(payload, n))
            ticket, suggestion = slack.posts(AGENTS)[-2:]
            assert suggestion.params["thread_ts"] == ticket.response["ts"]
            assert_slack_inert(ticket.params, payload)
            assert_slack_inert(suggestion.params, payload)
    runtime = sample_runtime_factory(**discord_settings(fake_d))
    async with running_discord(fake_d, runtime) as discord:
        assert discord.router.desk is not None
        for n, payload in enumerate(PAYLOADS, start=1):
            await discord.router.desk.open_ticket(ticket_with(payload, n))
            [thread] = discord.threads_opened(fake_d.staff_channel_id)[-1:]
            assert_discord_inert(discord, discord.posts(fake_d.staff_channel_id)[-1].body)
            assert_discord_inert(discord, discord.posts(thread)[-1].body, payload)


@pytest.mark.parametrize("payload", PAYLOADS, ids=[p.id for p in PAYLOADS])
def test_sent_suggestions_and_correction_cards_are_inert(payload: Payload) -> None:
    text = payload.text
    shown = [
        *slack_mrkdwn({"blocks": sent_blocks(text, f"Sent by <@{AGENT}>")}),
        *slack_mrkdwn({"blocks": card_blocks(correction_of(text))}),
        *slack_mrkdwn(correction_view(7, AGENTS, text, text)),
    ]
    for mrkdwn in shown:
        assert slack_live(mrkdwn, SLACK_OWN) == [], mrkdwn
    assert payload.shows in slack_visible("\n".join(shown))
    for content in (sent_content(text, "1190000000000000202"), card_content(correction_of(text))):
        assert discord_live(content, ("<@1190000000000000202>",)) == [], content
        assert payload.shows in discord_visible(content)


def correction_of(text: str) -> Correction:
    """A waiting correction whose question, answer and proposal all carry ``text``."""
    return Correction(
        id=3,
        source="agent",
        reply_id=9,
        question=text,
        bot_answer=text,
        language="ko",
        entry_id="refund-policy",
        proposed_answer=text,
        proposed_by="slack:U0AGENT",
        status="pending",
        decided_by=None,
        decided_at=None,
        created_at=time.time(),
    )


REPORT_TAGS = frozenset(
    [
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "main",
        "h1",
        "h2",
        "h3",
        "p",
        "section",
        "div",
        "blockquote",
        "span",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "figure",
        "figcaption",
        "svg",
        "rect",
        "text",
        "path",
        "circle",
        "line",
    ]
)
"""The only elements a report is made of: a customer string adding one is a breakout."""


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_insights_html_escapes_every_customer_string() -> None:
    texts = [p.text for p in PAYLOADS]
    body = html.section(
        texts[0],
        html.heading(texts[1]),
        html.paragraph(texts[2]),
        html.figures([(t, t) for t in texts[3:6]]),
        html.quotes(texts),
        html.table(texts[:3], [texts[3:6], texts[6:9]]),
        html.bar_chart(texts[9], texts[10:14], [1, 2, 3, 4]),
        html.ratio_bar(texts[14], {t: 1.0 for t in texts[15:18]}),
        html.line_chart(texts[18], texts[19:22], {texts[22]: [1.0, 2.0, 3.0]}),
    )
    document = html.page(texts[23], [body], subtitle=texts[24], lang="ko")
    parsed = _Elements()
    parsed.feed(document)
    assert parsed.tags <= REPORT_TAGS, parsed.tags
    for name, value in parsed.attrs:
        assert not name.startswith("on") and name not in ("href", "src", "xlink:href"), name
        if name in ("style", "fill", "stroke", "class", "content"):  # Ondo's values only
            assert "evil" not in (value or "") and "(" not in (value or "").replace("rgb(", "")
    shown = html_visible("".join(parsed.text))
    for payload in PAYLOADS[:25]:
        assert payload.shows in shown, payload.id


@pytest.mark.parametrize("shift", range(23))
def test_a_hard_cut_never_separates_an_escape_from_its_character(shift: int) -> None:
    # One word of escaped 23-character role mentions: some shift puts a backslash at a cut.
    text = discord_inert("가" * shift + "<@&223456789012345678>" * 200)
    parts = split_message(text)
    assert len(parts) > 1
    for part in parts:
        assert discord_live(part) == [], part[:80]
