"""FAQ retrieval and intent benchmarks: BANKING77 10-shot, paraKQC, CLINC150 out-of-scope, and
out-of-scope rejection on simulated noisy support traffic (suite ``noisy``)."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import datasets
from bench.common import Config, MemoEmbedder, Models, progress
from bench.table import Row, pct
from knowledge.embedders import Embedder
from knowledge.entries import Entry
from knowledge.language import detect_language
from knowledge.results import SearchResult
from knowledge.retrieval import ANSWER_THRESHOLD, Retriever
from knowledge.scope import BEFORE, SHIPPED, Scope

CHUNK = 256
"""Queries per ``search_many`` call."""


@dataclass(frozen=True)
class Variant:
    """One retriever configuration: the shipped fusion or a single-signal baseline."""

    key: str
    label: str
    embedders: tuple[Embedder, ...]
    lexical: bool
    calibrate: bool
    classifier: bool = False
    scope: Scope = SHIPPED


def variants(models: Models, calibrate_baselines: bool, *, before: bool = False) -> list[Variant]:
    """The shipped retriever, its nearest-neighbour fusion alone, and the three single-signal
    baselines (nearest neighbour), each embedder memoized for this data set; ``before`` adds
    the shipped retriever with the calibrator of earlier releases (:data:`BEFORE`)."""
    minilm, use = MemoEmbedder(models.minilm), MemoEmbedder(models.use)
    cal = calibrate_baselines
    old = Variant("before", "Ondo before", (minilm, use), True, True, classifier=True, scope=BEFORE)
    return [
        Variant("ondo", "Ondo", (minilm, use), lexical=True, calibrate=True, classifier=True),
        *([old] if before else []),
        Variant("knn", "kNN fusion", (minilm, use), lexical=True, calibrate=cal),
        Variant("lexical", "lexical", (), lexical=True, calibrate=cal),
        Variant("minilm", "MiniLM", (minilm,), lexical=False, calibrate=cal),
        Variant("use", "USE", (use,), lexical=False, calibrate=cal),
    ]


def entries_from_groups(groups: Mapping[str, Sequence[str]], language: str) -> list[Entry]:
    """One entry per group: category and answer are the group's label."""
    return [
        Entry(
            id=f"e{i}",
            category=label,
            questions={language: tuple(questions)},
            answer={language: label},
        )
        for i, (label, questions) in enumerate(groups.items())
    ]


def search_all(retriever: Retriever, queries: Sequence[str]) -> list[SearchResult]:
    """Top-1 results for every query, ``CHUNK`` queries per ``search_many`` call."""
    out: list[SearchResult] = []
    for start in range(0, len(queries), CHUNK):
        chunk = list(queries[start : start + CHUNK])
        out += retriever.search_many(chunk, k=1, languages=[detect_language(q) for q in chunk])
    return out


def predicted(result: SearchResult) -> str | None:
    """The category of the best match."""
    return result.best.entry.category if result.best else None


def accuracy(results: Sequence[SearchResult], gold: Sequence[str]) -> float:
    """Share of queries whose best match has the gold category."""
    hits = sum(predicted(r) == g for r, g in zip(results, gold, strict=True))
    return hits / max(1, len(gold))


def run_variants(
    entries: Sequence[Entry], queries: Sequence[str], vs: Sequence[Variant], name: str
) -> dict[str, list[SearchResult]]:
    """Build each variant's retriever and search every query with it."""
    out: dict[str, list[SearchResult]] = {}
    for v in vs:
        start = time.perf_counter()
        retriever = Retriever(
            entries,
            v.embedders,
            lexical=v.lexical,
            calibrate=v.calibrate,
            classifier=v.classifier,
            scope=v.scope,
        )
        out[v.key] = search_all(retriever, queries)
        progress(f"{name}: {v.label} done in {time.perf_counter() - start:.1f}s")
    return out


def ondo_cell(values: Mapping[str, float]) -> str:
    """``87.0 % (kNN fusion alone 82.8 %)``: the shipped retriever and its classifier-free part."""
    return f"{pct(values['ondo'])} (kNN fusion alone {pct(values['knn'])})"


def dense_cell(values: Mapping[str, float]) -> str:
    """``MiniLM 82.0 % · USE 80.1 %``."""
    return f"MiniLM {pct(values['minilm'])} · USE {pct(values['use'])}"


