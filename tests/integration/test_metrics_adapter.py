"""sluice.adapters.metrics.VariantMetrics against the sandbox's CloudWatch (moto with its fillers:
GetMetricDataExtendedStatistics answers pNN.NN and PR(a:b) from the raw values, nearest rank;
GetMetricDataWindow reads [StartTime, EndTime) as given, to the microsecond): raw ModelLatency values and
counts put for two variants, read back as the canary analysis reads them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from integration_kit import Stack

from sluice.adapters.metrics import VariantMetrics
from sluice.domain.analysis.verdict import VariantCounts

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


def test_the_window_reads_from_its_start_to_its_end_exclusive(
    metrics: VariantMetrics, stack: Stack, endpoint: str, minute: datetime
) -> None:
    """The sandbox reads the window as given (AWS would round a recent StartTime down to the whole
    minute: deliberately not emulated, docs/EMULATION.md); EndTime is exclusive, as on AWS."""
    start, end = minute + timedelta(seconds=30), minute + timedelta(seconds=150)
    put(stack, endpoint, "v1", minute + timedelta(seconds=29.5), invocations=1000)  # before the start
    put(stack, endpoint, "v1", start, invocations=10)  # at the start: read
    put(stack, endpoint, "v1", minute + timedelta(seconds=90), invocations=20)
    put(stack, endpoint, "v1", minute + timedelta(seconds=149.9), invocations=30)
    put(stack, endpoint, "v1", end, invocations=5000)  # at the end: not read

    counts = metrics.variant_counts(endpoint, ["v1"], start, end)

    assert counts["v1"].invocations == 60


def test_a_window_under_a_second_reads_its_own_data(
    metrics: VariantMetrics, stack: Stack, endpoint: str
) -> None:
    """At time_scale 0.01 a minute lasts 0.6 wall seconds and a look of the analysis as long: the window
    is read to the microsecond (moto alone truncates both bounds to the second, and refuses the request
    when they fall in the same second)."""
    second = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    start, end = second + timedelta(seconds=0.2), second + timedelta(seconds=0.8)
    put(stack, endpoint, "v1", second + timedelta(seconds=0.1), invocations=1000)  # before
    put(stack, endpoint, "v1", second + timedelta(seconds=0.3), invocations=7)
    put(stack, endpoint, "v1", second + timedelta(seconds=0.5), invocations=11, latencies_us=[5.0])
    put(stack, endpoint, "v1", second + timedelta(seconds=0.9), invocations=1000)  # after

    assert metrics.variant_counts(endpoint, ["v1"], start, end)["v1"].invocations == 18
    assert metrics.latency_percentile(endpoint, "v1", 0.5, start, end) == 5.0
