"""Watching a canary rollout as a user would: DescribeEndpoint's variants and the rollout record, one
`Observation` per change, until the rollout ends."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.table import Table
from rich.text import Text

from sluice_cli.sandbox.demo.cast import ROLLOUT_TIMEOUT_SECONDS
from sluice_cli.sandbox.demo.harness import Demo


@dataclass(frozen=True)
class Variant:
    """One production variant as DescribeEndpoint reports it; `percent` = its share of the traffic."""

    name: str
    percent: float | None
    instances: int | None

    def __str__(self) -> str:
        share = "?" if self.percent is None else shown_percent(self.percent)
        count = "?" if self.instances is None else str(self.instances)
        return f"{self.name} {share} % ({count} instance{'' if self.instances == 1 else 's'})"


def shown_percent(value: float) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"


def described_variants(described: Mapping[str, Any], first: str) -> tuple[Variant, ...]:
    """DescribeEndpoint's variants, `first` first; weights turned into shares of the traffic."""
    summaries = list(described.get("ProductionVariants") or [])
    weights = [s.get("CurrentWeight") for s in summaries]
    total = sum(float(w) for w in weights if w is not None)
    variants = [
        Variant(
            name=str(s["VariantName"]),
            percent=None if w is None else 100.0 * float(w) / total if total else 0.0,
            instances=s.get("CurrentInstanceCount"),
        )
        for s, w in zip(summaries, weights, strict=True)
    ]
    return tuple(sorted(variants, key=lambda v: (v.name != first, v.name)))


@dataclass(frozen=True)
class Observation:
    """What the user sees at one moment: DescribeEndpoint, and the rollout record of the version."""

    seconds: float  # since the watch began
    seen_at: float  # time.monotonic() when DescribeEndpoint answered
    endpoint_status: str
    variants: tuple[Variant, ...]
    rollout: Mapping[str, Any]
    at: float = 0.0  # the same moment on the wall clock (epoch seconds)

    @property
    def status(self) -> str:
        return str(self.rollout.get("status") or "—")

    @property
    def step_index(self) -> int:
        return int(self.rollout.get("step_index", -1))

    def percent(self, variant: str) -> float | None:
        for v in self.variants:
            if v.name == variant:
                return v.percent
        return None

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.endpoint_status, self.variants, self.status, self.step_index)


class RolloutWatch:
    """Polls DescribeEndpoint and the rollout record; prints one line per observed change."""

    def __init__(self, demo: Demo, endpoint: str, version: str) -> None:
        self.demo = demo
        self.endpoint = endpoint
        self.version = version
        self.began = time.monotonic()
        self.began_at = time.time()  # the same moment on the wall clock: the plots' x = 0
        self.changes: list[Observation] = []

    def observe(self) -> Observation:
        """DescribeEndpoint, the rollout record, DescribeEndpoint again until both reads agree: Sluice
        changes the endpoint before it records the change, so the record read in between is never
        ahead of the endpoint shown (no "candidate added" next to an endpoint without it)."""
        sagemaker = self.demo.client("sagemaker")
        described = sagemaker.describe_endpoint(EndpointName=self.endpoint)
        seen_at = time.monotonic()
        for _ in range(10):
            rollout = self.demo.rollout(self.endpoint, self.version) or {}
            again = sagemaker.describe_endpoint(EndpointName=self.endpoint)
            if _endpoint_view(again) == _endpoint_view(described):
                break
            described, seen_at = again, time.monotonic()
        observation = Observation(
            seconds=seen_at - self.began,
            seen_at=seen_at,
            endpoint_status=str(described.get("EndpointStatus", "?")),
            variants=described_variants(described, self.version),
            rollout=rollout,
            at=self.began_at + (seen_at - self.began),
        )
        if not self.changes or observation.key != self.changes[-1].key:
            self.changes.append(observation)
            self._show(observation)
        return observation

    def until(
        self,
        condition: Callable[[Observation], bool],
        what: str,
        *,
        timeout: float = ROLLOUT_TIMEOUT_SECONDS,
        interval: float = 0.05,
    ) -> Observation:
        deadline = time.monotonic() + timeout
        while True:
            observation = self.observe()
            if condition(observation):
                return observation
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} within {timeout:.0f} s (last seen: {observation.status})")
            time.sleep(interval)

    def shares(self) -> list[float]:
        """The version's observed shares of the traffic, in order, without repeats or zeros."""
        seen: list[float] = []
        for observation in self.changes:
            percent = observation.percent(self.version)
            if percent and (not seen or seen[-1] != percent):
                seen.append(percent)
        return seen

    def _show(self, observation: Observation) -> None:
        """One aligned line: seconds since the upload, the variants' shares, what the rollout does."""
        weights = Text(" · ".join(str(v) for v in observation.variants) or "(no variants)", style="bold")
        if observation.endpoint_status != "InService":
            weights.append(f" [{observation.endpoint_status}]", style="yellow")
        line = Table.grid(padding=(0, 1))
        line.add_column(width=7, justify="right", style="dim", no_wrap=True)
        line.add_column(min_width=len("v2 100 % (2 instances) · v1 100 % (2 instances)"), no_wrap=True)
        line.add_column(overflow="fold")
        line.add_row(f"{observation.seconds:.2f} s", weights, f"— {_doing(observation.rollout)}")
        self.demo.console.print(line)