def banking77(cfg: Config, models: Models) -> list[Row]:
    """BANKING77 top-1 accuracy with 10 train questions per intent, then with the full train."""
    train = datasets.banking77(cfg.data, "train")
    test = datasets.subsample(datasets.banking77(cfg.data, "test"), cfg.queries)
    queries, gold = [q.text for q in test], [q.label for q in test]
    few = entries_from_groups(datasets.banking77_few_shot(train, 10, seed=0), "en")
    full_train = datasets.subsample(train, cfg.banking_train)
    full = entries_from_groups(datasets.by_label(full_train), "en")
    rows = []
    kbs = (("10-shot", few, 10 * len(few)), ("full", full, len(full_train)))
    for name, entries, n_train in kbs:
        progress(f"banking77 {name}: {len(entries)} entries, {n_train} questions")
        results = run_variants(entries, queries, variants(models, False), f"banking77 {name}")
        acc = {k: accuracy(r, gold) for k, r in results.items()}
        rows.append(banking_row(name, acc, len(test), n_train))
    return rows


def banking_row(name: str, acc: Mapping[str, float], n_queries: int, n_train: int) -> Row:
    """One BANKING77 row: ``name`` is ``10-shot`` or ``full``."""
    if name == "10-shot":
        title, anchor, target = (
            "10-shot",
            "USE+ConveRT 85.2 % (Casanueva 2020); MiniLM NN 82.0 %, MiniLM+LR 85.6 %",
            "≥ 88 %",
        )
        kb = (
            "KB = 10 train questions per intent (`random.Random(0).sample` per intent, "
            "one entry per intent, 77 entries)"
        )
    else:
        title, anchor, target = "full train", "BERT fine-tuned ≈ 93.7 %; MiniLM+LR 93.0 %", "≥ 94 %"
        kb = f"KB = all {n_train} train questions, one entry per intent (77 entries)"
    return Row(
        benchmark=f"BANKING77 {title} ({n_queries} queries)",
        metric="top-1 intent accuracy",
        ondo=ondo_cell(acc),
        lexical=pct(acc["lexical"]),
        dense=dense_cell(acc),
        anchor=anchor,
        target=target,
        protocol=f"{kb}; queries = {n_queries} test questions; top-1 intent accuracy.",
    )


def parakqc(cfg: Config, models: Models) -> list[Row]:
    """paraKQC: first paraphrase of each set as the knowledge base, the other nine as queries."""
    sets = datasets.parakqc(cfg.data)
    groups = {f"set{i}": [s[0]] for i, s in enumerate(sets)}
    queries = [datasets.Labeled(q, f"set{i}") for i, s in enumerate(sets) for q in s[1:]]
    queries = datasets.subsample(queries, cfg.queries)
    entries = entries_from_groups(groups, "ko")
    progress(f"parakqc: {len(entries)} entries, {len(queries)} queries")
    results = run_variants(entries, [q.text for q in queries], variants(models, False), "parakqc")
    acc = {k: accuracy(r, [q.label for q in queries]) for k, r in results.items()}
    return [
        Row(
            benchmark=f"paraKQC, Korean ({len(queries)} queries)",
            metric="top-1 accuracy",
            ondo=ondo_cell(acc),
            lexical=pct(acc["lexical"]),
            dense=dense_cell(acc),
            anchor=("MiniLM 26.4 %, char TF-IDF 84.0 %, USE 83.8 %, USE+TF-IDF+BM25 fused 88.9 %"),
            target="≥ 93 %",
            protocol=(
                "KB = first sentence of each of the 1,000 paraphrase sets (one entry each); "
                f"queries = {len(queries)} of the other sentences; top-1 set accuracy."
            ),
        )
    ]


def clinc_groups(train: Sequence[datasets.Labeled], per_intent: int | None) -> dict[str, list[str]]:
    """Train questions by intent, at most ``per_intent`` each (seed 0, original order kept)."""
    rng = random.Random(0)
    groups = datasets.by_label(train)
    if per_intent is None:
        return groups
    return {
        intent: [texts[i] for i in sorted(rng.sample(range(len(texts)), per_intent))]
        for intent, texts in groups.items()
    }


@dataclass(frozen=True)
class ScopeScores:
    """Answer-or-reject figures of one variant at ``ANSWER_THRESHOLD`` (bench/README.md)."""

    in_scope: float
    """In-scope queries answered with the right entry (below the threshold counts wrong)."""
    in_scope_no_threshold: float
    oos_recall: float
    """Out-of-scope queries below the threshold."""
    mcc: float
    """Matthews correlation of answer vs. reject; a wrong-entry answer counts as an error."""
    near: float | None = None
    """OOS recall on the near-domain part (when the data set has one)."""
    far: float | None = None


def answer_mcc(tp: int, fp: int, fn: int, tn: int) -> float:
    """Matthews correlation coefficient of a 2×2 table (0 when a margin is empty)."""
    den = ((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)) ** 0.5
    return (tp * tn - fp * fn) / den if den else 0.0


