"""CloudWatch metric alarm evaluation for the sandbox: what CloudWatch does every period and moto never
does (the gap `emulator_gaps.MetricAlarmEvaluation` starts and stops an `AlarmEvaluator`).

Every `interval` seconds of wall time (default 1 s), and whenever one of the alarms' periods has just
completed, the evaluator reads every metric alarm of moto's CloudWatch backends (in-process: the
sandbox's moto server runs in this process) and the raw metric data moto stores, evaluates each alarm
as CloudWatch does and, on a change of state, sets it through `emulator_gaps.set_alarm_state`, so the
"CloudWatch Alarm State Change" event reaches the bus (`AlarmStateChangeEvents`).

Evaluated:
- single-metric alarms: Namespace, MetricName, the exact Dimensions set, Unit when the alarm names one;
  Statistic Sum / Average / Minimum / Maximum / SampleCount, or ExtendedStatistic `pNN` / `pNN.N`
  computed here (nearest rank) from the raw values moto stores (moto's own percentile path raises).
  Percentiles come from raw values only (put_metric_data Value / Values+Counts); a period holding only
  StatisticValues sets has no percentile (a missing datapoint), as CloudWatch cannot compute one either.
  EvaluateLowSampleCountPercentile=ignore keeps the state while a period of the window has fewer than
  10 / (1 - p) samples.
- metric-math alarms: `Metrics` with MetricStat queries and expressions; the query with ReturnData true
  is the alarm's series. Expressions: numbers, query ids, `+ - * / ^`, parentheses, unary minus,
  ABS(x), FILL(x, value), and MAX/MIN/SUM/AVG of an array `[a, b, ...]` (per period) or of one series
  (over the window, as CloudWatch). A missing operand makes the result missing; x / 0 is missing.
- Period, EvaluationPeriods (N), DatapointsToAlarm (M, default N), Threshold, the four standard
  ComparisonOperators, TreatMissingData:
  * `breaching` / `notBreaching`: a missing datapoint counts as breaching / not breaching;
    ALARM when at least M of the N datapoints breach, else OK.
  * `missing` (the default) and `ignore`: missing datapoints are skipped. ALARM when at least M of the
    present datapoints breach; when fewer than M are present and all of them breach, `missing` goes to
    ALARM and `ignore` keeps the state (the AWS documentation's table); otherwise OK. With no datapoint
    at all, `ignore` keeps the state; `missing` goes to INSUFFICIENT_DATA only when the current state
    came from data (the evaluator set it or confirmed it): a state set with SetAlarmState, or moto's
    initial OK, is kept. This is the sandbox's choice: CloudWatch documents INSUFFICIENT_DATA, but an
    alarm set to ALARM by hand with no metric data behind it is what the serve-mode journeys and tests
    use, and flipping it back at once would make that path unusable.
- A state set from outside (SetAlarmState) is left alone for one (scaled) period after it was set, as
  CloudWatch only re-evaluates at its next period; after that the data decides (with `notBreaching`
  and no data, an alarm set to ALARM by hand returns to OK then). A new alarm (moto's initial OK,
  AWS's INSUFFICIENT_DATA) is evaluated at once.

Time: the wall clock is the sandbox's clock (metric timestamps are wall-clock UTC, as put_metric_data
writes them), but periods are scaled by the sandbox's `time_scale` t (sandbox seconds per declared
second, TimeCompression's): an alarm Period of P seconds is evaluated over buckets of P x t wall
seconds, aligned on multiples of P x t since the epoch. With t = 0.01 a 60 s period is 0.6 s of data:
the traffic simulator (`traffic.TrafficSimulator`, one simulated second = t wall seconds) writes 60
simulated seconds of invocations into it, so a compressed demo sees alarms fire in compressed time.
Only completed periods are evaluated, and a period counts as completed `settle` wall seconds after
its end (min(P x t / 2, 1 s)) so that data written at its very end is in. Declared periods appear in
StateReasonData (`period`), the wall-clock length under `sandbox.periodWallSeconds`.

Late data: CloudWatch evaluates a minute once its data has arrived. The sandbox's own producers of
metric data (the traffic simulator) write behind the clock, and on a busy machine they can fall behind
by more than the settle time: they register a watermark (`register_producer`), and a period is judged
only once every running producer has written past its end (at most MAX_DATA_LAG_PERIODS periods late,
so a stalled producer cannot freeze evaluation). Otherwise a half-written period would be judged on a
handful of invocations.

Not emulated: composite alarms (AlarmRule), anomaly-detection bands (ThresholdMetricId) and the
LessThanLowerOrGreaterThanUpperThreshold family, metric-math functions beyond the ones above (METRICS(),
SEARCH, RATE, DIFF, FILL's REPEAT/LINEAR, ...), trimmed means and other extended statistics than pNN,
the "evaluation range" CloudWatch extends backwards to find M datapoints, high-resolution alarm
periods under 60 s behaving differently, alarm actions (SNS/Auto Scaling targets: only the EventBridge
event is produced), and DescribeAlarmHistory.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import json
import logging
import math
import operator
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from sluice_cli.sandbox.emulator_gaps import alarm_timestamp, set_alarm_state

log = logging.getLogger(__name__)

OK, ALARM, INSUFFICIENT_DATA = "OK", "ALARM", "INSUFFICIENT_DATA"
STANDARD_STATISTICS = frozenset({"Sum", "Average", "Minimum", "Maximum", "SampleCount"})
MISSING_TREATMENTS = frozenset({"missing", "ignore", "breaching", "notBreaching"})
COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}
_PERCENTILE = re.compile(r"^[pP](\d{1,2}(?:\.\d+)?|100(?:\.0+)?)$")
MAX_SETTLE_SECONDS = 1.0
INITIAL_REASON = "Unchecked: Initial alarm creation"  # moto's reason of a new alarm
MIN_SLEEP_SECONDS = 0.02
MAX_DATA_LAG_PERIODS = 3


# --------------------------------------------------------------------------------------------------
# Producers of metric data in this process, and how far they have written
# --------------------------------------------------------------------------------------------------
class DataProducer(Protocol):
    @property
    def written_through(self) -> float:
        """Wall-clock epoch seconds up to which all of its data is in CloudWatch."""
        ...


_producers: set[DataProducer] = set()
_producers_lock = threading.Lock()


def register_producer(producer: DataProducer) -> None:
    """A running source of metric data whose periods the evaluator should wait for."""
    with _producers_lock:
        _producers.add(producer)


def unregister_producer(producer: DataProducer) -> None:
    with _producers_lock:
        _producers.discard(producer)


def data_written_through() -> float:
    """How far every registered producer has written (infinity when none runs)."""
    with _producers_lock:
        producers = list(_producers)
    return min((p.written_through for p in producers), default=math.inf)


def data_moment(now: float, written_through: float, wall_period: float) -> float:
    """The `now` a period window is computed from: no later than the producers' data allows (their
    watermark + settle), no earlier than MAX_DATA_LAG_PERIODS periods back."""
    held = min(now, written_through + settle_seconds(wall_period))
    return max(held, now - MAX_DATA_LAG_PERIODS * wall_period)


TimeScale = float | Callable[[], float]


def current_time_scale(time_scale: TimeScale) -> float:
    """A time scale given as a number or read from a callable (the sandbox's, which may change)."""
    scale = time_scale() if callable(time_scale) else time_scale
    if not scale > 0:
        raise ValueError(f"time_scale must be > 0, got {scale}")
    return float(scale)


class UnsupportedAlarm(ValueError):
    """An alarm the evaluator cannot evaluate (left as it is, logged once)."""


# --------------------------------------------------------------------------------------------------
# Metric data: moto's list, indexed by series
# --------------------------------------------------------------------------------------------------
SeriesKey = tuple[str, str, frozenset[tuple[str, str]]]


@dataclasses.dataclass(frozen=True, slots=True)
class Sample:
    """One stored datum: a raw value (`raw`, sum = min = max = the value, count 1) or a statistic set."""

    total: float
    minimum: float
    maximum: float
    count: float
    unit: str | None
    raw: bool


def _epoch(moment: Any) -> float | None:
    if isinstance(moment, str):
        try:
            moment = dt.datetime.fromisoformat(moment.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(moment, dt.datetime):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)  # moto keeps naive UTC datetimes
    return float(moment.timestamp())


def series_key(namespace: str, name: str, dimensions: Iterable[Any]) -> SeriesKey:
    """The identity of a metric: namespace, name and the exact set of (dimension name, value)."""
    return (str(namespace), str(name), frozenset((str(d.name), str(d.value)) for d in dimensions or []))


class _Series:
    def __init__(self) -> None:
        self.times: list[float] = []
        self.samples: list[Sample] = []

    def add(self, at: float, sample: Sample) -> None:
        if not self.times or at >= self.times[-1]:
            self.times.append(at)
            self.samples.append(sample)
            return
        index = bisect.bisect_right(self.times, at)
        self.times.insert(index, at)
        self.samples.insert(index, sample)

    def between(self, start: float, end: float) -> list[Sample]:
        return self.samples[bisect.bisect_left(self.times, start) : bisect.bisect_left(self.times, end)]


class MetricIndex:
    """An incremental index of one moto CloudWatch backend's `metric_data` (an append-only list):
    each refresh reads only what was appended since; a replaced or shorter list (moto reset) rebuilds."""

    def __init__(self) -> None:
        self._source: list[Any] | None = None
        self._seen = 0
        self._series: dict[SeriesKey, _Series] = {}

    def refresh(self, data: list[Any]) -> None:
        if data is not self._source or len(data) < self._seen:
            self._source, self._seen, self._series = data, 0, {}
        end = len(data)
        for datum in data[self._seen : end]:
            self._add(datum)
        self._seen = end

    def _add(self, datum: Any) -> None:
        at = _epoch(getattr(datum, "timestamp", None))
        if at is None:
            return
        unit = getattr(datum, "unit", None)
        if hasattr(datum, "value"):
            value = float(datum.value)
            sample = Sample(value, value, value, 1.0, unit, raw=True)
        else:
            sample = Sample(
                float(datum.sum),
                float(datum.min),
                float(datum.max),
                float(datum.sample_count),
                unit,
                raw=False,
            )
        key = series_key(datum.namespace, datum.name, datum.dimensions)
        self._series.setdefault(key, _Series()).add(at, sample)

    def samples(self, key: SeriesKey, start: float, end: float, unit: str | None = None) -> list[Sample]:
        """The samples of a series with start <= timestamp < end (of `unit` when given)."""
        series = self._series.get(key)
        if series is None:
            return []
        found = series.between(start, end)
        return [s for s in found if s.unit == unit] if unit else found


# --------------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------------
# Metric math: a tiny, safe expression language (never eval)
# --------------------------------------------------------------------------------------------------
class ExpressionError(UnsupportedAlarm):
    """A metric-math expression the sandbox cannot parse or evaluate."""


_TOKEN = re.compile(
    r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>[-+*/^(),\[\]]))"
)
FUNCTIONS = frozenset({"ABS", "FILL", "MAX", "MIN", "SUM", "AVG"})

