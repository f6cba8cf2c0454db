"""`sluice sandbox traffic <endpoint>`: SIMULATED invocations of a sandbox endpoint, as CloudWatch metrics.

Runs in its own process against a running sandbox (`sluice sandbox serve`): reads the endpoint's weights
every simulated second, splits the requests by them, and writes per-variant Invocations,
Invocation5XXErrors, InvocationModelErrors and ModelLatency, so the sandbox's alarm evaluation fires
alarms from data. Simulation only: it refuses any endpoint URL that is not the local sandbox.

While it runs it shows, every --interval wall seconds, each variant's weight and what it served since
the previous line (a table refreshed in place on a terminal); at the end a summary table per variant
(invocations, errors, error rate, mean and p90 latency), or one JSON document with --json / -o json.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

import typer

from sluice_cli.commands.context import (
    EXIT_NOT_FOUND,
    CliContext,
    ConfigError,
    NotFound,
    handle_errors,
    is_local_endpoint,
)
from sluice_cli.commands.output import emit_json, error_console, say
from sluice_cli.commands.rollout_end import (
    RECENT,
    EndpointShapeWatch,
    RolloutEnded,
    RolloutEndWatch,
    RolloutRecordWatch,
)
from sluice_cli.commands.status_view import describe_endpoint
from sluice_cli.commands.traffic_view import LiveTraffic, emit_summary, traffic_document
from sluice_cli.sandbox.traffic import WILDCARD, Scenario, ScenarioError, TrafficSimulator
from sluice_cli.sandbox.traffic_tally import TrafficTally

POLL_SECONDS = 0.25  # how often the stop conditions are looked at


def _pairs(values: list[str], what: str) -> dict[str, float]:
    """`v3=0.08` options as {variant: number}."""
    parsed: dict[str, float] = {}
    for value in values:
        variant, sep, number = value.partition("=")
        try:
            if not sep or not variant:
                raise ValueError
            parsed[variant] = float(number)
        except ValueError:
            raise ConfigError(f"{what} takes VARIANT=NUMBER, e.g. v3=0.08; got {value!r}") from None
    return parsed


def named_variants(
    error_rates: Mapping[str, float], latency_ms: Mapping[str, float], plan: Scenario | None
) -> dict[str, list[str]]:
    """Every variant the settings name (not "*"), with where: {"v3": ["--error-rate"]}."""
    sources: list[tuple[str, Mapping[str, float]]] = [
        ("--error-rate", error_rates),
        ("--latency-ms", latency_ms),
    ]
    if plan is not None:
        sources = [
            ("the scenario's error_rate", plan.error_rates),
            ("the scenario's latency_ms", plan.latency_ms),
        ]
        for number, phase in enumerate(plan.phases):
            sources += [
                (f"phases[{number}].error_rate", phase.error_rates),
                (f"phases[{number}].latency_ms", phase.latency_ms),
            ]
    named: dict[str, list[str]] = {}
    for where, table in sources:
        for variant in table:
            if variant != WILDCARD and where not in named.setdefault(variant, []):
                named[variant].append(where)
    return named


def _listed(named: Mapping[str, list[str]], variants: set[str] | frozenset[str]) -> str:
    return ", ".join(f"{v} ({' and '.join(named[v])})" for v in sorted(variants))


def _warn(message: str) -> None:
    error_console().print(f"warning: {message}", markup=False, highlight=False, soft_wrap=True)


def _rollout_watch(cli: CliContext, endpoint: str, announce: Any) -> RolloutEndWatch:
    """From the rollout records when the registry table is known, else from the endpoint's shape."""
    try:
        store = cli.rollout_store()
        watch = RolloutRecordWatch(lambda: store.rollouts(endpoint, limit=RECENT))
    except ConfigError as error:
        _warn(
            f"--until-rollout-ends: no registry table ({error.message}); stopping instead when endpoint "
            f"{endpoint} is back to one variant after having had two"
        )
        return EndpointShapeWatch()
    if not watch.active:
        announce(
            f"--until-rollout-ends: no rollout of {endpoint} is active; waiting for one to start and end"
        )
    return watch


