"""`sluice history <endpoint>`: every decision of a rollout, with its time and reason, oldest first."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from sluice_cli.commands.analysis_view import analysis_line
from sluice_cli.commands.context import CliContext, NotFound, handle_errors
from sluice_cli.commands.output import emit_json, emit_table, say, text, weights_text, when, when_precise

COLUMNS = ("time", "event", "reason", "weights", "alarm", "by", "details")
IDENTIFIERS = ("time", "alarm")  # never wrapped (output.emit_table)
# Shown in their own columns (or not at all: `at` is the time, pk/sk the key).
_OWN_COLUMNS = frozenset({"pk", "sk", "at", "event", "reason", "weights", "alarm", "by"})


@handle_errors
def history(
    ctx: typer.Context,
    endpoint: Annotated[str, typer.Argument(help="The SageMaker endpoint.", show_default=False)],
    rollout: Annotated[
        str | None,
        typer.Option(
            "--rollout",
            help="This rollout (an id `sluice status` shows), not the latest.",
            show_default=False,
        ),
    ] = None,
    all_rollouts: Annotated[
        bool, typer.Option("--all", help="Every recent rollout of the endpoint (see --limit), oldest first.")
    ] = False,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="With --all: at most this many rollouts.")
    ] = 10,
) -> None:
    """Every decision of the latest rollout (or --rollout ID, or --all), oldest first.

    Each line is one decision with its time and reason: received, started, candidate added, alarms
    armed, weights set, baking, bake passed, pause/resume/abort requested (with who and why), alarm
    fired (with the alarm's reason text), rolling back, rolled back, promoting, promoted, needs attention.
    Each look of the canary analysis is one line, "analysis pass|fail|inconclusive": its step and look,
    then "errors" (each variant's error rate with errors/invocations, the tolerance, the test's p-value
    against its alpha) and "latency" (the candidate's share of requests slower than the threshold, from
    the baseline's bounded percentile, the share allowed, p against alpha), or why it could not judge
    (not enough traffic). "bake extended" and "held" say why; -o json keeps each entry whole (its
    `analysis` record under `details`).

    Plain API equivalent: dynamodb Query pk = "log#<endpoint>#<rollout_id>" (sk "<ISO time>#<seq>",
    ascending); the rollout ids from Query pk = "rollout#<endpoint>" (ScanIndexForward false).
    """
    cli: CliContext = ctx.obj
    if rollout is not None and all_rollouts:
        raise typer.BadParameter("pass either --rollout or --all, not both")
    store = cli.rollout_store()
    if rollout is not None:
        found = store.rollout(endpoint, rollout)
        if found is None:
            known = [str(r.get("rollout_id")) for r in store.rollouts(endpoint, limit=5)]
            raise NotFound(
                f"no rollout {rollout!r} on endpoint {endpoint!r} ({cli.describe_target()})"
                + (f"; recent ones: {', '.join(known)}" if known else "")
            )
        chosen = [found]
    else:
        chosen = list(reversed(store.rollouts(endpoint, limit=limit if all_rollouts else 1)))
        if not chosen:
            raise NotFound(f"no rollouts on endpoint {endpoint!r} ({cli.describe_target()})")

    rollouts: list[dict[str, Any]] = [
        {
            "rollout_id": r.get("rollout_id"),
            "version": r.get("version"),
            "status": r.get("status"),
            "created_at": r.get("created_at"),
            "finished_at": r.get("finished_at"),
            "signals": signals(r),
            "decisions": [decision_row(entry) for entry in store.history(endpoint, str(r["rollout_id"]))],
        }
        for r in chosen
    ]
    if cli.json:
        emit_json({"endpoint": endpoint, "rollouts": rollouts})
        return
    for shown in rollouts:
        title = (
            f"Rollout {shown['rollout_id']} of {shown['version']} on {endpoint}: {shown['status']} "
            f"(started {when(shown['created_at'])})"
        )
        if not shown["decisions"]:
            say(f"{title}: no decisions recorded.")
            continue
        emit_table(
            title,
            COLUMNS,
            [decision_cells(row) for row in shown["decisions"]],
            caption=_signals_text(shown),
            identifiers=IDENTIFIERS,
        )


def signals(rollout: dict[str, Any]) -> dict[str, Any]:
    """The signals as stored on the rollout item. A promote answered during a bake or the approval is
    recorded only here (the decision log then shows "promoting" without who asked)."""
    return {
        "abort_requested": rollout.get("abort_requested"),
        "promote_requested": rollout.get("promote_requested"),
        "pause_requested": bool(rollout.get("pause_requested")),
    }


def _signals_text(rollout: dict[str, Any]) -> str:
    notes = []
    for name in ("promote_requested", "abort_requested"):
        signal = rollout["signals"][name]
        if isinstance(signal, dict):
            notes.append(
                f"{name.replace('_', ' ')} by {signal.get('by', '?')} at {when_precise(signal.get('at'))}"
            )
    return "On the rollout item: " + "; ".join(notes) if notes else ""


def decision_row(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": entry.get("at"),
        "event": entry.get("event"),
        "reason": entry.get("reason"),
        "weights": entry.get("weights"),
        "alarm": entry.get("alarm"),
        "by": entry.get("by"),
        "details": {k: v for k, v in entry.items() if k not in _OWN_COLUMNS} or None,
    }


def _details(details: dict[str, Any] | None) -> str:
    if not details:
        return ""
    return "; ".join(
        f"{key}: {value if isinstance(value, str | int | float) else json.dumps(value, default=str)}"
        for key, value in details.items()
    )


def decision_cells(row: dict[str, Any]) -> list[str]:
    """A decision as printed. A look of the canary analysis reads as its figures (`analysis_line`) in
    place of its reason (the verdict's sentence, with the same figures); its record is not dumped."""
    details = dict(row["details"] or {})
    record = details.pop("analysis", None)
    reason = text(row["reason"])
    if isinstance(record, dict) and str(row["event"]).startswith("analysis "):
        details.pop("step", None)  # analysis_line names it
        reason = analysis_line(record)
    return [
        when_precise(row["at"]),
        text(row["event"]),
        reason,
        weights_text(row["weights"]) if row["weights"] else "",
        row["alarm"] or "",
        row["by"] or "",
        _details(details),
    ]
