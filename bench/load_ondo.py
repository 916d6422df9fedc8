"""How ``bench.load`` runs Ondo: the installed ``ondo serve all`` as a subprocess (the load
test, which kills it), or ``bot.serve.serve`` in the generator's own process (the smoke test,
where loading the models once per test session keeps it fast)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

from bench.load_world import OndoHandle
from bot.app import Runtime
from bot.settings import Settings

STOP_TIMEOUT = 60.0


def ondo_script() -> Path:
    """The installed ``ondo`` console script next to this Python."""
    return Path(sys.executable).with_name("ondo")


class SubprocessOndo(OndoHandle):
    """``ondo serve all`` started as a user starts it; its log goes to ``log_path`` (each start
    appends, after a ``=== start N ===`` line)."""

    def __init__(self, env: Mapping[str, str], workdir: Path) -> None:
        self.env = {**os.environ, **env}
        for name in ("ONDO_KB", "SLACK_APP_TOKEN", "ONDO_ENCRYPTION_KEY", "ONDO_RETENTION"):
            if name not in env:
                self.env.pop(name, None)
        self.workdir = workdir
        self.log_path = workdir / "ondo.log"
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self._log: IO[bytes] | None = None

    async def start(self) -> None:
        """Spawn ``ondo serve all``."""
        self.starts += 1
        if self._log is None:
            self._log = self.log_path.open("ab")
        self._log.write(f"=== start {self.starts} ===\n".encode())
        self._log.flush()
        self.process = await asyncio.create_subprocess_exec(
            str(ondo_script()),
            "serve",
            "all",
            env=self.env,
            cwd=self.workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )

    async def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or closed."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> int:
        """SIGTERM, as a supervisor stops it; its exit status (SIGKILL after a minute)."""
        if self.process is None:
            return 0
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        return int(self.process.returncode or 0)

    def alive(self) -> bool:
        """Whether the current process still runs."""
        return self.process is not None and self.process.returncode is None

    def log_text(self) -> str:
        """The log of every start so far."""
        if self._log is not None:
            self._log.flush()
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""


class _Tap(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}")


class InProcessOndo(OndoHandle):
    """``bot.serve.serve`` for every configured platform, in this event loop, on a runtime
    built by ``build`` (so a test can share its loaded models). It cannot be killed."""

    def __init__(self, env: Mapping[str, str], build: Callable[[Settings], Runtime]) -> None:
        self.settings = Settings.from_env(dict(env), dotenv=None)
        self.build = build
        self.runtime: Runtime | None = None
        self.task: asyncio.Task[None] | None = None
        self.stop_event = asyncio.Event()
        self._tap = _Tap()
        self._logger = logging.getLogger("ondo")
        self._level = self._logger.level

    async def start(self) -> None:
        """Build the runtime and start serving."""
        from bot.serve import plan_platforms, serve

        self._logger.addHandler(self._tap)
        self._logger.setLevel(logging.INFO)
        self.runtime = self.build(self.settings)
        platforms = plan_platforms(self.settings, "all")
        self.task = asyncio.create_task(serve(self.runtime, platforms, self.stop_event))

    async def kill(self) -> None:
        """Not possible in-process."""
        raise NotImplementedError("an in-process Ondo cannot be killed; use SubprocessOndo")

    async def stop(self) -> int:
        """Stop serving and close the runtime; 1 if serving failed."""
        self.stop_event.set()
        status = 0
        if self.task is not None:
            try:
                await asyncio.wait_for(self.task, STOP_TIMEOUT)
            except Exception:
                logging.getLogger("bench.load").exception("in-process ondo failed")
                status = 1
        if self.runtime is not None:
            responder = self.runtime.engine.responder
            aclose = getattr(responder, "aclose", None)
            if aclose is not None:
                await aclose()
            self.runtime.close()
            self.runtime = None
        self._logger.removeHandler(self._tap)
        self._logger.setLevel(self._level)
        return status

    def alive(self) -> bool:
        """Whether serving still runs."""
        return self.task is not None and not self.task.done()

    def log_text(self) -> str:
        """What the ``ondo`` loggers said."""
        return "\n".join(self._tap.lines)
