"""How ``bench.load`` runs Ondo: the installed ``ondo serve all`` as a subprocess (the load
test, which kills it), several ``ondo serve`` replicas on one PostgreSQL database
(:class:`ClusterOndo`), or ``bot.serve.serve`` in the generator's own process (the smoke test,
where loading the models once per test session keeps it fast)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import aiohttp

from bench.load_world import Endpoint, OndoHandle
from bot.app import Runtime
from bot.settings import Settings

STOP_TIMEOUT = 60.0


def ondo_script() -> Path:
    """The installed ``ondo`` console script next to this Python."""
    return Path(sys.executable).with_name("ondo")


class SubprocessOndo(OndoHandle):
    """``ondo serve <command>`` (default ``all``) started as a user starts it; its log goes to
    ``log_path`` (each start appends, after a ``=== start N ===`` line)."""

    def __init__(
        self,
        env: Mapping[str, str],
        workdir: Path,
        *,
        command: str = "all",
        name: str = "ondo",
        slack: bool = True,
        discord: bool = True,
    ) -> None:
        self.env = {**os.environ, **env}
        for key in ("ONDO_KB", "SLACK_APP_TOKEN", "ONDO_ENCRYPTION_KEY", "ONDO_RETENTION"):
            if key not in env:
                self.env.pop(key, None)
        self.workdir = workdir
        self.command = command
        self.name = name
        self.endpoint = Endpoint(name, int(self.env["PORT"]), slack=slack, discord=discord)
        self.log_path = workdir / f"{name}.log"
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self._log: IO[bytes] | None = None

    async def start(self) -> None:
        """Spawn ``ondo serve <command>``."""
        self.starts += 1
        if self._log is None:
            self._log = self.log_path.open("ab")
        self._log.write(f"=== start {self.starts} ===\n".encode())
        self._log.flush()
        self.process = await asyncio.create_subprocess_exec(
            str(ondo_script()),
            "serve",
            self.command,
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

    def endpoints(self) -> list[Endpoint]:
        """This one process."""
        return [self.endpoint]

    def mark_log(self, line: str) -> None:
        """Write ``=== line ===`` into the log."""
        if self._log is not None:
            self._log.write(f"=== {line} ===\n".encode())
            self._log.flush()

    def logs(self) -> list[str]:
        """The log of every start so far."""
        if self._log is not None:
            self._log.flush()
        try:
            return [self.log_path.read_text(encoding="utf-8", errors="replace")]
        except OSError:
            return [""]


@dataclass(frozen=True)
class ReplicaPlan:
    """One replica of a :class:`ClusterOndo`: its name, ``ondo serve`` argument, and whether
    it sits behind the Slack load balancer / holds the Discord gateway."""

    name: str
    command: str
    slack: bool
    discord: bool


def replica_plan(replicas: int) -> list[ReplicaPlan]:
    """``replicas`` processes: one is ``ondo serve all``; more are ``replicas - 1`` times
    ``ondo serve slack`` behind the balancer and one ``ondo serve discord`` holding the
    gateway (which also runs Slack: the agents' desk is there, ``ONDO_HANDOFF_CHANNEL``)."""
    if replicas <= 1:
        return [ReplicaPlan("ondo", "all", slack=True, discord=True)]
    slack = [ReplicaPlan(f"slack-{n}", "slack", True, False) for n in range(1, replicas)]
    return [*slack, ReplicaPlan("discord", "discord", slack=False, discord=True)]


async def wait_healthy(port: int, process: SubprocessOndo, timeout: float = 900.0) -> None:
    """Wait until ``/healthz`` on ``port`` answers 200 (raises if the process exits)."""
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/healthz"
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if not process.alive():
                raise RuntimeError(f"{process.name} exited while starting")
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as r:
                    if r.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.25)
    raise RuntimeError(f"{process.name} was not healthy within {timeout:g}s")


class ClusterOndo(OndoHandle):
    """Replicas of ``ondo serve`` on one shared (PostgreSQL) database, each on a port of its
    own (the first on ``env["PORT"]``) and with a log of its own (``<name>.log``). The first
    starts alone (it brings the schema up to date and, on an empty database, embeds the
    knowledge base), the others once it is healthy, as a deployment rolls out."""

    def __init__(
        self,
        env: Mapping[str, str],
        workdir: Path,
        plan: Sequence[ReplicaPlan],
        port: Callable[[], int],
    ) -> None:
        self.replicas: dict[str, SubprocessOndo] = {}
        for number, spec in enumerate(plan):
            own = dict(env) if number == 0 else {**env, "PORT": str(port())}
            self.replicas[spec.name] = SubprocessOndo(
                own,
                workdir,
                command=spec.command,
                name=spec.name,
                slack=spec.slack,
                discord=spec.discord,
            )
        self.down: set[str] = set()

    async def start(self) -> None:
        """Start the first replica, wait until it is healthy, then start the others."""
        first, *rest = self.replicas.values()
        await first.start()
        await wait_healthy(first.endpoint.port, first)
        for replica in rest:
            await replica.start()

    async def kill(self) -> None:
        """Not used: :meth:`kill_replica` kills one replica."""
        raise NotImplementedError("kill one replica with kill_replica(name)")

    async def kill_replica(self, name: str) -> None:
        """SIGKILL replica ``name``; the others go on."""
        self.down.add(name)
        await self.replicas[name].kill()

    async def restart_replica(self, name: str) -> None:
        """Start replica ``name`` again (a new replica id: claims of the dead one stay free)."""
        await self.replicas[name].start()
        self.down.discard(name)

    async def stop(self) -> int:
        """SIGTERM every replica; the first non-zero exit status, else 0."""
        statuses = await asyncio.gather(*(r.stop() for r in self.replicas.values()))
        return next((s for s in statuses if s), 0)

    def alive(self) -> bool:
        """Whether every replica that should run does."""
        return all(r.alive() for n, r in self.replicas.items() if n not in self.down)

    def endpoints(self) -> list[Endpoint]:
        """Every replica."""
        return [r.endpoint for r in self.replicas.values()]

    def mark_log(self, line: str) -> None:
        """Write ``=== line ===`` into every replica's log."""
        for replica in self.replicas.values():
            replica.mark_log(line)

    def logs(self) -> list[str]:
        """One log per replica."""
        return [text for r in self.replicas.values() for text in r.logs()]


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

    def endpoints(self) -> list[Endpoint]:
        """This one process."""
        return [Endpoint("ondo", self.settings.port)]

    def mark_log(self, line: str) -> None:
        """Note ``=== line ===`` among the log lines."""
        self._tap.lines.append(f"=== {line} ===")

    def logs(self) -> list[str]:
        """What the ``ondo`` loggers said."""
        return ["\n".join(self._tap.lines)]