def scope_scores(
    results: Sequence[SearchResult], gold: Sequence[str], n_near: int = 0
) -> ScopeScores:
    """Figures for ``results``: the in-scope queries (labels ``gold``) first, then the
    out-of-scope ones, the first ``n_near`` of them near-domain.

    Every query is one cell: TP answered with the right entry, FP answered wrong (an
    out-of-scope query, or an in-scope one with the wrong entry), FN in-scope not answered,
    TN out-of-scope not answered.
    """
    n_in = len(gold)
    ins, oos = results[:n_in], results[n_in:]
    correct = [predicted(r) == g for r, g in zip(ins, gold, strict=True)]
    answered = [r.confidence >= ANSWER_THRESHOLD for r in ins]
    rejected = [r.confidence < ANSWER_THRESHOLD for r in oos]
    tp = sum(c and a for c, a in zip(correct, answered, strict=True))
    fp = sum(a and not c for c, a in zip(correct, answered, strict=True))
    fp += sum(not r for r in rejected)
    fn = sum(not a for a in answered)
    tn = sum(rejected)
    near, far = rejected[:n_near], rejected[n_near:]
    return ScopeScores(
        in_scope=tp / max(1, n_in),
        in_scope_no_threshold=sum(correct) / max(1, n_in),
        oos_recall=tn / max(1, len(oos)),
        mcc=answer_mcc(tp, fp, fn, tn),
        near=sum(near) / len(near) if n_near else None,
        far=sum(far) / len(far) if n_near and far else None,
    )


def clinc150(cfg: Config, models: Models) -> list[Row]:
    """CLINC150: in-scope accuracy, out-of-scope recall and MCC at the shipped threshold."""
    data = datasets.clinc150(cfg.data)
    groups = clinc_groups(data["train"], cfg.clinc_train_per_intent)
    test = datasets.subsample(data["test"], cfg.queries)
    oos = datasets.subsample(data["oos_test"], cfg.queries)
    entries = entries_from_groups(groups, "en")
    n_train = sum(len(v) for v in groups.values())
    progress(f"clinc150: {len(entries)} entries ({n_train} questions), {len(test)}+{len(oos)}")
    queries = [q.text for q in test] + [q.text for q in oos]
    results = run_variants(entries, queries, variants(models, True, before=True), "clinc150")
    s = {k: scope_scores(r, [q.label for q in test]) for k, r in results.items()}
    size = (
        "full train"
        if cfg.clinc_train_per_intent is None
        else (f"train subsampled to {cfg.clinc_train_per_intent}/intent")
    )
    protocol = (
        f"KB = one entry per intent with its train questions ({n_train}, {size}); "
        f"{len(test)} test + {len(oos)} oos_test queries; threshold = ANSWER_THRESHOLD "
        f"{ANSWER_THRESHOLD} on calibrated confidence (baselines calibrated too); "
        "*before* = the shipped retriever with the calibrator of earlier releases."
    )

    def cell(key: str) -> str:
        return f"{pct(s[key].in_scope)} (no threshold {pct(s[key].in_scope_no_threshold)})"

    def mcc(key: str) -> str:
        return f"{s[key].mcc:.3f}"

    return [
        Row(
            benchmark=f"CLINC150 in-scope ({size})",
            metric=f"accuracy, below {ANSWER_THRESHOLD} = wrong",
            ondo=f"{cell('ondo')}; before {cell('before')}; kNN fusion alone {cell('knn')}",
            lexical=cell("lexical"),
            dense=f"MiniLM {cell('minilm')} · USE {cell('use')}",
            anchor="MiniLM+LR 92.0 % at 0.5 (95.5 % no threshold)",
            target="≥ 94 % (with OOS ≥ 85 %)",
            protocol=protocol,
        ),
        Row(
            benchmark=f"CLINC150 out-of-scope ({size})",
            metric=f"OOS recall at {ANSWER_THRESHOLD}",
            ondo=(
                f"{pct(s['ondo'].oos_recall)}; before {pct(s['before'].oos_recall)}; "
                f"kNN fusion alone {pct(s['knn'].oos_recall)}"
            ),
            lexical=pct(s["lexical"].oos_recall),
            dense=f"MiniLM {pct(s['minilm'].oos_recall)} · USE {pct(s['use'].oos_recall)}",
            anchor="MiniLM+LR 83.1 % at 0.5",
            target="≥ 85 % (with in-scope ≥ 94 %)",
        ),
        Row(
            benchmark=f"CLINC150 answer/reject ({size})",
            metric=f"MCC at {ANSWER_THRESHOLD} (wrong entry = error)",
            ondo=f"{mcc('ondo')}; before {mcc('before')}; kNN fusion alone {mcc('knn')}",
            lexical=mcc("lexical"),
            dense=f"MiniLM {mcc('minilm')} · USE {mcc('use')}",
            anchor="—",
            target="— (no target set)",
        ),
    ]


