"""``ondo insights journeys`` on both backends: per journey scheduled, sent, pending, cancelled,
suppressed by reason (quiet hours as deferrals), replies within 3 days, opt-outs after a send,
conversions after a cart reminder within 7 days; the sends are filled into ``store.journeys``
directly, with given times. The HTML page never turns a journey name or reason into markup."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.insights import journeys as insights
from bot.storage.records import Post
from bot.storage.sql.journey_insights import journey_rows
from bot.storage.sql.store import SqlStore
from bot.types import Message
from tests.backends import raw

NOW = 1_800_000_000.0
HOUR = 3600.0
DAY = 86400.0
SINCE = NOW - 30 * DAY
TEXTS = {
    "ko": "(광고) 온도마켓: 김민지님, 장바구니의 감귤이 아직 기다리고 있어요. 수신거부: '수신거부'",
    "en": "(Ad) Ondo Market: Jamie, the tangerines in your cart are waiting. Reply STOP to opt out",
}


@dataclass
class Shop:
    """Fills a store as the journey service would, at given times."""

    store: SqlStore
    count: int = 0
    messages: int = 0
    ids: dict[str, int] = field(default_factory=dict)

    async def customer(self, customer_id: str, platform: str, user: str) -> None:
        await self.store.journeys.upsert_customer(customer_id, at=SINCE - DAY)
        await self.store.journeys.link(customer_id, platform, user, at=SINCE - DAY)

    async def event(self, event_id: str, type: str, customer: str, at: float) -> str:
        payload = {"cart_id": f"cart-{event_id}", "order_id": f"o-{event_id}"}
        await self.store.journeys.record_event(
            event_id, type, at, customer, payload, received_at=at
        )
        return event_id

    async def send(
        self,
        journey: str,
        customer: str,
        at: float,
        *,
        state: str = "sent",
        reason: str | None = None,
        trigger: str | None = None,
        category: str = "marketing",
        language: str = "ko",
        deferrals: int = 0,
    ) -> int:
        """A send created an hour before ``at`` and decided at ``at`` (after ``deferrals``
        quiet-hours deferrals), or left pending."""
        self.count += 1
        journeys = self.store.journeys
        send_id = await journeys.schedule(
            journey,
            customer,
            category=category,
            dedupe_key=f"k{self.count}",
            due_at=at,
            trigger_event_id=trigger,
            match_value=f"m{self.count}",
            platform="slack",
            text=TEXTS[language],
            language=language,
            at=at - HOUR,
        )
        assert send_id is not None
        if state == "pending":
            return send_id
        if state == "cancelled":
            assert await journeys.cancel_pending(customer, f"m{self.count}", journey=journey) == 1
            return send_id
        for _ in range(deferrals):
            assert [s.id for s in await journeys.take_due(at, None)] == [send_id]
            assert await journeys.defer(send_id, at, "quiet_hours")
        assert [s.id for s in await journeys.take_due(at, None)] == [send_id]
        post = Post("slack", "dm", "U", TEXTS[language], "journey", None, language)
        if state == "sent":
            assert await journeys.finish(send_id, "sent", sent_at=at, post=post)
        else:
            assert state in ("suppressed", "undeliverable")
            assert await journeys.finish(send_id, state, reason)  # type: ignore[arg-type]
        return send_id

    async def message(self, platform: str, user: str, at: float, text: str) -> None:
        """A customer message from ``user`` recorded at ``at``."""
        self.messages += 1
        message_id = f"msg-{self.messages}"
        await self.store.record_inbound(
            Message(platform, f"{platform}:dm:{user}", user, text, at, message_id)
        )
        raw(
            self.store,
            "UPDATE messages SET created_at = ? WHERE platform_message_id = ?",
            [at, message_id],
        )

    async def revoke(self, customer: str, category: str, at: float) -> None:
        await self.store.journeys.set_consent(
            customer, category, granted=False, source="opt-out message", evidence="수신거부", at=at
        )


async def fill(store: SqlStore) -> Shop:
    """Three customers' month: see the expected figures in the tests."""
    shop = Shop(store)
    await shop.customer("cust-a", "slack", "U1")
    await shop.customer("cust-b", "discord", "D2")
    await shop.customer("cust-c", "slack", "U3")

    # cust-a: an old reminder (before the window), then a reminder answered twice and
    # converted, then an order confirmation answered once.
    await shop.send("cart_reminder", "cust-a", NOW - 40 * DAY)
    await shop.message("slack", "U1", NOW - 40 * DAY + HOUR, "네 감사합니다")
    cart_a = await shop.event("ev-a1", "cart.abandoned", "cust-a", NOW - 20 * DAY - 2 * HOUR)
    await shop.send("cart_reminder", "cust-a", NOW - 20 * DAY, trigger=cart_a)
    await shop.message("slack", "U1", NOW - 20 * DAY + HOUR, "쿠폰도 쓸 수 있나요?")
    await shop.message("slack", "U1", NOW - 19 * DAY, "주문할게요")
    order_a = await shop.event("ev-a2", "order.placed", "cust-a", NOW - 18 * DAY)
    await shop.send(
        "order_confirmation",
        "cust-a",
        NOW - 18 * DAY + 60,
        trigger=order_a,
        category="transactional",
    )
    await shop.message("slack", "U1", NOW - 17 * DAY, "배송은 언제 오나요?")

    # cust-b (English): a reminder deferred twice by quiet hours, answered and ordered only
    # after the windows, opted out of marketing the next day; a review request whose
    # category is withdrawn an hour later; a marketing withdrawal long after any reminder.
    cart_b = await shop.event("ev-b1", "cart.abandoned", "cust-b", NOW - 15 * DAY - 2 * HOUR)
    await shop.send(
        "cart_reminder", "cust-b", NOW - 15 * DAY, trigger=cart_b, language="en", deferrals=2
    )
    await shop.revoke("cust-b", "marketing", NOW - 14 * DAY)
    await shop.message("discord", "D2", NOW - 11 * DAY, "Is it still on sale?")
    delivered = await shop.event("ev-b2", "order.delivered", "cust-b", NOW - 7 * DAY)
    await shop.event("ev-b3", "order.placed", "cust-b", NOW - 7 * DAY + HOUR)
    await shop.send(
        "delivery_review",
        "cust-b",
        NOW - 6 * DAY,
        trigger=delivered,
        category="review_request",
        language="en",
    )
    await shop.revoke("cust-b", "review_request", NOW - 6 * DAY + HOUR)
    await shop.revoke("cust-b", "marketing", NOW - 5 * DAY)

    # cust-c: nothing reaches them.
    cart_c = await shop.event("ev-c1", "cart.abandoned", "cust-c", NOW - 10 * DAY)
    await shop.send(
        "cart_reminder",
        "cust-c",
        NOW - 10 * DAY,
        state="suppressed",
        reason="consent",
        trigger=cart_c,
    )
    await shop.send("cart_reminder", "cust-c", NOW - 9 * DAY, state="cancelled", trigger=cart_c)
    for offset, state, reason in (
        (8, "suppressed", "cap"),
        (7, "suppressed", "anger"),
        (6, "undeliverable", "cannot_dm_bot"),
        (5, "suppressed", "handoff"),
    ):
        await shop.send(
            "vip_return_offer", "cust-c", NOW - offset * DAY, state=state, reason=reason
        )
    await shop.send("vip_return_offer", "cust-c", NOW + HOUR / 2, state="pending")
    await shop.revoke("cust-c", "marketing", NOW - 4 * DAY)
    # Someone who is no shop customer writes to the bot: no journey's reply.
    await shop.message("slack", "U9", NOW - 20 * DAY + 2 * HOUR, "hello?")
    return shop