# Nodes: ("num", float) ("ref", id) ("neg", node) ("bin", op, left, right) ("call", NAME, [args])
# ("array", [nodes]).
Node = tuple[Any, ...]


def _tokens(expression: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = expression.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ExpressionError(f"unexpected {text[position:]!r} in expression {expression!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = _tokens(expression)
        self.position = 0

    def parse(self) -> Node:
        node = self._sum()
        if self.position != len(self.tokens):
            raise self._error("unexpected")
        return node

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _error(self, what: str) -> ExpressionError:
        found = self._peek()
        at = repr(found[1]) if found else "the end"
        return ExpressionError(f"{what} {at} in expression {self.expression!r}")

    def _accept(self, op: str) -> bool:
        if self._peek() == ("op", op):
            self.position += 1
            return True
        return False

    def _expect(self, op: str) -> None:
        if not self._accept(op):
            raise self._error(f"expected {op!r}, found")

    def _operator(self, *ops: str) -> str | None:
        token = self._peek()
        if token is not None and token[0] == "op" and token[1] in ops:
            self.position += 1
            return token[1]
        return None

    def _sum(self) -> Node:
        node = self._product()
        while (op := self._operator("+", "-")) is not None:
            node = ("bin", op, node, self._product())
        return node

    def _product(self) -> Node:
        node = self._unary()
        while (op := self._operator("*", "/")) is not None:
            node = ("bin", op, node, self._unary())
        return node

    def _unary(self) -> Node:
        if self._accept("-"):
            return ("neg", self._unary())
        if self._accept("+"):
            return self._unary()
        return self._power()

    def _power(self) -> Node:
        node = self._atom()
        if self._accept("^"):
            return ("bin", "^", node, self._unary())
        return node

    def _atom(self) -> Node:
        token = self._peek()
        if token is None:
            raise self._error("expected a value, found")
        kind, text = token
        if kind == "number":
            self.position += 1
            return ("num", float(text))
        if kind == "name":
            self.position += 1
            if self._accept("("):
                if text.upper() not in FUNCTIONS or text != text.upper():
                    raise ExpressionError(
                        f"function {text!r} is not evaluated by the sandbox (it knows "
                        f"{', '.join(sorted(FUNCTIONS))}) in expression {self.expression!r}"
                    )
                args = [self._sum()]
                while self._accept(","):
                    args.append(self._sum())
                self._expect(")")
                return ("call", text, args)
            return ("ref", text)
        if self._accept("("):
            node = self._sum()
            self._expect(")")
            return node
        if self._accept("["):
            items = [self._sum()]
            while self._accept(","):
                items.append(self._sum())
            self._expect("]")
            return ("array", items)
        raise self._error("unexpected")


def parse_expression(expression: str) -> Node:
    """The expression's syntax tree (ExpressionError when it is not the sandbox's subset)."""
    return _Parser(expression).parse()


def expression_references(node: Node) -> set[str]:
    """The query ids an expression reads."""
    kind = node[0]
    if kind == "ref":
        return {node[1]}
    if kind == "neg":
        return expression_references(node[1])
    if kind == "bin":
        return expression_references(node[2]) | expression_references(node[3])
    if kind == "call":
        return set().union(*(expression_references(arg) for arg in node[2]))
    if kind == "array":
        return set().union(*(expression_references(item) for item in node[1]))
    return set()


Series = tuple[float | None, ...]
Value = float | None | Series


class _Array(list[Value]):
    """`[a, b, ...]`: only a function argument."""


def _apply(op: str, left: float | None, right: float | None) -> float | None:
    if left is None or right is None:
        return None
    try:
        if op == "+":
            result = left + right
        elif op == "-":
            result = left - right
        elif op == "*":
            result = left * right
        elif op == "/":
            if right == 0:
                return None
            result = left / right
        else:
            result = math.pow(left, right)
    except (OverflowError, ValueError, ZeroDivisionError):
        return None
    return result if math.isfinite(result) else None


def _broadcast(value: Value, length: int) -> Series:
    if isinstance(value, tuple):
        return value
    return (value,) * length


def _aggregate(name: str, values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    if name == "MAX":
        return max(present)
    if name == "MIN":
        return min(present)
    if name == "SUM":
        return sum(present)
    return sum(present) / len(present)  # AVG


def evaluate_expression(node: Node, values: Mapping[str, Series], length: int) -> Value:
    """The expression over series of `length` datapoints (None = missing), scalars broadcast."""
    kind = node[0]
    if kind == "num":
        return float(node[1])
    if kind == "ref":
        if node[1] not in values:
            raise ExpressionError(f"unknown id {node[1]!r} in metric math")
        return values[node[1]]
    if kind == "neg":
        operand = evaluate_expression(node[1], values, length)
        if isinstance(operand, tuple):
            return tuple(None if v is None else -v for v in operand)
        return None if operand is None else -operand
    if kind == "bin":
        left = evaluate_expression(node[2], values, length)
        right = evaluate_expression(node[3], values, length)
        if not isinstance(left, tuple) and not isinstance(right, tuple):
            return _apply(node[1], left, right)
        pairs = zip(_broadcast(left, length), _broadcast(right, length), strict=True)
        return tuple(_apply(node[1], a, b) for a, b in pairs)
    if kind == "array":
        raise ExpressionError("an array [...] is only a function's argument")
    name, args = node[1], node[2]
    if name == "ABS":
        if len(args) != 1:
            raise ExpressionError("ABS takes one argument")
        operand = evaluate_expression(args[0], values, length)
        if isinstance(operand, tuple):
            return tuple(None if v is None else abs(v) for v in operand)
        return None if operand is None else abs(operand)
    if name == "FILL":
        if len(args) != 2:
            raise ExpressionError("FILL takes a series and a number")
        series = _broadcast(evaluate_expression(args[0], values, length), length)
        filler = evaluate_expression(args[1], values, length)
        if isinstance(filler, tuple):
            raise ExpressionError("FILL's value must be a number (REPEAT/LINEAR are not evaluated)")
        return tuple(filler if v is None else v for v in series)
    if len(args) != 1:
        raise ExpressionError(f"{name} takes one argument: a series or an array [a, b, ...]")
    if args[0][0] == "array":
        members = [_broadcast(evaluate_expression(item, values, length), length) for item in args[0][1]]
        return tuple(_aggregate(name, column) for column in zip(*members, strict=True))
    operand = evaluate_expression(args[0], values, length)
    if isinstance(operand, tuple):
        return _aggregate(name, operand)  # over the series: one number, as CloudWatch's MAX(m1)
    return operand


# --------------------------------------------------------------------------------------------------
# Alarms
# --------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Query:
    """One query of an alarm: a metric with its statistic, or an expression."""

    id: str
    return_data: bool
    key: SeriesKey | None = None
    statistic: str | None = None
    unit: str | None = None
    expression: Node | None = None


@dataclasses.dataclass(frozen=True)
class AlarmSpec:
    """What evaluating one moto alarm needs (`AlarmSpec.of(alarm)`)."""

    name: str
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    treat_missing_data: str
    queries: tuple[Query, ...]
    result: str  # the id of the query whose series the alarm compares
    statistic: str | None = None  # single-metric alarms: for StateReasonData
    unit: str | None = None
    ignore_low_sample_percentile: bool = False

    @classmethod
    def of(cls, alarm: Any) -> AlarmSpec:
        if getattr(alarm, "rule", None):
            raise UnsupportedAlarm("composite alarms are not evaluated by the sandbox")
        if getattr(alarm, "threshold_metric_id", None):
            raise UnsupportedAlarm("anomaly detection alarms (ThresholdMetricId) are not evaluated")
        comparison = str(alarm.comparison_operator)
        if comparison not in COMPARISONS:
            raise UnsupportedAlarm(f"ComparisonOperator {comparison} is not evaluated by the sandbox")
        treat = str(alarm.treat_missing_data or "missing")
        if treat not in MISSING_TREATMENTS:
            raise UnsupportedAlarm(f"TreatMissingData {treat!r} is unknown")
        evaluation_periods = int(alarm.evaluation_periods or 1)
        datapoints = int(alarm.datapoints_to_alarm or evaluation_periods)
        if not 1 <= datapoints <= evaluation_periods:
            raise UnsupportedAlarm(f"DatapointsToAlarm {datapoints} outside 1..{evaluation_periods}")
        statistic: str | None = None
        ignore_low = False
        if alarm.metric_data_queries:
            queries, result, period = _math_queries(alarm)
        else:
            statistic = alarm.statistic or alarm.extended_statistic
            if not statistic:
                raise UnsupportedAlarm("the alarm has neither Statistic nor ExtendedStatistic")
            if statistic not in STANDARD_STATISTICS and percentile_rank(statistic) is None:
                raise UnsupportedAlarm(f"statistic {statistic!r} is not evaluated by the sandbox")
            key = series_key(alarm.namespace, alarm.metric_name, alarm.dimensions)
            queries = (Query("m1", True, key=key, statistic=statistic, unit=alarm.unit or None),)
            result, period = "m1", int(alarm.period or 0)
            ignore_low = (
                percentile_rank(statistic) is not None
                and str(alarm.evaluate_low_sample_count_percentile or "").lower() == "ignore"
            )
        if period <= 0:
            raise UnsupportedAlarm("the alarm has no Period")
        return cls(
            name=str(alarm.name),
            period=period,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints,
            threshold=float(alarm.threshold),
            comparison=comparison,
            treat_missing_data=treat,
            queries=queries,
            result=result,
            statistic=statistic,
            unit=alarm.unit or None,
            ignore_low_sample_percentile=ignore_low,
        )


def _returns_data(query: Any) -> bool | None:
    value = query.return_data
    if value is None:
        return None
    return value is True or str(value).lower() == "true"


def _math_queries(alarm: Any) -> tuple[tuple[Query, ...], str, int]:
    queries: list[Query] = []
    periods: set[int] = set()
    for query in alarm.metric_data_queries:
        returns = _returns_data(query)
        stat = query.metric_stat
        if query.expression:
            node = parse_expression(str(query.expression))
            queries.append(Query(str(query.id), returns is not False, expression=node))
        elif stat is not None:
            statistic = str(stat.stat or "")
            if statistic not in STANDARD_STATISTICS and percentile_rank(statistic) is None:
                raise UnsupportedAlarm(f"statistic {statistic!r} is not evaluated by the sandbox")
            key = series_key(stat.metric.namespace, stat.metric.metric_name, stat.metric.dimensions)
            queries.append(
                Query(str(query.id), returns is True, key=key, statistic=statistic, unit=stat.unit or None)
            )
            if stat.period:
                periods.add(int(stat.period))
        else:
            raise UnsupportedAlarm(f"query {query.id!r} has neither MetricStat nor Expression")
        if query.period:
            periods.add(int(query.period))
    returning = [q for q in queries if q.return_data]
    if len(returning) != 1:
        raise UnsupportedAlarm(f"{len(returning)} queries return data; an alarm needs exactly one")
    if alarm.period:
        periods.add(int(alarm.period))
    if len(periods) > 1:
        raise UnsupportedAlarm(f"the alarm's queries have different periods {sorted(periods)}")
    return tuple(queries), returning[0].id, periods.pop() if periods else 0


@dataclasses.dataclass(frozen=True)
class Datapoint:
    """One period of the evaluation window: its start (wall-clock epoch seconds) and value."""

    start: float
    value: float | None
    sample_count: float = 0.0


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The outcome for one alarm: `state` None keeps the current state."""

    state: str | None
    reason: str
    reason_data: dict[str, Any]
    datapoints: tuple[Datapoint, ...]


def period_seconds(spec: AlarmSpec, time_scale: float) -> float:
    """Wall-clock seconds of one of the alarm's periods at `time_scale` sandbox seconds per second."""
    return spec.period * time_scale


def settle_seconds(wall_period: float) -> float:
    """How long after a period's end the evaluator waits for its last data."""
    return min(wall_period / 2.0, MAX_SETTLE_SECONDS)


def window(spec: AlarmSpec, now: float, time_scale: float) -> list[float]:
    """Start times (wall-clock epoch seconds) of the N most recent completed periods, oldest first."""
    wall = period_seconds(spec, time_scale)
    last = math.floor((now - settle_seconds(wall)) / wall) - 1
    return [(last - i) * wall for i in range(spec.evaluation_periods - 1, -1, -1)]


def next_evaluation(spec: AlarmSpec, now: float, time_scale: float) -> float:
    """When the next of the alarm's periods will count as completed."""
    wall = period_seconds(spec, time_scale)
    settle = settle_seconds(wall)
    return (math.floor((now - settle) / wall) + 1) * wall + settle


def alarm_datapoints(spec: AlarmSpec, index: MetricIndex, now: float, time_scale: float) -> list[Datapoint]:
    """The alarm's series over its evaluation window (oldest first)."""
    starts = window(spec, now, time_scale)
    wall = period_seconds(spec, time_scale)
    values: dict[str, Series] = {}
    counts: dict[str, tuple[float, ...]] = {}
    for query in spec.queries:
        if query.key is None:
            continue
        assert query.statistic is not None
        column: list[float | None] = []
        column_counts: list[float] = []
        for start in starts:
            samples = index.samples(query.key, start, start + wall, query.unit)
            column.append(statistic_value(samples, query.statistic))
            column_counts.append(sum(s.count for s in samples))
        values[query.id] = tuple(column)
        counts[query.id] = tuple(column_counts)
    resolving: set[str] = set()
    expressions = {q.id: q.expression for q in spec.queries if q.expression is not None}

    def resolve(query_id: str) -> Series:
        if query_id in values:
            return values[query_id]
        if query_id not in expressions:
            raise ExpressionError(f"unknown id {query_id!r} in metric math")
        if query_id in resolving:
            raise ExpressionError(f"metric math refers to itself through {query_id!r}")
        resolving.add(query_id)
        node = expressions[query_id]
        assert node is not None
        needed = {ref: resolve(ref) for ref in expression_references(node)}
        values[query_id] = _broadcast(evaluate_expression(node, needed, len(starts)), len(starts))
        return values[query_id]

    series = resolve(spec.result)
    sample_counts = counts.get(spec.result, (0.0,) * len(starts))
    return [Datapoint(s, v, c) for s, v, c in zip(starts, series, sample_counts, strict=True)]


def _number(value: float | None) -> str:
    return "missing" if value is None else repr(float(round(value, 6)))


def _reason_moment(start: float) -> str:
    moment = dt.datetime.fromtimestamp(start, dt.UTC)
    return f"{moment:%d/%m/%y %H:%M:%S}"


def _listed(points: Sequence[Datapoint]) -> str:
    newest_first = sorted(points, key=lambda p: p.start, reverse=True)
    return ", ".join(
        f"{_number(p.value)} ({_reason_moment(p.start)})" for p in newest_first if p.value is not None
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _was(count: int) -> str:
    return "was" if count == 1 else "were"


def evaluate(
    spec: AlarmSpec,
    datapoints: Sequence[Datapoint],
    *,
    current: str,
    state_from_data: bool,
    now: float,
    time_scale: float,
    low_sample: bool = False,
) -> Evaluation:
    """CloudWatch's decision for an alarm in state `current` over its window `datapoints`."""
    compare, phrase = COMPARISONS[spec.comparison]
    threshold = spec.threshold
    n, m = spec.evaluation_periods, spec.datapoints_to_alarm
    present = [p for p in datapoints if p.value is not None]
    missing = len(datapoints) - len(present)
    breaching = [p for p in present if compare(p.value, threshold)]  # type: ignore[arg-type]
    treat = spec.treat_missing_data
    data = reason_data(spec, datapoints, now, time_scale)

    def outcome(state: str | None, reason: str) -> Evaluation:
        return Evaluation(state, reason, data, tuple(datapoints))

    if low_sample:
        return outcome(None, "too few samples for the percentile (EvaluateLowSampleCountPercentile ignore)")
    minimum = f"(minimum {_plural(m, 'datapoint')} for {current} -> ALARM transition)"
    if treat in ("breaching", "notBreaching"):
        counted = len(breaching) + (missing if treat == "breaching" else 0)
        label = "[Breaching]" if treat == "breaching" else "[NonBreaching]"
        if not present:
            reason = (
                f"Threshold Crossed: no datapoints were received for {_plural(n, 'period')} and "
                f"{_plural(missing, 'missing datapoint')} {_was(missing)} treated as {label}."
            )
            return outcome(ALARM if counted >= m else OK, reason)
        if counted >= m:
            listed = _listed(breaching)
            extra = f" and {missing} missing treated as {label}" if treat == "breaching" and missing else ""
            reason = (
                f"Threshold Crossed: {counted} out of the last {n} datapoints [{listed}]{extra} "
                f"{_was(counted)} {phrase} the threshold ({_number(threshold)}) {minimum}."
            )
            return outcome(ALARM, reason)
        return outcome(OK, _ok_reason(present, breaching, phrase, threshold))
    # missing / ignore: missing datapoints are skipped
    if not present:
        if treat == "ignore":
            return outcome(None, "no datapoints: TreatMissingData ignore keeps the state")
        if not state_from_data:
            return outcome(None, "no datapoints: a state not set from data is kept")
        return outcome(INSUFFICIENT_DATA, f"Insufficient Data: {_plural(n, 'datapoint')} {_was(n)} unknown.")
    if len(breaching) >= m or (len(breaching) == len(present) and treat == "missing"):
        counted = len(breaching)
        reason = (
            f"Threshold Crossed: {counted} out of the last {n} datapoints [{_listed(breaching)}] "
            f"{_was(counted)} {phrase} the threshold ({_number(threshold)}) {minimum}."
        )
        return outcome(ALARM, reason)
    if len(breaching) == len(present):  # ignore, fewer than M present, all of them breaching
        return outcome(
            None, "fewer datapoints than DatapointsToAlarm: TreatMissingData ignore keeps the state"
        )
    return outcome(OK, _ok_reason(present, breaching, phrase, threshold))


def _ok_reason(
    present: Sequence[Datapoint], breaching: Sequence[Datapoint], phrase: str, threshold: float
) -> str:
    calm = [p for p in present if p not in breaching]
    return (
        f"Threshold Crossed: {_plural(len(calm), 'datapoint')} [{_listed(calm)}] {_was(len(calm))} "
        f"not {phrase} the threshold ({_number(threshold)})."
    )


def reason_data(
    spec: AlarmSpec, datapoints: Sequence[Datapoint], now: float, time_scale: float
) -> dict[str, Any]:
    """StateReasonData as CloudWatch writes it (version 1.0), plus the sandbox's time scaling."""

    def stamp(epoch: float) -> str:
        return alarm_timestamp(dt.datetime.fromtimestamp(epoch, dt.UTC))

    data: dict[str, Any] = {"version": "1.0", "queryDate": stamp(now)}
    if datapoints:
        data["startDate"] = stamp(datapoints[0].start)
    if spec.statistic:
        key = "statistic" if spec.statistic in STANDARD_STATISTICS else "extendedStatistic"
        data[key] = spec.statistic
    if spec.unit:
        data["unit"] = spec.unit
    data["period"] = spec.period
    data["recentDatapoints"] = [p.value for p in datapoints if p.value is not None]
    data["threshold"] = spec.threshold
    evaluated = []
    for point in sorted(datapoints, key=lambda p: p.start, reverse=True):
        entry: dict[str, Any] = {"timestamp": stamp(point.start)}
        if point.value is not None:
            if spec.statistic:
                entry["sampleCount"] = point.sample_count
            entry["value"] = point.value
        evaluated.append(entry)
    data["evaluatedDatapoints"] = evaluated
    data["sandbox"] = {"timeScale": time_scale, "periodWallSeconds": period_seconds(spec, time_scale)}
    return data


def low_sample_count(spec: AlarmSpec, datapoints: Sequence[Datapoint]) -> bool:
    """EvaluateLowSampleCountPercentile=ignore: a period of the window has too few samples."""
    if not spec.ignore_low_sample_percentile or spec.statistic is None:
        return False
    rank = percentile_rank(spec.statistic)
    if rank is None or rank >= 100:
        return False
    needed = 10.0 / (1.0 - rank / 100.0)
    return any(0 < p.sample_count < needed for p in datapoints)


# --------------------------------------------------------------------------------------------------
# The evaluator
# --------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Transition:
    """A state change the evaluator made."""

    at: float
    account_id: str
    region: str
    alarm_name: str
    previous: str
    state: str
    reason: str


@dataclasses.dataclass
class _Track:
    alarm_id: int
    state: str
    updated: Any
    from_data: bool
    hold_until: float


def _moto_backends() -> Iterator[tuple[str, str, Any]]:
    from moto.cloudwatch.models import cloudwatch_backends

    for account_id, regions in list(dict.items(cloudwatch_backends)):
        for region, backend in list(dict.items(regions)):
            yield account_id, region, backend


class AlarmEvaluator:
    """Evaluates every metric alarm of moto's CloudWatch on a thread (`start()` / `stop()`), or once
    with `evaluate_now()`.

    `time_scale`: sandbox seconds per declared second (a number, or a callable read at every pass, e.g.
    the TimeCompression gap's); `interval`: the longest wall time between passes (the evaluator also
    wakes when a period of an alarm completes); `clock`: wall-clock epoch seconds.
    """

    def __init__(
        self,
        *,
        time_scale: TimeScale = 1.0,
        interval: float = 1.0,
        clock: Callable[[], float] = time.time,
        backends: Callable[[], Iterable[tuple[str, str, Any]]] = _moto_backends,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be > 0, got {interval}")
        self._time_scale = time_scale
        self.interval = interval
        self.clock = clock
        self.backends = backends
        self.transitions: list[Transition] = []
        self._indexes: dict[tuple[str, str], MetricIndex] = {}
        self._tracks: dict[str, _Track] = {}
        self._warned: set[tuple[str, str]] = set()
        self._pass_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_due = math.inf

    @property
    def time_scale(self) -> float:
        return current_time_scale(self._time_scale)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sandbox-alarm-evaluator", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.evaluate_now()
            except Exception:  # one bad pass must not end the evaluation
                log.exception("sandbox alarm evaluation failed")
            now = self.clock()
            delay = min(self.interval, max(self._next_due - now, MIN_SLEEP_SECONDS))
            self._stop.wait(delay)

    def evaluate_now(self) -> list[Transition]:
        """One pass over every metric alarm; the transitions it made."""
        with self._pass_lock:
            return self._pass()

    def _pass(self) -> list[Transition]:
        now = self.clock()
        written = data_written_through()  # before reading the data: what it covers is in
        scale = self.time_scale
        made: list[Transition] = []
        seen: set[str] = set()
        next_due = math.inf
        for account_id, region, backend in self.backends():
            index = self._indexes.setdefault((account_id, region), MetricIndex())
            index.refresh(backend.metric_data)
            for alarm in list(backend.alarms.values()):
                arn = str(alarm.alarm_arn)
                seen.add(arn)
                try:
                    spec = AlarmSpec.of(alarm)
                except UnsupportedAlarm as unsupported:
                    self._warn_once(arn, str(unsupported))
                    continue
                wall = period_seconds(spec, scale)
                data_now = data_moment(now, written, wall)
                transition = self._evaluate_one(account_id, region, alarm, spec, index, now, scale, data_now)
                if transition is not None:
                    made.append(transition)
                next_due = min(next_due, next_evaluation(spec, now, scale))
                if data_now < now and window(spec, data_now, scale) != window(spec, now, scale):
                    next_due = min(next_due, now + min(self.interval, wall / 10))  # data is on its way
                hold_until = self._tracks[arn].hold_until
                if hold_until > now:
                    next_due = min(next_due, hold_until)
        for arn in set(self._tracks) - seen:
            del self._tracks[arn]
        self._next_due = next_due
        self.transitions.extend(made)
        return made

    def _warn_once(self, arn: str, message: str) -> None:
        if (arn, message) not in self._warned:
            self._warned.add((arn, message))
            log.warning("sandbox: alarm %s is not evaluated: %s", arn, message)

    def _track(self, alarm: Any, now: float, wall_period: float) -> _Track:
        """What the evaluator knows of the alarm's state. A state set from outside (SetAlarmState) is
        held for one period from when it was set: CloudWatch evaluates again only at its next period,
        so a state set by hand is never flipped at once. A new alarm (moto's initial OK, "Unchecked")
        is evaluated at once."""
        arn = str(alarm.alarm_arn)
        track = self._tracks.get(arn)
        updated = alarm.state_updated_timestamp
        if (
            track is None
            or track.alarm_id != id(alarm)
            or (track.state, track.updated) != (alarm.state_value, updated)
        ):
            hold_until = 0.0
            if not str(alarm.state_reason or "").startswith(INITIAL_REASON):
                set_at = _epoch(updated)
                hold_until = (set_at if set_at is not None and set_at <= now else now) + wall_period
            track = _Track(id(alarm), alarm.state_value, updated, False, hold_until)
            self._tracks[arn] = track
        return track

    def _evaluate_one(
        self,
        account_id: str,
        region: str,
        alarm: Any,
        spec: AlarmSpec,
        index: MetricIndex,
        now: float,
        scale: float,
        data_now: float,
    ) -> Transition | None:
        track = self._track(alarm, now, period_seconds(spec, scale))
        if now < track.hold_until:
            return None
        try:
            datapoints = alarm_datapoints(spec, index, data_now, scale)
        except UnsupportedAlarm as unsupported:
            self._warn_once(str(alarm.alarm_arn), str(unsupported))
            return None
        current = str(alarm.state_value)
        evaluation = evaluate(
            spec,
            datapoints,
            current=current,
            state_from_data=track.from_data,
            now=now,
            time_scale=scale,
            low_sample=low_sample_count(spec, datapoints),
        )
        if evaluation.state is None:
            return None
        if evaluation.state == current:
            track.from_data = True  # the data confirms the state: it is a data state now
            return None
        if (alarm.state_value, alarm.state_updated_timestamp) != (track.state, track.updated):
            return None  # changed from outside during this pass: look again next time
        try:
            set_alarm_state(
                account_id,
                region,
                spec.name,
                evaluation.state,
                evaluation.reason,
                json.dumps(evaluation.reason_data, separators=(",", ":")),
            )
        except Exception as exc:  # deleted meanwhile, or moto refused
            log.debug("alarm %s: state not set: %s", spec.name, exc)
            return None
        track.state, track.updated = alarm.state_value, alarm.state_updated_timestamp
        track.from_data = True
        log.info("alarm %s: %s -> %s (%s)", spec.name, current, evaluation.state, evaluation.reason)
        return Transition(now, account_id, region, spec.name, current, evaluation.state, evaluation.reason)

    def __enter__(self) -> AlarmEvaluator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
