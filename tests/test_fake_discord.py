"""The fake Discord speaks enough of the real protocol for the real discord.py client."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import discord
import discord.gateway
import discord.http
import pytest

from tests.fakes.discord_gateway import (
    MESSAGE_CONTENT,
    DiscordEndpointsMoved,
    FakeDiscord,
    patch_discord_endpoints,
)

TIMEOUT = 5.0


def _intents(*, message_content: bool = True) -> discord.Intents:
    intents = discord.Intents.default()
    intents.message_content = message_content
    return intents


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    try:
        with server.patch():
            yield server
    finally:
        await server.stop()


Runner = Callable[[discord.Client], Awaitable[discord.Client]]


@pytest.fixture
async def run(fake: FakeDiscord) -> AsyncIterator[Runner]:
    """Log a real client into the fake and wait for on_ready; fail on any handler exception."""
    errors: list[BaseException] = []
    started: list[tuple[discord.Client, asyncio.Task[None]]] = []

    async def start(client: discord.Client) -> discord.Client:
        async def on_error(event: str, *args: Any, **kwargs: Any) -> None:
            errors.append(sys.exc_info()[1] or RuntimeError(f"error in {event}"))

        client.on_error = on_error  # type: ignore[method-assign]
        task = asyncio.create_task(client.start(fake.token))
        started.append((client, task))
        ready = asyncio.create_task(client.wait_until_ready())
        done, _ = await asyncio.wait({task, ready}, timeout=TIMEOUT, return_when="FIRST_COMPLETED")
        if ready not in done:
            ready.cancel()
            if task in done:
                task.result()
            raise AssertionError("client never became ready")
        return client

    yield start
    for client, task in started:
        await client.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, TIMEOUT)
    assert not errors, errors


def _collect(client: discord.Client) -> asyncio.Queue[discord.Message]:
    """Queue every message not authored by the bot itself."""
    inbox: asyncio.Queue[discord.Message] = asyncio.Queue()

    async def on_message(message: discord.Message) -> None:
        if message.author != client.user:
            inbox.put_nowait(message)

    client.event(on_message)
    return inbox


async def _next(inbox: asyncio.Queue[discord.Message]) -> discord.Message:
    return await asyncio.wait_for(inbox.get(), TIMEOUT)


async def test_client_logs_in_and_sees_the_guild(fake: FakeDiscord, run: Runner) -> None:
    client = await run(discord.Client(intents=_intents(), guild_ready_timeout=0.05))

    assert client.user is not None and client.user.id == fake.bot_id
    assert client.application_id == fake.application_id
    guild = client.get_guild(fake.guild_id)
    assert guild is not None
    assert guild.default_role.id == fake.guild_id
    assert guild.get_role(fake.staff_role_id) is not None
    assert {c.name for c in guild.text_channels} == {"support", "staff"}
    staff_channel = guild.get_channel(fake.staff_channel_id)
    assert isinstance(staff_channel, discord.TextChannel)
    assert not staff_channel.permissions_for(guild.default_role).view_channel
    assert guild.me is not None  # without the members intent only the bot is listed

    identify = (await fake.wait_for_op(2))[0]["d"]
    assert identify["token"] == fake.token
    assert identify["intents"] & MESSAGE_CONTENT
    assert fake.connections[0] == {"v": "10", "encoding": "json", "compress": "zlib-stream"}
    assert [c.path for c in await fake.wait_for("GET", "/oauth2")] == ["/oauth2/applications/@me"]
    assert (await fake.wait_for("GET", "/users/@me"))[0].headers["Authorization"] == (
        f"Bot {fake.token}"
    )


async def test_message_reaches_on_message_and_reply_is_recorded(
    fake: FakeDiscord, run: Runner
) -> None:
    client = discord.Client(intents=_intents(), guild_ready_timeout=0.05)
    inbox = _collect(client)
    await run(client)

    data = fake.message_create(fake.support_channel_id, "환불은 어떻게 하나요?")
    await fake.dispatch("MESSAGE_CREATE", data)
    message = await _next(inbox)
    assert message.content == "환불은 어떻게 하나요?"
    assert message.channel.id == fake.support_channel_id
    assert isinstance(message.author, discord.Member)
    assert message.author.id == fake.customer_id

    sent = await message.channel.send("Let me help.", reference=message)
    assert sent.content == "Let me help."
    assert sent.author.id == fake.bot_id
    call = (await fake.wait_for("POST", f"/channels/{fake.support_channel_id}/messages"))[0]
    assert call.body["content"] == "Let me help."
    assert int(call.body["message_reference"]["message_id"]) == message.id
    assert call.headers["Authorization"] == f"Bot {fake.token}"

    edited = await sent.edit(content="Let me help you.")
    assert edited.content == "Let me help you."
    assert (await fake.wait_for("PATCH", "/channels/"))[0].body["content"] == "Let me help you."


async def test_create_thread_from_message(fake: FakeDiscord, run: Runner) -> None:
    client = discord.Client(intents=_intents(), guild_ready_timeout=0.05)
    inbox = _collect(client)
    await run(client)

    await fake.dispatch("MESSAGE_CREATE", fake.message_create(fake.support_channel_id, "help"))
    message = await _next(inbox)
    thread = await message.create_thread(name="Ticket #1")

    assert thread.type is discord.ChannelType.public_thread
    assert thread.parent_id == fake.support_channel_id
    assert thread.id == message.id
    assert fake.channels[thread.id]["type"] == 11
    await thread.send("Opened a ticket.")
    call = (await fake.wait_for("POST", f"/channels/{thread.id}/messages"))[0]
    assert call.body["content"] == "Opened a ticket."
    fetched = await client.fetch_channel(thread.id)
    assert isinstance(fetched, discord.Thread)
    assert fetched.name == "Ticket #1"


async def test_channel_history_pages_like_discord(fake: FakeDiscord, run: Runner) -> None:
    client = discord.Client(intents=_intents(), guild_ready_timeout=0.05)
    await run(client)
    ids = [int(fake.message_create(fake.support_channel_id, f"m{n}")["id"]) for n in range(5)]
    channel = client.get_channel(fake.support_channel_id)
    assert isinstance(channel, discord.TextChannel)
    after = [m.content async for m in channel.history(after=discord.Object(ids[1]), limit=2)]
    assert after == ["m2", "m3"]  # the oldest after it (discord.py orders them oldest first)
    newest = [m.content async for m in channel.history(limit=2)]
    assert newest == ["m4", "m3"]
    before = [m.content async for m in channel.history(before=discord.Object(ids[2]))]
    assert before == ["m1", "m0"]


async def test_reconnect_resumes_and_replays(fake: FakeDiscord, run: Runner) -> None:
    client = discord.Client(intents=_intents(), guild_ready_timeout=0.05)
    inbox = _collect(client)
    resumed = asyncio.Event()

    async def on_resumed() -> None:
        resumed.set()

    client.event(on_resumed)
    await run(client)
    session = next(iter(fake.sessions.values()))
    seq_before = session.seq

    await fake.request_reconnect()
    await fake.dispatch("MESSAGE_CREATE", fake.message_create(fake.support_channel_id, "missed"))
    assert (await _next(inbox)).content == "missed"  # replayed after RESUME
    resume = (await fake.wait_for_op(6))[0]["d"]
    assert resume == {"seq": seq_before, "session_id": session.session_id, "token": fake.token}
    await asyncio.wait_for(resumed.wait(), TIMEOUT)
    assert session.resumes == 1

    await fake.dispatch("MESSAGE_CREATE", fake.message_create(fake.support_channel_id, "next"))
    assert (await _next(inbox)).content == "next"
    assert [f["op"] for f in fake.frames].count(2) == 1  # never re-IDENTIFYed


async def test_content_is_blank_without_message_content_intent(
    fake: FakeDiscord, run: Runner
) -> None:
    client = discord.Client(intents=_intents(message_content=False), guild_ready_timeout=0.05)
    inbox = _collect(client)
    await run(client)

    await fake.dispatch("MESSAGE_CREATE", fake.message_create(fake.support_channel_id, "secret"))
    assert (await _next(inbox)).content == ""

    mention = f"<@{fake.bot_id}> 도와주세요"
    await fake.dispatch("MESSAGE_CREATE", fake.message_create(fake.support_channel_id, mention))
    message = await _next(inbox)
    assert message.content == mention
    assert client.user in message.mentions


async def test_auto_sharded_client_connects(fake: FakeDiscord, run: Runner) -> None:
    client = await run(discord.AutoShardedClient(intents=_intents(), guild_ready_timeout=0.05))

    assert [c.path for c in await fake.wait_for("GET", "/gateway/bot")] == ["/gateway/bot"]
    identify = (await fake.wait_for_op(2))[0]["d"]
    assert identify["shard"] == [0, 1]
    assert next(iter(fake.sessions.values())).history[0]["d"]["shard"] == [0, 1]
    assert client.shard_count == 1
    assert client.get_guild(fake.guild_id) is not None


async def test_scripted_429_is_retried_by_discord_py(fake: FakeDiscord, run: Runner) -> None:
    client = await run(discord.Client(intents=_intents(), guild_ready_timeout=0.05))
    path = f"/channels/{fake.support_channel_id}/messages"
    fake.rate_limit("POST", path, retry_after=0.01)

    channel = client.get_channel(fake.support_channel_id)
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("after the rate limit")

    assert sent.content == "after the rate limit"
    calls = await fake.wait_for("POST", path, count=2)
    assert [c.status for c in calls] == [429, 200]


async def test_endpoint_patch_sets_and_restores(fake: FakeDiscord) -> None:
    base, gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    with patch_discord_endpoints("http://example.invalid/api/v10", "ws://example.invalid/gw"):
        assert discord.http.Route.BASE == "http://example.invalid/api/v10"
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == "ws://example.invalid/gw"
    restored = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    assert restored == (base, gateway)


@pytest.mark.parametrize(
    ("owner", "attribute"),
    [(discord.http.Route, "BASE"), (discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY")],
)
def test_endpoint_patch_fails_loudly_when_discord_py_moves_them(
    monkeypatch: pytest.MonkeyPatch, owner: type, attribute: str
) -> None:
    monkeypatch.delattr(owner, attribute)
    with (
        pytest.raises(DiscordEndpointsMoved, match=attribute),
        patch_discord_endpoints("http://127.0.0.1:1/api/v10", "ws://127.0.0.1:1/gateway"),
    ):
        pass


async def test_rest_answers_plain_json_and_checks_the_token(fake: FakeDiscord) -> None:
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bot {fake.token}"}
        async with session.get(f"{fake.api_base}/users/@me", headers=headers) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "application/json"
        async with session.get(f"{fake.api_base}/users/@me") as response:
            assert response.status == 401
        url = f"{fake.api_base}/channels/1/messages"
        async with session.post(url, headers=headers, json={"content": "x"}) as response:
            assert response.status == 404
            assert (await response.json())["code"] == 10003


async def test_scripted_failure_reaches_discord_py(fake: FakeDiscord, run: Runner) -> None:
    client = await run(discord.Client(intents=_intents(), guild_ready_timeout=0.05))
    path = f"/channels/{fake.support_channel_id}/messages"
    fake.fail("POST", path, status=403, code=50013)
    channel = client.get_channel(fake.support_channel_id)
    assert isinstance(channel, discord.TextChannel)

    with pytest.raises(discord.Forbidden) as refused:
        await channel.send("not allowed")
    assert (refused.value.status, refused.value.code) == (403, 50013)
    assert (await channel.send("allowed again")).content == "allowed again"
    assert [c.status for c in fake.calls if c.path == path] == [403, 200]


async def test_button_click_arrives_as_an_interaction_with_resolved_permissions(
    fake: FakeDiscord, run: Runner
) -> None:
    client = discord.Client(intents=_intents(), guild_ready_timeout=0.05)
    clicks: asyncio.Queue[discord.Interaction] = asyncio.Queue()

    async def on_interaction(interaction: discord.Interaction) -> None:
        clicks.put_nowait(interaction)
        await interaction.response.send_message("only you can see this", ephemeral=True)

    client.event(on_interaction)
    await run(client)
    ticket = fake.message_create(fake.staff_channel_id, "ticket", author=fake.bot_user)

    for user, manages in ((fake.staff_id, True), (fake.customer_id, False)):
        data = fake.interaction_create(int(ticket["id"]), "ondo:take:1", user_id=user)
        await fake.dispatch("INTERACTION_CREATE", data)
        interaction = await asyncio.wait_for(clicks.get(), TIMEOUT)
        assert interaction.custom_id == "ondo:take:1"
        assert interaction.user.id == user and isinstance(interaction.user, discord.Member)
        assert interaction.channel_id == fake.staff_channel_id
        assert interaction.message is not None and interaction.message.id == int(ticket["id"])
        assert interaction.permissions.manage_threads is manages
        assert interaction.permissions.view_channel is manages  # #staff is staff-only
        [callback] = await fake.wait_for("POST", f"/interactions/{data['id']}/")
        assert callback.body["type"] == 4
        assert callback.body["data"]["content"] == "only you can see this"
        assert callback.body["data"]["flags"] == 64

    owner = fake.permissions_in(fake.owner_id, fake.staff_channel_id)
    assert owner == discord.Permissions.all().value


async def test_a_modal_answers_a_click_and_its_submission_arrives_with_the_typed_text(
    fake: FakeDiscord, run: Runner
) -> None:
    client = discord.Client(intents=_intents(), guild_ready_timeout=0.05)
    seen: asyncio.Queue[discord.Interaction] = asyncio.Queue()

    async def on_interaction(interaction: discord.Interaction) -> None:
        seen.put_nowait(interaction)
        if interaction.type is discord.InteractionType.component:
            modal = discord.ui.Modal(title="Edit", custom_id="ondo:edited:1")
            modal.add_item(discord.ui.TextInput(label="Reply", custom_id="text", default="초안"))
            await interaction.response.send_modal(modal)
            modal.stop()
        else:
            await interaction.response.defer()

    client.event(on_interaction)
    await run(client)
    message = fake.message_create(fake.staff_channel_id, "draft", author=fake.bot_user)
    click = fake.interaction_create(int(message["id"]), "ondo:edit:1")
    await fake.dispatch("INTERACTION_CREATE", click)
    await asyncio.wait_for(seen.get(), TIMEOUT)
    [opened] = await fake.wait_for("POST", f"/interactions/{click['id']}/")
    assert opened.body["type"] == 9 and opened.body["data"]["custom_id"] == "ondo:edited:1"

    submit = fake.modal_submit_create(int(message["id"]), "ondo:edited:1", {"text": "고친 답"})
    await fake.dispatch("INTERACTION_CREATE", submit)
    submitted = await asyncio.wait_for(seen.get(), TIMEOUT)
    assert submitted.type is discord.InteractionType.modal_submit
    assert submitted.data is not None and submitted.data["custom_id"] == "ondo:edited:1"
    [row] = submitted.data["components"]  # type: ignore[typeddict-item]
    assert row["components"][0]["value"] == "고친 답"  # type: ignore[typeddict-item]
    assert submitted.message is not None and submitted.message.id == int(message["id"])


async def test_user_thread_is_announced_to_the_client(fake: FakeDiscord, run: Runner) -> None:
    client = discord.Client(intents=_intents(), guild_ready_timeout=0.05)
    created: asyncio.Queue[discord.Thread] = asyncio.Queue()

    async def on_thread_create(thread: discord.Thread) -> None:
        created.put_nowait(thread)

    client.event(on_thread_create)
    await run(client)
    data = await fake.user_thread(fake.support_channel_id, "my question")

    thread = await asyncio.wait_for(created.get(), TIMEOUT)
    assert thread.id == int(data["id"]) and client.get_channel(thread.id) is thread
    assert thread.parent_id == fake.support_channel_id
    assert thread.owner_id == fake.customer_id


async def test_message_command_is_registered_and_answered_with_a_modal(
    fake: FakeDiscord, run: Runner
) -> None:
    client = discord.Client(intents=_intents(), guild_ready_timeout=0.05)
    received: asyncio.Queue[discord.Interaction] = asyncio.Queue()

    async def on_interaction(interaction: discord.Interaction) -> None:
        received.put_nowait(interaction)
        if interaction.type is not discord.InteractionType.application_command:
            await interaction.response.defer()
            return
        modal = discord.ui.Modal(title="Fix", custom_id="fix:1")
        modal.add_item(discord.ui.TextInput(label="Answer", custom_id="answer"))
        await interaction.response.send_modal(modal)
        modal.stop()

    client.event(on_interaction)
    await run(client)
    assert client.application_id == fake.application_id
    payload: Any = {"name": "Mark as wrong", "type": 3}
    created = await client.http.upsert_global_command(fake.application_id, payload)
    again = await client.http.upsert_global_command(fake.application_id, payload)
    assert created["id"] == again["id"] and list(fake.commands) == ["Mark as wrong"]
    with pytest.raises(discord.HTTPException):  # a slash command needs a description
        await client.http.upsert_global_command(fake.application_id, {"name": "x"})  # type: ignore[arg-type]

    answer = fake.message_create(fake.support_channel_id, "an answer", author=fake.bot_user)
    data = fake.message_command_create(int(answer["id"]), "Mark as wrong")
    await fake.dispatch("INTERACTION_CREATE", data)
    interaction = await asyncio.wait_for(received.get(), TIMEOUT)
    assert interaction.type is discord.InteractionType.application_command
    assert interaction.data is not None and interaction.data.get("target_id") == answer["id"]
    assert interaction.user.id == fake.staff_id
    [callback] = await fake.wait_for("POST", f"/interactions/{data['id']}/")
    assert callback.body["type"] == 9 and callback.body["data"]["custom_id"] == "fix:1"

    submit = fake.modal_submit_create(int(answer["id"]), "fix:1", {"answer": "right"})
    await fake.dispatch("INTERACTION_CREATE", submit)
    submitted = await asyncio.wait_for(received.get(), TIMEOUT)
    assert submitted.type is discord.InteractionType.modal_submit
    assert submitted.data is not None
    assert submitted.data["components"][0]["components"][0]["value"] == "right"  # type: ignore[typeddict-item]
