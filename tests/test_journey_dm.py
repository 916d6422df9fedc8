"""Journey DMs through the courier and opt-out replies through the router, on both backends,
with the memory platforms (no models, no network)."""

from __future__ import annotations

import time
from typing import Any, cast

import pytest

from bot.conversation.courier import Courier
from bot.conversation.direct import MemoryDirect, Undeliverable, journey_ref, opt_out_category
from bot.conversation.engine import Engine, Outcome, Sender
from bot.conversation.routing import MemoryCustomers, MemorySender, Router
from bot.storage.records import OUTBOX_MAX_ATTEMPTS, Inbound
from bot.storage.sql.store import SqlStore
from bot.types import Message
from tests.backends import raw

KEY = "slack:T1:D1:1.000001"


def engine_on(store: SqlStore) -> Engine:
    """A real engine whose understanding is never used here (no models are loaded)."""
    return Engine(store, cast(Any, None), cast(Any, None), cast(Any, None))


def dm_router(store: SqlStore) -> tuple[Router, MemoryDirect, Courier]:
    router = Router(engine_on(store))
    direct = MemoryDirect("slack")
    router.add_direct_messenger(direct)
    return router, direct, Courier(router)


async def linked(store: SqlStore, customer: str, user: str) -> None:
    await store.journeys.upsert_customer(customer, language="ko", at=1.0)
    await store.journeys.link(customer, "slack", user, at=1.0)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("(광고) 온도마켓: 장바구니 상품이 할인 중이에요. 수신거부: '수신거부'", "ko"),
        ("Ondo Market: your order was delivered. How was it? Reply 'stop' to opt out.", "en"),
    ],
)
async def test_a_dm_row_is_posted_to_the_user(
    any_store: SqlStore, text: str, language: str
) -> None:
    router, direct, courier = dm_router(any_store)
    assert router.direct_messenger("slack") is direct and router.direct_messenger("sms") is None
    assert courier.platforms == ["slack"]
    await any_store.outbox.put("slack", "dm", "U1", text=text, language=language)
    assert await courier.deliver_due() == 1
    assert direct.sent == [("U1", text, language)]
    assert await any_store.outbox.waiting() == 0
    assert await courier.deliver_due() == 0  # delivered once
    assert len(direct.sent) == 1


@pytest.mark.parametrize(
    "text",
    ["온도마켓: 주문하신 상품이 도착했어요. 어떠셨나요?", "Ondo Market: how was your order?"],
)
async def test_a_posted_dm_is_the_bots_message_of_its_conversation(
    any_store: SqlStore, text: str
) -> None:
    _, direct, courier = dm_router(any_store)
    await any_store.outbox.put("slack", "dm", "U1", text=text, language="ko")
    await any_store.outbox.put("slack", "dm", "U9", text="other", language="en")
    direct.refused["U9"] = "user_not_found"
    assert await courier.deliver_due() == 2
    [posted] = await any_store.history("slack:dm:U1")
    assert (posted.role, posted.text) == ("bot", text)
    assert (await any_store.conversation("slack:dm:U1", "slack")).state == "bot"
    assert await any_store.history("slack:dm:U9") == []  # refused: nothing recorded


