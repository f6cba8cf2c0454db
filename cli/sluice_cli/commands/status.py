"""`sluice status <endpoint> [--watch]`: what serves an endpoint now, and where its rollout stands."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from sluice_cli.commands.context import CliContext, handle_errors
from sluice_cli.commands.output import emit, emit_json, error_console
from sluice_cli.commands.status_view import read_status, status_renderables
from sluice_cli.commands.status_watch import EXIT_INTERRUPTED, watch_status


@handle_errors
def status(
    ctx: typer.Context,
    endpoint: Annotated[str, typer.Argument(help="The SageMaker endpoint.", show_default=False)],
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            "-w",
            help="Refresh until the rollout ends (and a version queued or still being validated behind it); "
            "exit 0 when it ended PROMOTED, 3 when it ended otherwise or the latest upload was rejected. "
            "A PAUSED rollout (held by the canary analysis included) has not ended: see --timeout.",
        ),
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.2, help="With --watch: seconds between two reads.")
    ] = 2.0,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", min=0.0, help="With --watch: give up after this many seconds (exit 4); 0: never."
        ),
    ] = 0.0,
) -> None:
    """An endpoint's live variants and its active (else latest) rollout.

    Variants from DescribeEndpoint: weight as % of traffic, instances (current/desired), status.
    The rollout: version, status, step n/N of the planned steps, time left in the bake, the alarms it
    watches with their state now (DescribeAlarms; an alarm of an ended rollout that is gone reads
    "deleted (rollout ended)", a missing one of an active rollout is a warning), warnings, a queued
    version, pending signals, the configuration it was read from, and for NEEDS_ATTENTION the endpoint
    state it recorded and why. First, when the latest upload to endpoints/<endpoint>/ is newer than that
    rollout, why it changed nothing: rejected (code and reason), queued (behind which rollout), still
    being validated. Exit 1 when the endpoint has neither a SageMaker endpoint nor rollouts.

    --watch: the same view plus the latest decisions, redrawn in place on a terminal (one block per
    change otherwise; with -o json one JSON document per line per change) until the rollout ends, as
    `kubectl argo rollouts status` does: exit 0 when it ended PROMOTED (or DEPLOYED), 3 when it ended
    otherwise (ROLLED_BACK, NEEDS_ATTENTION, …) or the latest upload was rejected, 4 on --timeout,
    130 on Ctrl-C (the rollout goes on). A PAUSED rollout has not ended, whether `sluice pause` paused it
    or the canary analysis holds it ("held": a step ended without enough traffic to judge): --watch
    keeps showing it until someone runs `sluice promote`, `sluice resume` or `sluice abort` (or --timeout).

    The canary analysis' latest look (deploy.json rollout.analysis), when there was one: its outcome
    (pass, fail, inconclusive), step and look, each variant's errors/invocations and error rate, the
    candidate's share of requests slower than the threshold (the baseline's bounded percentile + the
    tolerance), and each test's p-value against its alpha (the candidate is worse when p < alpha). A
    rollout the analysis holds (PAUSED) shows "held" with its reason and the commands that end the hold.
    With -o json: `rollout.analysis` (the look's full record) and `rollout.held` (reason, step, at; null
    unless PAUSED by the analysis).

    Plain API equivalent: sagemaker DescribeEndpoint; dynamodb Query pk = "rollout#<endpoint>"
    (ScanIndexForward false: newest first) and GetItem pk = "lease#<endpoint>", sk = "queued";
    cloudwatch DescribeAlarms with the rollout's plan.alarm_names; the latest upload: dynamodb Query
    on index gsi1, gsi1pk = "intake", gsi1sk > the rollout's created_at (newest first), keeping
    records of kind "endpoint" for this endpoint.
    """
    cli: CliContext = ctx.obj
    if watch:
        try:
            code = watch_status(cli, endpoint, interval=interval, timeout=timeout)
        except KeyboardInterrupt:
            error_console().print("stopped watching; the rollout goes on", highlight=False)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        raise typer.Exit(code)
    document = read_status(cli, endpoint, datetime.now(UTC))
    if cli.json:
        emit_json(document)
        return
    emit(status_renderables(document))
