"""Journey DMs on Slack and Discord, through the real slack-bolt / slack_sdk and discord.py
against the fakes: a Slack DM is one conversation (an answer at its top level has the DM in
its history, and a DM thread from before keeps its own key), the opt-out button under a
marketing or review-request DM (only its recipient, once however often clicked), and at
most one DM across a crash between the post and the delivered mark."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import pytest

from bot.app import Runtime
from bot.conversation.courier import Courier
from bot.conversation.direct import DirectMessage, journey_ref
from bot.conversation.routing import Router
from bot.journeys.definitions import SAMPLE_JOURNEYS, load_journeys
from bot.journeys.rules import QuietHours
from bot.journeys.service import JourneyService
from bot.storage.interface import Store
from bot.storage.sql.store import SqlStore
from tests.backends import raw
from tests.discord_harness import Discord, discord_settings, fake_discord, running_discord
from tests.fakes.slack_api import interactive_body, signed_request_headers
from tests.slack_harness import SECRET, Slack, fake_slack, running_slack, slack_settings
from tests.test_journey_dm_platforms import (
    ADVERT,
    SHOP,
    Hook,
    LenientHook,
    dm_channel_of,
    dm_posts,
    modelless_runtime,
)

LABELS = {"ko": "수신거부", "en": "Unsubscribe"}
CONFIRMED = {"ko": "수신거부가 처리", "en": "unsubscribed"}
NOT_YOURS = {"ko": "받으신 분만", "en": "Only the person"}
REVIEW = {
    "ko": "온도마켓: 받으신 상품은 어떠셨나요? 후기를 남겨 주세요.",
    "en": "Ondo Market: how was your order? Leave us a review.",
}


def journeys_on(store: Store) -> JourneyService:
    """The journey service the opt-out button reaches (the sample journeys, a fixed clock)."""
    return JourneyService(
        store,
        load_journeys(SAMPLE_JOURNEYS),
        shop_name=SHOP,
        quiet_hours=QuietHours.parse("21:00-08:00"),
        clock=lambda: 1_796_000_000.0,
    )


async def customer(store: Store, platform: str, user: str, language: str) -> str:
    """A linked customer who agreed to marketing messages."""
    customer_id = f"c-{platform}-{language}"
    await store.journeys.upsert_customer(customer_id, language=language, at=1.0)
    await store.journeys.link(customer_id, platform, user, at=1.0)
    await store.journeys.set_consent(
        customer_id, "marketing", granted=True, source="webhook", at=1.0
    )
    return customer_id


def opt_outs(history: list[Any], category: str) -> list[Any]:
    return [c for c in history if c.category == category and not c.granted]


def crash_once_at_the_mark(store: Store) -> Callable[[], None]:
    """Make the next ``delivered`` mark fail as a crash would; the returned function is the
    restart: the crashed replica's claim has expired."""
    real = store.outbox.delivered

    async def crash(item_id: int) -> None:
        store.outbox.delivered = real  # type: ignore[method-assign]
        raise RuntimeError("the process died before the delivered mark")

    store.outbox.delivered = crash  # type: ignore[method-assign]

    def restart() -> None:
        raw(cast(SqlStore, store), "UPDATE outbox SET claimed_at = 0 WHERE delivered_at IS NULL")

    return restart


# --- Slack -------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def slack_dm(tmp_path: Path) -> AsyncIterator[tuple[Slack, Courier, Hook]]:
    async with fake_slack() as fake:
        with modelless_runtime(tmp_path, **slack_settings(fake, handoff_channel=None)) as rt:
            router = Router(rt.engine)
            hook = Hook()
            router.opt_out = hook
            router.opt_out_click = journeys_on(rt.store).opt_out_category
            async with running_slack(fake, rt, router) as slack:
                yield slack, Courier(router), hook


async def slack_click(slack: Slack, value: str, user: str, channel: str, ts: str) -> None:
    """``user`` clicks the opt-out button (``value``) under the DM ``ts`` in ``channel``."""
    payload = slack.fake.block_actions_payload(
        "ondo_dm_opt_out",
        value,
        block_id="ondo_dm_opt_out",
        user=user,
        channel=channel,
        message_ts=ts,
    )
    before = slack.adapter.completed
    body = interactive_body(payload)
    assert await slack.post_signed(body, signed_request_headers(body, SECRET)) == 200
    await slack.adapter.wait_completed(before + 1)