async def figures(store: SqlStore) -> dict[str, insights.JourneyFigures]:
    rows = await journey_rows(store, SINCE, NOW)
    computed = insights.compute(rows, since=SINCE, until=NOW)
    return {j.journey: j for j in computed.journeys}


def suppressed(**counts: int) -> dict[str, int]:
    return {**dict.fromkeys(insights.SUPPRESSION_REASONS, 0), **counts}


async def test_the_figures_of_a_month_per_journey(any_store: SqlStore) -> None:
    await fill(any_store)
    got = await figures(any_store)
    assert list(got) == [
        "cart_reminder",
        "delivery_review",
        "order_confirmation",
        "vip_return_offer",
    ]

    cart = got["cart_reminder"]
    assert (cart.category, cart.scheduled, cart.sent, cart.pending, cart.cancelled) == (
        "marketing",
        4,
        2,
        0,
        1,
    )
    assert cart.suppressed == suppressed(consent=1, quiet_hours=2)
    assert (cart.replies, cart.opt_outs, cart.conversions) == (1, 1, 1)

    confirmation = got["order_confirmation"]
    assert (confirmation.scheduled, confirmation.sent, confirmation.replies) == (1, 1, 1)
    assert (confirmation.opt_outs, confirmation.conversions) == (0, None)

    review = got["delivery_review"]
    assert (review.category, review.sent, review.replies, review.opt_outs) == (
        "review_request",
        1,
        0,
        1,
    )
    assert review.conversions is None

    vip = got["vip_return_offer"]
    assert (vip.scheduled, vip.sent, vip.pending, vip.replies, vip.opt_outs) == (5, 0, 1, 0, 0)
    assert vip.suppressed == suppressed(cap=1, anger=1, handoff=1, undeliverable=1)


