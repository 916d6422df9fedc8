"""Journey DMs with the real slack-bolt / slack_sdk and discord.py against the fake platforms on
loopback: a dm row reaches the user, a refusing user is marked undeliverable, a rate limit is
waited out, and "수신거부" / "stop" answered in the DM goes through the opt-out hook.

Only the last test loads the models (a reply that is no opt-out is answered by the bot); in the
others the hook answers every message they send, so the bot itself never runs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from bot.app import Runtime
from bot.conversation.courier import Courier
from bot.conversation.engine import Engine
from bot.conversation.routing import Router
from bot.journeys.optout import opt_out_confirmation, opt_out_request
from bot.settings import Settings
from bot.storage.sqlite import SQLiteStore
from bot.types import Language
from tests.discord_harness import Discord, discord_settings, fake_discord, running_discord
from tests.fakes.discord_gateway import FakeDiscord
from tests.fakes.slack_api import FakeSlack
from tests.slack_harness import Slack, fake_slack, running_slack, slack_settings

SHOP = "온도마켓"
TODAY = date(2026, 12, 7)
ADVERT = {
    "ko": "(광고) 온도마켓: 장바구니의 <니트> 상품이 20% 할인 중이에요 @everyone <!channel>. "
    "수신거부: '수신거부'라고 답장해 주세요.",
    "en": "(Ad) Ondo Market: the [knit](http://evil.example) in your cart is 20% off "
    "<!here> @here. Reply 'stop' to opt out.",
}
OPT_OUT = {"ko": "수신거부", "en": "stop"}


@dataclass
class Hook:
    """The journeys' opt-out hook as the journey service would give it (recording calls)."""

    calls: list[tuple[str, str, str, str]] = field(default_factory=list)

    async def __call__(self, platform: str, user: str, text: str, language: str) -> str | None:
        self.calls.append((platform, user, text, language))
        lang: Language = "ko" if language == "ko" else "en"
        if not opt_out_request(text, lang):
            raise AssertionError(f"these tests only send opt-outs, not {text!r}")
        return opt_out_confirmation("marketing", lang, SHOP, TODAY)


@dataclass
class LenientHook(Hook):
    """The hook for a conversation: ``None`` (the bot answers) for anything but an opt-out."""

    async def __call__(self, platform: str, user: str, text: str, language: str) -> str | None:
        lang: Language = "ko" if language == "ko" else "en"
        if not opt_out_request(text, lang):
            self.calls.append((platform, user, text, language))
            return None
        return await super().__call__(platform, user, text, language)


@contextlib.contextmanager
def modelless_runtime(tmp_path: Path, **overrides: Any) -> Any:
    """A runtime on a SQLite file whose engine has no models (never asked to answer)."""
    settings = Settings(db_path=str(tmp_path / "ondo.db"), **overrides)
    store = SQLiteStore.open(tmp_path / "ondo.db")
    try:
        engine = Engine(store, cast(Any, None), cast(Any, None), cast(Any, None))
        yield cast(Runtime, SimpleNamespace(settings=settings, store=store, engine=engine))
    finally:
        store.close()


# --- Slack -------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def slack_dm(tmp_path: Path) -> AsyncIterator[tuple[Slack, Courier, Hook]]:
    async with fake_slack() as fake:
        with modelless_runtime(tmp_path, **slack_settings(fake, handoff_channel=None)) as rt:
            router = Router(rt.engine)
            hook = Hook()
            router.opt_out = hook
            async with running_slack(fake, rt, router) as slack:
                yield slack, Courier(router), hook


