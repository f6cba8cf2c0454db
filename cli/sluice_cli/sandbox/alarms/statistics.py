"""CloudWatch statistics over one period's samples (standard statistics and pNN percentiles)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from sluice_cli.sandbox.alarms.errors import UnsupportedAlarm
from sluice_cli.sandbox.alarms.metric_index import Sample

STANDARD_STATISTICS = frozenset({"Sum", "Average", "Minimum", "Maximum", "SampleCount"})


_PERCENTILE = re.compile(r"^[pP](\d{1,2}(?:\.\d+)?|100(?:\.0+)?)$")


def percentile_rank(statistic: str) -> float | None:
    """99.0 for "p99", 99.9 for "p99.9"; None when `statistic` is not a pNN percentile."""
    match = _PERCENTILE.match(statistic or "")
    return float(match.group(1)) if match else None


def percentile(values: Sequence[float], rank: float) -> float | None:
    """Nearest-rank percentile (the smallest value with at least rank % of the values at or below it)."""
    if not values:
        return None
    ordered = sorted(values)
    position = max(1, math.ceil(rank / 100.0 * len(ordered)))
    return ordered[min(position, len(ordered)) - 1]


def statistic_value(samples: Sequence[Sample], statistic: str) -> float | None:
    """CloudWatch's statistic over one period's samples; None = no datapoint."""
    if not samples:
        return None
    count = sum(s.count for s in samples)
    if statistic == "SampleCount":
        return count
    if statistic == "Sum":
        return sum(s.total for s in samples)
    if statistic == "Average":
        return sum(s.total for s in samples) / count if count else None
    if statistic == "Minimum":
        return min(s.minimum for s in samples)
    if statistic == "Maximum":
        return max(s.maximum for s in samples)
    rank = percentile_rank(statistic)
    if rank is None:
        raise UnsupportedAlarm(f"statistic {statistic!r} is not evaluated by the sandbox")
    return percentile([s.total for s in samples if s.raw], rank)
