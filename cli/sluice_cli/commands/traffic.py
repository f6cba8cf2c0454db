"""`sluice sandbox traffic <endpoint>`: SIMULATED invocations of a sandbox endpoint, as CloudWatch metrics.

Runs in its own process against a running sandbox (`sluice sandbox serve`): reads the endpoint's weights
every simulated second, splits the requests by them, and writes per-variant Invocations,
Invocation5XXErrors, InvocationModelErrors and ModelLatency, so the sandbox's alarm evaluation fires
alarms from data. Simulation only: it refuses any endpoint URL that is not the local sandbox.
"""

from __future__ import annotations

import signal
import threading
from typing import Annotated, Any

import typer

from sluice_cli.commands.context import CliContext, ConfigError, handle_errors, is_local_endpoint
from sluice_cli.commands.output import say
from sluice_cli.sandbox.traffic import Scenario, ScenarioError, TrafficSimulator


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
    time_scale: Annotated[
        float, typer.Option(help="The sandbox's --time-scale (its alarm periods are scaled by it).")
    ] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed (reproducible splits and errors).")] = 0,
) -> None:
    """SIMULATED traffic for a sandbox endpoint until Ctrl-C (or --seconds, or the scenario's end).

    Example: sluice --endpoint-url http://127.0.0.1:4566 sandbox traffic demo-realtime --rps 20
    --error-rate v3=0.08 --latency-ms v3=900
    """
    cli: CliContext = ctx.obj
    if not is_local_endpoint(cli.effective_endpoint_url):
        raise ConfigError(
            "simulated traffic only goes to the local sandbox: pass --endpoint-url http://127.0.0.1:<port>"
        )
    if scenario:
        try:
            plan = Scenario.load(scenario)
        except (OSError, ScenarioError) as error:
            raise ConfigError(f"scenario {scenario}: {error}") from None
        simulator = TrafficSimulator.from_scenario(cli.client, plan, time_scale=time_scale)
    elif endpoint:
        simulator = TrafficSimulator(
            cli.client,
            endpoint,
            rps,
            _pairs(error_rate or [], "--error-rate"),
            _pairs(latency_ms or [], "--latency-ms"),
            seed,
            time_scale=time_scale,
        )
    else:
        raise ConfigError("name the endpoint, or pass --scenario FILE")
    stop = threading.Event()

    def _stop(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    say(simulator.describe())
    simulator.start()
    try:
        finished = stop.wait if not scenario else (lambda timeout: simulator.wait(timeout) or stop.is_set())
        finished(seconds)
    finally:
        simulator.stop()
    say(f"SIMULATED traffic stopped: {simulator.totals}")
