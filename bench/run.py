"""Run every benchmark and print one markdown table: ``python -m bench.run [--quick]``."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import datetime as dt
import platform
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import (
    emotion,
    fewshot,
    journeys_week,
    latency,
    near_miss,
    polarity,
    privacy,
    retrieval,
)
from bench.common import Config, Models, load_models, progress
from bench.report import BENCHMARKS_DOC, REPO, update_section
from bench.table import Row, markdown
from bot.understanding.emotion import ANGER_THRESHOLD
from knowledge.retrieval import ANSWER_THRESHOLD

DEFAULT_OUT = BENCHMARKS_DOC
SHARED_DOC = "shared/docs/benchmarks.md"

Suite = Callable[[Config, Models], list[Row]]

# Run order (core first, so its cold start also pays the one-time Korean analyzer load) and
# the order of the table.
SUITES: dict[str, Suite] = {
    "core": latency.core,
    "banking77": retrieval.banking77,
    "parakqc": retrieval.parakqc,
    "fewshot": fewshot.fewshot,
    "clinc150": retrieval.clinc150,
    "noisy": retrieval.noisy,
    "goemotions": emotion.goemotions,
    "kote": emotion.kote,
    "bigkb": latency.big_kb,
    "polarity": polarity.polarity,
    "privacy": privacy.suite,
    "nearmiss": near_miss.suite,
    "journeys": journeys_week.suite,
}
TABLE_ORDER = (
    "banking77",
    "parakqc",
    "fewshot",
    "clinc150",
    "noisy",
    "goemotions",
    "kote",
    "nearmiss",
    "polarity",
    "privacy",
    "journeys",
    "core",
    "bigkb",
)


def default_data() -> Path:
    """``$ONDO_DATASETS``, else ``../shared/datasets`` next to the repository."""
    env = os.environ.get("ONDO_DATASETS")
    return Path(env) if env else REPO.parent / "shared" / "datasets"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--data", type=Path, default=None, help="datasets folder")
    parser.add_argument("--quick", action="store_true", help="small subsamples (smoke test)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"markdown file to write (default: {DEFAULT_OUT.relative_to(REPO)} for a full "
        "run of every suite; nothing for --quick or --only)",
    )
    parser.add_argument(
        "--only", default="", help=f"comma-separated suites to run ({', '.join(SUITES)})"
    )
    return parser.parse_args(argv)


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, or the platform's guess."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load_average() -> str:
    """The 1-minute load average, or ``n/a``."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "n/a"


def machine_header(cfg: Config, seconds: float, load_start: str) -> str:
    """Short run description: machine, Python, date, thresholds, mode, duration, load."""
    mode = "QUICK (subsampled smoke test, not comparable)" if cfg.quick else "full"
    return (
        f"Machine: {os.cpu_count()} cores ({cpu_model()}), CPU only · "
        f"Python {platform.python_version()} · "
        f"{dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')} · "
        f"shipped thresholds: ANSWER_THRESHOLD {ANSWER_THRESHOLD}, "
        f"ANGER_THRESHOLD {ANGER_THRESHOLD} · mode: {mode} · run took {seconds / 60:.1f} min · "
        f"1-min load average at start {load_start}, at end {load_average()} "
        "(other processes on the machine slow the timings down)"
    )


def failed_row(name: str, exc: BaseException) -> Row:
    """A table row standing for a suite that raised."""
    return Row(name, "FAILED", f"{type(exc).__name__}: {exc}", "—", "—", "—", "—")


def run_suites(cfg: Config, names: Sequence[str]) -> tuple[dict[str, list[Row]], bool]:
    """Load the models once, run the suites; a failing suite becomes a FAILED row."""
    progress("loading MiniLM and USE")
    models = load_models()
    progress(f"models loaded: {models.load_seconds}")
    out: dict[str, list[Row]] = {}
    ok = True
    for name in names:
        start = time.perf_counter()
        progress(f"== {name}")
        try:
            out[name] = SUITES[name](cfg, models)
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            out[name] = [failed_row(name, exc)]
            ok = False
        took = time.perf_counter() - start
        progress(f"== {name} took {took:.1f}s (load average {load_average()})")
    return out, ok


def document(header: str, rows: Sequence[Row], command: str) -> str:
    """The docs/benchmarks.md text: intro with one protocol line per row, header, table."""
    protocols = "\n".join(f"- **{r.benchmark}**: {r.protocol}" for r in rows if r.protocol)
    return (
        "# Benchmarks\n\n"
        f"Produced by one command, `{command}`, which reads the public data sets in "
        "`../shared/datasets` (see `bench/README.md` for licenses). Every baseline is measured "
        "in the same run with the same code path: *lexical only* is the product's `Retriever` "
        "with no embedder (Korean-aware TF-IDF), *dense only* is the same `Retriever` with one "
        "embedder and no lexical signal; for emotion rows the baselines are classifiers "
        f"trained on the data set's own training split. Anchors and targets come from "
        f"`{SHARED_DOC}`. Protocols:\n\n"
        f"{protocols}\n\n{header}\n\n{markdown(rows)}\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    data = (args.data or default_data()).resolve()
    if not (data / "banking77").is_dir():
        print(
            f"error: datasets not found at {data} (pass --data or set ONDO_DATASETS)",
            file=sys.stderr,
        )
        return 2
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        print(
            f"error: unknown suite(s) {', '.join(unknown)}; choose from {', '.join(SUITES)}",
            file=sys.stderr,
        )
        return 2
    cfg = Config.quick_run(data) if args.quick else Config.full(data)
    start, load_start = time.perf_counter(), load_average()
    results, ok = run_suites(cfg, names)
    rows = [row for name in TABLE_ORDER if name in results for row in results[name]]
    header = machine_header(cfg, time.perf_counter() - start, load_start)
    print(header + "\n\n" + markdown(rows))
    out = args.out or (DEFAULT_OUT if not args.quick and not args.only else None)
    if out is not None:
        command = "python -m bench.run" + (" --quick" if args.quick else "")
        update_section(out, "suites", document(header, rows, command))
        progress(f"wrote {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