async def test_the_window_bounds_the_sends_counted(any_store: SqlStore) -> None:
    await fill(any_store)
    rows = await journey_rows(any_store, NOW - 12 * DAY, NOW)
    got = {j.journey: j for j in insights.compute(rows, since=NOW - 12 * DAY, until=NOW).journeys}
    assert list(got) == ["cart_reminder", "delivery_review", "vip_return_offer"]
    assert (got["cart_reminder"].scheduled, got["cart_reminder"].sent) == (2, 0)
    rows = await journey_rows(any_store, NOW - 60 * DAY, NOW)
    everything = insights.compute(rows, since=NOW - 60 * DAY, until=NOW)
    cart = next(j for j in everything.journeys if j.journey == "cart_reminder")
    # The old reminder is counted now, and the message an hour after it is its reply.
    assert (cart.scheduled, cart.sent, cart.replies, cart.conversions) == (5, 3, 2, 1)


async def test_an_empty_store_has_no_journeys(any_store: SqlStore) -> None:
    rows = await journey_rows(any_store, SINCE, NOW)
    computed = insights.compute(rows, since=SINCE, until=NOW)
    assert computed.journeys == ()
    assert "no journey sends in the last 30 days" in insights.summary(computed, "30 days", "en")
    assert "최근 30일 동안 여정 발송이 없습니다" in insights.summary(computed, "30일", "ko")
    assert "여정 발송이 없습니다" in insights.page(computed, "30일", "ko")


async def test_a_reply_counts_for_the_latest_send_only_and_within_three_days(
    any_store: SqlStore,
) -> None:
    shop = Shop(any_store)
    await shop.customer("cust-a", "slack", "U1")
    trigger = await shop.event("ev-1", "cart.abandoned", "cust-a", NOW - 10 * DAY)
    await shop.send("cart_reminder", "cust-a", NOW - 10 * DAY + HOUR, trigger=trigger)
    await shop.message("slack", "U1", NOW - 7 * DAY + HOUR + 1, "too late: 3 days and a second")
    await shop.event("ev-2", "order.placed", "cust-a", NOW - 3 * DAY + HOUR + 1)
    got = await figures(any_store)
    assert (got["cart_reminder"].replies, got["cart_reminder"].conversions) == (0, 0)
    await shop.message("slack", "U1", NOW - 7 * DAY + HOUR, "exactly three days: 답장")
    got = await figures(any_store)
    assert got["cart_reminder"].replies == 1


