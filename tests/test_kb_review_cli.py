"""``ondo kb review`` / ``ondo kb history``: the queue from a terminal, used by a running bot."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import aiohttp
import pytest

from bot import cli
from bot.app import Runtime, build_runtime
from bot.corrections import live as kb_live
from bot.corrections.loop import Corrections
from bot.settings import Settings
from bot.storage.sqlite import SQLiteStore
from bot.types import Message
from knowledge.embedders import Embedder

BITCOIN = "Can I pay with bitcoin?"
JEJU = "제주도도 배송되나요?"


@pytest.fixture
def serving(cli_env: Path, real_embedders: Sequence[Embedder]) -> Iterator[Runtime]:
    """A running bot (its own store handle) on the CLI's database."""
    runtime = build_runtime(Settings.from_env(), embedders=real_embedders)
    yield runtime
    runtime.close()


async def ask(runtime: Runtime, text: str) -> tuple[int, str]:
    outcome = await runtime.engine.handle(
        Message("slack", f"slack:D0:{uuid.uuid4().hex}", "U0C", text, time.time(), uuid.uuid4().hex)
    )
    assert outcome.reply is not None
    return int(outcome.reply.raw["reply_id"]), outcome.reply.text


async def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``ondo *argv`` (on a thread: the command runs its own event loop)."""
    code = await asyncio.to_thread(cli.main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_review_approve_reject_and_history(
    serving: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    queue = Corrections(serving.store)
    bitcoin_reply, bitcoin_before = await ask(serving, BITCOIN)
    jeju_reply, jeju_before = await ask(serving, JEJU)
    marked = await queue.mark_wrong(bitcoin_reply, "We do not accept crypto.", "slack:U0AGENT")
    thumbs = await queue.thumbs_down(jeju_reply)
    assert thumbs is not None

    code, out, _ = await run(capsys, "kb", "review")
    assert code == 0
    assert f"#{marked.id} · marked by slack:U0AGENT · en · entry payment-methods" in out
    assert f"#{thumbs.id} · customer 👎 · ko · entry shipping-jeju-islands" in out
    assert f"question: {BITCOIN}" in out and f"question: {JEJU}" in out
    assert "proposed: We do not accept crypto." in out and "proposed: (none yet" in out
    assert " ".join(bitcoin_before.split())[:50] in out

    code, _, err = await run(capsys, "kb", "review", "approve", str(thumbs.id))
    assert code == 1 and err.startswith("ondo: error: ") and "no proposed answer" in err
    assert err.count("\n") == 1
    new_jeju = "네, 추가 배송비 5,000원이 붙습니다."
    code, out, _ = await run(
        capsys, "kb", "review", "approve", str(thumbs.id), "--update", "--answer", new_jeju
    )
    assert code == 0 and "entry shipping-jeju-islands updated" in out
    code, out, _ = await run(capsys, "kb", "review", "approve", str(marked.id))
    assert code == 0 and f"entry correction-{marked.id} added" in out
    code, _, err = await run(capsys, "kb", "review", "reject", str(marked.id))
    assert code == 1 and "was approved by cli:" in err
    code, out, _ = await run(capsys, "kb", "review")
    assert code == 0 and out.strip() == "No corrections waiting for review."

    code, out, _ = await run(capsys, "kb", "history")
    assert code == 0
    assert f"update shipping-jeju-islands (correction #{thumbs.id})" in out
    assert f"add correction-{marked.id} (correction #{marked.id})" in out
    code, out, _ = await run(capsys, "kb", "history", "shipping-jeju-islands")
    assert "ko was: " in out and f"ko now: {new_jeju}" in out and "correction-" not in out
    code, out, _ = await run(capsys, "kb", "list", "--category", "payment")
    assert f"correction-{marked.id}\tpayment\tcustomers\t{BITCOIN}" in out

    # The running bot, with its own handle on the file, picks both changes up.
    assert await kb_live.refresh(serving.store, serving.knowledge)
    _, bitcoin_after = await ask(serving, BITCOIN)
    _, jeju_after = await ask(serving, JEJU)
    assert "We do not accept crypto." in bitcoin_after and bitcoin_after != bitcoin_before
    assert new_jeju in jeju_after and jeju_after != jeju_before


async def test_rejecting_leaves_the_knowledge_alone(
    serving: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    reply_id, before = await ask(serving, BITCOIN)
    correction = await Corrections(serving.store).mark_wrong(reply_id, "Nope.", "a")
    code, out, _ = await run(capsys, "kb", "review", "reject", str(correction.id))
    assert code == 0 and f"#{correction.id} rejected" in out
    assert not await kb_live.refresh(serving.store, serving.knowledge)
    assert (await ask(serving, BITCOIN))[1] == before
    code, out, _ = await run(capsys, "kb", "history")
    assert out.strip() == "No knowledge changes."


async def test_bad_numbers_and_options_are_one_line_errors(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = await run(capsys, "kb", "review", "approve", "99")
    assert code == 1 and err == "ondo: error: no correction #99\n"
    code, _, err = await run(capsys, "kb", "review", "reject", "7")
    assert code == 1 and err == "ondo: error: no correction #7\n"
    with pytest.raises(SystemExit):
        cli.main(["kb", "review", "approve", "1", "--as-new", "--update"])
    assert "not allowed with" in capsys.readouterr().err


async def test_ondo_serve_uses_a_change_approved_by_another_process(
    tmp_path: Path, warm_db: Path
) -> None:
    """``ondo serve slack`` running; ``ondo kb review approve`` in a second process; the
    server answers the same question anew within its poll interval, without a restart."""
    from tests.fakes.slack_api import BOT_TOKEN, FakeSlack, signed_request_headers
    from tests.slack_harness import AGENTS, SECRET
    from tests.test_serve import start_ondo, wait_healthy

    fake = FakeSlack()
    await fake.start()
    settings = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.api_url,
        "ONDO_HANDOFF_CHANNEL": f"slack:{AGENTS}",
    }
    process, port = await start_ondo(tmp_path, warm_db, "slack", settings)
    assert process.stderr is not None
    seen: list[str] = []
    right = "We do not accept Bitcoin or any crypto."
    try:
        await wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        async with aiohttp.ClientSession() as session:

            async def ask_in_dm(count: int) -> str:
                event = fake.message_event(BITCOIN, channel="D0DM", channel_type="im")
                body = json.dumps(fake.event_callback(event)).encode()
                async with session.post(
                    f"http://127.0.0.1:{port}/slack/events",
                    data=body,
                    headers=signed_request_headers(body, SECRET),
                ) as resp:
                    assert resp.status == 200
                calls = await fake.wait_for("chat.postMessage", count, timeout=30)
                return str(calls[count - 1].params["text"])

            assert right not in await ask_in_dm(1)
            [rating] = fake.calls_to("chat.postMessage")[0].params["blocks"][-1:]
            reply_id = int(rating["elements"][0]["value"])
            store = SQLiteStore.open(tmp_path / "serve.db")
            try:
                correction = await Corrections(store).mark_wrong(reply_id, right, "slack:U0AGENT")
            finally:
                store.close()
            approve = await asyncio.create_subprocess_exec(
                str(Path(sys.executable).with_name("ondo")),
                "kb",
                "review",
                "approve",
                str(correction.id),
                env=os.environ | {"ONDO_DB": str(tmp_path / "serve.db")},
                cwd=tmp_path,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(approve.communicate(), 60)
            assert approve.returncode == 0, err.decode()
            assert f"entry correction-{correction.id} added" in out.decode()

            async def rebuilt() -> None:
                assert process.stderr is not None
                while line := (await process.stderr.readline()).decode():
                    seen.append(line)
                    if "knowledge base rebuilt" in line:
                        return
                raise AssertionError("ondo serve ended without rebuilding")

            await asyncio.wait_for(rebuilt(), 60)
            assert right in await ask_in_dm(2)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
        await fake.stop()
    assert process.returncode == 0, "".join(seen) + stderr.decode()
    assert "Traceback" not in "".join(seen) + stderr.decode()