# --- out of scope on simulated noisy traffic (suite ``noisy``) -------------------------------

TOP_UP_FAMILY = ("top_up", "topping_up")
"""BANKING77 intents whose name contains one of these (10 intents) are the topic the noisy
English knowledge base lacks: a whole section of the bank's FAQ that is not written."""
CLINC_BANKING_NOT_IN_BANKING77 = (
    "routing",
    "bill_due",
    "pay_bill",
    "interest_rate",
    "min_payment",
    "bill_balance",
    "order_checks",
    "improve_credit_score",
    "credit_limit_change",
    "apr",
    "redeem_rewards",
    "credit_limit",
    "rewards_balance",
    "credit_score",
)
"""CLINC150 banking/credit_cards intents no BANKING77 intent answers (near-domain questions).
The other 16 intents of those two domains have a BANKING77 counterpart or come close to one
(``card_declined``, ``pin_change``, ``report_lost_card``, ...) and are left out."""
CLINC_OTHER_ANSWERED_BY_BANKING77 = ("exchange_rate", "direct_deposit")
"""Intents outside banking/credit_cards that BANKING77 answers or comes close to; left out."""
PARAKQC_HELD_TOPIC = 3
"""paraKQC topic whose sets the Korean knowledge base lacks (weather, by its sentences)."""
KO_KB_SENTENCES = 3
"""Example questions per paraKQC set in the Korean knowledge base (its first three)."""
KO_QUERY_SENTENCES = range(6, 10)
"""Sentences of each set used as queries (3–5 were the validation queries, see README)."""


def _in_family(intent: str) -> bool:
    return any(word in intent for word in TOP_UP_FAMILY)


@dataclass(frozen=True)
class Traffic:
    """One simulated traffic mix: a knowledge base and its queries, in-scope ones first."""

    entries: list[Entry]
    in_scope: list[datasets.Labeled]
    near: list[str]
    far: list[str]

    @property
    def queries(self) -> list[str]:
        """In-scope, then near-domain, then far out-of-scope queries."""
        return [q.text for q in self.in_scope] + self.near + self.far

    def capped(self, n: int | None) -> Traffic:
        """At most ``n`` in-scope queries, out-of-scope ones cut in the same proportion."""
        if n is None or n >= len(self.in_scope):
            return self
        factor = n / len(self.in_scope)
        near = datasets.subsample(self.near, round(len(self.near) * factor))
        far = datasets.subsample(self.far, round(len(self.far) * factor))
        return Traffic(self.entries, datasets.subsample(self.in_scope, n), near, far)


