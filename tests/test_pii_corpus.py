"""The redaction corpus (tests/data/pii_corpus.yaml): every example, the overall figures, speed.

Scoring lives in ``bench/privacy.py`` so the test gate and the published table are one code path.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.privacy import (
    FPR_TARGET,
    KINDS,
    RECALL_TARGET,
    Example,
    adversarial_inputs,
    check,
    load_corpus,
    score,
)
from bot.understanding.privacy import ORDER_KIND, PLACEHOLDERS, find_order_numbers, find_pii, redact

CORPUS = load_corpus()


def _param(example: Example) -> object:
    marks = (
        [pytest.mark.xfail(strict=True, reason=f"known limitation: {example.limitation}")]
        if example.limitation
        else []
    )
    return pytest.param(example, id=example.id, marks=marks)


def test_corpus_size_and_balance() -> None:
    assert len(CORPUS) >= 250
    korean = sum(e.language == "ko" for e in CORPUS)
    assert 0.4 <= korean / len(CORPUS) <= 0.6
    negatives = [e for e in CORPUS if not e.pii]
    assert len(negatives) >= 100
    for language in ("ko", "en"):
        kinds = {kind for e in CORPUS if e.language == language for kind, _ in e.pii}
        assert kinds == set(KINDS), (language, kinds)
    assert sum(bool(e.orders) for e in CORPUS) >= 15


@pytest.mark.parametrize("example", [_param(e) for e in CORPUS])
def test_example(example: Example) -> None:
    spans = find_pii(example.text)
    assert [(s.kind, s.text) for s in spans] == list(example.pii), example.text
    result = check(example)
    assert result.ok, result

    out = redact(example.text, example.language)
    if not example.pii:
        assert out == example.text
    for kind, pii in example.pii:
        assert PLACEHOLDERS[kind][example.language] in out
        assert pii not in out
        digits = re.sub(r"\D", "", pii)
        if len(digits) >= 7:
            assert digits not in re.sub(r"\D", "", out)
    for order in example.orders:
        assert order in out  # kept: an agent needs it
    marked = find_order_numbers(example.text)
    assert [s.text for s in marked] == list(example.orders)
    assert all(s.kind == ORDER_KIND for s in marked)


def test_recall_and_false_positive_rate() -> None:
    s = score(CORPUS)
    assert s.recall() >= RECALL_TARGET, s
    assert s.false_positive_rate() <= FPR_TARGET, s
    for language in ("ko", "en"):
        assert s.false_positive_rate(language) <= FPR_TARGET, language
    # Only the documented limitations may be wrong.
    assert set(s.failures) == {e.id for e in CORPUS if e.limitation}
    assert s.orders_ok == s.orders


class _TooSlow(Exception):
    pass


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Fail fast instead of hanging: the regex engine checks signals while it backtracks."""

    def expire(signum: int, frame: object) -> None:
        raise _TooSlow(f"took more than {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs POSIX interval timers")
@pytest.mark.parametrize(("name", "text"), list(adversarial_inputs(10_000).items()))
def test_adversarial_10k_input_is_fast(name: str, text: str) -> None:
    # Linear patterns take ~10-30 ms here; the catastrophic backtracking this guards against
    # (e.g. "tracking" + 10,000 spaces) took minutes.
    with _deadline(1.0):
        start = time.perf_counter()
        redact(text, "ko")
        find_order_numbers(text)
    assert time.perf_counter() - start < 1.0


def test_every_kind_has_both_placeholders() -> None:
    assert set(PLACEHOLDERS) == set(KINDS)
    for kind in KINDS:
        assert set(PLACEHOLDERS[kind]) == {"ko", "en"}


_NOISY_TEXT = st.text(
    alphabet=st.sampled_from(list("0123456789 -.+()@:#abcXYZ주민번호계좌카드은는로")), max_size=80
)


@settings(max_examples=300, deadline=None)
@given(_NOISY_TEXT)
def test_spans_are_consistent_on_any_text(text: str) -> None:
    spans = find_pii(text)
    previous_end = 0
    for span in spans:
        assert previous_end <= span.start < span.end <= len(text)
        assert text[span.start : span.end] == span.text
        previous_end = span.end
    for order in find_order_numbers(text):
        assert text[order.start : order.end] == order.text
        assert all(order.end <= s.start or s.end <= order.start for s in spans)
