"""``ondo kb train``: the encoder tuned on the knowledge base's questions, its check and cache."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import numpy as np
import pytest

from knowledge import finetune
from knowledge.embedders import MiniLMEmbedder, base_name
from knowledge.entries import Entry

ENTRIES = [
    Entry(
        id="refund",
        category="refund",
        questions={
            "en": ("How do I get a refund?", "I want my money back", "Where is the refund button?"),
            "ko": ("환불은 어떻게 받나요?", "돈 돌려받고 싶어요", "환불 버튼이 어디 있어요?"),
        },
        answer={"en": "Order history, Request refund.", "ko": "주문 내역에서 환불 신청."},
    ),
    Entry(
        id="shipping",
        category="shipping",
        questions={
            "en": ("When will my parcel arrive?", "How long is delivery?", "Where is my package?"),
            "ko": ("배송은 언제 와요?", "택배 며칠 걸려요?", "제 택배 어디쯤이에요?"),
        },
        answer={"en": "1-3 business days.", "ko": "1~3 영업일."},
    ),
    Entry(
        id="password",
        category="account",
        questions={
            "en": ("I forgot my password", "How do I reset my password?", "Can't log in"),
            "ko": ("비밀번호를 잊어버렸어요", "비밀번호 재설정 방법", "로그인이 안 돼요"),
        },
        answer={"en": "Use Forgot password.", "ko": "비밀번호 찾기를 누르세요."},
    ),
]

FAST = finetune.Recipe(batch_size=3, pairs_per_question=1, steps=2, threads=1)
"""Two tiny steps with a small learning rate: changes the weights, keeps what the model knows."""
DESTROY = finetune.Recipe(learning_rate=0.5, batch_size=3, pairs_per_question=1, steps=4, threads=1)
"""A learning rate that wrecks the encoder: the held-out check must refuse it."""


def _changed() -> list[Entry]:
    extra = Entry(
        id="coupon",
        category="promotion",
        questions={"en": ("Do you have a coupon?", "Any discount codes?"), "ko": ("쿠폰 있나요?",)},
        answer={"en": "See Events.", "ko": "이벤트 페이지를 보세요."},
    )
    return [*ENTRIES, extra]


def test_short_training_gives_a_different_encoder() -> None:
    state, steps = finetune.fine_tune(finetune.groups_of(ENTRIES), FAST)
    assert steps == 2
    texts = ["How do I get a refund?", "환불은 어떻게 받나요?"]
    base = finetune._embed(None, texts, 1)
    tuned = finetune._embed(state, texts, 1)
    assert not np.allclose(base, tuned, atol=1e-6)
    again, _ = finetune.fine_tune(finetune.groups_of(ENTRIES), FAST)  # deterministic
    assert all(bool((state[k] == again[k]).all()) for k in state)


def test_trained_once_then_reused_by_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = finetune.train(ENTRIES, tmp_path, FAST)
    assert first.path == finetune.encoder_path(tmp_path, finetune.kb_hash(ENTRIES))
    assert first.path.is_file() and not first.cached
    assert first.check is not None and first.check.passed
    assert finetune.tuned_for(ENTRIES, tmp_path) == first.path

    def no_training(*_args: object) -> None:
        raise AssertionError("trained again")

    monkeypatch.setattr(finetune, "fine_tune", no_training)
    second = finetune.train(ENTRIES, tmp_path, FAST)
    assert second.cached and second.path == first.path
    assert "cached" in second.message()


def test_a_changed_knowledge_base_trains_anew(tmp_path: Path) -> None:
    finetune.train(ENTRIES, tmp_path, FAST)
    changed = _changed()
    assert finetune.kb_hash(changed) != finetune.kb_hash(ENTRIES)
    assert finetune.tuned_for(changed, tmp_path) is None
    outcome = finetune.train(changed, tmp_path, FAST)
    assert not outcome.cached and outcome.path is not None
    assert outcome.path != finetune.encoder_path(tmp_path, finetune.kb_hash(ENTRIES))


def test_a_worse_encoder_is_refused_and_the_base_one_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="ondo.knowledge"):
        outcome = finetune.train(ENTRIES, tmp_path, DESTROY)
    assert outcome.path is None
    assert outcome.check is not None and outcome.check.tuned < outcome.check.base
    assert "kept the base model" in outcome.message()
    assert [r for r in caplog.records if "kept the base model" in r.getMessage()]
    assert finetune.tuned_for(ENTRIES, tmp_path) is None
    assert not list(tmp_path.glob("*.safetensors"))
    again = finetune.train(ENTRIES, tmp_path, DESTROY)  # the verdict is remembered
    assert again.cached and again.path is None


def test_no_pairs_no_training(tmp_path: Path) -> None:
    singles = [
        Entry(id=e.id, category=e.category, questions={"en": e.questions["en"][:1]}, answer={})
        for e in ENTRIES
    ]
    outcome = finetune.train(singles, tmp_path, FAST)
    assert outcome.path is None and "two example questions" in outcome.reason


def test_files_are_owner_only(tmp_path: Path) -> None:
    outcome = finetune.train(ENTRIES, tmp_path, FAST)
    assert outcome.path is not None
    verdict = finetune.verdict_path(tmp_path, outcome.kb_hash)
    for path in (outcome.path, verdict):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(verdict.read_text())["check"]["questions"] > 0


def test_the_tuned_encoder_has_its_own_name_and_the_minilm_weights(tmp_path: Path) -> None:
    from knowledge.retrieval import DEFAULT_WEIGHTS

    outcome = finetune.train(ENTRIES, tmp_path, FAST)
    assert outcome.path is not None
    base = MiniLMEmbedder(bfloat16=False)
    tuned = MiniLMEmbedder(bfloat16=False, weights=outcome.path, tag="abc123")
    assert tuned.name == "all-minilm-l6-v2+ft-abc123" != base.name
    assert base_name(tuned.name) == base.name
    assert DEFAULT_WEIGHTS["en"][base_name(tuned.name)] == DEFAULT_WEIGHTS["en"][base.name]
    texts = ["Where is my package?"]
    assert not np.allclose(base.embed(texts), tuned.embed(texts), atol=1e-6)


def test_the_runtime_picks_the_tuned_encoder_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import knowledge.embedders
    from bot.app import build_runtime
    from bot.settings import Settings
    from knowledge.embedders import HashEmbedder
    from knowledge.loader import load_paths

    kb = tmp_path / "faq.yaml"
    kb.write_text(_yaml(ENTRIES), encoding="utf-8")
    settings = Settings(db_path=str(tmp_path / "ondo.db"), kb_paths=(kb,))
    entries = load_paths([kb])
    outcome = finetune.train(entries, tmp_path, FAST)
    assert outcome.path is not None
    # USE is not what this test is about: a fake stands in for it.
    monkeypatch.setattr(
        knowledge.embedders, "USEEmbedder", lambda: HashEmbedder("use-multilingual-v3", 64)
    )
    with caplog.at_level(logging.INFO, logger="ondo"):
        runtime = build_runtime(settings)
    try:
        signals = runtime.knowledge._views.customers.signals
        assert signals[0].endswith("+ft-" + outcome.kb_hash[:12])
        assert runtime.knowledge.search_sync("how long does delivery take?").best is not None
    finally:
        runtime.close()
    assert [r for r in caplog.records if "tuned on this knowledge base" in r.getMessage()]


def _yaml(entries: list[Entry]) -> str:
    def quoted(texts: tuple[str, ...]) -> str:
        return "[" + ", ".join(json.dumps(t, ensure_ascii=False) for t in texts) + "]"

    lines = []
    for e in entries:
        lines += [f"- id: {e.id}", f"  category: {e.category}", "  questions:"]
        lines += [f"    {lang}: {quoted(qs)}" for lang, qs in e.questions.items()]
        lines += ["  answer:"]
        lines += [
            f"    {lang}: {json.dumps(a, ensure_ascii=False)}" for lang, a in e.answer.items()
        ]
    return "\n".join(lines) + "\n"


def test_the_command_trains_then_reuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot import cli

    kb = tmp_path / "faq.yaml"
    kb.write_text(_yaml(ENTRIES), encoding="utf-8")
    monkeypatch.setenv("ONDO_DB", str(tmp_path / "ondo.db"))
    monkeypatch.setenv("ONDO_KB", str(kb))
    assert cli.main(["kb", "train", "--threads", "1"]) == 0
    first = capsys.readouterr().out
    assert "1 torch threads" in first and "load average" in first
    assert "held-out top-1" in first
    # Without --threads the machine decides (all cores when idle, one when busy).
    monkeypatch.setattr(finetune, "training_threads", lambda: 7)
    assert cli.main(["kb", "train"]) == 0
    second = capsys.readouterr().out
    assert "7 torch threads" in second and "cached" in second


def test_threads_all_cores_when_idle_one_when_busy() -> None:
    assert finetune.training_threads(cores=2, load=0.3) == 2
    assert finetune.training_threads(cores=2, load=1.0) == 2
    assert finetune.training_threads(cores=2, load=1.5) == 1  # another process holds a core
    assert finetune.training_threads(cores=2, load=9.0) == 1
    assert finetune.training_threads(cores=8, load=3.0) == 8
    assert finetune.training_threads(cores=1, load=0.0) == 1


def test_the_token_cap_follows_the_questions_lengths() -> None:
    assert finetune.token_cap([[20] * 90, [40] * 10], 95.0) == 40  # a tenth are long: kept
    assert finetune.token_cap([[10] * 99, [60]], 95.0) == 16  # floor: 10 is below it
    assert finetune.token_cap([[30] * 99, [200]], 95.0) == 30  # one long outlier is cut
    assert finetune.token_cap([], 95.0) == 16


def test_long_questions_are_cut_and_keep_their_closing_token() -> None:
    from knowledge.minilm import load_tokenizer

    tokenizer = load_tokenizer(finetune._model_dir())
    long_en = "Why was my card declined " * 10
    long_ko = "카드 결제가 거절된 이유가 뭔가요 " * 10
    ids, attention = finetune._tokens(tokenizer, [long_en, long_ko, "refund?"], cap=16)
    assert ids.shape == (3, 16)
    full = tokenizer.encode_batch([long_en, long_ko])
    for row in (0, 1):
        assert ids[row, -1].item() == full[row].ids[-1]  # [SEP] kept
        assert ids[row, :15].tolist() == full[row].ids[:15]
    short = tokenizer.encode("refund?").ids
    assert ids[2, : len(short)].tolist() == short
    assert int(attention[2].sum()) == len(short) < 16


def test_the_stored_encoder_is_the_checked_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[list[str]]] = []
    real = finetune.fine_tune

    def counted(groups: list[list[str]], recipe: finetune.Recipe) -> tuple[dict[str, object], int]:
        calls.append([list(g) for g in groups])
        return real(groups, recipe)

    monkeypatch.setattr(finetune, "fine_tune", counted)
    outcome = finetune.train(ENTRIES, tmp_path, FAST)
    assert outcome.path is not None and outcome.check is not None
    assert len(calls) == 1  # trained once, for the check; no second run on all questions
    held = {q for _, q in finetune.split(finetune.groups_of(ENTRIES), FAST)[1]}
    assert held and not held & {q for g in calls[0] for q in g}  # never saw the held-out ones
    from safetensors.torch import load_file

    kept, _ = finetune.split(finetune.groups_of(ENTRIES), FAST)
    again, _ = real(kept, FAST)
    stored = load_file(str(outcome.path))
    assert all(bool((stored[k] == again[k]).all()) for k in again)