async def test_summary_in_both_languages(any_store: SqlStore) -> None:
    await fill(any_store)
    rows = await journey_rows(any_store, SINCE, NOW)
    computed = insights.compute(rows, since=SINCE, until=NOW)
    english = insights.summary(computed, "30 days", "en")
    assert "cart_reminder (marketing)" in english
    assert "scheduled 4 · sent 2 · pending 0 · cancelled 1" in english
    assert "no consent 1 · quiet hours (deferred) 2 · frequency cap 0" in english
    assert "replies 1 · opt-outs 1 · conversions 1 (50%)" in english
    korean = insights.summary(computed, "30일", "ko")
    assert "예약 4 · 발송 2 · 대기 0 · 취소 1" in korean
    assert "답장 1 · 수신거부 1 · 전환 1 (50%)" in korean
    assert "전달 불가 1" in korean
    # More Korean sends than English ones: a Korean report unless the agents' language says.
    assert insights.report_language(computed, None) == "ko"
    assert insights.report_language(computed, "en") == "en"
    data = computed.to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["windows_days"] == {"reply": 3.0, "opt_out": 7.0, "conversion": 7.0}


async def test_the_html_page_escapes_names_and_reasons(any_store: SqlStore) -> None:
    shop = Shop(any_store)
    await shop.customer("cust-x", "slack", "U1")
    await shop.send("<script>alert(1)</script>", "cust-x", NOW - DAY)
    await shop.send("vip", "cust-x", NOW - HOUR, state="suppressed", reason="<img src=x onerror=1>")
    rows = await journey_rows(any_store, SINCE, NOW)
    computed = insights.compute(rows, since=SINCE, until=NOW)
    for language in ("ko", "en"):
        document = insights.page(computed, "30 days", language)  # type: ignore[arg-type]
        assert "<script>" not in document and "<img" not in document
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in document
        assert "&lt;img src=x onerror=1&gt;" in document
        assert 'data-chart="ratio"' in document
    assert "수신거부" in insights.page(computed, "30일", "ko")
    assert "opt-outs" in insights.page(computed, "30 days", "en")


# --- the command -----------------------------------------------------------------------------


async def _fill_recent(db: Path) -> None:
    """A cart reminder two days ago and one 40 days ago, by the real clock (the command's)."""
    from bot.storage.sqlite import SQLiteStore

    store = SQLiteStore.open(str(db))
    try:
        shop = Shop(store)
        await shop.customer("cust-a", "slack", "U1")
        now = time.time()
        trigger = await shop.event("ev-1", "cart.abandoned", "cust-a", now - 3 * DAY)
        await shop.send("cart_reminder", "cust-a", now - 2 * DAY, trigger=trigger)
        await shop.send("cart_reminder", "cust-a", now - 40 * DAY)
    finally:
        store.close()


