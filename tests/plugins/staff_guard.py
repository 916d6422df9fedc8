"""A guard over the whole test run: no staff knowledge in anything meant for a customer.

Every reply the engine delivers to a customer (also re-posted after a restart), every
suggested reply drafted for one and every request to the fake LLM server is checked for
eight consecutive words of a staff entry of the bundled sample or of the engine's own
knowledge base. A test during which one appears fails, whichever test it is and whatever it
asserts itself.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import pytest

from knowledge.audience import StaffText

_violations: list[str] = []


@functools.lru_cache(maxsize=1)
def sample_staff_text() -> StaffText:
    """The staff text of the bundled sample shop."""
    from knowledge.loader import SAMPLE_DIR, load_paths

    return StaffText(load_paths([SAMPLE_DIR]))


def check(text: str | None, where: str, own: StaffText | None = None) -> None:
    """Record a violation when ``text`` (meant for a customer) quotes staff knowledge."""
    if not text:
        return
    for guard in (sample_staff_text(), own):
        leaked = guard.leaked(text) if guard is not None else []
        if leaked:
            _violations.append(f"{where}: staff text reached a customer: {leaked[0]!r}")
            return


def take_violations() -> list[str]:
    """The violations recorded so far, cleared."""
    found = list(_violations)
    _violations.clear()
    return found


def _install() -> None:
    from bot.conversation.engine import Engine
    from tests.fakes.openai_server import FakeOpenAI

    deliver = Engine._deliver
    resend = Engine._resend

    @functools.wraps(deliver)
    async def guarded_deliver(self: Engine, message: Any, *args: Any, **kwargs: Any) -> Any:
        outcome = await deliver(self, message, *args, **kwargs)
        if message.role != "staff":
            own = self.knowledge.staff_text
            if outcome.reply is not None:
                check(outcome.reply.text, "reply", own)
            if outcome.handoff is not None:
                check(outcome.handoff.suggestion, "suggested reply", own)
        return outcome

    @functools.wraps(resend)
    async def guarded_resend(self: Engine, *args: Any, **kwargs: Any) -> Any:
        outcome = await resend(self, *args, **kwargs)
        if outcome.reply is not None:
            check(outcome.reply.text, "re-posted reply", self.knowledge.staff_text)
        return outcome

    chat = FakeOpenAI._chat

    @functools.wraps(chat)
    async def guarded_chat(self: FakeOpenAI, request: Any) -> Any:
        response = await chat(self, request)
        if self.requests:
            # Staff answers never go through a model, so any prompt is a customer's.
            for message in self.requests[-1].get("messages") or []:
                content = message.get("content") if isinstance(message, dict) else None
                check(content if isinstance(content, str) else None, "LLM prompt")
        return response

    Engine._deliver = guarded_deliver  # type: ignore[method-assign]
    Engine._resend = guarded_resend  # type: ignore[method-assign]
    FakeOpenAI._chat = guarded_chat  # type: ignore[method-assign]


def pytest_configure(config: pytest.Config) -> None:
    """Wrap the engine's delivery and the fake LLM once for the run."""
    _install()


@pytest.fixture(autouse=True)
def _no_staff_text_to_customers() -> Iterator[None]:
    take_violations()
    yield
    found = take_violations()
    assert not found, "\n".join(found)