def dm_posts(fake: FakeSlack) -> list[dict[str, Any]]:
    return [c.params for c in fake.calls_to("chat.postMessage") if c.status == 200]


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_a_slack_dm_is_posted_inert_and_an_opt_out_reply_is_confirmed(
    tmp_path: Path, language: str
) -> None:
    async with slack_dm(tmp_path) as (slack, courier, hook):
        fake, store = slack.fake, slack.runtime.store
        fake.add_user("U0MINJI", name="minji", locale="ko-KR")
        await store.outbox.put("slack", "dm", "U0MINJI", text=ADVERT[language], language=language)
        assert await courier.deliver_due() == 1
        [opened] = fake.calls_to("conversations.open")
        assert opened.params["users"] == "U0MINJI"
        channel = fake.dm_channels["U0MINJI"]
        [dm] = dm_posts(fake)
        assert dm["channel"] == channel and "thread_ts" not in dm
        assert "&lt;!" in dm["text"] and "<!" not in dm["text"]  # no @channel / @here ping
        assert str(dm["unfurl_links"]).lower() == "false"
        assert await store.outbox.waiting() == 0

        # The customer answers in the DM: the hook opts them out, the bot confirms once.
        before = slack.adapter.completed
        event = fake.message_event(
            OPT_OUT[language], user="U0MINJI", channel=channel, channel_type="im"
        )
        assert await slack.deliver(event) == 200
        await slack.adapter.wait_completed(before + 1)
        assert hook.calls == [("slack", "U0MINJI", OPT_OUT[language], language)]
        confirmation = dm_posts(fake)[1]
        # Written at the top level of the DM: answered there, not in a thread.
        assert confirmation["channel"] == channel and "thread_ts" not in confirmation
        assert SHOP in confirmation["text"]
        assert ("수신거부가 처리" if language == "ko" else "unsubscribed") in confirmation["text"]
        # Slack retries the event: answered once.
        assert await slack.deliver(event, retry=1) == 200
        await slack.adapter.wait_completed(before + 2)
        assert len(dm_posts(fake)) == 2 and len(hook.calls) == 1


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_a_slack_dm_is_in_the_history_before_the_reply_in_its_thread(
    tmp_path: Path, language: str
) -> None:
    async with slack_dm(tmp_path) as (slack, courier, hook):
        fake, store = slack.fake, slack.runtime.store
        fake.add_user("U0MINJI", name="minji", locale="ko-KR")
        await store.outbox.put("slack", "dm", "U0MINJI", text=ADVERT[language], language=language)
        assert await courier.deliver_due() == 1
        channel = fake.dm_channels["U0MINJI"]
        [dm] = [c.response for c in fake.calls_to("chat.postMessage") if c.status == 200]
        key = f"slack:{fake.team_id}:{channel}"  # the DM's, whether answered in a thread or not
        [posted] = await store.history(key)
        assert (posted.role, posted.text) == ("bot", ADVERT[language])

        before = slack.adapter.completed
        event = fake.message_event(
            OPT_OUT[language],
            user="U0MINJI",
            channel=channel,
            channel_type="im",
            thread_ts=dm["ts"],
        )
        assert await slack.deliver(event) == 200
        await slack.adapter.wait_completed(before + 1)
        assert len(hook.calls) == 1
        history = await store.history(key)
        assert [(m.role, m.text) for m in history[:2]] == [
            ("bot", ADVERT[language]),
            ("customer", OPT_OUT[language]),
        ]
        assert len(history) == 3 and history[2].role != "customer"  # the confirmation
        assert await store.conversation_owner(key) == "U0MINJI"
        # Answered in the thread the customer used.
        assert dm_posts(fake)[-1]["thread_ts"] == dm["ts"]


async def test_a_slack_user_not_found_is_undeliverable(tmp_path: Path) -> None:
    async with slack_dm(tmp_path) as (slack, courier, _):
        fake, store = slack.fake, slack.runtime.store
        fake.add_user("U0GONE")
        fake.refuse_dm("U0GONE", "user_not_found")
        await store.journeys.upsert_customer("c-gone", language="ko", at=1.0)
        await store.journeys.link("c-gone", "slack", "U0GONE", at=1.0)
        await store.outbox.put("slack", "dm", "U0GONE", text=ADVERT["ko"], language="ko")
        assert await courier.deliver_due() == 1
        [identity] = await store.journeys.identities("c-gone")
        assert identity.undeliverable_reason == "user_not_found"
        assert identity.undeliverable_at is not None
        assert dm_posts(fake) == [] and await store.outbox.waiting() == 0


