"""CloudWatch's decision for one alarm over its window, with the reason and StateReasonData it writes."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from sluice_cli.sandbox.alarms.spec import ALARM, COMPARISONS, INSUFFICIENT_DATA, OK, AlarmSpec
from sluice_cli.sandbox.alarms.statistics import STANDARD_STATISTICS, percentile_rank
from sluice_cli.sandbox.alarms.windows import Datapoint, period_seconds
from sluice_cli.sandbox.aws_state.cloudwatch import alarm_timestamp


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The outcome for one alarm: `state` None keeps the current state."""

    state: str | None
    reason: str
    reason_data: dict[str, Any]
    datapoints: tuple[Datapoint, ...]


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
    present = [p for p in datapoints if p.value is not None]
    breaching = [p for p in present if compare(p.value, spec.threshold)]  # type: ignore[arg-type]
    data = reason_data(spec, datapoints, now, time_scale)
    if low_sample:
        state: str | None = None
        reason = "too few samples for the percentile (EvaluateLowSampleCountPercentile ignore)"
    else:
        minimum = (
            f"(minimum {_plural(spec.datapoints_to_alarm, 'datapoint')} for {current} -> ALARM transition)"
        )
        if spec.treat_missing_data in ("breaching", "notBreaching"):
            missing = len(datapoints) - len(present)
            state, reason = _missing_counted(spec, present, breaching, missing, phrase, minimum)
        else:
            state, reason = _missing_skipped(spec, present, breaching, phrase, minimum, state_from_data)
    return Evaluation(state, reason, data, tuple(datapoints))


def _missing_counted(
    spec: AlarmSpec,
    present: Sequence[Datapoint],
    breaching: Sequence[Datapoint],
    missing: int,
    phrase: str,
    minimum: str,
) -> tuple[str | None, str]:
    """TreatMissingData breaching / notBreaching: a missing datapoint counts as breaching / not."""
    treat, threshold = spec.treat_missing_data, spec.threshold
    n, m = spec.evaluation_periods, spec.datapoints_to_alarm
    counted = len(breaching) + (missing if treat == "breaching" else 0)
    label = "[Breaching]" if treat == "breaching" else "[NonBreaching]"
    if not present:
        reason = (
            f"Threshold Crossed: no datapoints were received for {_plural(n, 'period')} and "
            f"{_plural(missing, 'missing datapoint')} {_was(missing)} treated as {label}."
        )
        return (ALARM if counted >= m else OK), reason
    if counted >= m:
        listed = _listed(breaching)
        extra = f" and {missing} missing treated as {label}" if treat == "breaching" and missing else ""
        reason = (
            f"Threshold Crossed: {counted} out of the last {n} datapoints [{listed}]{extra} "
            f"{_was(counted)} {phrase} the threshold ({_number(threshold)}) {minimum}."
        )
        return ALARM, reason
    return OK, _ok_reason(present, breaching, phrase, threshold)


def _missing_skipped(
    spec: AlarmSpec,
    present: Sequence[Datapoint],
    breaching: Sequence[Datapoint],
    phrase: str,
    minimum: str,
    state_from_data: bool,
) -> tuple[str | None, str]:
    """TreatMissingData missing (the default) / ignore: missing datapoints are skipped."""
    treat, threshold = spec.treat_missing_data, spec.threshold
    n, m = spec.evaluation_periods, spec.datapoints_to_alarm
    if not present:
        if treat == "ignore":
            return None, "no datapoints: TreatMissingData ignore keeps the state"
        if not state_from_data:
            return None, "no datapoints: a state not set from data is kept"
        return INSUFFICIENT_DATA, f"Insufficient Data: {_plural(n, 'datapoint')} {_was(n)} unknown."
    if len(breaching) >= m or (len(breaching) == len(present) and treat == "missing"):
        counted = len(breaching)
        reason = (
            f"Threshold Crossed: {counted} out of the last {n} datapoints [{_listed(breaching)}] "
            f"{_was(counted)} {phrase} the threshold ({_number(threshold)}) {minimum}."
        )
        return ALARM, reason
    if len(breaching) == len(present):  # ignore, fewer than M present, all of them breaching
        return None, "fewer datapoints than DatapointsToAlarm: TreatMissingData ignore keeps the state"
    return OK, _ok_reason(present, breaching, phrase, threshold)


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