def noisy_english(root: Path) -> Traffic:
    """BANKING77 10-shot without the top-up topic; half the queries out of scope.

    Near-domain: the top-up intents' test questions and the CLINC150 test questions of
    :data:`CLINC_BANKING_NOT_IN_BANKING77`; far: CLINC150 oos_test and the test questions of
    the other eight domains' intents, half each.
    """
    train = datasets.banking77(root, "train")
    few = datasets.banking77_few_shot(train, 10, seed=0)
    entries = entries_from_groups({k: v for k, v in few.items() if not _in_family(k)}, "en")
    test = datasets.banking77(root, "test")
    clinc = datasets.clinc150(root)
    domains = datasets.clinc150_domains(root)
    banking = set(domains["banking"]) | set(domains["credit_cards"])
    in_scope = [q for q in test if not _in_family(q.label)]
    near = [q.text for q in test if _in_family(q.label)]
    near += [q.text for q in clinc["test"] if q.label in CLINC_BANKING_NOT_IN_BANKING77]
    others = [
        q.text
        for q in clinc["test"]
        if q.label not in banking and q.label not in CLINC_OTHER_ANSWERED_BY_BANKING77
    ]
    rest = len(in_scope) - len(near)
    n_oos = min(len(clinc["oos_test"]), rest // 2)
    far = [q.text for q in datasets.subsample(clinc["oos_test"], n_oos)]
    far += datasets.subsample(others, rest - n_oos)
    return Traffic(entries, in_scope, near, far)


def noisy_korean(root: Path) -> Traffic:
    """paraKQC without one topic, three sentences per set; half the queries out of scope.

    Near-domain: sentences of the held-out topic's sets; far: korean-chatbot-data everyday
    chit-chat questions (the second half of the shuffled list; the first half validated).
    """
    sets = datasets.parakqc(root)
    topics = datasets.parakqc_topics(root)
    kept = [i for i, t in enumerate(topics) if t != PARAKQC_HELD_TOPIC]
    held = [i for i, t in enumerate(topics) if t == PARAKQC_HELD_TOPIC]
    groups = {f"set{i}": list(sets[i][:KO_KB_SENTENCES]) for i in kept}
    entries = entries_from_groups(groups, "ko")
    in_scope = [datasets.Labeled(sets[i][j], f"set{i}") for i in kept for j in KO_QUERY_SENTENCES]
    in_scope = datasets.subsample(in_scope, 2000)
    near = datasets.subsample([sets[i][j] for i in held for j in KO_QUERY_SENTENCES], 1000)
    chat = datasets.korean_chitchat(root)
    far = datasets.subsample(chat[len(chat) // 2 :], len(in_scope) - len(near))
    return Traffic(entries, in_scope, near, far)


def noisy(cfg: Config, models: Models) -> list[Row]:
    """Out-of-scope rejection on simulated support traffic, English and Korean."""
    rows = []
    for name, build in (("English", noisy_english), ("Korean", noisy_korean)):
        traffic = build(cfg.data).capped(cfg.queries)
        label = f"noisy {name}"
        progress(
            f"{label}: {len(traffic.entries)} entries, {len(traffic.in_scope)} in-scope + "
            f"{len(traffic.near)} near + {len(traffic.far)} far out-of-scope queries"
        )
        vs = variants(models, True, before=True)
        results = run_variants(traffic.entries, traffic.queries, vs, label)
        gold = [q.label for q in traffic.in_scope]
        s = {k: scope_scores(r, gold, len(traffic.near)) for k, r in results.items()}
        rows.append(noisy_row(name, traffic, s))
    return rows


def _scope_cell(s: ScopeScores) -> str:
    return f"{pct(s.in_scope)} / {pct(s.oos_recall)} / {s.mcc:.3f}"


def _split(s: ScopeScores) -> str:
    return f"OOS near {pct(s.near or 0.0)} · far {pct(s.far or 0.0)}"


def noisy_row(name: str, traffic: Traffic, s: Mapping[str, ScopeScores]) -> Row:
    """One noisy-traffic row: ``name`` is ``English`` or ``Korean``."""
    n_in, n_oos = len(traffic.in_scope), len(traffic.near) + len(traffic.far)
    if name == "English":
        kb = (
            "KB = BANKING77 10-shot without the 10 top-up intents "
            f"({len(traffic.entries)} entries); in-scope = their test questions; near-domain "
            "OOS = top-up test questions + CLINC150 test questions of 14 banking/credit-card "
            "intents BANKING77 lacks; far OOS = CLINC150 oos_test + test questions of the "
            "8 other domains (exchange_rate, direct_deposit left out)"
        )
    else:
        kb = (
            f"KB = paraKQC sets of topics 0–2, first {KO_KB_SENTENCES} sentences each "
            f"({len(traffic.entries)} entries); in-scope = sentences 7–10 of those sets; "
            "near-domain OOS = sentences 7–10 of topic-3 sets; far OOS = korean-chatbot-data "
            "chit-chat (label 0)"
        )
    return Row(
        benchmark=(
            f"Noisy traffic, {name} ({n_in} in-scope + {len(traffic.near)} near + "
            f"{len(traffic.far)} far OOS)"
        ),
        metric=f"in-scope acc. / OOS recall / MCC at {ANSWER_THRESHOLD}",
        ondo=(
            f"{_scope_cell(s['ondo'])} ({_split(s['ondo'])}); before "
            f"{_scope_cell(s['before'])} ({_split(s['before'])}); kNN fusion alone "
            f"{_scope_cell(s['knn'])}"
        ),
        lexical=_scope_cell(s["lexical"]),
        dense=f"MiniLM {_scope_cell(s['minilm'])} · USE {_scope_cell(s['use'])}",
        anchor="production support bots: ≈ 60 % OOS recall at 0.5 (issue 15)",
        target="— (no target set)",
        protocol=(
            f"{kb}; {n_in} in-scope + {n_oos} out-of-scope queries "
            f"({100 * n_oos / (n_in + n_oos):.0f} % OOS); in-scope below ANSWER_THRESHOLD "
            "counts wrong; MCC of answer vs. reject with wrong-entry answers as errors "
            "(bench/README.md); *before* = the calibrator of earlier releases."
        ),
    )