@pytest.mark.parametrize("target", ["U0MINJI,U0JORDAN", "<@U0MINJI>", "", "u0minji", "U" * 40])
async def test_a_target_that_is_not_one_slack_user_is_undeliverable(
    tmp_path: Path, target: str
) -> None:
    async with slack_dm(tmp_path) as (slack, courier, _):
        fake, store = slack.fake, slack.runtime.store
        fake.add_user("U0MINJI")
        fake.add_user("U0JORDAN")
        await store.outbox.put("slack", "dm", target, text="안녕하세요", language="ko")
        assert await courier.deliver_due() == 1
        assert fake.calls_to("conversations.open") == [] and dm_posts(fake) == []


async def test_a_slack_rate_limit_is_waited_out(tmp_path: Path) -> None:
    async with slack_dm(tmp_path) as (slack, courier, _):
        fake, store = slack.fake, slack.runtime.store
        fake.add_user("U0JORDAN")
        fake.fail_next("conversations.open", status=429, retry_after=0)
        await store.outbox.put("slack", "dm", "U0JORDAN", text=ADVERT["en"], language="en")
        assert await courier.deliver_due() == 1
        assert [c.status for c in fake.calls_to("conversations.open")] == [429, 200]
        assert len(dm_posts(fake)) == 1


# --- Discord -----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def discord_dm(tmp_path: Path) -> AsyncIterator[tuple[Discord, Courier, Hook]]:
    async with fake_discord() as fake:
        with modelless_runtime(tmp_path, **discord_settings(fake, desk=None)) as rt:
            router = Router(rt.engine)
            hook = Hook()
            router.opt_out = hook
            async with running_discord(fake, rt, router) as discord:
                yield discord, Courier(router), hook


def dm_channel_of(fake: FakeDiscord, uid: int) -> int:
    [channel] = [
        int(c["id"])
        for c in fake.channels.values()
        if c["type"] == 1 and int(c["recipients"][0]["id"]) == uid
    ]
    return channel


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_a_discord_dm_is_posted_inert_and_an_opt_out_reply_is_confirmed(
    tmp_path: Path, language: str
) -> None:
    async with discord_dm(tmp_path) as (discord, courier, hook):
        fake, store = discord.fake, discord.runtime.store
        user = (
            fake.customer if language == "ko" else fake.add_member(1_190_000_000_000_000_777, "sam")
        )
        uid = int(user["id"])
        await store.outbox.put("discord", "dm", str(uid), text=ADVERT[language], language=language)
        assert await courier.deliver_due() == 1
        assert [c.status for c in fake.calls if c.path == "/users/@me/channels"] == [200]
        channel = dm_channel_of(fake, uid)
        [text] = discord.texts(channel)
        assert "@\u200beveryone" in text or "@\u200bhere" in text
        assert "\\<" in text and ("\\[" in text or language == "ko")
        discord.assert_nobody_pinged()

        await discord.say(OPT_OUT[language], channel=channel, author=user)
        assert hook.calls == [("discord", str(uid), OPT_OUT[language], language)]
        confirmation = discord.texts(channel)[1]
        assert SHOP in confirmation
        assert ("수신거부가 처리" if language == "ko" else "unsubscribed") in confirmation


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_a_discord_dm_is_in_the_history_before_the_reply(
    tmp_path: Path, language: str
) -> None:
    async with discord_dm(tmp_path) as (discord, courier, hook):
        fake, store = discord.fake, discord.runtime.store
        user = (
            fake.customer if language == "ko" else fake.add_member(1_190_000_000_000_000_777, "sam")
        )
        uid = int(user["id"])
        await store.outbox.put("discord", "dm", str(uid), text=ADVERT[language], language=language)
        assert await courier.deliver_due() == 1
        channel = dm_channel_of(fake, uid)
        key = f"discord:dm:{channel}"
        [posted] = await store.history(key)
        assert (posted.role, posted.text) == ("bot", ADVERT[language])

        await discord.say(OPT_OUT[language], channel=channel, author=user)
        assert len(hook.calls) == 1
        history = await store.history(key)
        assert [(m.role, m.text) for m in history[:2]] == [
            ("bot", ADVERT[language]),
            ("customer", OPT_OUT[language]),
        ]
        assert len(history) == 3 and history[2].role != "customer"  # the confirmation
        assert await store.conversation_owner(key) == str(uid)


