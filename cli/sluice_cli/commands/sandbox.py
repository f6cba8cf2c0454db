"""`sluice sandbox …`: the local sandbox (Sluice on an AWS emulator on 127.0.0.1, no AWS account).

    sluice sandbox serve                      # 127.0.0.1:4566, real time, demo resources created
    sluice sandbox serve --port 4600 --time-scale 0.01 --no-seed
    sluice sandbox fault sagemaker UpdateEndpoint ThrottlingException "Rate exceeded" --times 3

The global options (--endpoint-url, --table, …) are for the commands that read a deployment; the
sandbox commands ignore them. Heavy imports (moto) happen only when a sandbox command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sluice_cli.commands import traffic as traffic_command

app = typer.Typer(
    name="sandbox",
    help="The local sandbox: Sluice's stack from template.yaml on an AWS emulator (moto) on 127.0.0.1.",
    no_args_is_help=True,
)

BIND_HOST = "127.0.0.1"  # serve.BIND_HOST, without importing the sandbox for --help


def _checked_host(value: str) -> str:
    if value != BIND_HOST:
        raise typer.BadParameter(
            f"refusing {value!r}: the sandbox binds {BIND_HOST} only (its emulator accepts any "
            "credentials, so anyone who could reach the port could drive it)"
        )
    return value


def _checked_time_scale(value: float) -> float:
    if not value > 0:
        raise typer.BadParameter("must be greater than 0 (1.0 is real time, 0.01 is 100x faster)")
    return value


@app.command("serve")
def serve(
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port on 127.0.0.1 (0: any free port).")
    ] = 4566,
    time_scale: Annotated[
        float,
        typer.Option(
            "--time-scale",
            callback=_checked_time_scale,
            help="Step Functions time (bakes, waits, retries) per wall second: 1.0 real time, 0.01 a "
            "600 s bake in 6 s.",
        ),
    ] = 1.0,
    host: Annotated[
        str, typer.Option("--host", callback=_checked_host, help="Only 127.0.0.1 is accepted.")
    ] = BIND_HOST,
    seed: Annotated[
        bool,
        typer.Option(
            "--seed/--no-seed",
            help="Create the demo's SageMaker resources (a multi-model endpoint, a real-time endpoint at "
            "v1, a batch model).",
        ),
    ] = True,
    handler_logs: Annotated[
        bool,
        typer.Option("--handler-logs", help="Show the handlers' Powertools logs and metrics (on stderr)."),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="No line per event on stderr (uploads and the functions they invoked, rollout status "
            "and weights, alarm transitions, executions started and ended).",
        ),
    ] = False,
    update_seconds: Annotated[
        float,
        typer.Option(
            "--update-seconds",
            min=0.0,
            help="SageMaker endpoint updates (UpdateEndpoint, weight changes) stay Updating this many wall "
            'seconds, refusing other updates with "Cannot update in-progress endpoint" meanwhile, as '
            "SageMaker does for minutes. 0: applied at once.",
        ),
    ] = 0.0,
    weights_update_seconds: Annotated[
        float | None,
        typer.Option(
            "--weights-update-seconds",
            min=0.0,
            help="The same for a weights change that launches no instance (no DesiredInstanceCount "
            "change): SageMaker only re-routes traffic. Default: --update-seconds.",
        ),
    ] = None,
) -> None:
    """Serve the sandbox until Ctrl-C / SIGTERM.

    Prints one JSON line on stdout (endpoint_url, region, ArtifactBucketName, RegistryTableName,
    StateMachineArn, NotificationTopicArn, demo names), writes the same to .sandbox/outputs.json, and
    copy-paste hints on stderr, then one line per event (unless --quiet). Use it with the AWS CLI or
    boto3 (--endpoint-url, any credentials) and `sluice --endpoint-url URL --table T …`. Ctrl-C /
    SIGTERM stops it within 10 s. Exit codes: 0 stopped cleanly, 2 host refused or port in use, 1
    threads still running after the stop.
    """
    from sluice_cli.sandbox.serve import ServeOptions, main

    code = main(
        ServeOptions(
            port=port,
            time_scale=time_scale,
            host=host,
            seed=seed,
            handler_logs=handler_logs,
            quiet=quiet,
            update_seconds=update_seconds,
            weights_update_seconds=weights_update_seconds,
        )
    )
    raise typer.Exit(code)


app.command("traffic")(traffic_command.traffic)


@app.command("fault")
def fault(
    service: Annotated[
        str | None, typer.Argument(help='botocore\'s service name: "sagemaker", "cloudwatch", "dynamodb" ...')
    ] = None,
    operation: Annotated[
        str | None, typer.Argument(help='The API: "UpdateEndpointWeightsAndCapacities"')
    ] = None,
    code: Annotated[str | None, typer.Argument(help='The AWS error code: "ValidationException"')] = None,
    message: Annotated[
        str | None, typer.Argument(help='Its message: "Cannot update in-progress endpoint"')
    ] = None,
    times: Annotated[int, typer.Option("--times", min=1, help="How many matching requests fail.")] = 1,
    when: Annotated[
        list[str] | None,
        typer.Option("--when", help="NAME=VALUE: only requests with this parameter (repeatable)."),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Forget every armed fault instead.")] = False,
    directory: Annotated[
        Path, typer.Option("--dir", help="Where `sluice sandbox serve` was started (its .sandbox/).")
    ] = Path("."),
) -> None:
    """Make the next N requests of an operation to a served sandbox fail with an AWS error.

    The sandbox started by `sluice sandbox serve` in DIR arms it within half a second and says so on its
    terminal. Every request counts: yours, the handlers', the state machine's; S3's too (`s3 UploadPartCopy`).
    """
    from sluice_cli.sandbox.fault_requests import request_clear, request_fault

    if clear:
        request_clear(directory)
        typer.echo("requested: clear every armed fault")
        return
    if not (service and operation and code and message):
        raise typer.BadParameter("SERVICE OPERATION CODE MESSAGE are required (or --clear)")
    conditions = {}
    for item in when or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"--when {item!r}: expected NAME=VALUE")
        conditions[name] = value
    request_fault(directory, service, operation, code, message, times=times, when=conditions)
    typer.echo(f"requested: the next {times} {service} {operation} answer {code}: {message}")
