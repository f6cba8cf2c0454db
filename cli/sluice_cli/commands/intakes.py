"""`sluice intakes`: recent uploads and what Sluice made of each — where a rejection's reason is shown."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from sluice_cli.commands.context import CliContext, handle_errors
from sluice_cli.commands.output import emit_json, emit_table, say, text, when
from sluice_cli.registry_view import Record, status_filter

COLUMNS = ("received", "key", "kind", "status", "outcome")
IDENTIFIERS = ("received", "key")  # never wrapped (output.emit_table)


@handle_errors
def intakes(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many uploads.")] = 20,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            "-s",
            help="Only uploads in this status (any case): REJECTED, PUBLISHED, PUBLISHED_WARMUP_FAILED, "
            "UNCHANGED, PUBLISHING, BATCH_STARTED, BATCH_QUEUED, START_FAILED, RECEIVED.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Recent uploads, newest first: what Sluice did with each and why it rejected one."""
    cli: CliContext = ctx.obj
    rows = [intake_row(r) for r in cli.registry().intakes(keep=status_filter(status), limit=limit)]

    if cli.json:
        emit_json({"status": status, "limit": limit, "intakes": rows})
        return
    scope = f" with status {status}" if status else ""
    if not rows:
        say(f"No uploads{scope}.")
        return
    emit_table(
        f"Recent uploads{scope} (newest first)", COLUMNS, [_cells(r) for r in rows], identifiers=IDENTIFIERS
    )


def intake_row(record: Record) -> dict[str, Any]:
    return {
        "received_at": record.get("received_at"),
        "updated_at": record.get("updated_at"),
        "bucket": record.get("bucket"),
        "key": record.get("key"),
        "source_version_id": record.get("source_version_id"),
        "size": record.get("size"),
        "kind": record.get("kind"),
        "status": record.get("status"),
        "code": record.get("code"),
        "reason": record.get("reason"),
        "endpoint": record.get("endpoint"),
        "model": record.get("model"),
        "version": record.get("version"),
        "job_name": record.get("job_name"),
    }


def intake_outcome(row: dict[str, Any]) -> str:
    """One line saying what became of the upload."""
    status = row["status"]
    if status == "REJECTED" or row["reason"]:
        return f"{row['code']}: {row['reason']}" if row["code"] else text(row["reason"])
    if status in ("PUBLISHED", "PUBLISHED_WARMUP_FAILED", "PUBLISHING") and row["version"] is not None:
        return f"{row['model']} v{row['version']} on {row['endpoint']}"
    if status == "UNCHANGED":
        return f"same bytes as {row['model']} v{row['version']} on {row['endpoint']}; nothing published"
    if row["job_name"]:
        return f"batch job {row['job_name']}"
    if status == "RECEIVED":
        return "being processed"
    return ""


def _cells(row: dict[str, Any]) -> list[str]:
    return [
        when(row["received_at"]),
        text(row["key"]),
        text(row["kind"]),
        text(row["status"]),
        intake_outcome(row),
    ]
