"""sluice.adapters.metrics without AWS: the one period that covers a window, the percentile-rank statistic,
and the GetMetricData requests VariantMetrics makes (a recording fake client). Against the sandbox's
CloudWatch: tests/integration/test_metrics_adapter.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from hypothesis import given
from hypothesis import strategies as st

from sluice.adapters.metrics import VariantMetrics, rank_statistic, window_period
from sluice.domain.analysis.verdict import VariantCounts
from sluice.errors import MetricsUnavailable

T0 = datetime(2026, 12, 7, 12, 32, 34, 500_000, tzinfo=UTC)


def test_the_period_runs_from_the_start_rounded_down_to_the_minute_to_the_end_in_whole_minutes() -> None:
    assert window_period(T0, T0 + timedelta(seconds=1)) == 60  # 12:32:00 .. 12:33:00 covers 12:32:35.5
    assert window_period(T0, T0 + timedelta(seconds=25)) == 60  # ends 12:32:59.5
    assert window_period(T0, T0 + timedelta(seconds=26)) == 120  # ends 12:33:00.5: a second minute
    assert window_period(T0, T0 + timedelta(minutes=10)) == 660
    assert window_period(T0, T0) == 60  # never below CloudWatch's smallest regular period
    on_the_minute = T0.replace(second=0, microsecond=0)
    assert window_period(on_the_minute, on_the_minute + timedelta(minutes=2)) == 120


@given(
    start=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
    seconds=st.floats(min_value=0.001, max_value=86_400),
)
def test_one_period_always_covers_the_whole_window(start: datetime, seconds: float) -> None:
    end = start + timedelta(seconds=seconds)
    period = window_period(start, end)
    rounded = start.replace(second=0, microsecond=0)
    assert period % 60 == 0 and period >= 60
    assert rounded + timedelta(seconds=period) >= end  # the window's end is inside the one period
    assert rounded + timedelta(seconds=period - 60) < end  # and no whole minute more than needed


def test_the_rank_statistic_counts_the_values_above_the_whole_microseconds_of_the_threshold() -> None:
    assert rank_statistic(50_345.0) == "PR(50345:)"
    assert rank_statistic(50_345.9) == "PR(50345:)"  # whole-µs values above 50 345.9 are above 50 345
    assert rank_statistic(0.4) == "PR(0:)"


class RecordingCloudWatch:
    """get_metric_data answering `pages` in turn (each a list of (Id, values)), recording requests."""

    def __init__(self, *pages: list[tuple[str, list[float]]]) -> None:
        self.pages = list(pages)
        self.requests: list[dict[str, Any]] = []

    def get_metric_data(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        page = self.pages[len(self.requests) - 1] if len(self.requests) <= len(self.pages) else []
        answer: dict[str, Any] = {
            "MetricDataResults": [{"Id": query_id, "Values": values} for query_id, values in page]
        }
        if len(self.requests) < len(self.pages):
            answer["NextToken"] = f"page{len(self.requests) + 1}"
        return answer


def test_counts_of_both_variants_in_one_request_over_one_period() -> None:
    cloudwatch = RecordingCloudWatch(
        [("v0_invocations", [900.0]), ("v0_errors", [2.0]), ("v0_latency", [900.0]), ("v1_invocations", [])]
    )
    end = T0 + timedelta(minutes=3)

    counts = VariantMetrics(cloudwatch).variant_counts("fraud", ["v1", "v2"], T0, end)

    assert counts == {"v1": VariantCounts(900, 2, 900), "v2": VariantCounts(0, 0, 0)}  # no data: zeros
    (request,) = cloudwatch.requests
    assert (request["StartTime"], request["EndTime"], request["ScanBy"]) == (T0, end, "TimestampAscending")
    queries = {q["Id"]: q for q in request["MetricDataQueries"]}
    assert list(queries) == [
        "v0_invocations", "v0_errors", "v0_latency", "v1_invocations", "v1_errors", "v1_latency",
    ]  # fmt: skip
    stats = {
        query_id: (q["MetricStat"]["Metric"]["MetricName"], q["MetricStat"]["Stat"])
        for query_id, q in queries.items()
    }
    assert stats["v1_invocations"] == ("Invocations", "Sum")
    assert stats["v1_errors"] == ("Invocation5XXErrors", "Sum")
    assert stats["v1_latency"] == ("ModelLatency", "SampleCount")
    metric = queries["v1_errors"]["MetricStat"]["Metric"]
    assert metric["Namespace"] == "AWS/SageMaker"
    assert metric["Dimensions"] == [
        {"Name": "EndpointName", "Value": "fraud"},
        {"Name": "VariantName", "Value": "v2"},
    ]
    assert {q["MetricStat"]["Period"] for q in queries.values()} == {window_period(T0, end)} == {240}
    assert all(q["ReturnData"] for q in queries.values())


def test_counts_split_over_periods_or_pages_add_up() -> None:
    cloudwatch = RecordingCloudWatch(
        [("v0_invocations", [500.0, 400.0]), ("v0_errors", [1.0])],
        [("v0_invocations", [100.0]), ("v0_errors", [2.0]), ("v0_latency", [1000.0])],
    )

    counts = VariantMetrics(cloudwatch).variant_counts("fraud", ["v1"], T0, T0 + timedelta(minutes=1))

    assert counts == {"v1": VariantCounts(1000, 3, 1000)}
    assert [r.get("NextToken") for r in cloudwatch.requests] == [None, "page2"]


def test_the_percentile_asked_with_two_decimals_and_its_first_value_kept() -> None:
    busy, idle = RecordingCloudWatch([("pct", [45_100.0, 47_000.0])]), RecordingCloudWatch([])
    end = T0 + timedelta(minutes=1)

    assert VariantMetrics(busy).latency_percentile("fraud", "v1", 0.9087, T0, end) == 45_100.0
    assert VariantMetrics(idle).latency_percentile("fraud", "v1", 0.9, T0, end) is None  # no datapoint

    (asked,) = busy.requests[0]["MetricDataQueries"]
    assert asked["MetricStat"]["Stat"] == "p90.87"
    assert asked["MetricStat"]["Metric"]["MetricName"] == "ModelLatency"
    assert idle.requests[0]["MetricDataQueries"][0]["MetricStat"]["Stat"] == "p90.00"


def test_the_share_above_a_threshold_is_the_percentile_rank_above_its_whole_microseconds() -> None:
    cloudwatch = RecordingCloudWatch([("share", [12.5])])

    share = VariantMetrics(cloudwatch).latency_share_above(
        "fraud", "v2", 50_345.7, T0, T0 + timedelta(minutes=1)
    )

    assert share == 12.5
    query = cloudwatch.requests[0]["MetricDataQueries"][0]["MetricStat"]
    assert query["Stat"] == "PR(50345:)"
    assert query["Metric"]["Dimensions"][1] == {"Name": "VariantName", "Value": "v2"}


class RefusingCloudWatch:
    """GetMetricData failing after botocore's own retries, as a throttled or unreachable CloudWatch."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_metric_data(self, **request: Any) -> dict[str, Any]:
        raise self.error


def test_a_read_cloudwatch_does_not_answer_is_metrics_unavailable_with_its_reason() -> None:
    start = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    throttled = ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "GetMetricData")
    with pytest.raises(MetricsUnavailable, match="GetMetricData: Throttling: Rate exceeded"):
        VariantMetrics(RefusingCloudWatch(throttled)).variant_counts(
            "fraud", ["v1", "v2"], start, start + timedelta(minutes=1)
        )
    unreachable = EndpointConnectionError(endpoint_url="https://monitoring.us-east-1.amazonaws.com")
    with pytest.raises(MetricsUnavailable, match="Could not connect to the endpoint URL"):
        VariantMetrics(RefusingCloudWatch(unreachable)).latency_percentile(
            "fraud", "v1", 0.9, start, start + timedelta(minutes=1)
        )
