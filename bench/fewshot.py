"""Few-shot that learns: BANKING77 10-shot over several draws with the tuned MiniLM, paraKQC.

Per draw (seed 0-4): the KB is 10 train questions per intent (one entry per intent), queries
a seeded subsample of the test questions. The shipped retriever runs with the bundled MiniLM
(the baseline, same run) and with the MiniLM that ``ondo kb train`` tunes on that KB
(:func:`knowledge.finetune.train`: trained on all but a held-out fifth of each entry's
questions and used if the held-out check passes; if the check refuses, the product keeps the
base model, and so does the tuned column).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import datasets
from bench.common import Config, MemoEmbedder, Models, progress
from bench.retrieval import accuracy, entries_from_groups, search_all
from bench.table import Row, pct
from knowledge import finetune
from knowledge.embedders import Embedder, MiniLMEmbedder
from knowledge.entries import Entry
from knowledge.results import SearchResult
from knowledge.retrieval import Retriever

SEEDS = (0, 1, 2, 3, 4)
QUERIES_FULL = 500
QUERIES_QUICK = 100


def _ondo(
    entries: Sequence[Entry], embedders: Sequence[Embedder], queries: list[str]
) -> list[SearchResult]:
    return search_all(Retriever(entries, embedders), queries)


def _mean_sd(values: Sequence[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.1f} ± {100 * sd:.1f} %"


def banking77_draws(cfg: Config, models: Models) -> list[Row]:
    """BANKING77 10-shot, base vs tuned MiniLM in the shipped retriever, over the draws."""
    train = datasets.banking77(cfg.data, "train")
    test = datasets.banking77(cfg.data, "test")
    n_queries = QUERIES_QUICK if cfg.quick else QUERIES_FULL
    seeds = SEEDS[:2] if cfg.quick else SEEDS
    use = MemoEmbedder(models.use)
    recipe = finetune.Recipe()
    base_acc: list[float] = []
    tuned_acc: list[float] = []
    details: list[str] = []
    for seed in seeds:
        entries = entries_from_groups(datasets.banking77_few_shot(train, 10, seed=seed), "en")
        sample = datasets.subsample(test, n_queries, seed=seed)
        queries, gold = [q.text for q in sample], [q.label for q in sample]
        base = accuracy(_ondo(entries, (models.minilm, use), queries), gold)
        with tempfile.TemporaryDirectory() as tmp:
            load = os.getloadavg()[0]
            outcome = finetune.train(entries, Path(tmp), recipe)
            if outcome.path is not None:
                tuned_minilm = MiniLMEmbedder(weights=outcome.path, tag=outcome.kb_hash[:12])
                tuned = accuracy(_ondo(entries, (tuned_minilm, use), queries), gold)
            else:
                tuned = base
        base_acc.append(base)
        tuned_acc.append(tuned)
        held = outcome.check
        check = f"held-out {pct(held.base)} → {pct(held.tuned)}" if held else "no check"
        kept = "" if outcome.path is not None else ", refused: base kept"
        details.append(
            f"seed {seed}: {pct(base)} → {pct(tuned)} (train {outcome.seconds:.0f}s, "
            f"{outcome.steps} steps, {outcome.threads or '?'} thread(s), load {load:.1f}; "
            f"{check}{kept})"
        )
        progress(f"fewshot seed {seed}: {details[-1]}")
    return [
        Row(
            benchmark=f"BANKING77 10-shot, tuned MiniLM ({len(seeds)} draws × {n_queries} queries)",
            metric="top-1 intent accuracy, mean ± sd",
            ondo=f"tuned {_mean_sd(tuned_acc)} (base encoder {_mean_sd(base_acc)})",
            lexical="—",
            dense="; ".join(details),
            anchor="USE+ConveRT 85.2 % (Casanueva 2020); SetFit-style tuning",
            target="≥ 88 %",
            protocol=(
                f"per draw seed 0-{len(seeds) - 1}: KB = 10 train questions per intent "
                "(`banking77_few_shot(seed)`), one entry per intent; queries = "
                f"{n_queries} test questions (`subsample(seed)`); shipped retriever with the "
                "bundled MiniLM vs with the MiniLM of `ondo kb train` on that KB (recipe "
                f"v{finetune.RECIPE_VERSION}: MNRL, batch {recipe.batch_size}, lr "
                f"{recipe.learning_rate}, 1 epoch, questions cut at the "
                f"{recipe.length_quantile:.0f}th percentile of their token lengths, all cores "
                "when the machine is idle and one when it is busy; training time includes the "
                "held-out check). Dense cell: per-draw figures."
            ),
        )
    ]


def parakqc_note(cfg: Config, models: Models) -> list[Row]:
    """paraKQC: one question per entry, so there is nothing to pair and nothing is trained."""
    sets = datasets.parakqc(cfg.data)
    entries = entries_from_groups({f"set{i}": [s[0]] for i, s in enumerate(sets)}, "ko")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        outcome = finetune.train(entries, Path(tmp))
        took = time.perf_counter() - start
    return [
        Row(
            benchmark="paraKQC, tuned MiniLM",
            metric="—",
            ondo=f"not applicable: {outcome.reason} ({took:.1f}s); see the paraKQC row",
            lexical="—",
            dense="—",
            anchor="—",
            target="≥ 93 %",
            protocol=(
                "KB = the first sentence of each paraphrase set, one question per entry: "
                "`ondo kb train` finds no two questions of one entry to pair and keeps the "
                "base encoder, so the retrieval figures are those of the paraKQC row."
            ),
        )
    ]


def fewshot(cfg: Config, models: Models) -> list[Row]:
    """The ``fewshot`` suite."""
    return banking77_draws(cfg, models) + parakqc_note(cfg, models)
