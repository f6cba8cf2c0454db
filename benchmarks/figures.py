"""What every benchmark returns: figures, each a measurement and the reference it is a ratio to.

A figure's absolute value depends on the machine (shared, noisy, two cores in CI); its ratio to a
reference measured in the same run, on the same machine, a moment apart, is what the README quotes and
what a goal is stated against. `make bench` (benchmarks/run.py) collects every module's figures into
bench/results.json and prints them as one table.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One measured figure.

    `value` in `unit`; `reference` names what it is compared with and `reference_value` is that
    reference's measurement in the same run (same unit); `ratio` = value / reference_value. `goal`
    states the target in words ("ratio <= 1.5", "p95 <= 2 s") and `met` whether this run reached it
    (None when the figure has no goal). `detail` holds the raw samples or counts behind the figure.
    """

    group: str
    name: str
    value: float
    unit: str
    reference: str = ""
    reference_value: float | None = None
    goal: str = ""
    met: bool | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if not self.reference_value:
            return None
        return self.value / self.reference_value

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0..100) of samples, nearest-rank: a value that was measured."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n q / 100), at least 1
    return ordered[int(rank) - 1]


def machine() -> dict[str, Any]:
    import os

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _cell(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{text} {unit}".strip()


def table(figures: Iterable[Figure]) -> str:
    """The figures as a plain-text table, one row each, grouped as measured."""
    rows = [("group", "figure", "value", "reference", "ratio", "goal", "met")]
    for f in figures:
        met = "" if f.met is None else ("yes" if f.met else "NO")
        ratio = f.ratio
        rows.append(
            (
                f.group,
                f.name,
                _cell(f.value, f.unit),
                f"{f.reference} = {_cell(f.reference_value, f.unit)}" if f.reference else "",
                "" if ratio is None else f"{ratio:.2f}x",
                f.goal,
                met,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_results(path: Path, figures: list[Figure], errors: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "machine": machine(),
        "figures": [f.as_json() for f in figures],
        "errors": errors,
    }
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