@contextlib.contextmanager
def _interruptible(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C / SIGTERM set `stop` (the summary is still shown); the previous handlers come back after."""

    def _stop(*_: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@handle_errors
def traffic(
    ctx: typer.Context,
    endpoint: Annotated[str | None, typer.Argument(help="The sandbox endpoint (or use --scenario).")] = None,
    rps: Annotated[
        float, typer.Option(help="Simulated requests per second, split by the live weights.")
    ] = 20.0,
    error_rate: Annotated[
        list[str] | None, typer.Option("--error-rate", help="VARIANT=RATE, e.g. v3=0.08 (repeatable).")
    ] = None,
    latency_ms: Annotated[
        list[str] | None, typer.Option("--latency-ms", help="VARIANT=MS, e.g. v3=900 (repeatable).")
    ] = None,
    scenario: Annotated[
        str | None, typer.Option(help="A scenario file (JSON/YAML): endpoint, rps, phases with rates.")
    ] = None,
    seconds: Annotated[float | None, typer.Option(help="Stop after this many wall seconds.")] = None,
    until_rollout_ends: Annotated[
        bool,
        typer.Option(
            "--until-rollout-ends",
            help="Stop once the endpoint's rollout (active now, or the next one) reaches a final status "
            "(read from the registry table as `sluice status` does; without a table: once the endpoint "
            "is back to one variant after having had two).",
        ),
    ] = False,
    interval: Annotated[
        float, typer.Option(min=0.05, help="Wall seconds between two live lines (or table refreshes).")
    ] = 2.0,
    as_json: Annotated[
        bool, typer.Option("--json", help="No live lines; one JSON document at the end (as -o json).")
    ] = False,
    time_scale: Annotated[
        float, typer.Option(help="The sandbox's --time-scale (its alarm periods are scaled by it).")
    ] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed (reproducible splits and errors).")] = 0,
) -> None:
    """SIMULATED traffic for a sandbox endpoint until Ctrl-C (or --seconds, the scenario's end, or
    --until-rollout-ends).

    Shows each variant's weight, invocations and errors as it goes, then a summary per variant. A
    variant named by --error-rate / --latency-ms that the endpoint does not have is a warning (a canary
    may join later); exit 1 when none of the named variants was ever on the endpoint.

    Example: sluice --endpoint-url http://127.0.0.1:4566 sandbox traffic demo-realtime --rps 20
    --error-rate v3=0.08 --latency-ms v3=900 --until-rollout-ends
    """
    cli: CliContext = ctx.obj
    machine = as_json or cli.json
    if not is_local_endpoint(cli.effective_endpoint_url):
        raise ConfigError(
            "simulated traffic only goes to the local sandbox: pass --endpoint-url http://127.0.0.1:<port>"
        )
    tally = TrafficTally()
    plan: Scenario | None = None
    if scenario:
        try:
            plan = Scenario.load(scenario)
        except (OSError, ScenarioError) as error:
            raise ConfigError(f"scenario {scenario}: {error}") from None
        simulator = TrafficSimulator.from_scenario(cli.client, plan, time_scale=time_scale, on_tick=tally.add)
    elif endpoint:
        simulator = TrafficSimulator(
            cli.client,
            endpoint,
            rps,
            _pairs(error_rate or [], "--error-rate"),
            _pairs(latency_ms or [], "--latency-ms"),
            seed,
            time_scale=time_scale,
            on_tick=tally.add,
        )
    else:
        raise ConfigError("name the endpoint, or pass --scenario FILE")
    name = simulator.endpoint

    def announce(message: str) -> None:
        if machine:
            error_console().print(message, markup=False, highlight=False, soft_wrap=True)
        else:
            say(message)

    described = describe_endpoint(cli.client("sagemaker"), name)
    if described is None:
        raise NotFound(f"endpoint {name!r} does not exist in the sandbox at {cli.effective_endpoint_url}")
    has = {str(v["VariantName"]) for v in described.get("ProductionVariants") or []}
    named = named_variants(simulator.error_rates, simulator.latency_ms, plan)
    warnings = []
    if missing := set(named) - has:
        warnings.append(
            f"endpoint {name} has no variant {_listed(named, missing)} now (it has "
            f"{', '.join(sorted(has))}): no traffic reaches it unless a variant of that name joins (the "
            "canary of an upload)"
        )
        _warn(warnings[-1])
    watch = _rollout_watch(cli, name, announce) if until_rollout_ends else None

    stop = threading.Event()
    stopped, ended = "interrupted", None
    announce(simulator.describe())
    with _interruptible(stop):
        simulator.start()
        started = time.monotonic()
        try:
            with (
                LiveTraffic(f"{name}: SIMULATED traffic") if not machine else contextlib.nullcontext() as live
            ):
                next_line = started + interval
                while not stop.is_set():
                    now = time.monotonic()
                    if seconds is not None and now - started >= seconds:
                        stopped = f"--seconds {seconds:g} elapsed"
                        break
                    if simulator.finished:
                        stopped = "the scenario was played to its end"
                        break
                    ended = watch.check(tally.weights) if watch else None
                    if ended is not None:
                        stopped = ended.reason
                        break
                    if now >= next_line:
                        if live is not None:
                            live.show(tally.interval())
                        next_line += interval * (int((now - next_line) // interval) + 1)
                    stop.wait(min(POLL_SECONDS, max(0.0, next_line - now)))
        finally:
            simulator.stop()
    _finish(simulator, tally, named, warnings, stopped, ended, machine)


def _finish(
    simulator: TrafficSimulator,
    tally: TrafficTally,
    named: Mapping[str, list[str]],
    warnings: list[str],
    stopped: str,
    ended: RolloutEnded | None,
    machine: bool,
) -> None:
    """The summary (or the JSON document); exit 1 when no variant the settings name was ever there."""
    name, seen = simulator.endpoint, tally.seen
    never = set(named) - seen
    if never and never != set(named):
        warnings.append(f"{_listed(named, never)}: never a variant of endpoint {name} during the run")
        _warn(warnings[-1])
    rows = tally.summary()
    if machine:
        rollout = dict(ended.rollout) if ended is not None and ended.rollout is not None else None
        emit_json(
            traffic_document(
                name, simulator.describe(), rows, tally.simulated_seconds, stopped, rollout, warnings
            )
        )
    else:
        emit_summary(rows, tally.simulated_seconds, stopped)
    if named and never == set(named):
        had = ", ".join(sorted(seen)) or "no variant"
        error_console().print(
            f"error: none of the variants named ({_listed(named, never)}) was ever a variant of endpoint "
            f"{name} during the run (it had {had}): nothing was simulated as asked",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_NOT_FOUND)
