"""A suite-wide log scan: no personal data and no test secret in any log line of the run.

Registered from ``tests/conftest.py``. For the whole session a handler on the root logger
(which is set to DEBUG) sees every record of every library, and each test's captured
standard error (where in-process commands and child processes that inherit it write) is read
too. A record counts as what Ondo's configured logging would write: it goes through
:class:`bot.logs.RedactingFilter` (with no configured secrets: the test secrets are the
needles). Any line still holding a value of the PII corpus (``tests/data/pii_corpus.yaml``)
or a test secret fails the session at the end, naming the logger, the value and the test.

Cheap: one alternation regex over the needles is tried on the raw text first; only a raw hit
is redacted and tried again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

import pytest

from bench.privacy import CORPUS, load_corpus
from bot.logs import RedactingFilter

TEST_SECRETS = (
    "fake-signing-secret",  # tests/slack_harness.py SECRET
    "fake-bot-token",  # tests/fakes/discord_gateway.py FakeDiscord token
    "fake-verification-token",  # tests/fakes/slack_api.py
    "xoxb-1-fake-bot-token",  # tests/fakes/slack_api.py BOT_TOKEN
    "xapp-1-A0FAKEAPP-1-fake-app-token",  # tests/fakes/slack_api.py APP_TOKEN
    "fake-twilio-auth-token-0123456789",  # tests/fakes/twilio.py AUTH_TOKEN
)
MIN_NEEDLE = 8
"""Shorter corpus values are left out: they occur in ordinary log lines by chance."""


def needles() -> list[str]:
    """Every value the logs must never hold: the PII corpus's spans and the test secrets."""
    found = {text for example in load_corpus(CORPUS) for _, text in example.pii}
    found.update(TEST_SECRETS)
    return sorted((n for n in found if len(n) >= MIN_NEEDLE), key=len, reverse=True)


@dataclass(frozen=True)
class Leak:
    """One log line that held a needle."""

    where: str
    value: str
    test: str


class LogScan:
    """The plugin: captures, scans, and fails the session on a leak."""

    def __init__(self, values: Iterable[str]) -> None:
        self.pattern = re.compile("|".join(map(_bounded, values)))
        self.redactor = RedactingFilter()
        self.leaks: list[Leak] = []
        self.test = "(session)"
        self.handler = _Handler(self)
        self._level = logging.WARNING

    def check(self, text: str, where: str, *, redact: bool) -> None:
        """Record a leak when ``text`` (redacted first, if ``redact``) holds a needle."""
        if not self.pattern.search(text):
            return
        if redact:
            text = self.redactor.clean(text)
        found = self.pattern.search(text)
        if found and len(self.leaks) < 100:
            self.leaks.append(Leak(where, found.group(0), self.test))

    def check_record(self, record: logging.LogRecord) -> None:
        """Scan one log record as Ondo's configured handler would write it."""
        try:
            raw = record.getMessage()
        except Exception:
            raw = str(record.msg)
        extra = [t for t in (record.exc_text, record.stack_info) if t]
        if record.exc_info and record.exc_info[1] is not None:
            extra.append(repr(record.exc_info[1]))
        if not self.pattern.search("\n".join([raw, *extra])):
            return
        message, details = self.redactor.scrub(record)
        self.check("\n".join([message, details or ""]), f"log {record.name}", redact=False)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        root = logging.getLogger()
        self._level = root.level
        root.setLevel(logging.DEBUG)
        root.addHandler(self.handler)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.test = item.nodeid

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown":  # its sections hold setup's, call's and teardown's
            self.check(report.capstderr, f"stderr of {report.nodeid}", redact=False)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        root = logging.getLogger()
        root.removeHandler(self.handler)
        root.setLevel(self._level)
        if self.leaks:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.leaks:
            terminalreporter.write_line("log scan: no personal data or test secret in any log")
            return
        terminalreporter.section("log scan: personal data or secrets in the logs", red=True)
        for leak in self.leaks:
            terminalreporter.write_line(f"{leak.where} ({leak.test}): {leak.value!r}")
        terminalreporter.write_line(f"log scan FAILED: {len(self.leaks)} leak(s)")


def _bounded(value: str) -> str:
    """``value`` as a pattern that a longer run of digits does not match: "12345678901234"
    inside a Discord id is another number, not the corpus's account number."""
    before = r"(?<![0-9])" if value[:1].isdigit() else ""
    after = r"(?![0-9])" if value[-1:].isdigit() else ""
    return before + re.escape(value) + after


class _Handler(logging.Handler):
    def __init__(self, scan: LogScan) -> None:
        super().__init__(logging.DEBUG)
        self.scan = scan

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.scan.check_record(record)
        except Exception:  # the scan must never break a test
            self.handleError(record)


def pytest_configure(config: pytest.Config) -> None:
    """Register the scan for this run."""
    config.pluginmanager.register(LogScan(needles()), "ondo-log-scan")
