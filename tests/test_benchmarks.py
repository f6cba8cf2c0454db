"""`make bench` keeps working: its fast benchmarks run at their smallest size, and the runner writes
bench/results.json with every figure's ratio to its reference (the figures themselves are never
asserted: timings on shared machines belong in `make bench`, not in tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FAST = ("bench_artifact",)


@pytest.mark.slow
def test_the_fast_benchmarks_run_and_write_their_figures(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--only", *FAST, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(out.read_text())
    assert results["errors"] == {}
    assert {f["group"] for f in results["figures"]} >= {"archive validation"}
    for figure in results["figures"]:
        assert figure["value"] > 0, figure
        assert figure["reference"], figure  # every figure is compared with something measured alongside
        assert figure["ratio"] == pytest.approx(figure["value"] / figure["reference_value"]), figure
    assert "ratio" in done.stdout and str(out) in done.stdout  # the printed table
