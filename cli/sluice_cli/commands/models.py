"""`sluice models <endpoint>`: the multi-model registry of an endpoint."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

import typer

from sluice_cli.commands.context import CliContext, NotFound, handle_errors
from sluice_cli.commands.output import (
    NONE,
    emit_json,
    emit_table,
    human_size,
    short_sha,
    text,
    when,
)
from sluice_cli.registry_view import Record

COLUMNS = (
    "model",
    "version",
    "status",
    "target model",
    "sha256",
    "size",
    "published",
    "warm-up",
    "latest",
    "note",
)
IDENTIFIERS = ("model", "target model", "sha256", "published")  # never wrapped (output.emit_table)


@handle_errors
def models(
    ctx: typer.Context,
    endpoint: Annotated[str, typer.Argument(help="The multi-model endpoint.", show_default=False)],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Only this model.", show_default=False)
    ] = None,
    all_versions: Annotated[
        bool,
        typer.Option(
            "--all-versions", help="Every version (also SKIPPED and PUBLISHING ones), not only the latest."
        ),
    ] = False,
) -> None:
    """Models on a multi-model endpoint: the latest version of each, or every version.

    Shows what clients pass as TargetModel, sha256, size, publication time and warm-up result.
    """
    cli: CliContext = ctx.obj
    registry = cli.registry()
    versions = registry.model_versions(endpoint)
    if not versions:
        raise NotFound(
            f"no models registered on endpoint {endpoint!r} ({cli.describe_target()}); "
            f"upload multi-model/{endpoint}/<model>.tar.gz to register one"
        )
    if model is not None:
        known = sorted({str(v.get("model")) for v in versions})
        versions = [v for v in versions if v.get("model") == model]
        if not versions:
            raise NotFound(f"no model {model!r} on endpoint {endpoint!r}; models there: {', '.join(known)}")
    names = sorted({str(v.get("model")) for v in versions})
    latest = {name: _pointer_version(registry.latest_pointer(endpoint, name)) for name in names}
    rows = model_rows(versions, latest, all_versions=all_versions)

    if cli.json:
        emit_json({"endpoint": endpoint, "all_versions": all_versions, "models": rows})
        return
    what = "every version" if all_versions else "latest version of each model"
    emit_table(
        f"Models on {endpoint} ({what})",
        COLUMNS,
        [_cells(row) for row in rows],
        caption="Clients invoke a model with TargetModel=<target model>.",
        identifiers=IDENTIFIERS,
    )


def _pointer_version(pointer: Record | None) -> int | None:
    return None if pointer is None or pointer.get("version") is None else int(pointer["version"])


def model_rows(
    versions: list[Record], latest: dict[str, int | None], *, all_versions: bool
) -> list[dict[str, Any]]:
    """One row per version shown (sorted by model, then version), each marked latest or not.

    Without `all_versions`: per model the version its `latest` pointer names, or (no version published
    yet) its highest version with a note saying so.
    """
    by_model: dict[str, list[Record]] = defaultdict(list)
    for record in versions:
        by_model[str(record.get("model"))].append(record)
    rows: list[dict[str, Any]] = []
    for name in sorted(by_model):
        records = sorted(by_model[name], key=lambda r: int(r.get("version", 0)))
        latest_version = latest.get(name)
        if not all_versions:
            chosen = [r for r in records if r.get("version") == latest_version] or records[-1:]
            records = chosen
        rows.extend(_row(record, latest_version) for record in records)
    return rows


def _row(record: Record, latest_version: int | None) -> dict[str, Any]:
    status = str(record.get("status", ""))
    is_latest = latest_version is not None and record.get("version") == latest_version
    note = ""
    if status == "SKIPPED" or record.get("reason"):
        note = str(record.get("reason", ""))
    elif status == "PUBLISHING":
        note = f"publishing since {when(record.get('reserved_at'))}"
    if latest_version is None:
        note = "; ".join(filter(None, [note, "no version published yet"]))
    return {
        "endpoint": record.get("endpoint"),
        "model": record.get("model"),
        "version": record.get("version"),
        "status": status,
        "latest": is_latest,
        "target_model": record.get("target_model"),
        "sha256": record.get("sha256"),
        "size": record.get("size"),
        "uncompressed_size": record.get("uncompressed_size"),
        "member_count": record.get("member_count"),
        "published_at": record.get("published_at"),
        "reserved_at": record.get("reserved_at"),
        "warmup": record.get("warmup"),
        "s3_uri": record.get("s3_uri"),
        "source_key": record.get("source_key"),
        "source_version_id": record.get("source_version_id"),
        "note": note or None,
    }


def warmup_text(warmup: Any) -> str:
    if not isinstance(warmup, dict):
        return NONE  # no warm-up file next to the upload
    if warmup.get("ok"):
        return "ok"
    return f"failed: {warmup.get('detail', '')}".rstrip(": ")


def _cells(row: dict[str, Any]) -> list[str]:
    return [
        text(row["model"]),
        f"v{row['version']}",
        text(row["status"]),
        text(row["target_model"]),
        short_sha(row["sha256"]),
        human_size(row["size"]),
        when(row["published_at"]),
        warmup_text(row["warmup"]),
        "latest" if row["latest"] else "",
        row["note"] or "",
    ]
