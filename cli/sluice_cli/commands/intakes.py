"""`sluice intakes`: recent uploads and what Sluice made of each — where a rejection's reason is shown."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from sluice_cli.commands.context import CliContext, handle_errors
from sluice_cli.commands.output import emit_json, emit_table, say, text, when
from sluice_cli.commands.upload_outcome import rollout_outcome
from sluice_cli.registry_view import Record, RegistryView, status_filter

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
            "UNCHANGED, PUBLISHING, ROLLOUT_STARTED, BATCH_STARTED, BATCH_QUEUED, START_FAILED, RECEIVED.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Recent uploads, newest first: what Sluice did with each and why it rejected one.

    For an upload that started a rollout (ROLLOUT_STARTED), the rollout's outcome as it is now (PROMOTED,
    ROLLED_BACK and why, NEEDS_ATTENTION, QUEUED behind…), read from its rollout record."""
    cli: CliContext = ctx.obj
    registry = cli.registry()
    rows = [intake_row(r) for r in registry.intakes(keep=status_filter(status), limit=limit)]
    _join_rollouts(registry, rows)

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
        "rollout_id": record.get("rollout_id"),
        "rollout_status": None,  # ROLLOUT_STARTED: the rollout's status now (_join_rollouts)
        "rollout_outcome": None,
    }


def _join_rollouts(registry: RegistryView, rows: list[dict[str, Any]]) -> None:
    """A ROLLOUT_STARTED upload's rollout, as it is now: promoted, rolled back, needs attention…

    Read from the rollout records (one BatchGetItem for the page), the one place a rollout's status is
    kept: copying it onto the intake would need every path that ends a rollout to write there too."""
    started = [r for r in rows if r["status"] == "ROLLOUT_STARTED" and r["rollout_id"] and r["endpoint"]]
    found = registry.rollouts_by_id([(str(r["endpoint"]), str(r["rollout_id"])) for r in started])
    for row in started:
        rollout = found.get((str(row["endpoint"]), str(row["rollout_id"])))
        row["rollout_status"] = rollout.get("status") if rollout else None
        row["rollout_outcome"] = rollout_outcome(rollout)


def intake_outcome(row: dict[str, Any]) -> str:
    """One line saying what became of the upload."""
    status = row["status"]
    if status == "REJECTED" or row["reason"]:
        return f"{row['code']}: {row['reason']}" if row["code"] else text(row["reason"])
    if status in ("PUBLISHED", "PUBLISHED_WARMUP_FAILED", "PUBLISHING") and row["version"] is not None:
        return f"{row['model']} v{row['version']} on {row['endpoint']}"
    if status == "UNCHANGED":
        return f"same bytes as {row['model']} v{row['version']} on {row['endpoint']}; nothing published"
    if status == "ROLLOUT_STARTED" and row["rollout_outcome"]:
        return f"rollout of {row['version']} on {row['endpoint']}: {row['rollout_outcome']}"
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
