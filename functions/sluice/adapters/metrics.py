"""Amazon CloudWatch GetMetricData: a variant's SageMaker invocation metrics over one window, as one
aggregate (the canary analysis reads counts, not per-minute points).

Metrics (namespace AWS/SageMaker, dimensions EndpointName + VariantName; SageMaker "Invocation metrics"):
Invocations (Sum), Invocation5XXErrors (Sum: the 5XX answers, as the automatic error alarm counts them),
ModelLatency (SampleCount, a percentile `pNN.NN`, and the percentile rank `PR(t:)`: "the percentage of
data points with a value above t", the lower bound exclusive - CloudWatch Statistics definitions);
ModelLatency is in microseconds.

The window is one period: CloudWatch rounds a StartTime less than 15 days ago down to the whole minute,
and EndTime is exclusive (GetMetricData API reference), so Period = the window from the rounded start,
rounded up to a multiple of 60 (a regular-resolution period "must be a multiple of 60") answers one
datapoint per query. GetMetricData has no resource-level permissions: its IAM statement names "*".
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sluice.adapters.clients import client, error_code, error_message
from sluice.domain.analysis.verdict import VariantCounts
from sluice.errors import MetricsUnavailable

NAMESPACE = "AWS/SageMaker"
MINUTE = 60


def window_period(start: datetime, end: datetime) -> int:
    """The one period that covers [start rounded down to the minute, end): a multiple of 60 seconds."""
    rounded = start.replace(second=0, microsecond=0)
    return max(MINUTE, math.ceil((end - rounded).total_seconds() / MINUTE) * MINUTE)


def rank_statistic(threshold_us: float) -> str:
    """PR(t:) with t in whole microseconds: ModelLatency values are whole microseconds, so a value is
    above floor(t) exactly when it is above t."""
    return f"PR({math.floor(threshold_us)}:)"


class VariantMetrics:
    def __init__(self, cloudwatch_client: Any | None = None) -> None:
        self._client = cloudwatch_client

    @property
    def cloudwatch(self) -> Any:
        return self._client or client("cloudwatch")

    def variant_counts(
        self, endpoint: str, variants: list[str], start: datetime, end: datetime
    ) -> dict[str, VariantCounts]:
        queries = [
            (f"v{i}_{key}", variant, metric, stat)
            for i, variant in enumerate(variants)
            for key, metric, stat in (
                ("invocations", "Invocations", "Sum"),
                ("errors", "Invocation5XXErrors", "Sum"),
                ("latency", "ModelLatency", "SampleCount"),
            )
        ]
        values = self._query(endpoint, queries, start, end)
        return {
            variant: VariantCounts(
                invocations=round(values.get(f"v{i}_invocations") or 0),
                errors=round(values.get(f"v{i}_errors") or 0),
                latency_samples=round(values.get(f"v{i}_latency") or 0),
            )
            for i, variant in enumerate(variants)
        }

    def latency_percentile(
        self, endpoint: str, variant: str, rank: float, start: datetime, end: datetime
    ) -> float | None:
        stat = f"p{rank * 100:.2f}"
        return self._query(endpoint, [("pct", variant, "ModelLatency", stat)], start, end).get("pct")

    def latency_share_above(
        self, endpoint: str, variant: str, threshold_us: float, start: datetime, end: datetime
    ) -> float | None:
        stat = rank_statistic(threshold_us)
        return self._query(endpoint, [("share", variant, "ModelLatency", stat)], start, end).get("share")

    def _query(
        self, endpoint: str, queries: list[tuple[str, str, str, str]], start: datetime, end: datetime
    ) -> dict[str, float | None]:
        period = window_period(start, end)
        request = [
            {
                "Id": query_id,
                "MetricStat": {
                    "Metric": {
                        "Namespace": NAMESPACE,
                        "MetricName": metric,
                        "Dimensions": [
                            {"Name": "EndpointName", "Value": endpoint},
                            {"Name": "VariantName", "Value": variant},
                        ],
                    },
                    "Period": period,
                    "Stat": stat,
                },
                "ReturnData": True,
            }
            for query_id, variant, metric, stat in queries
        ]
        values: dict[str, list[float]] = {query_id: [] for query_id, *_ in queries}
        for result in self._results(request, start, end):
            values[result["Id"]] += [float(v) for v in result.get("Values") or []]
        # One period covers the window, so each query has at most one value. Should CloudWatch split it
        # anyway, counts add up and a percentile keeps its first period's value.
        return {
            query_id: (sum(found) if query_id.startswith("v") else found[0]) if found else None
            for query_id, found in values.items()
        }

    def _results(
        self, request: list[dict[str, Any]], start: datetime, end: datetime
    ) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            try:
                page = self.cloudwatch.get_metric_data(
                    MetricDataQueries=request,
                    StartTime=start,
                    EndTime=end,
                    ScanBy="TimestampAscending",
                    **({"NextToken": token} if token else {}),
                )
            except ClientError as exc:  # after botocore's own retries (throttling, 5xx)
                raise MetricsUnavailable(f"GetMetricData: {error_code(exc)}: {error_message(exc)}") from exc
            except BotoCoreError as exc:  # unreachable, timed out
                raise MetricsUnavailable(f"GetMetricData: {exc}") from exc
            yield from page.get("MetricDataResults", [])
            token = page.get("NextToken")
            if not token:
                return
