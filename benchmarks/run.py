"""`make bench`: run every benchmark, print one table, write bench/results.json.

Each module listed in BENCHMARKS has `run(quick: bool) -> list[Figure]`; every figure is a ratio to a
reference measured in the same run (benchmarks/figures.py). `--quick` runs each at a small size, to
check that the benchmarks still work (the test suite does that), not to measure anything. A benchmark
that fails is reported in the table's footer and in results.json's "errors", and the others still run;
the exit status is 1 if any failed.

    .venv/bin/python benchmarks/run.py [--quick] [--only NAME ...] [--out bench/results.json]
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path

from figures import Figure, table, write_results

BENCHMARKS = (
    "bench_cold_import",
    "bench_artifact",
    "bench_intake",
    "bench_transitions",
    "bench_rollback",
)
ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: checks the benchmarks run")
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, help="run only these")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    args = parser.parse_args(argv)

    figures: list[Figure] = []
    errors: dict[str, str] = {}
    for name in args.only or BENCHMARKS:
        started = time.monotonic()
        print(f"== {name} ...", flush=True)
        try:
            measured = importlib.import_module(name).run(quick=args.quick)
        except Exception:  # one broken benchmark must not hide the others' figures
            errors[name] = traceback.format_exc()
            print(errors[name], file=sys.stderr, flush=True)
            continue
        figures += measured
        print(f"   {len(measured)} figures in {time.monotonic() - started:.0f} s", flush=True)
    write_results(args.out, figures, errors)
    print()
    print(table(figures))
    if errors:
        print(f"\nFAILED: {', '.join(errors)} (tracebacks above and in {args.out})")
    print(f"\nwritten: {args.out}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