def _endpoint_view(described: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        described.get("EndpointStatus"),
        tuple(
            (v.get("VariantName"), v.get("CurrentWeight"), v.get("CurrentInstanceCount"))
            for v in described.get("ProductionVariants") or []
        ),
    )


def _doing(rollout: Mapping[str, Any]) -> str:
    """The rollout record in a few words (≤ 22 characters: the line fits 80 columns): status, step,
    bake time, all as recorded by Sluice."""
    status = str(rollout.get("status") or "no rollout yet")
    index = int(rollout.get("step_index", -1))
    steps = _recorded_steps(rollout)
    step = f"step {index + 1}/{len(steps) or '?'}" if index >= 0 else ""
    if status == "BAKING":
        bake = _bake_seconds(rollout)
        return f"{step}: baking {bake:.0f} s" if bake is not None else f"{step}: baking"
    if status == "SHIFTING":
        return f"{step}: weights set"
    if status == "UPDATING":
        return "candidate added, 0 %"
    if status == "ROLLING_BACK":
        if rollout.get("alarm") == "canary analysis":  # actions_analyse: the analysis' fail, not an alarm
            return "rolling back: analysis"
        return "rolling back (alarm)" if rollout.get("alarm") else "rolling back"
    return status.lower().replace("_", " ")


def _recorded_steps(rollout: Mapping[str, Any]) -> list[int]:
    try:
        config = json.loads(str(rollout.get("config") or "{}"))
    except ValueError:
        return []
    return list((config.get("rollout") or {}).get("steps") or [])


def _bake_seconds(rollout: Mapping[str, Any]) -> float | None:
    """The bake as Sluice recorded it: bake_ends_at - wait_started_at, in declared (AWS) seconds."""
    try:
        ends = datetime.fromisoformat(str(rollout["bake_ends_at"]))
        started = datetime.fromisoformat(str(rollout["wait_started_at"]))
    except (KeyError, ValueError):
        return None
    return (ends - started).total_seconds()


def watch_until_ended(demo: Demo, watch: RolloutWatch, final: str) -> tuple[Observation, dict[str, Any]]:
    """Watch until the rollout record says `final` (or any end); then the execution's description."""
    ended = watch.until(
        lambda o: o.status in {final, "NEEDS_ATTENTION", "REFUSED"}, f"{watch.version} {final}"
    )
    arn = str(ended.rollout.get("execution_arn", ""))
    if not arn:
        return ended, {}
    sfn = demo.client("stepfunctions")

    def finished() -> dict[str, Any] | None:
        described = dict(sfn.describe_execution(executionArn=arn))
        return described if described["status"] != "RUNNING" else None

    execution = demo.poll(finished)
    return ended, dict(execution or {})
