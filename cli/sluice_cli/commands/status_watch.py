"""`sluice status <endpoint> --watch`: the status view, refreshed until the rollout ends.

Like `kubectl argo rollouts status` (watch until the rollout finishes; success if it is healthy upon
completion, an error otherwise): exit 0 when the rollout ended PROMOTED or DEPLOYED, `EXIT_NOT_PROMOTED`
when it ended any other way (ROLLED_BACK, NEEDS_ATTENTION, …) or the latest upload was rejected,
`EXIT_TIMEOUT` when --timeout passed first, `EXIT_INTERRUPTED` (130, as a shell reports SIGINT) on Ctrl-C.
Watching changes nothing: Ctrl-C leaves the rollout running.

A PAUSED rollout is not an end, whoever paused it: one paused by `sluice pause`, or one the canary analysis
holds (its `held`: a step ended without enough traffic to judge and on_insufficient_data is "hold") waits
for a human (`sluice promote`, `sluice resume` or `sluice abort`) and is still active, so --watch keeps
showing it (the held reason and those commands, in the status view) and exits only once it ends, or with
`EXIT_TIMEOUT` at --timeout. A CI job that must not block on a held rollout passes --timeout, or reads
`rollout.held` from `-o json` (one document per change).

On a terminal the view is redrawn in place (rich `Live`); otherwise one block is printed per change
(the bake's countdown alone is not a change), so a CI log holds each step once.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Group, RenderableType
from rich.live import Live
from rich.text import Text

from sluice.domain.rollout.status import ACTIVE
from sluice_cli.commands.context import CliContext
from sluice_cli.commands.history import COLUMNS as DECISION_COLUMNS
from sluice_cli.commands.history import IDENTIFIERS as DECISION_IDENTIFIERS
from sluice_cli.commands.history import decision_cells, decision_row
from sluice_cli.commands.output import console, emit, table_of, when
from sluice_cli.commands.status_view import read_status, status_renderables

EXIT_PROMOTED = 0
EXIT_NOT_PROMOTED = 3
EXIT_TIMEOUT = 4
EXIT_INTERRUPTED = 130
HEALTHY_ENDINGS = frozenset({"PROMOTED", "DEPLOYED"})
DECISIONS_SHOWN = 5
# A version that will start (or is being validated) once the rollout shown ends: keep watching.
_WAITING = frozenset({"QUEUED"})


def watch_status(cli: CliContext, endpoint: str, *, interval: float, timeout: float) -> int:
    """Read and show the status every `interval` seconds until nothing is in motion; the exit code."""
    started = time.monotonic()
    shown_signature: str | None = None
    live = Live(console=console(), auto_refresh=False) if console().is_terminal and not cli.json else None
    if live is not None:
        live.start()
    try:
        while True:
            document = read_status(cli, endpoint, datetime.now(UTC))
            document["decisions"] = _recent_decisions(cli, endpoint, document["rollout"])
            settled = not in_motion(document)
            document["watch"] = {"settled": settled, "exit_code": exit_code(document) if settled else None}
            signature = _signature(document)
            if cli.json:
                if signature != shown_signature:
                    typer.echo(json.dumps(document, default=str))  # one JSON document per line
            elif live is not None:
                live.update(Group(*watch_renderables(document, interval=interval)), refresh=True)
            elif signature != shown_signature:
                emit([Text(f"── {when(datetime.now(UTC).isoformat())} ──"), *watch_renderables(document)])
            shown_signature = signature
            if settled:
                return int(document["watch"]["exit_code"])
            if timeout and time.monotonic() - started >= timeout:
                if not cli.json:
                    console().print(f"gave up after {timeout:g} s; the rollout goes on", highlight=False)
                return EXIT_TIMEOUT
            time.sleep(interval)
    finally:
        if live is not None:
            live.stop()


def in_motion(document: dict[str, Any]) -> bool:
    """Whether the endpoint has not settled yet: the rollout shown is active (PAUSED and held included:
    they wait for a human, see the module doc) or queued, or the latest upload is being validated or
    started a rollout that has not ended."""
    rollout = document["rollout"]
    if rollout is not None and (rollout["active"] or rollout["status"] in _WAITING):
        return True
    upload = document.get("latest_upload")
    if upload is None:
        return False
    if upload["status"] == "RECEIVED":
        return True
    return upload["rollout_status"] in ACTIVE or upload["rollout_status"] in _WAITING


def exit_code(document: dict[str, Any]) -> int:
    upload = document.get("latest_upload")
    if upload is not None and upload["status"] == "REJECTED":
        return EXIT_NOT_PROMOTED
    rollout = document["rollout"]
    if rollout is None or rollout["status"] in HEALTHY_ENDINGS:
        return EXIT_PROMOTED
    return EXIT_NOT_PROMOTED


def watch_renderables(document: dict[str, Any], *, interval: float | None = None) -> list[RenderableType]:
    shown = status_renderables(document)
    decisions = document["decisions"]
    if decisions:
        shown.append(
            table_of(
                f"Latest decisions (of {document['rollout']['rollout_id']}, newest last)",
                DECISION_COLUMNS,
                [decision_cells(d) for d in decisions],
                identifiers=DECISION_IDENTIFIERS,
            )
        )
    watch = document["watch"]
    if watch["settled"]:
        shown.append(Text(_ending(document)))
    elif interval is not None:
        shown.append(Text(f"refreshing every {interval:g} s; Ctrl-C stops watching (the rollout goes on)"))
    return shown


def _ending(document: dict[str, Any]) -> str:
    rollout, upload = document["rollout"], document.get("latest_upload")
    code = document["watch"]["exit_code"]
    if upload is not None and upload["status"] == "REJECTED":
        return f"Done: {upload['summary']} (exit {code})"
    if rollout is None:
        return f"Done: no rollouts on {document['endpoint']} (exit {code})"
    reason = (
        f": {rollout['reason']}" if rollout["reason"] and rollout["status"] not in HEALTHY_ENDINGS else ""
    )
    ended = f"rollout {rollout['rollout_id']} of {rollout['version']} ended {rollout['status']}"
    return f"Done: {ended}{reason} (exit {code})"


def _recent_decisions(cli: CliContext, endpoint: str, rollout: dict[str, Any] | None) -> list[dict[str, Any]]:
    if rollout is None:
        return []
    entries = cli.rollout_store().history(endpoint, str(rollout["rollout_id"]))
    return [decision_row(entry) for entry in entries[-DECISIONS_SHOWN:]]


def _signature(document: dict[str, Any]) -> str:
    """What counts as a change: everything but the bake's countdown."""
    rollout = document["rollout"]
    steady = {**document, "rollout": {**rollout, "bake_seconds_left": None} if rollout else None}
    return json.dumps(steady, default=str, sort_keys=True)
