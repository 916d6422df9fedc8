"""The suite-wide log scan (tests/plugins/log_scan.py) fails a run whose logs leak, and only then.

Each case runs pytest in a child process on a small test file with the plugin, exactly as
``tests/conftest.py`` registers it, and reads the child's verdict.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

CASES = {
    "secret-in-a-library-log": (
        "import logging\n"
        "def test_it():\n"
        "    logging.getLogger('slack_bolt.App').debug('secret %s', 'fake-signing-secret')\n",
        1,
        "'fake-signing-secret'",
    ),
    "pii-the-redactor-misses": (  # a known miss of the PII corpus: a phone number in words
        "import logging\n"
        "def test_it():\n"
        "    logging.getLogger('ondo').warning('연락처 공일공 일이삼사 오육칠팔')\n",
        1,
        "공일공 일이삼사 오육칠팔",
    ),
    "pii-in-a-child-process-stderr": (
        "import subprocess, sys\n"
        "def test_it():\n"
        "    code = 'import sys; sys.stderr.write(\"fake-bot-token\\\\n\")'\n"
        "    subprocess.run([sys.executable, '-c', code], check=True)\n",
        1,
        "stderr of",
    ),
    "a-longer-number-is-another-number": (  # a Discord id holding a corpus account number
        "import logging\n"
        "def test_it():\n"
        "    logging.getLogger('discord.http').debug('GET /channels/%s', '912345678901234567')\n",
        0,
        "log scan: no personal data or test secret in any log",
    ),
    "pii-that-redaction-removes": (
        "import logging\n"
        "def test_it():\n"
        "    text = '제 번호는 010-9876-5432 이에요'\n"
        "    logging.getLogger('httpx').info('body %s', {'text': text})\n",
        0,
        "log scan: no personal data or test secret in any log",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_scan_fails_a_run_that_logs_a_leak(case: str, tmp_path: Path) -> None:
    source, exit_code, shown = CASES[case]
    (tmp_path / "test_inner.py").write_text(source, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    plugin = ["-p", "tests.plugins.log_scan", "--rootdir", str(tmp_path), str(tmp_path)]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugin],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == exit_code, run.stdout + run.stderr
    assert shown in run.stdout, run.stdout
    assert "1 passed" in run.stdout  # the test itself passed: the scan decided
