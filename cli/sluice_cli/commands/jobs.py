"""`sluice jobs`: the batch transform jobs Sluice started (or is waiting to start)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from sluice_cli.commands.context import CliContext, handle_errors
from sluice_cli.commands.output import duration, emit_json, emit_table, say, text, when
from sluice_cli.registry_view import Record, status_filter

COLUMNS = ("job", "model", "status", "created", "updated", "duration", "input → output", "notes")
IDENTIFIERS = ("job", "model", "created", "updated", "input → output")  # never wrapped (emit_table)


@handle_errors
def jobs(
    ctx: typer.Context,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Only jobs of this SageMaker model.", show_default=False),
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            "-s",
            help="Only jobs in this status (any case): QUEUED, STARTED, InProgress, Completed, Failed, "
            "Stopped, START_FAILED, REJECTED.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many jobs.")] = 20,
) -> None:
    """Batch transform jobs, newest first, and why one failed or waits.

    Shows status, timing, input and output, warnings, failure or queueing reason and next attempt.
    Without --model the whole registry table is scanned.
    """
    cli: CliContext = ctx.obj
    records = cli.registry().jobs(model=model, keep=status_filter(status), limit=limit)
    rows = [job_row(record) for record in records]

    if cli.json:
        emit_json({"model": model, "status": status, "limit": limit, "jobs": rows})
        return
    scope = " ".join(
        filter(None, [f"with status {status}" if status else "", f"of model {model}" if model else ""])
    )
    if not rows:
        say(f"No batch jobs{' ' + scope if scope else ''}.")
        return
    emit_table(
        f"Batch jobs{' ' + scope if scope else ''} (newest first)",
        COLUMNS,
        [_cells(r) for r in rows],
        identifiers=IDENTIFIERS,
    )


def job_row(record: Record) -> dict[str, Any]:
    return {
        "job_name": record.get("job_name"),
        "model": record.get("model"),
        "status": record.get("status"),
        "created_at": record.get("created_at"),
        "updated_at": record.get("updated_at"),
        "started_at": record.get("started_at"),
        "transform_start": record.get("transform_start"),
        "transform_end": record.get("transform_end"),
        "duration_seconds": record.get("duration_seconds"),
        "input_uri": record.get("input_uri"),
        "output_uri": record.get("output_uri"),
        "instance_type": record.get("instance_type"),
        "instance_count": record.get("instance_count"),
        "warnings": list(record.get("warnings") or []),
        "failure_reason": record.get("failure_reason"),
        "reason": record.get("reason"),
        "attempts": record.get("attempts"),
        "next_attempt_at": record.get("next_attempt_at"),
        "source_key": record.get("source_key"),
        "source_version_id": record.get("source_version_id"),
    }


def job_notes(row: dict[str, Any]) -> list[str]:
    """Why a job failed or waits, and the warnings it was started with."""
    notes: list[str] = []
    if row["failure_reason"]:
        notes.append(f"failure: {row['failure_reason']}")
    if row["status"] == "QUEUED":
        notes.append(
            f"queued: {text(row['reason'])}; next attempt {when(row['next_attempt_at'])}"
            f" (after {row['attempts'] or 0} attempts)"
        )
    elif row["reason"]:
        notes.append(f"reason: {row['reason']}")
    notes.extend(f"warning: {warning}" for warning in row["warnings"])
    return notes


def _cells(row: dict[str, Any]) -> list[str]:
    return [
        text(row["job_name"]),
        text(row["model"]),
        text(row["status"]),
        when(row["created_at"]),
        when(row["updated_at"]),
        duration(row["duration_seconds"]),
        f"{text(row['input_uri'])}\n→ {text(row['output_uri'])}",
        "\n".join(job_notes(row)),
    ]
