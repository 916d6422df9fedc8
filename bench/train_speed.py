"""How long ``ondo kb train`` takes at 1,000 questions: ``python -m bench.train_speed``.

The knowledge base is BANKING77 train, 13 questions per intent (``banking77_few_shot(seed=0)``)
with the last intent's last one dropped: 77 entries, exactly 1,000 questions. It is trained the
way the command trains it (:func:`knowledge.finetune.train`: held-out check, then all
questions) in a temporary folder; the seconds, steps, threads, the check and the 1-minute load
average before and after are printed. No test question is read.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import datasets
from bench.retrieval import entries_from_groups
from knowledge import finetune
from knowledge.entries import Entry

QUESTIONS = 1000
PER_INTENT = 13


def thousand_questions(root: Path) -> list[Entry]:
    """77 BANKING77 entries holding exactly :data:`QUESTIONS` train questions."""
    groups = datasets.banking77_few_shot(datasets.banking77(root, "train"), PER_INTENT, seed=0)
    extra = sum(len(v) for v in groups.values()) - QUESTIONS
    last = sorted(groups)[-1]
    groups[last] = groups[last][: len(groups[last]) - extra]
    return entries_from_groups(groups, "en")


def main(argv: Sequence[str] | None = None) -> int:
    """Train once and print the figures."""
    from bench.run import default_data

    parser = argparse.ArgumentParser(prog="python -m bench.train_speed", description=__doc__)
    parser.add_argument("--data", type=Path, default=None, help="datasets folder")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: auto)")
    args = parser.parse_args(argv)
    entries = thousand_questions(args.data or default_data())
    n = sum(len(e.all_questions()) for e in entries)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        outcome = finetune.train(entries, Path(tmp), finetune.Recipe(threads=args.threads))
        took = time.perf_counter() - start
    after = os.getloadavg()
    print(f"{len(entries)} entries, {n} questions, recipe v{finetune.RECIPE_VERSION}")
    print(outcome.message())
    print(
        f"{took:.1f}s on {outcome.threads or '?'} thread(s); load average (1/5/15 min) "
        f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} before, "
        f"{after[0]:.1f}/{after[1]:.1f}/{after[2]:.1f} after"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
