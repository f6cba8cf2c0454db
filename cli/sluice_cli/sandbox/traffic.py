"""SIMULATED traffic for a SageMaker endpoint of the sandbox: per-variant metrics in the emulated
CloudWatch, so alarms fire from data (`alarms`) and an analysis has something to read.

    simulator = TrafficSimulator(sandbox.clients, "my-endpoint", rps=20,
                                 error_rates={"v3": 0.08}, latency_ms={"v3": 900}, seed=7,
                                 time_scale=sandbox.time_scale)
    with simulator:                      # a thread until stop()
        ...
    TrafficSimulator.from_scenario(sandbox.clients, Scenario.load("spike.json"), time_scale=...)

Every simulated second (`time_scale` wall seconds: the sandbox's clock, the one alarm periods are
scaled by) the simulator splits `rps` invocations across the endpoint's variants by their current
weights (DescribeEndpoint, read once per tick), draws each variant's errors (binomial at its error
rate) and latencies, and writes to CloudWatch namespace AWS/SageMaker, dimensions EndpointName +
VariantName, the metrics SageMaker publishes and Sluice's alarms read (rollout_plan._alarm_requests):

| metric | value per simulated second | unit |
|---|---|---|
| Invocations | invocations routed to the variant | Count |
| Invocation5XXErrors | failed invocations (a model error answers 5XX) | Count |
| InvocationModelErrors | the same failed invocations | Count |
| ModelLatency | one raw value per invocation (Values/Counts, so p99 can be computed) | Microseconds |

Latencies are Normal(latency_ms, 10 %) (at least 5 % of it), in microseconds. A variant without an
explicit error rate has 0, without a latency `DEFAULT_LATENCY_MS`; "*" names every other variant.
Variants at weight 0 get no invocations and no datapoints (as SageMaker: no traffic, no metrics).
Timestamps are wall-clock UTC, the middle of each simulated second; the simulator writes once per tick
(`max(time_scale, MIN_TICK_SECONDS)` wall seconds) all the simulated seconds that elapsed, one datum
per metric, variant and simulated second. Deterministic for a seed and a sequence of weights: the
split (largest remainders, ties and fractional invocations drawn with the seeded RNG), errors and
latencies all come from one `random.Random(seed)`.

Labelled as simulation: CloudWatch metrics carry no free-form label and an extra dimension would stop
Sluice's alarms (which match EndpointName + VariantName exactly) from seeing the data, so the label is
in the logs ("SIMULATED traffic ..." at start, at stop, and on every change), in `describe()` (what a
CLI or demo shows) and in `SIMULATION_LABEL`. Nothing else tells simulated datapoints from real ones.

Scenario files (JSON, or YAML for .yaml/.yml), phases in simulated seconds, played in order, then the
simulator stops by itself:

    {"endpoint": "my-endpoint", "rps": 20, "seed": 7,
     "error_rate": {"*": 0.001}, "latency_ms": {"*": 40},
     "phases": [{"seconds": 30},
                {"seconds": 30, "error_rate": {"v3": 0.08}, "latency_ms": {"v3": 900}},
                {"seconds": 60, "rps": 5}]}

A phase's `rps`, `error_rate` and `latency_ms` override the top-level ones for its duration
(per variant; variants it does not name keep the top-level values). Unknown keys are errors.

Optionally (`invoke_sample=True`) one sagemaker-runtime InvokeEndpoint per tick keeps the endpoint
honest (moto answers a canned body, whatever the endpoint); its result is not used.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from sluice_cli.sandbox.alarms.producers import register_producer, unregister_producer
from sluice_cli.sandbox.gaps.time_compression import TimeCompression
from sluice_cli.sandbox.time_scale import TimeScale, current_time_scale

log = logging.getLogger(__name__)

SIMULATION_LABEL = "SIMULATED traffic"
NAMESPACE = "AWS/SageMaker"
DEFAULT_LATENCY_MS = 40.0
LATENCY_JITTER = 0.10
MIN_TICK_SECONDS = 0.05
MAX_VALUES_PER_DATUM = 150  # PutMetricData: at most 150 distinct Values per datum
MAX_DATA_PER_CALL = 1000  # PutMetricData: at most 1000 datums per call
HISTORY_LIMIT = 100_000
WILDCARD = "*"


class ScenarioError(ValueError):
    """A scenario file that is not the format above (the message names the key)."""


# --------------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------------
def _rates(value: Any, where: str, *, upper: float | None) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ScenarioError(f"{where} must be an object of variant name to number, got {value!r}")
    rates: dict[str, float] = {}
    for variant, number in value.items():
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ScenarioError(f"{where}.{variant} must be a number, got {number!r}")
        if number < 0 or (upper is not None and number > upper):
            bound = f"0..{upper:g}" if upper is not None else ">= 0"
            raise ScenarioError(f"{where}.{variant} must be {bound}, got {number!r}")
        rates[str(variant)] = float(number)
    return rates


def _positive(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ScenarioError(f"{where} must be a number > 0, got {value!r}")
    return float(value)


def _non_negative(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ScenarioError(f"{where} must be a number >= 0, got {value!r}")
    return float(value)


def _known_keys(obj: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise ScenarioError(
            f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(allowed))})"
        )


@dataclasses.dataclass(frozen=True)
class Phase:
    """`seconds` simulated seconds with these settings (None / empty: the scenario's)."""

    seconds: float
    rps: float | None = None
    error_rates: Mapping[str, float] = dataclasses.field(default_factory=dict)
    latency_ms: Mapping[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Scenario:
    endpoint: str
    rps: float
    phases: tuple[Phase, ...]
    error_rates: Mapping[str, float] = dataclasses.field(default_factory=dict)
    latency_ms: Mapping[str, float] = dataclasses.field(default_factory=dict)
    seed: int | None = None

    @property
    def seconds(self) -> float:
        return sum(phase.seconds for phase in self.phases)

    @classmethod
    def from_dict(cls, obj: Any) -> Scenario:
        if not isinstance(obj, Mapping):
            raise ScenarioError(f"a scenario is an object, got {type(obj).__name__}")
        _known_keys(obj, {"endpoint", "rps", "seed", "error_rate", "latency_ms", "phases"}, "scenario")
        endpoint = obj.get("endpoint")
        if not isinstance(endpoint, str) or not endpoint:
            raise ScenarioError(f"scenario.endpoint must be an endpoint name, got {endpoint!r}")
        seed = obj.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ScenarioError(f"scenario.seed must be an integer, got {seed!r}")
        raw_phases = obj.get("phases")
        if not isinstance(raw_phases, list) or not raw_phases:
            raise ScenarioError("scenario.phases must be a non-empty list")
        phases = []
        for number, raw in enumerate(raw_phases):
            where = f"scenario.phases[{number}]"
            if not isinstance(raw, Mapping):
                raise ScenarioError(f"{where} must be an object, got {raw!r}")
            _known_keys(raw, {"seconds", "rps", "error_rate", "latency_ms"}, where)
            phases.append(
                Phase(
                    seconds=_positive(raw.get("seconds"), f"{where}.seconds"),
                    rps=None if raw.get("rps") is None else _non_negative(raw["rps"], f"{where}.rps"),
                    error_rates=_rates(raw.get("error_rate"), f"{where}.error_rate", upper=1.0),
                    latency_ms=_rates(raw.get("latency_ms"), f"{where}.latency_ms", upper=None),
                )
            )
        return cls(
            endpoint=endpoint,
            rps=_non_negative(obj.get("rps", 20), "scenario.rps"),
            phases=tuple(phases),
            error_rates=_rates(obj.get("error_rate"), "scenario.error_rate", upper=1.0),
            latency_ms=_rates(obj.get("latency_ms"), "scenario.latency_ms", upper=None),
            seed=seed,
        )

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        """A scenario file: YAML for .yaml/.yml, JSON otherwise."""
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        try:
            if path.suffix.lower() in (".yaml", ".yml"):
                import yaml

                obj = yaml.safe_load(text)
            else:
                obj = json.loads(text)
        except Exception as exc:
            raise ScenarioError(f"{path}: not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}") from exc
        try:
            return cls.from_dict(obj)
        except ScenarioError as exc:
            raise ScenarioError(f"{path}: {exc}") from exc


# --------------------------------------------------------------------------------------------------
# The simulation
# --------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class VariantSecond:
    """What one variant served in one simulated second."""

    variant: str
    weight: float
    invocations: int
    errors: int
    latencies_us: tuple[float, ...]


@dataclasses.dataclass(frozen=True)
class SimulatedSecond:
    """One simulated second: its index since the start, wall-clock timestamp and what each variant got."""

    index: int
    timestamp: dt.datetime
    variants: tuple[VariantSecond, ...]


def _lookup(table: Mapping[str, float], variant: str, default: float) -> float:
    if variant in table:
        return table[variant]
    return table.get(WILDCARD, default)


def split_invocations(total: float, weights: Mapping[str, float], rng: random.Random) -> dict[str, int]:
    """`total` invocations (fractional parts drawn) across variants in proportion to their weights:
    floors first, then the remaining invocations one by one to the largest remainders (ties broken by
    the RNG). Deterministic for a seed; the sum is exactly the drawn total."""
    whole = math.floor(total)
    if rng.random() < total - whole:  # nosec B311
        whole += 1
    positive = {name: float(w) for name, w in weights.items() if w and w > 0}
    counts = dict.fromkeys(weights, 0)
    if whole == 0 or not positive:
        return counts
    weight_sum = sum(positive.values())
    shares = {name: whole * w / weight_sum for name, w in positive.items()}
    for name, share in shares.items():
        counts[name] = math.floor(share)
    remaining = whole - sum(counts.values())
    order = sorted(
        shares,
        key=lambda name: (shares[name] - math.floor(shares[name]), rng.random()),  # nosec B311
        reverse=True,
    )
    for name in order[:remaining]:
        counts[name] += 1
    return counts


class TrafficSimulator:
    """SIMULATED invocations of one endpoint, as per-variant CloudWatch metrics (see the module doc).

    `clients`: anything with `.client(service_name)` (the Sandbox's `clients`) or a callable returning
    a boto3 client for a service name (e.g. `lambda s: boto3.client(s, endpoint_url=...)` from another
    process than the sandbox's); each client is created once. `time_scale`: wall seconds per simulated
    second, a number or a callable read at every tick; it must be the sandbox's time_scale (what the
    alarm evaluator scales periods by): `in_sandbox()` takes it from a Sandbox of this process, a
    separate process must be told (serve mode keeps real time, 1.0, unless started otherwise).
    `phases`: play these (then stop by itself) instead of running at the given settings until stop().
    `on_tick`: called with the simulated seconds of each tick once they are written (on its thread).
    """

    def __init__(
        self,
        clients: Any,
        endpoint: str,
        rps: float = 20.0,
        error_rates: Mapping[str, float] | None = None,
        latency_ms: Mapping[str, float] | None = None,
        seed: int | None = 0,
        *,
        time_scale: TimeScale = 1.0,
        phases: Sequence[Phase] = (),
        namespace: str = NAMESPACE,
        invoke_sample: bool = False,
        tick_seconds: float | None = None,
        clock: Callable[[], float] = time.time,
        on_tick: Callable[[Sequence[SimulatedSecond]], None] | None = None,
    ) -> None:
        if rps < 0:
            raise ValueError(f"rps must be >= 0, got {rps}")
        self.endpoint = endpoint
        self.rps = float(rps)
        self.error_rates = dict(error_rates or {})
        self.latency_ms = dict(latency_ms or {})
        for variant, rate in self.error_rates.items():
            if not 0 <= rate <= 1:
                raise ValueError(f"error rate of {variant} must be in 0..1, got {rate}")
        self.seed = seed
        self.phases = tuple(phases)
        self.namespace = namespace
        self.invoke_sample = invoke_sample
        self.tick_seconds = tick_seconds
        self.clock = clock
        self.on_tick = on_tick
        self._clients = clients
        self._client_cache: dict[str, Any] = {}
        self._time_scale = time_scale
        self._rng = random.Random(seed)  # noqa: S311  # nosec B311
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None
        self._origin: float | None = None  # wall-clock epoch of simulated second 0
        self._done = 0  # simulated seconds written
        self.history: deque[SimulatedSecond] = deque(maxlen=HISTORY_LIMIT)
        self.totals: dict[str, dict[str, int]] = {}
        self.errors: list[str] = []

    @classmethod
    def from_scenario(
        cls, clients: Any, scenario: Scenario, *, time_scale: TimeScale = 1.0, **options: Any
    ) -> TrafficSimulator:
        return cls(
            clients,
            scenario.endpoint,
            rps=scenario.rps,
            error_rates=scenario.error_rates,
            latency_ms=scenario.latency_ms,
            seed=scenario.seed if scenario.seed is not None else 0,
            time_scale=time_scale,
            phases=scenario.phases,
            **options,
        )

    @classmethod
    def in_sandbox(cls, sandbox: Any, endpoint: str, rps: float = 20.0, **options: Any) -> TrafficSimulator:
        """For a running `Sandbox` of this process: its clients, and its clock (the TimeCompression gap's
        time_scale, read at every tick, the one the alarm evaluator scales periods by)."""
        compression = sandbox.gaps.get(TimeCompression)
        return cls(sandbox.clients, endpoint, rps, time_scale=lambda: compression.time_scale, **options)

    # -- what callers see ---------------------------------------------------------------------------
    @property
    def time_scale(self) -> float:
        return current_time_scale(self._time_scale)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def simulated_seconds(self) -> int:
        return self._done

    @property
    def finished(self) -> bool:
        """True once a scenario's phases have all been played."""
        return self._finished.is_set()

    def describe(self) -> str:
        """One line for a CLI or demo, starting with the simulation label."""
        rates = ", ".join(f"{v}={r:g}" for v, r in sorted(self.error_rates.items())) or "none"
        latency = ", ".join(f"{v}={ms:g} ms" for v, ms in sorted(self.latency_ms.items())) or "default"
        phases = (
            f", {len(self.phases)} phase(s) over {sum(p.seconds for p in self.phases):g} s"
            if self.phases
            else ""
        )
        return (
            f"{SIMULATION_LABEL} on endpoint {self.endpoint}: {self.rps:g} rps split by the variants' "
            f"weights, error rates {rates}, latency {latency}{phases} "
            f"(seed {self.seed}; metrics in {self.namespace})"
        )

    def set(
        self,
        *,
        rps: float | None = None,
        error_rates: Mapping[str, float] | None = None,
        latency_ms: Mapping[str, float] | None = None,
    ) -> None:
        """Change the settings while running (from the next simulated second on)."""
        with self._lock:
            if rps is not None:
                self.rps = float(rps)
            if error_rates is not None:
                self.error_rates = dict(error_rates)
            if latency_ms is not None:
                self.latency_ms = dict(latency_ms)
        log.info("%s", self.describe())

    # -- lifecycle ----------------------------------------------------------------------------------
    @property
    def written_through(self) -> float:
        """Wall-clock epoch seconds up to which every simulated second is in CloudWatch (the alarm
        evaluator waits for this before judging a period)."""
        origin = self._origin if self._origin is not None else self.clock()
        return origin + self._done * self.time_scale

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._finished.clear()
        if self._origin is None:
            self._origin = self.clock()
        register_producer(self)
        log.info("%s: started", self.describe())
        self._thread = threading.Thread(
            target=self._run, name=f"sandbox-traffic-{self.endpoint}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        unregister_producer(self)
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            log.info(
                "%s on endpoint %s: stopped after %d simulated seconds (%s)",
                SIMULATION_LABEL,
                self.endpoint,
                self._done,
                ", ".join(
                    f"{v}: {t['invocations']} calls, {t['errors']} errors" for v, t in self.totals.items()
                ),
            )

    def wait(self, timeout: float | None = None) -> bool:
        """Until a scenario has played all its phases (True) or `timeout` wall seconds passed."""
        return self._finished.wait(timeout)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # the emulator may be busy or the endpoint gone: keep going
                log.warning("%s on %s: tick failed: %s", SIMULATION_LABEL, self.endpoint, exc)
                self.errors.append(str(exc))
            if self._finished.is_set():
                unregister_producer(self)
                return
            scale = self.time_scale
            self._stop.wait(self.tick_seconds or max(scale, MIN_TICK_SECONDS))

    # -- one tick -----------------------------------------------------------------------------------
    def tick(self) -> list[SimulatedSecond]:
        """Simulate and write every simulated second that has elapsed since the last tick."""
        now = self.clock()
        if self._origin is None:
            self._origin = now
        scale = self.time_scale
        due = math.floor((now - self._origin) / scale) - self._done
        if self.phases:
            due = min(due, math.ceil(sum(p.seconds for p in self.phases)) - self._done)
        if due <= 0:
            if self.phases and self._done >= sum(p.seconds for p in self.phases):
                self._finished.set()
            return []
        weights = self.weights()
        seconds = [self._simulate(self._done + i, weights, scale) for i in range(due)]
        self._write(seconds)
        self._record(seconds)
        if self.on_tick is not None:
            self.on_tick(seconds)
        self._done += due
        if self.phases and self._done >= sum(p.seconds for p in self.phases):
            self._finished.set()
        if self.invoke_sample:
            self._invoke_sample()
        return seconds

    def weights(self) -> dict[str, float]:
        """The endpoint's variants and current weights (DescribeEndpoint)."""
        described = self._client("sagemaker").describe_endpoint(EndpointName=self.endpoint)
        return {
            str(v["VariantName"]): float(v.get("CurrentWeight", v.get("DesiredWeight", 0.0)) or 0.0)
            for v in described.get("ProductionVariants", [])
        }

    def _settings(self, index: int) -> tuple[float, dict[str, float], dict[str, float]]:
        with self._lock:
            rps, errors, latency = self.rps, dict(self.error_rates), dict(self.latency_ms)
        elapsed = 0.0
        for phase in self.phases:
            elapsed += phase.seconds
            if index < elapsed:
                rps = rps if phase.rps is None else phase.rps
                errors = {**errors, **phase.error_rates}
                latency = {**latency, **phase.latency_ms}
                break
        return rps, errors, latency

    def _simulate(self, index: int, weights: Mapping[str, float], scale: float) -> SimulatedSecond:
        assert self._origin is not None
        rps, error_rates, latency_ms = self._settings(index)
        rng = self._rng
        counts = split_invocations(rps, weights, rng)
        variants = []
        for variant in sorted(counts):
            calls = counts[variant]
            rate = _lookup(error_rates, variant, 0.0)
            errors = sum(1 for _ in range(calls) if rng.random() < rate)  # nosec B311
            typical = _lookup(latency_ms, variant, DEFAULT_LATENCY_MS) * 1000.0
            latencies = tuple(
                round(max(typical * 0.05, rng.gauss(typical, typical * LATENCY_JITTER)), 1)
                for _ in range(calls)
            )
            variants.append(
                VariantSecond(variant, float(weights.get(variant, 0.0)), calls, errors, latencies)
            )
        moment = dt.datetime.fromtimestamp(self._origin + (index + 0.5) * scale, dt.UTC)
        return SimulatedSecond(index, moment, tuple(variants))

    def _record(self, seconds: Sequence[SimulatedSecond]) -> None:
        for second in seconds:
            self.history.append(second)
            for served in second.variants:
                total = self.totals.setdefault(served.variant, {"invocations": 0, "errors": 0})
                total["invocations"] += served.invocations
                total["errors"] += served.errors

    def _data(self, second: SimulatedSecond) -> Iterator[dict[str, Any]]:
        for served in second.variants:
            if served.invocations == 0:
                continue
            dimensions = [
                {"Name": "EndpointName", "Value": self.endpoint},
                {"Name": "VariantName", "Value": served.variant},
            ]
            common = {"Dimensions": dimensions, "Timestamp": second.timestamp}
            yield {"MetricName": "Invocations", "Value": float(served.invocations), "Unit": "Count", **common}
            for name in ("Invocation5XXErrors", "InvocationModelErrors"):
                yield {"MetricName": name, "Value": float(served.errors), "Unit": "Count", **common}
            tally: dict[float, int] = {}
            for value in served.latencies_us:
                tally[value] = tally.get(value, 0) + 1
            values = list(tally.items())
            for start in range(0, len(values), MAX_VALUES_PER_DATUM):
                chunk = values[start : start + MAX_VALUES_PER_DATUM]
                yield {
                    "MetricName": "ModelLatency",
                    "Values": [v for v, _ in chunk],
                    "Counts": [float(c) for _, c in chunk],
                    "Unit": "Microseconds",
                    **common,
                }

    def _write(self, seconds: Sequence[SimulatedSecond]) -> None:
        data = [datum for second in seconds for datum in self._data(second)]
        cloudwatch = self._client("cloudwatch")
        for start in range(0, len(data), MAX_DATA_PER_CALL):
            cloudwatch.put_metric_data(
                Namespace=self.namespace, MetricData=data[start : start + MAX_DATA_PER_CALL]
            )

    def _invoke_sample(self) -> None:
        try:
            self._client("sagemaker-runtime").invoke_endpoint(
                EndpointName=self.endpoint, Body=b"0", ContentType="text/csv"
            )["Body"].read()
        except Exception as exc:
            log.debug("%s: sample invocation of %s failed: %s", SIMULATION_LABEL, self.endpoint, exc)

    def _client(self, service: str) -> Any:
        client = self._client_cache.get(service)
        if client is None:
            clients = self._clients
            client = clients.client(service) if hasattr(clients, "client") else clients(service)
            self._client_cache[service] = client
        return client
