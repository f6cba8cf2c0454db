"""How commands print: rich tables for people, one JSON document for machines, errors on stderr."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

NONE = "—"
WIDE = 200  # columns when stdout is not a terminal and COLUMNS is unset (pipes, files, CI logs)


def console() -> Console:
    """A console on the current sys.stdout (created per command, so redirections are honoured)."""
    probe = Console()
    if probe.is_terminal or os.environ.get("COLUMNS"):
        return probe
    return Console(width=WIDE)


def error_console() -> Console:
    return Console(stderr=True)


def emit_json(document: Any) -> None:
    """One JSON document on stdout."""
    typer.echo(json.dumps(document, indent=2, default=str))


def say(message: str) -> None:
    """A plain sentence on stdout (empty results, notes), never interpreted as markup."""
    console().print(message, markup=False, highlight=False)


def emit_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], caption: str = "") -> None:
    """A table; a column with nothing in any row (all cells "") is left out."""
    shown = [i for i in range(len(columns)) if any(row[i] for row in rows)] or list(range(len(columns)))
    table = Table(title=title, caption=caption or None, title_justify="left", caption_justify="left")
    for i in shown:
        table.add_column(columns[i], overflow="fold")
    for row in rows:
        table.add_row(*(row[i] for i in shown))
    console().print(table, markup=False, highlight=False)


def emit_fields(title: str, fields: Sequence[tuple[str, str]]) -> None:
    """A two-column table of `name  value` lines (one record); empty values are left out."""
    table = Table(title=title, show_header=False, title_justify="left", box=None, padding=(0, 2, 0, 0))
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for name, value in fields:
        if value:
            table.add_row(name, value)
    console().print(table, markup=False, highlight=False)


def text(value: Any) -> str:
    return NONE if value is None or value == "" else str(value)


def human_size(size: Any) -> str:
    if size is None:
        return NONE
    value, unit = float(size), "B"
    for bigger in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"


def short_sha(sha256: Any, length: int = 12) -> str:
    return NONE if not sha256 else str(sha256)[:length]


def _utc(iso: Any) -> datetime | str:
    """An ISO timestamp as an aware UTC datetime (naive ones are taken as UTC); unparsable: the text."""
    try:
        moment = datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    except ValueError:
        return str(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def when(iso: Any) -> str:
    """An ISO timestamp as `YYYY-MM-DD HH:MM:SSZ` (UTC); anything unparsable as it is."""
    if not iso:
        return NONE
    moment = _utc(iso)
    return moment if isinstance(moment, str) else moment.strftime("%Y-%m-%d %H:%M:%SZ")


def when_precise(iso: Any) -> str:
    """Like `when`, with milliseconds (decisions of one rollout are often less than a second apart)."""
    if not iso:
        return NONE
    moment = _utc(iso)
    return moment if isinstance(moment, str) else moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def weights_text(weights: Any) -> str:
    """{"v2": 25, "v1": 75} as `v2 25 % · v1 75 %`."""
    if not isinstance(weights, dict) or not weights:
        return NONE
    return " · ".join(f"{variant} {_number(percent)} %" for variant, percent in weights.items())


def _number(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(int(number)) if number == int(number) else f"{number:.1f}"


def duration(seconds: Any) -> str:
    if seconds is None:
        return NONE
    total = float(seconds)
    if total < 60:
        return f"{total:.1f} s"
    minutes, secs = divmod(round(total), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"