def test_the_command_prints_json_and_writes_html(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    db = tmp_path / "ondo.db"
    asyncio.run(_fill_recent(db))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ONDO_DB", str(db))
    monkeypatch.delenv("ONDO_ENCRYPTION_KEY", raising=False)
    monkeypatch.delenv("ONDO_AGENT_LANGUAGE", raising=False)

    def run(*args: str) -> tuple[int, Any, str]:
        code = main(["insights", "journeys", *args])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = run("--json", "--since", "30")
    assert code == 0
    [cart] = json.loads(out)["journeys"]
    assert (cart["journey"], cart["scheduled"], cart["sent"], cart["conversions"]) == (
        "cart_reminder",
        1,
        1,
        0,
    )
    code, out, _ = run("--json", "--since", "6w")
    assert json.loads(out)["journeys"][0]["scheduled"] == 2
    code, out, err = run("--html", str(tmp_path / "journeys.html"), "--since", "30")
    assert code == 0
    assert "예약 1 · 발송 1" in out
    assert "HTML report" in err
    assert "cart_reminder" in (tmp_path / "journeys.html").read_text(encoding="utf-8")


def test_the_command_refuses_a_bad_since_and_reads_no_missing_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ONDO_DB", str(tmp_path / "missing.db"))
    monkeypatch.delenv("ONDO_AGENT_LANGUAGE", raising=False)
    with pytest.raises(SystemExit):
        main(["insights", "journeys", "--since", "soon"])
    assert "is not a duration" in capsys.readouterr().err
    assert main(["insights", "journeys"]) == 0
    assert "no journey sends in the last 30 days" in capsys.readouterr().out
    assert not (tmp_path / "missing.db").exists()


def test_the_page_in_chromium(tmp_path: Path) -> None:
    from bot.storage.sqlite import SQLiteStore
    from tests.browser import chromium_path, load_page

    binary = chromium_path()

    async def build() -> insights.JourneyInsights:
        store = SQLiteStore.open(str(tmp_path / "ondo.db"))
        try:
            await fill(store)
            return insights.compute(await journey_rows(store, SINCE, NOW), since=SINCE, until=NOW)
        finally:
            store.close()

    path = tmp_path / "journeys.html"
    path.write_text(insights.page(asyncio.run(build()), "30일", "ko"), encoding="utf-8")
    loaded = load_page(path, binary)
    assert loaded.errors == []
    assert loaded.outside_requests == []
    assert loaded.title == "여정 인사이트"
    assert loaded.charts, "a ratio bar and a bar chart per journey"
    for chart in loaded.charts:
        assert chart["width"] > 0 and chart["height"] > 0 and chart["marks"] > 0, chart
    assert "cart_reminder" in loaded.text and "수신거부" in loaded.text


def test_an_unlabelled_or_missing_reason_is_shown_as_it_is() -> None:
    from bot.storage.sql.journey_insights import JourneyRows, SendRow

    def row(reason: str | None) -> SendRow:
        return SendRow("j", "c", "marketing", "suppressed", reason, 0, None, NOW - DAY, None, "en")

    rows = JourneyRows((row(None), row("{rate} limit"), row("{rate} limit")), (), (), ())
    computed = insights.compute(rows, since=SINCE, until=NOW)
    [journey] = computed.journeys
    assert journey.suppressed == suppressed(unknown=1, **{"{rate} limit": 2})
    assert journey.conversions is None
    assert "unknown 1 · {rate} limit 2" in insights.summary(computed, "30 days", "en")
    assert "{rate} limit" in insights.page(computed, "30 days", "en")


# --- reviews ---------------------------------------------------------------------------------


async def fill_reviews(store: SqlStore) -> Shop:
    """Four review requests in the window (three answered: five stars, two stars with
    neutral words, words alone and negative) and one before it (answered), plus a cart reminder
    a review names (a review is counted for any journey it answers)."""
    shop = Shop(store)
    await shop.customer("cust-a", "slack", "U1")
    await shop.customer("cust-b", "discord", "D2")
    reviews = store.reviews

    async def review(send: int, polarity: str, rating: int | None, n: int, at: float) -> None:
        stored = await reviews.record_review(
            "journey",
            f"inbound:{n}",
            polarity=polarity,  # type: ignore[arg-type]
            text="<b>좋아요</b>",
            customer_id="cust-a",
            send_id=send,
            rating=rating,
            at=at,
        )
        assert stored is not None

    old = await shop.send("delivery_review", "cust-a", NOW - 40 * DAY, category="review_request")
    await review(old, "negative", 1, 1, NOW - 40 * DAY + HOUR)
    answered = [
        await shop.send("delivery_review", who, NOW - d * DAY, category="review_request")
        for who, d in (("cust-a", 9), ("cust-b", 8), ("cust-a", 7), ("cust-b", 6))
    ]
    await review(answered[0], "positive", 5, 2, NOW - 9 * DAY + HOUR)
    # Two stars with words the detector reads neutral: the customer's stars make it unhappy.
    await review(answered[1], "neutral", 2, 3, NOW - 8 * DAY + HOUR)
    await review(answered[2], "negative", None, 4, NOW - 7 * DAY + HOUR)
    cart = await shop.send("cart_reminder", "cust-a", NOW - 5 * DAY)
    await review(cart, "positive", None, 5, NOW - 5 * DAY + HOUR)
    await shop.send("order_confirmation", "cust-b", NOW - 4 * DAY, category="transactional")
    return shop


async def test_reviews_per_journey_unhappy_and_mean_stars(any_store: SqlStore) -> None:
    await fill_reviews(any_store)
    got = await figures(any_store)
    review = got["delivery_review"]
    assert (review.sent, review.reviews, review.unhappy, review.rated) == (4, 3, 2, 2)
    assert review.mean_stars == pytest.approx(3.5)
    # A journey that asks for no review: its reviews counted, no unhappy figure or stars.
    cart = got["cart_reminder"]
    assert (cart.reviews, cart.unhappy, cart.mean_stars) == (1, None, None)
    confirmation = got["order_confirmation"]
    assert (confirmation.reviews, confirmation.unhappy, confirmation.mean_stars) == (
        None,
        None,
        None,
    )
    # The window counts the old request and its one-star review too.
    rows = await journey_rows(any_store, NOW - 60 * DAY, NOW)
    everything = insights.compute(rows, since=NOW - 60 * DAY, until=NOW)
    old = next(j for j in everything.journeys if j.journey == "delivery_review")
    assert (old.sent, old.reviews, old.unhappy, old.rated) == (5, 4, 3, 3)
    assert old.mean_stars == pytest.approx(8 / 3)


async def test_a_review_request_without_reviews_shows_zero_and_no_stars(
    any_store: SqlStore,
) -> None:
    shop = Shop(any_store)
    await shop.customer("cust-a", "slack", "U1")
    await shop.send("delivery_review", "cust-a", NOW - DAY, category="review_request")
    computed = insights.compute(await journey_rows(any_store, SINCE, NOW), since=SINCE, until=NOW)
    [review] = computed.journeys
    assert (review.reviews, review.unhappy, review.mean_stars) == (0, 0, None)
    assert "reviews 0 (unhappy 0)" in insights.summary(computed, "30 days", "en")
    assert "리뷰 0 (불만 0)" in insights.summary(computed, "30일", "ko")
    [data] = [j.to_json() for j in computed.journeys]
    assert (data["reviews"], data["unhappy_reviews"], data["mean_stars"]) == (0, 0, None)


async def test_reviews_in_the_summary_json_and_page_in_both_languages(
    any_store: SqlStore,
) -> None:
    await fill_reviews(any_store)
    shop = Shop(any_store, count=100)
    await shop.customer("cust-x", "slack", "U7")
    await shop.send("<script>x</script>", "cust-x", NOW - DAY, category="review_request")
    computed = insights.compute(await journey_rows(any_store, SINCE, NOW), since=SINCE, until=NOW)
    english = insights.summary(computed, "30 days", "en")
    assert "reviews 3 (unhappy 2, mean stars 3.5 of 2 rated)" in english
    assert "reviews 1\n" in english + "\n"  # the cart reminder: no unhappy figure
    korean = insights.summary(computed, "30일", "ko")
    assert "리뷰 3 (불만 2, 평균 별점 3.5 (2건 별점))" in korean
    data = computed.to_json()
    assert json.loads(json.dumps(data)) == data
    by_name = {j.journey: j.to_json() for j in computed.journeys}
    assert by_name["delivery_review"]["reviews"] == 3
    assert by_name["delivery_review"]["unhappy_reviews"] == 2
    assert by_name["delivery_review"]["mean_stars"] == 3.5
    assert by_name["delivery_review"]["rated_reviews"] == 2
    assert by_name["order_confirmation"]["reviews"] is None
    for language, labels in (
        ("en", ("reviews", "unhappy", "mean stars")),
        ("ko", ("리뷰", "불만", "평균 별점")),
    ):
        document = insights.page(computed, "30 days", language)  # type: ignore[arg-type]
        assert "<script>" not in document and "&lt;script&gt;x&lt;/script&gt;" in document
        assert "좋아요" not in document  # no review text is opened
        for label in labels:
            assert f"<th>{label}</th>" in document
        assert "3.5" in document
        assert document.count(f">{labels[0]}<") >= 2  # the totals' figure and the table
