"""Who is staff on Slack: full members of the installing workspace, in the staff channels only.

The real ``AsyncWebClient`` asks the fake Slack's ``users.info``; the clock is controlled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.identity import Member, SlackStaff, installing_team
from bot.app import Runtime
from bot.conversation.routing import Router
from bot.settings import Settings, SettingsError
from bot.storage.records import Inbound
from bot.types import Message
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.slack_harness import Slack, fake_slack, running_slack, slack_settings

STAFF_CHANNEL = "C0HELPDESK"
PUBLIC = "C0SUPPORT"


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with fake_slack() as server:
        server.add_user("U0MEMBER", name="minsu")
        server.add_user("U0GUEST", is_restricted=True)
        server.add_user("U0SINGLE", is_ultra_restricted=True)
        server.add_user("U0EXTERNAL", team_id="T0OTHERORG")
        server.add_user("U0GONE", deleted=True)
        server.add_user("U0APP", is_bot=True)
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def staff(fake: FakeSlack, clock: Clock) -> SlackStaff:
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url)
    return SlackStaff(client, [STAFF_CHANNEL], clock=clock, ttl=600.0, max_entries=3)


def body_for(fake: FakeSlack, event: dict[str, Any]) -> dict[str, Any]:
    return fake.event_callback(event)


async def role(
    fake: FakeSlack, staff: SlackStaff, user: str, channel: str = STAFF_CHANNEL, **extra: Any
) -> str:
    event = fake.message_event("휴가 규정이 어떻게 되나요?", user=user, channel=channel, **extra)
    return await staff.role_of(body_for(fake, event), event)


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("U0MEMBER", "staff"),
        ("U0GUEST", "customer"),  # multi-channel guest
        ("U0SINGLE", "customer"),  # single-channel guest
        ("U0EXTERNAL", "customer"),  # Slack Connect: another organisation's team
        ("U0GONE", "customer"),  # deactivated
        ("U0APP", "customer"),  # a bot user
        ("U0NOBODY", "customer"),  # users.info: user_not_found
    ],
)
async def test_who_is_staff_in_a_staff_channel(
    fake: FakeSlack, staff: SlackStaff, user: str, expected: str
) -> None:
    assert await role(fake, staff, user) == expected


async def test_a_full_member_outside_the_staff_channels_is_a_customer(
    fake: FakeSlack, staff: SlackStaff
) -> None:
    assert await role(fake, staff, "U0MEMBER", channel=PUBLIC) == "customer"
    assert await role(fake, staff, "U0MEMBER", channel="D0DM", channel_type="im") == "customer"
    assert fake.calls_to("users.info") == []  # nothing to ask outside the staff channels


async def test_slack_connect_event_teams_override_a_member_looking_profile(
    fake: FakeSlack, staff: SlackStaff
) -> None:
    # users.info says the installing team, but the event carries another organisation's.
    assert await role(fake, staff, "U0MEMBER", user_team="T0OTHERORG") == "customer"
    assert await role(fake, staff, "U0MEMBER", source_team="T0OTHERORG") == "customer"
    assert await role(fake, staff, "U0MEMBER", user_team=fake.team_id) == "staff"


def test_installing_team_must_be_consistent(fake: FakeSlack) -> None:
    body = fake.event_callback(fake.message_event("hi"))
    assert installing_team(body) == fake.team_id
    body["authorizations"][0]["team_id"] = "T0OTHERORG"
    assert installing_team(body) is None
    assert installing_team({"team_id": ""}) is None
    assert installing_team({}) is None


def test_member_facts_fail_closed() -> None:
    full = {"team_id": "T1", "is_restricted": False, "is_ultra_restricted": False}
    assert Member.of(full) == Member("T1", True)
    assert not Member.of({"team_id": "T1"}).full_member  # guest flags missing
    assert not Member.of(full | {"is_restricted": "false"}).full_member  # not a real False
    assert not Member.of(full | {"team_id": None}).full_member
    assert not Member.of(full | {"is_app_user": True}).full_member


async def test_an_inconsistent_body_makes_a_customer(fake: FakeSlack, staff: SlackStaff) -> None:
    event = fake.message_event("hi", user="U0MEMBER", channel=STAFF_CHANNEL)
    body = body_for(fake, event)
    body["authorizations"][0]["team_id"] = "T0OTHERORG"
    assert await staff.role_of(body, event) == "customer"


async def test_users_info_failing_is_a_customer_logged_once_per_ttl(
    fake: FakeSlack, staff: SlackStaff, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_next("users.info", error="ratelimited", times=3)
    with caplog.at_level(logging.WARNING, logger="ondo.slack.identity"):
        assert await role(fake, staff, "U0MEMBER") == "customer"
        clock.now += staff.failure_ttl + 1  # asked again after the short failure pause...
        assert await role(fake, staff, "U0MEMBER") == "customer"
    warnings = [r for r in caplog.records if "users.info for U0MEMBER failed" in r.getMessage()]
    assert len(warnings) == 1  # ...but said once
    assert "ratelimited" in warnings[0].getMessage()
    assert len(fake.calls_to("users.info")) == 2
    clock.now += staff.ttl
    assert await role(fake, staff, "U0MEMBER") == "customer"  # third failure, new TTL: logged
    assert sum("U0MEMBER failed" in r.getMessage() for r in caplog.records) == 2
    clock.now += staff.failure_ttl + 1
    assert await role(fake, staff, "U0MEMBER") == "staff"  # Slack answers again


async def test_users_info_timing_out_is_a_customer(fake: FakeSlack, clock: Clock) -> None:
    class Hanging:
        async def users_info(self, **_kwargs: Any) -> Any:
            await asyncio.Event().wait()

    slow = SlackStaff(Hanging(), [STAFF_CHANNEL], clock=clock, timeout=0.01)  # type: ignore[arg-type]
    assert await role(fake, slow, "U0MEMBER") == "customer"


async def test_users_info_is_cached_for_the_ttl(
    fake: FakeSlack, staff: SlackStaff, clock: Clock
) -> None:
    assert await role(fake, staff, "U0MEMBER") == "staff"
    assert await role(fake, staff, "U0MEMBER") == "staff"
    assert len(fake.calls_to("users.info")) == 1
    # Made a guest: trusted as staff until the cached answer expires, then not.
    fake.users["U0MEMBER"]["is_restricted"] = True
    clock.now += staff.ttl - 1
    assert await role(fake, staff, "U0MEMBER") == "staff"
    clock.now += 2
    assert await role(fake, staff, "U0MEMBER") == "customer"
    assert len(fake.calls_to("users.info")) == 2


async def test_the_cache_is_bounded(fake: FakeSlack, staff: SlackStaff) -> None:
    for user in ("U0MEMBER", "U0GUEST", "U0SINGLE", "U0EXTERNAL"):
        await role(fake, staff, user)
    assert len(staff._cache) == 3  # max_entries: the oldest went
    await role(fake, staff, "U0MEMBER")
    assert len(fake.calls_to("users.info")) == 5


def test_the_setting_takes_channel_ids() -> None:
    settings = Settings.from_env({"ONDO_SLACK_STAFF_CHANNELS": "C0HELP, G0PRIVATE"}, dotenv=None)
    assert settings.slack_staff_channels == ("C0HELP", "G0PRIVATE")
    assert Settings.from_env({}, dotenv=None).slack_staff_channels == ()
    with pytest.raises(SettingsError, match="ONDO_SLACK_STAFF_CHANNELS"):
        Settings.from_env({"ONDO_SLACK_STAFF_CHANNELS": "#help"}, dotenv=None)


# --- through the real Bolt app -----------------------------------------------------------


@pytest_asyncio.fixture
async def slack(
    fake: FakeSlack, sample_runtime_factory: Callable[..., Runtime]
) -> AsyncIterator[Slack]:
    runtime = sample_runtime_factory(**slack_settings(fake), slack_staff_channels=(STAFF_CHANNEL,))
    async with running_slack(fake, runtime) as running:
        yield running


async def test_bolt_messages_carry_the_role_the_adapter_decided(
    slack: Slack, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Message] = []
    original = Router.customer_message

    async def spy(self: Router, message: Message, *args: Any, **kwargs: Any) -> Any:
        seen.append(message)
        return await original(self, message, *args, **kwargs)

    monkeypatch.setattr(Router, "customer_message", spy)
    fake = slack.fake
    cases = [
        ("U0MEMBER", STAFF_CHANNEL, "staff"),
        ("U0GUEST", STAFF_CHANNEL, "customer"),
        ("U0EXTERNAL", STAFF_CHANNEL, "customer"),
        ("U0MEMBER", PUBLIC, "customer"),
    ]
    for n, (user, channel, _) in enumerate(cases, start=1):
        await slack.deliver(
            fake.app_mention_event("How do I request a refund?", user=user, channel=channel)
        )
        await slack.adapter.wait_completed(n)
    assert [(m.user, m.role) for m in seen] == [(u, r) for u, _, r in cases]


async def test_receive_records_the_owner_before_the_ack(slack: Slack) -> None:
    event = slack.fake.app_mention_event(
        "환불 요청은 어떻게 하나요?", user="U0MEMBER", channel=STAFF_CHANNEL
    )
    received = await slack.adapter.receive(slack.fake.event_callback(event), slack.fake.bot_user_id)
    assert isinstance(received, tuple)
    item, inbound = received
    assert isinstance(inbound, Inbound) and inbound.role == "customer"
    assert item.message.role == "staff"
    key = item.message.conversation_key
    assert await slack.runtime.store.conversation_owner(key) == "U0MEMBER"
