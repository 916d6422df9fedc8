"""The load harness's world model: where a Slack post belongs, under DMs keyed by channel."""

from __future__ import annotations

import pytest

from bench.load_world import Customer, LoadConfig, World
from tests.fakes.slack_api import Call

DM = "D0LOAD000"
ROOT = "1796686630.000001"
ANSWERS = {"ko": "환불은 3~5일 안에 처리돼요.", "en": "Refunds take 3 to 5 days."}


def _world() -> tuple[World, Customer]:
    world = World(LoadConfig(messages=1, customers=1), port=0)
    customer = Customer(0, "slack", "dm", [], "U0LOAD000", ("slack", DM), ROOT)
    world.owner[("slack", DM)] = customer
    return world, customer


def _posted(world: World, text: str, ts: str, thread_ts: str | None = None) -> None:
    params = {"channel": DM, "text": text} | ({"thread_ts": thread_ts} if thread_ts else {})
    world._on_slack_call(Call("chat.postMessage", params, {}, response={"ok": True, "ts": ts}))


@pytest.mark.parametrize("language", ["ko", "en"])
def test_a_dm_is_one_place_at_its_top_level_and_in_its_customers_thread(language: str) -> None:
    world, customer = _world()
    _posted(world, ANSWERS[language], "1796686630.000002")  # top level: a relay, a recovery
    _posted(world, ANSWERS[language], "1796686630.000004", thread_ts=ROOT)  # a live answer
    assert [(p.location, p.kind) for p in world.posts] == [(("slack", DM), "reply")] * 2
    assert customer.responses == 2


@pytest.mark.parametrize("language", ["ko", "en"])
def test_a_post_in_another_thread_of_the_dm_is_stray(language: str) -> None:
    world, customer = _world()
    _posted(world, ANSWERS[language], "1796686630.000005", thread_ts="1796686630.000003")
    [post] = world.posts
    assert post.kind == "stray" and post.location == ("slack", DM, "1796686630.000003")
    assert customer.responses == 0
