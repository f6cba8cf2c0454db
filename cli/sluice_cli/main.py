"""`sluice`: look into a Sluice deployment (on AWS, or the local sandbox) from the command line.

    sluice status fraud                          # live variants and weights, the rollout's step and bake
    sluice status fraud --watch                  # refreshed until the rollout ends (exit 0 promoted, 3 not)
    sluice history fraud                         # every decision of the latest rollout, with its reason
    sluice abort fraud --reason "p99 regression" # roll back now (also promote, pause, resume)
    sluice resolve fraud -r "v1 at 100 %"        # after NEEDS_ATTENTION was fixed by hand
    sluice dequeue fraud -r "wrong artifact"     # cancel the version queued to run next
    sluice models demo-mme                       # latest version of each model on an endpoint
    sluice jobs --model churn-batch              # batch transform jobs
    sluice intakes --status REJECTED             # recent uploads, and why one was rejected
    sluice --endpoint-url http://127.0.0.1:4566 intakes   # against the local sandbox (its stack's outputs)
    sluice sandbox serve --port 4566             # serve that local emulator (Ctrl-C stops it)

Exit codes: 0 ok, 1 not found (or nothing to act on: no active rollout, nothing to resolve or to
dequeue, the endpoint not in one piece yet), 2 usage or configuration error (including AWS refusing
the request); `status --watch`: 3 the rollout ended other than promoted (or the upload was rejected),
4 --timeout, 130 Ctrl-C.
"""

from __future__ import annotations

import urllib.parse
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Annotated

import typer

from sluice_cli.commands import control, history, intakes, jobs, models, sandbox, status
from sluice_cli.commands.context import (
    DEFAULT_REGION,
    DEFAULT_STACK,
    ENDPOINT_ENV,
    TABLE_ENV,
    CliContext,
    OutputFormat,
)

app = typer.Typer(
    name="sluice",
    help="Look into and steer a Sluice deployment: canary rollouts, models on multi-model endpoints, "
    "batch jobs, uploads.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # a traceback must never print credentials held in locals
)

# One module per command (the four rollout signals, resolve and dequeue share one).
app.command("status")(status.status)
app.command("history")(history.history)
app.command("promote")(control.promote)
app.command("abort")(control.abort)
app.command("pause")(control.pause)
app.command("resume")(control.resume)
app.command("resolve")(control.resolve)
app.command("dequeue")(control.dequeue)
app.command("models")(models.models)
app.command("jobs")(jobs.jobs)
app.command("intakes")(intakes.intakes)
app.add_typer(sandbox.app, name="sandbox")  # the local sandbox: sluice sandbox serve


def sluice_version() -> str:
    try:
        return package_version("sluice")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"sluice {sluice_version()}")
        raise typer.Exit()


def _checked_endpoint_url(value: str | None) -> str | None:
    if not value:
        return None
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise typer.BadParameter(f"{value!r} is not an http(s) URL, e.g. http://127.0.0.1:4566")
    return value


@app.callback()
def main(
    ctx: typer.Context,
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            "--endpoint-url",
            envvar=ENDPOINT_ENV,
            callback=_checked_endpoint_url,
            help="AWS API endpoint, e.g. http://127.0.0.1:4566 for the local sandbox (dummy credentials "
            "are used there when none are configured).",
            show_default=False,
        ),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(
            "--region",
            envvar=["AWS_REGION", "AWS_DEFAULT_REGION"],
            help=f"AWS region (else the profile's, else {DEFAULT_REGION}).",
            show_default=False,
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option("--profile", help="AWS named profile (else AWS_PROFILE / default).", show_default=False),
    ] = None,
    stack: Annotated[
        str,
        typer.Option("--stack", help="The Sluice stack whose output RegistryTableName names the table."),
    ] = DEFAULT_STACK,
    table: Annotated[
        str | None,
        typer.Option(
            "--table",
            envvar=TABLE_ENV,
            help="Registry table name (else the stack's output RegistryTableName).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--output", "-o", help="table for people, json for machines.")
    ] = OutputFormat.TABLE,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Look into and steer a Sluice deployment: canary rollouts, models on multi-model endpoints, batch
    jobs, uploads."""
    ctx.obj = CliContext(
        endpoint_url=endpoint_url,
        region=region,
        profile=profile,
        stack=stack,
        table=table,
        output=output,
    )


if __name__ == "__main__":  # pragma: no cover
    app()