async def test_a_discord_50007_is_undeliverable(tmp_path: Path) -> None:
    async with discord_dm(tmp_path) as (discord, courier, _):
        fake, store = discord.fake, discord.runtime.store
        user = fake.add_member(1_190_000_000_000_000_888, "closed.dms")
        fake.refuse_dms(int(user["id"]))
        await store.journeys.upsert_customer("c-closed", language="en", at=1.0)
        await store.journeys.link("c-closed", "discord", str(user["id"]), at=1.0)
        await store.outbox.put("discord", "dm", str(user["id"]), text=ADVERT["en"], language="en")
        assert await courier.deliver_due() == 1
        [identity] = await store.journeys.identities("c-closed")
        assert identity.undeliverable_reason is not None
        assert "50007" in identity.undeliverable_reason
        assert [c.status for c in fake.calls if c.path.endswith("/messages")] == [403]
        assert await store.outbox.waiting() == 0


@pytest.mark.parametrize("target", ["١٢٣٤٥٦", "12 34", "-1", "9" * 30, "<@1190000000000000201>"])
async def test_a_target_that_is_not_a_discord_user_id_is_undeliverable(
    tmp_path: Path, target: str
) -> None:
    async with discord_dm(tmp_path) as (discord, courier, _):
        fake, store = discord.fake, discord.runtime.store
        await store.outbox.put("discord", "dm", target, text="hello", language="en")
        assert await courier.deliver_due() == 1
        assert [c for c in fake.calls if c.path == "/users/@me/channels"] == []


async def test_a_discord_rate_limit_is_waited_out(tmp_path: Path) -> None:
    async with discord_dm(tmp_path) as (discord, courier, _):
        fake, store = discord.fake, discord.runtime.store
        uid = int(fake.customer["id"])
        fake.rate_limit("POST", "/channels/", retry_after=0.01)
        await store.outbox.put("discord", "dm", str(uid), text="배송이 시작됐어요", language="ko")
        assert await courier.deliver_due() == 1
        channel = dm_channel_of(fake, uid)
        assert discord.texts(channel) == ["배송이 시작됐어요"]
        posts = [c.status for c in fake.calls if c.path == f"/channels/{channel}/messages"]
        assert posts == [429, 200]


# --- with the models: a reply to a journey DM talks to the normal bot ----------------------


async def test_a_reply_to_a_slack_dm_is_answered_by_the_bot_then_an_opt_out_is_honoured(
    sample_runtime_factory: Callable[..., Runtime],
) -> None:
    async with fake_slack() as fake:
        runtime = sample_runtime_factory(**slack_settings(fake, handoff_channel=None))
        router = Router(runtime.engine)
        hook = LenientHook()
        router.opt_out = hook
        async with running_slack(fake, runtime, router) as slack:
            fake.add_user("U0MINJI", name="minji", locale="ko-KR")
            courier = Courier(router)
            await runtime.store.outbox.put(
                "slack", "dm", "U0MINJI", text=ADVERT["ko"], language="ko"
            )
            assert await courier.deliver_due() == 1
            channel = fake.dm_channels["U0MINJI"]
            for n, text in enumerate(["환불은 며칠 걸려요?", "수신거부"], 1):
                before = slack.adapter.completed
                event = fake.message_event(text, user="U0MINJI", channel=channel, channel_type="im")
                assert await slack.deliver(event) == 200
                await slack.adapter.wait_completed(before + 1)
                assert len(dm_posts(fake)) == 1 + n
            answer, confirmation = (p["text"] for p in dm_posts(fake)[1:])
            assert "환불" in answer and "수신거부가 처리" not in answer
            assert "수신거부가 처리" in confirmation
            assert [c[2] for c in hook.calls] == ["환불은 며칠 걸려요?", "수신거부"]
