"""sluice.adapters.metrics.VariantMetrics against the sandbox's CloudWatch (moto with its fillers:
GetMetricDataExtendedStatistics answers pNN.NN and PR(a:b) from the raw values, nearest rank;
GetMetricDataWindow reads from StartTime rounded down to the minute, as CloudWatch does): raw ModelLatency
values and counts put for two variants, read back as the canary analysis reads them."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from integration_kit import Stack

from sluice.adapters.metrics import VariantMetrics
from sluice.domain.analysis.verdict import VariantCounts
from sluice_cli.sandbox.gaps.time_compression import TimeCompression

_endpoints = itertools.count(1)


def put(
    stack: Stack,
    endpoint: str,
    variant: str,
    at: datetime,
    *,
    invocations: int,
    errors: int = 0,
    latencies_us: list[float] | None = None,
) -> None:
    """One datum of each invocation metric at `at`, as SageMaker (or the traffic simulator) writes them:
    ModelLatency as raw values (Values/Counts), in microseconds."""
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    common: dict[str, Any] = {"Dimensions": dimensions, "Timestamp": at}
    data: list[dict[str, Any]] = [
        {"MetricName": "Invocations", "Value": float(invocations), "Unit": "Count", **common},
        {"MetricName": "Invocation5XXErrors", "Value": float(errors), "Unit": "Count", **common},
    ]
    if latencies_us:
        data.append(
            {
                "MetricName": "ModelLatency",
                "Values": latencies_us,
                "Counts": [1.0] * len(latencies_us),
                "Unit": "Microseconds",
                **common,
            }
        )
    stack.client("cloudwatch").put_metric_data(Namespace="AWS/SageMaker", MetricData=data)


@pytest.fixture
def metrics(stack: Stack) -> VariantMetrics:
    return VariantMetrics(stack.client("cloudwatch"))


@pytest.fixture
def endpoint() -> str:
    return f"metrics{next(_endpoints)}"


@pytest.fixture
def minute() -> datetime:
    """A whole minute a few minutes ago (less than 15 days: CloudWatch rounds its StartTime to the minute)."""
    return datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)


@pytest.fixture
def compressed(stack: Stack) -> Iterator[TimeCompression]:
    """The sandbox's clock at time_scale 0.01 for one test (a minute lasts 0.6 wall seconds)."""
    compression = stack.sandbox.gaps.get(TimeCompression)
    before = compression.time_scale
    compression.time_scale = 0.01
    try:
        yield compression
    finally:
        compression.time_scale = before


BASELINE_US = [float(v) for v in range(1000, 101_000, 1000)]  # 100 values: 1 000 ... 100 000 µs
CANDIDATE_US = [float(v) for v in range(500, 200_500, 1000)]  # 200 values: 500 ... 199 500 µs


def test_counts_percentile_and_share_above_of_two_variants(
    metrics: VariantMetrics, stack: Stack, endpoint: str, minute: datetime
) -> None:
    start, end = minute + timedelta(seconds=10), minute + timedelta(minutes=2)
    # baseline v1: 100 calls in two data, 3 errors; candidate v2: 200 calls, 9 errors
    put(stack, endpoint, "v1", start, invocations=40, errors=1, latencies_us=BASELINE_US[:40])
    put(
        stack,
        endpoint,
        "v1",
        start + timedelta(seconds=70),
        invocations=60,
        errors=2,
        latencies_us=BASELINE_US[40:],
    )
    put(
        stack,
        endpoint,
        "v2",
        start + timedelta(seconds=30),
        invocations=200,
        errors=9,
        latencies_us=CANDIDATE_US,
    )

    counts = metrics.variant_counts(endpoint, ["v1", "v2", "v3"], start, end)

    assert counts == {
        "v1": VariantCounts(invocations=100, errors=3, latency_samples=100),
        "v2": VariantCounts(invocations=200, errors=9, latency_samples=200),
        "v3": VariantCounts(0, 0, 0),  # no such variant: no data
    }
    # nearest rank over the window's raw values: the ceil(r x n)-th smallest
    assert metrics.latency_percentile(endpoint, "v1", 0.90, start, end) == 90_000.0
    assert metrics.latency_percentile(endpoint, "v1", 0.9087, start, end) == 91_000.0  # the 91st of 100
    assert metrics.latency_percentile(endpoint, "v1", 0.9901, start, end) == 100_000.0
    assert metrics.latency_percentile(endpoint, "v2", 0.5, start, end) == CANDIDATE_US[99]
    assert metrics.latency_percentile(endpoint, "v3", 0.9, start, end) is None
    # the share of values above the threshold's whole microseconds, lower bound exclusive (percent)
    assert metrics.latency_share_above(endpoint, "v1", 30_000.0, start, end) == 70.0
    assert metrics.latency_share_above(endpoint, "v1", 29_999.9, start, end) == 71.0  # 30 000 > 29 999.9
    assert metrics.latency_share_above(endpoint, "v2", 100_000.0, start, end) == 50.0
    assert metrics.latency_share_above(endpoint, "v2", 0.0, start, end) == 100.0
    assert metrics.latency_share_above(endpoint, "v3", 30_000.0, start, end) is None


def test_the_window_reads_from_its_start_minute_up_to_its_end_exclusive(
    metrics: VariantMetrics, stack: Stack, endpoint: str, minute: datetime
) -> None:
    """CloudWatch rounds a recent StartTime down to the whole minute (SageMaker's datapoints are per
    minute, stamped at the minute's start); EndTime is exclusive."""
    start, end = minute + timedelta(seconds=30), minute + timedelta(seconds=150)
    put(stack, endpoint, "v1", minute - timedelta(seconds=1), invocations=1000)  # the minute before
    put(stack, endpoint, "v1", minute, invocations=10)  # the start's minute: read
    put(stack, endpoint, "v1", minute + timedelta(seconds=20), invocations=20)  # before the start: read too
    put(stack, endpoint, "v1", minute + timedelta(seconds=149), invocations=30)
    put(stack, endpoint, "v1", end, invocations=5000)  # at the end: not read

    counts = metrics.variant_counts(endpoint, ["v1"], start, end)

    assert counts["v1"].invocations == 60


def test_on_a_compressed_clock_a_window_under_a_second_reads_its_own_data(
    metrics: VariantMetrics, stack: Stack, endpoint: str, compressed: TimeCompression
) -> None:
    """At time_scale 0.01 a minute lasts 0.6 wall seconds and a look of the analysis as long: the window
    reads from the sandbox's minute (0.6 s boundaries) to its exact end, not from and to whole seconds."""
    wall_minute = 60 * compressed.time_scale
    now = datetime.now(UTC).timestamp() - 30
    boundary = math.floor(now / wall_minute) * wall_minute + wall_minute  # a compressed minute's start
    start = datetime.fromtimestamp(boundary + 0.1, UTC)
    end = datetime.fromtimestamp(boundary + 0.5, UTC)
    put(stack, endpoint, "v1", datetime.fromtimestamp(boundary - 0.05, UTC), invocations=1000)  # before
    put(stack, endpoint, "v1", datetime.fromtimestamp(boundary + 0.05, UTC), invocations=7)  # its minute
    put(
        stack, endpoint, "v1", datetime.fromtimestamp(boundary + 0.3, UTC), invocations=11, latencies_us=[5.0]
    )
    put(stack, endpoint, "v1", datetime.fromtimestamp(boundary + 0.55, UTC), invocations=1000)  # after

    assert metrics.variant_counts(endpoint, ["v1"], start, end)["v1"].invocations == 18
    assert metrics.latency_percentile(endpoint, "v1", 0.5, start, end) == 5.0