async def test_an_undeliverable_user_is_marked_and_never_retried(
    any_store: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    _, direct, courier = dm_router(any_store)
    await linked(any_store, "c-1", "U9")
    direct.refused["U9"] = "user_not_found"
    secret = "민지님, 주문하신 상품이 도착했어요"
    await any_store.outbox.put("slack", "dm", "U9", text=secret, language="ko")
    assert await courier.deliver_due() == 1  # counts as delivered
    [identity] = await any_store.journeys.identities("c-1")
    assert identity.undeliverable_at is not None
    assert identity.undeliverable_reason == "user_not_found"
    assert await any_store.outbox.waiting() == 0
    raw(any_store, "UPDATE outbox SET due_at = 0")
    assert await courier.deliver_due() == 0 and direct.sent == []
    [warning] = [r for r in caplog.records if "undeliverable" in r.getMessage()]
    assert "user_not_found" in warning.getMessage() and secret not in warning.getMessage()


async def test_an_unlinked_undeliverable_user_still_counts_as_delivered(
    any_store: SqlStore,
) -> None:
    _, direct, courier = dm_router(any_store)
    direct.refused["U404"] = "cannot_dm_bot"
    await any_store.outbox.put("slack", "dm", "U404", text="stop?", language="en")
    assert await courier.deliver_due() == 1
    assert await any_store.outbox.waiting() == 0


async def test_a_transient_failure_is_retried(any_store: SqlStore) -> None:
    _, direct, courier = dm_router(any_store)
    direct.fail_next = 1
    await any_store.outbox.put("slack", "dm", "U1", text="할인 소식이에요", language="ko")
    assert await courier.deliver_due() == 0
    [(attempts, error)] = raw(any_store, "SELECT attempts, error FROM outbox")
    assert attempts == 1 and "platform unavailable" in error
    raw(any_store, "UPDATE outbox SET due_at = 0")
    assert await courier.deliver_due() == 1
    assert direct.sent == [("U1", "할인 소식이에요", "ko")]


@pytest.mark.parametrize(
    ("text", "language", "category", "button"),
    [
        ("(광고) 온도마켓: 할인 소식이에요", "ko", "marketing", "marketing"),
        ("Ondo Market: how was your order?", "en", "review_request", "review_request"),
        ("온도마켓: 배송이 시작됐어요", "ko", "transactional", None),
    ],
)
async def test_a_dm_carries_its_button_category_token_and_retry(
    any_store: SqlStore, text: str, language: str, category: str, button: str | None
) -> None:
    _, direct, courier = dm_router(any_store)
    direct.fail_next = 1
    before = time.time()
    number = await any_store.outbox.put(
        "slack", "dm", "U1", text=text, ref=journey_ref(5, category), language=language
    )
    assert await courier.deliver_due() == 0
    raw(any_store, "UPDATE outbox SET due_at = 0")
    assert await courier.deliver_due() == 1
    [message] = direct.messages
    assert (message.opt_out, message.token, message.retry) == (button, number, True)
    assert message.queued_at is not None and before - 1 <= message.queued_at <= time.time()


async def test_a_dm_posted_before_a_crash_is_posted_and_recorded_once(any_store: SqlStore) -> None:
    _, direct, courier = dm_router(any_store)
    await any_store.outbox.put("slack", "dm", "U1", text="할인 소식이에요", language="ko")
    real = any_store.outbox.delivered

    async def crash(item_id: int) -> None:
        raise RuntimeError("died before the mark")

    any_store.outbox.delivered = crash  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await courier.deliver_due()
    any_store.outbox.delivered = real  # type: ignore[method-assign]
    raw(any_store, "UPDATE outbox SET claimed_at = 0")  # the restart, after the lease
    assert await courier.deliver_due() == 1
    assert len(direct.sent) == 1 and direct.messages[0].retry is False
    assert [m.text for m in await any_store.history("slack:dm:U1")] == ["할인 소식이에요"]


def test_an_opt_out_button_only_goes_under_marketing_and_review_requests() -> None:
    assert opt_out_category("journey:1:marketing") == "marketing"
    assert opt_out_category("journey:1:review_request") == "review_request"
    for ref in ("journey:1:transactional", "journey:1", None, "", "x:1:marketing", "journey:"):
        assert opt_out_category(ref) is None


async def test_without_a_messenger_the_row_waits(any_store: SqlStore) -> None:
    router = Router(engine_on(any_store))
    router.add_customer_side(MemoryCustomers("slack"))
    courier = Courier(router)
    await any_store.outbox.put("slack", "dm", "U1", text="hello", language="en")
    assert await courier.deliver_due() == 0
    [(attempts, error)] = raw(any_store, "SELECT attempts, error FROM outbox")
    assert attempts == 1 and "not posted here" in error
    assert OUTBOX_MAX_ATTEMPTS > 1  # so it is tried again


def test_an_undeliverable_reason_is_one_short_line() -> None:
    assert Undeliverable("a\nb " + "x" * 500).reason.startswith("a b x")
    assert len(Undeliverable("x" * 500).reason) == 200
    assert Undeliverable("  ").reason == "undeliverable"


# --- opt-out replies -------------------------------------------------------------------


class Hook:
    """An opt-out hook that answers the words it knows, recording every call."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, str, str, str]] = []
        self.fail = fail

    async def __call__(self, platform: str, user: str, text: str, language: str) -> str | None:
        self.calls.append((platform, user, text, language))
        if self.fail:
            raise ConnectionError("consent ledger unavailable")
        if text.strip().lower() in ("stop", "수신거부"):
            return "수신거부 처리되었어요." if language == "ko" else "You are unsubscribed."
        return None


def customer(text: str, message_id: str, role: str = "customer") -> Message:
    return Message("slack", KEY, "U1", text, time.time(), message_id, role=role)  # type: ignore[arg-type]


def spy_engine(router: Router) -> list[str]:
    """Replace the bot's answer with a recording stand-in (no models)."""
    handled: list[str] = []

    async def handle(
        message: Message, sender: Sender | None = None, *, inbound: Inbound | None = None
    ) -> Outcome:
        assert inbound is not None
        if not inbound.process:
            return Outcome("duplicate", inbound.id)  # as the real engine does
        handled.append(message.text)
        await router.engine.store.mark_handled(inbound.id)
        return Outcome("replied", inbound.id)

    router.engine.handle = handle  # type: ignore[method-assign]
    return handled


@pytest.mark.parametrize(
    ("text", "language", "confirmation"),
    [("수신거부", "ko", "수신거부 처리되었어요."), ("STOP", "en", "You are unsubscribed.")],
)
async def test_an_opt_out_reply_is_confirmed_once_and_the_bot_does_not_answer(
    any_store: SqlStore, text: str, language: str, confirmation: str
) -> None:
    router = Router(engine_on(any_store))
    hook = Hook()
    router.opt_out = hook
    handled = spy_engine(router)
    sender = MemorySender()
    outcome = await router.customer_message(customer(text, "m1"), sender)
    assert outcome.action == "replied" and outcome.notes == ("opt_out",)
    assert [r.text for r in sender.sent] == [confirmation]
    assert sender.sent[0].language == language and sender.sent[0].in_reply_to == "m1"
    assert hook.calls == [("slack", "U1", text, language)] and handled == []
    history = await any_store.history(KEY, 10)
    assert [(m.role, m.text) for m in history] == [("customer", text), ("bot", confirmation)]
    # The platform redelivers the same message: not answered (nor opted out) again.
    again = await router.customer_message(customer(text, "m1"), sender)
    assert again.action == "duplicate" and len(sender.sent) == 1 and len(hook.calls) == 1
    assert handled == []


@pytest.mark.parametrize("text", ["배송은 언제 오나요?", "When does my order arrive?"])
async def test_any_other_text_goes_to_the_bot(any_store: SqlStore, text: str) -> None:
    router = Router(engine_on(any_store))
    hook = Hook()
    router.opt_out = hook
    handled = spy_engine(router)
    sender = MemorySender()
    outcome = await router.customer_message(customer(text, "m1"), sender)
    assert outcome.action == "replied" and handled == [text] and sender.sent == []
    assert len(hook.calls) == 1


async def test_without_a_hook_and_for_staff_the_bot_answers(any_store: SqlStore) -> None:
    router = Router(engine_on(any_store))
    handled = spy_engine(router)
    await router.customer_message(customer("stop", "m1"), MemorySender())
    hook = Hook()
    router.opt_out = hook
    await router.customer_message(customer("수신거부", "m2", role="staff"), MemorySender())
    assert handled == ["stop", "수신거부"] and hook.calls == []


async def test_a_failed_confirmation_post_is_answered_on_the_retry(any_store: SqlStore) -> None:
    router = Router(engine_on(any_store))
    router.opt_out = Hook()
    handled = spy_engine(router)
    sender = MemorySender(fail_next=1)
    with pytest.raises(ConnectionError):
        await router.customer_message(customer("수신거부", "m1"), sender)
    assert await any_store.history(KEY, 10) == [] or all(
        m.role == "customer" for m in await any_store.history(KEY, 10)
    )
    outcome = await router.customer_message(customer("수신거부", "m1"), sender)
    assert outcome.action == "replied" and [r.text for r in sender.sent] == [
        "수신거부 처리되었어요."
    ]
    assert handled == []


async def test_a_failing_hook_leaves_the_message_unanswered(any_store: SqlStore) -> None:
    router = Router(engine_on(any_store))
    router.opt_out = Hook(fail=True)
    handled = spy_engine(router)
    with pytest.raises(ConnectionError):
        await router.customer_message(customer("stop", "m1"), MemorySender())
    assert handled == []
    pending = await any_store.unfinished_inbound(
        since=0.0, max_attempts=5, platforms=["slack"], conversation_key=KEY
    )
    assert [p.message.text for p in pending] == ["stop"]