def buttons(post: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = post.get("blocks") or []
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_a_top_level_answer_in_a_slack_dm_lands_in_the_dms_conversation(
    tmp_path: Path, language: str
) -> None:
    async with slack_dm(tmp_path) as (slack, courier, _hook):
        fake, store = slack.fake, slack.runtime.store
        fake.add_user("U0MINJI")
        await store.outbox.put("slack", "dm", "U0MINJI", text=ADVERT[language], language=language)
        assert await courier.deliver_due() == 1
        channel = fake.dm_channels["U0MINJI"]
        key = f"slack:{fake.team_id}:{channel}"
        for n in (1, 2):  # the top level twice: one conversation
            before = slack.adapter.completed
            event = fake.message_event(
                {"ko": "수신거부", "en": "stop"}[language],
                user="U0MINJI",
                channel=channel,
                channel_type="im",
            )
            assert await slack.deliver(event) == 200
            await slack.adapter.wait_completed(before + 1)
            assert "thread_ts" not in dm_posts(fake)[n]  # answered at the top level
        history = await store.history(key)
        assert [m.role for m in history][:2] == ["bot", "customer"]
        assert history[0].text == ADVERT[language] and len(history) == 5
        assert await store.conversation_owner(key) == "U0MINJI"


async def test_a_slack_dm_thread_from_before_keeps_its_own_conversation(tmp_path: Path) -> None:
    async with slack_dm(tmp_path) as (slack, _courier, _hook):
        fake, store = slack.fake, slack.runtime.store
        channel, dm_ts = "D0OLDDM", "1700000000.000100"
        old = f"slack:{fake.team_id}:{channel}:{dm_ts}"  # how DMs were keyed before
        await store.conversation(old, "slack")
        await store.record_outbound(old, "slack", ADVERT["ko"], "bot")
        event = fake.message_event(
            "수신거부", user="U0MINJI", channel=channel, channel_type="im", thread_ts=dm_ts
        )
        before = slack.adapter.completed
        assert await slack.deliver(event) == 200
        await slack.adapter.wait_completed(before + 1)
        assert [m.role for m in await store.history(old)][:2] == ["bot", "customer"]
        assert not await store.has_conversation(f"slack:{fake.team_id}:{channel}")
        assert dm_posts(fake)[-1]["thread_ts"] == dm_ts  # the reply goes where it was


async def test_a_top_level_answer_in_a_slack_dm_is_answered_by_the_bot_with_the_dm_in_history(
    sample_runtime_factory: Callable[..., Runtime],
) -> None:
    async with fake_slack() as fake:
        runtime = sample_runtime_factory(**slack_settings(fake, handoff_channel=None))
        router = Router(runtime.engine)
        router.opt_out = LenientHook()
        async with running_slack(fake, runtime, router) as slack:
            store = runtime.store
            courier = Courier(router)
            for user, language, ask, expect in (
                ("U0MINJI", "ko", "환불은 며칠 걸려요?", "환불"),
                ("U0SAM", "en", "How long does a refund take?", "refund"),
            ):
                fake.add_user(user)
                await store.outbox.put(
                    "slack", "dm", user, text=ADVERT[language], language=language
                )
                assert await courier.deliver_due() == 1
                channel = fake.dm_channels[user]
                before = slack.adapter.completed
                event = fake.message_event(ask, user=user, channel=channel, channel_type="im")
                assert await slack.deliver(event) == 200
                await slack.adapter.wait_completed(before + 1)
                answer = dm_posts(fake)[-1]
                assert answer["channel"] == channel and "thread_ts" not in answer
                assert expect in answer["text"].lower()
                history = await store.history(f"slack:{fake.team_id}:{channel}")
                assert [(m.role, m.text) for m in history[:2]] == [
                    ("bot", ADVERT[language]),
                    ("customer", ask),
                ]
                assert len(history) == 3 and history[2].role == "bot"


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_the_slack_opt_out_button_opts_its_recipient_out_once(
    tmp_path: Path, language: str
) -> None:
    async with slack_dm(tmp_path) as (slack, courier, _):
        fake, store = slack.fake, slack.runtime.store
        fake.add_user("U0MINJI")
        fake.add_user("U0OTHER")
        cid = await customer(store, "slack", "U0MINJI", language)
        other = await customer(store, "slack", "U0OTHER", "ko")
        ref = journey_ref(7, "marketing")
        await store.outbox.put(
            "slack", "dm", "U0MINJI", text=ADVERT[language], ref=ref, language=language
        )
        assert await courier.deliver_due() == 1
        [dm] = [c for c in fake.calls_to("chat.postMessage") if c.status == 200]
        [button] = buttons(dm.params)
        assert button["text"]["text"] == LABELS[language]
        assert button["value"] == f"marketing:{language}:U0MINJI"  # nothing secret
        channel, ts = dm.params["channel"], dm.response["ts"]
        assert dm.params["metadata"]["event_type"] == "ondo_dm"

        # Somebody else clicking (a forged click): refused, nothing recorded.
        await slack_click(slack, button["value"], "U0OTHER", channel, ts)
        [refusal] = fake.calls_to("chat.postEphemeral")
        assert refusal.params["user"] == "U0OTHER" and NOT_YOURS[language] in refusal.params["text"]
        assert opt_outs(await store.journeys.consent_history(cid), "marketing") == []
        assert opt_outs(await store.journeys.consent_history(other), "marketing") == []

        # The recipient, twice (a double click): one consent change, confirmed each time.
        for n in (2, 3):
            await slack_click(slack, button["value"], "U0MINJI", channel, ts)
            told = fake.calls_to("chat.postEphemeral")[n - 1].params
            assert told["user"] == "U0MINJI" and told["channel"] == channel
            assert SHOP in told["text"] and CONFIRMED[language] in told["text"]
        [change] = opt_outs(await store.journeys.consent_history(cid), "marketing")
        assert change.source == "button"
        consent = await store.journeys.consent(cid, "marketing")
        assert consent is not None and not consent.granted
        # The used button came off the DM; its words stayed.
        [update, *_] = fake.calls_to("chat.update")
        assert (update.params["channel"], update.params["ts"]) == (channel, ts)
        assert buttons(fake.messages[(channel, ts)]) == []
        assert fake.messages[(channel, ts)]["text"] == dm.params["text"]


@pytest.mark.parametrize(
    ("value", "channel"),
    [
        ("transactional:ko:U0MINJI", None),  # no button is ever posted for it
        ("marketing:xx:U0MINJI", None),
        ("marketing:ko:U0MINJI:extra", None),
        ("<script>" * 300, None),
        ("marketing:ko:U0MINJI", "C0SUPPORT"),  # not in a DM
    ],
)
async def test_a_garbled_slack_opt_out_click_records_nothing(
    tmp_path: Path, value: str, channel: str | None
) -> None:
    async with slack_dm(tmp_path) as (slack, _courier, _):
        store = slack.runtime.store
        cid = await customer(store, "slack", "U0MINJI", "ko")
        await slack_click(slack, value, "U0MINJI", channel or "D00000001", "1.000001")
        assert opt_outs(await store.journeys.consent_history(cid), "marketing") == []
        assert slack.fake.calls_to("chat.postEphemeral") == []


async def test_a_transactional_slack_dm_has_no_opt_out_button(tmp_path: Path) -> None:
    async with slack_dm(tmp_path) as (slack, courier, _):
        fake, store = slack.fake, slack.runtime.store
        fake.add_user("U0MINJI")
        for ref in (journey_ref(1, "transactional"), "journey:2", None):
            await store.outbox.put("slack", "dm", "U0MINJI", text="배송이 시작됐어요", ref=ref)
        await store.outbox.put(
            "slack",
            "dm",
            "U0MINJI",
            text=REVIEW["ko"],
            ref=journey_ref(3, "review_request"),
            language="ko",
        )
        assert await courier.deliver_due() == 4
        posts = dm_posts(fake)
        assert [len(buttons(p)) for p in posts] == [0, 0, 0, 1]
        assert buttons(posts[3])[0]["value"] == "review_request:ko:U0MINJI"


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_a_slack_dm_posted_before_a_crash_is_not_posted_again(
    tmp_path: Path, language: str
) -> None:
    async with slack_dm(tmp_path) as (slack, courier, _):
        fake, store = slack.fake, slack.runtime.store
        fake.add_user("U0MINJI")
        ref = journey_ref(4, "marketing")
        number = await store.outbox.put(
            "slack", "dm", "U0MINJI", text=ADVERT[language], ref=ref, language=language
        )
        restart = crash_once_at_the_mark(store)
        with pytest.raises(RuntimeError):
            await courier.deliver_due()
        assert len(dm_posts(fake)) == 1 and await store.outbox.waiting() == 1
        restart()
        assert await courier.deliver_due() == 1
        assert len(dm_posts(fake)) == 1  # found in the DM's history, not posted again
        [look] = fake.calls_to("conversations.history")
        assert str(look.params["include_all_metadata"]).lower() in ("1", "true")
        assert dm_posts(fake)[0]["metadata"]["event_payload"] == {"outbox": number}
        channel = fake.dm_channels["U0MINJI"]
        history = await store.history(f"slack:{fake.team_id}:{channel}")
        assert [m.text for m in history] == [ADVERT[language]]  # recorded once
        assert await store.outbox.waiting() == 0


async def test_a_slack_retry_whose_dm_never_reached_slack_posts_it(tmp_path: Path) -> None:
    async with slack_dm(tmp_path) as (slack, courier, _):
        fake, store = slack.fake, slack.runtime.store
        fake.add_user("U0MINJI")
        fake.fail_next("chat.postMessage", error="fatal_error")
        await store.outbox.put("slack", "dm", "U0MINJI", text=ADVERT["ko"], language="ko")
        assert await courier.deliver_due() == 0
        raw(cast(SqlStore, store), "UPDATE outbox SET due_at = 0")
        assert await courier.deliver_due() == 1
        posted = [c for c in fake.calls_to("chat.postMessage") if c.response.get("ok")]
        assert len(posted) == 1 and len(fake.calls_to("conversations.history")) == 1


# --- Discord -----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def discord_dm(tmp_path: Path) -> AsyncIterator[tuple[Discord, Courier]]:
    async with fake_discord() as fake:
        with modelless_runtime(tmp_path, **discord_settings(fake, desk=None)) as rt:
            router = Router(rt.engine)
            router.opt_out = Hook()
            router.opt_out_click = journeys_on(rt.store).opt_out_category
            async with running_discord(fake, rt, router) as discord:
                yield discord, Courier(router)


def only_message(discord: Discord, channel: int) -> int:
    """The id of the one message in ``channel`` (the fake's record)."""
    [message] = [m for m in discord.fake.messages.values() if m["channel_id"] == str(channel)]
    return int(message["id"])


def components(call: Any) -> list[dict[str, Any]]:
    rows = call.body.get("components") or []
    return [c for row in rows for c in row.get("components") or []]


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_the_discord_opt_out_button_opts_its_recipient_out_once(
    tmp_path: Path, language: str
) -> None:
    async with discord_dm(tmp_path) as (discord, courier):
        fake, store = discord.fake, discord.runtime.store
        uid = int(fake.customer["id"])
        other = int(fake.add_member(1_190_000_000_000_000_777, "sam")["id"])
        cid = await customer(store, "discord", str(uid), language)
        text = REVIEW[language]
        ref = journey_ref(9, "review_request")
        await store.outbox.put("discord", "dm", str(uid), text=text, ref=ref, language=language)
        assert await courier.deliver_due() == 1
        channel = dm_channel_of(fake, uid)
        [post] = discord.posts(channel)
        [button] = components(post)
        assert button["label"] == LABELS[language]
        assert button["custom_id"] == f"ondo:optout:review_request:{language}:{uid}"
        assert post.body["nonce"].startswith("dm") and post.body["enforce_nonce"] is True
        message_id = only_message(discord, channel)

        refused = await discord.click(message_id, button["custom_id"], user_id=other)
        assert NOT_YOURS[language] in refused.body["data"]["content"]
        assert int(refused.body["data"]["flags"]) & 64  # ephemeral
        assert opt_outs(await store.journeys.consent_history(cid), "review_request") == []

        for _ in range(2):  # a double click
            answer = await discord.click(message_id, button["custom_id"], user_id=uid)
            assert CONFIRMED[language] in answer.body["data"]["content"]
            assert SHOP in answer.body["data"]["content"]
            assert int(answer.body["data"]["flags"]) & 64
        [change] = opt_outs(await store.journeys.consent_history(cid), "review_request")
        assert change.source == "button"
        assert opt_outs(await store.journeys.consent_history(cid), "marketing") == []
        # The used button came off the DM; its words stayed.
        stored = fake.messages[int(message_id)]
        assert not stored.get("components") and stored["content"] == post.body["content"]


async def test_a_transactional_discord_dm_has_no_opt_out_button(tmp_path: Path) -> None:
    async with discord_dm(tmp_path) as (discord, courier):
        fake, store = discord.fake, discord.runtime.store
        uid = int(fake.customer["id"])
        ref = journey_ref(2, "transactional")
        await store.outbox.put("discord", "dm", str(uid), text="배송이 시작됐어요", ref=ref)
        assert await courier.deliver_due() == 1
        [post] = discord.posts(dm_channel_of(fake, uid))
        assert components(post) == []


@pytest.mark.parametrize(
    "custom_id",
    [
        "ondo:optout:transactional:ko:{uid}",
        "ondo:optout:marketing:xx:{uid}",
        "ondo:optout:marketing:ko:{uid}:1",
        "ondo:optout:marketing:ko:not-a-user",
    ],
)
async def test_a_garbled_discord_opt_out_click_records_nothing(
    tmp_path: Path, custom_id: str
) -> None:
    async with discord_dm(tmp_path) as (discord, courier):
        fake, store = discord.fake, discord.runtime.store
        uid = int(fake.customer["id"])
        cid = await customer(store, "discord", str(uid), "ko")
        ref = journey_ref(5, "marketing")
        await store.outbox.put("discord", "dm", str(uid), text=ADVERT["ko"], ref=ref)
        assert await courier.deliver_due() == 1
        message_id = only_message(discord, dm_channel_of(fake, uid))
        data = fake.interaction_create(message_id, custom_id.format(uid=uid), user_id=uid)
        before = discord.adapter.completed
        assert await fake.dispatch("INTERACTION_CREATE", data) == 1
        await discord.adapter.wait_completed(before + 1)
        # Not a button Ondo posts: nothing recorded, nothing answered.
        assert opt_outs(await store.journeys.consent_history(cid), "marketing") == []
        assert not [c for c in fake.calls if c.path.startswith(f"/interactions/{data['id']}/")]


@pytest.mark.parametrize(("language", "later"), [("ko", 0.0), ("en", 600.0)])
async def test_a_discord_dm_posted_before_a_crash_is_not_posted_again(
    tmp_path: Path, language: str, later: float
) -> None:
    async with discord_dm(tmp_path) as (discord, courier):
        fake, store = discord.fake, discord.runtime.store
        uid = int(fake.customer["id"])
        ref = journey_ref(6, "marketing")
        await store.outbox.put(
            "discord", "dm", str(uid), text=ADVERT[language], ref=ref, language=language
        )
        restart = crash_once_at_the_mark(store)
        with pytest.raises(RuntimeError):
            await courier.deliver_due()
        channel = dm_channel_of(fake, uid)
        assert len(discord.posts(channel)) == 1
        # The restart comes after Discord forgot the nonce (later) or within its minutes.
        fake.clock = lambda: time.time() + later
        restart()
        assert await courier.deliver_due() == 1
        assert len(discord.posts(channel)) == 1 and len(discord.texts(channel)) == 1
        assert len([m for m in fake.messages.values() if m["channel_id"] == str(channel)]) == 1
        looked = [c for c in fake.calls if c.method == "GET" and c.path.endswith("/messages")]
        assert len(looked) == 1 and fake.nonce_hits == 0  # the history found it
        [recorded] = await store.history(f"discord:dm:{channel}")
        assert recorded.text == ADVERT[language]
        assert await store.outbox.waiting() == 0


async def test_a_discord_nonce_returns_the_dm_already_posted(tmp_path: Path) -> None:
    async with discord_dm(tmp_path) as (discord, _courier):
        fake = discord.fake
        uid = str(fake.customer["id"])
        direct = discord.adapter.direct
        first = await direct.send_dm(DirectMessage(uid, "배송이 시작됐어요", "ko", token=41))
        again = await direct.send_dm(DirectMessage(uid, "배송이 시작됐어요", "ko", token=41))
        assert first == again and fake.nonce_hits == 1
        fake.clock = lambda: time.time() + 600  # Discord's few minutes are over
        third = await direct.send_dm(DirectMessage(uid, "배송이 시작됐어요", "ko", token=41))
        assert third.message_id != first.message_id
