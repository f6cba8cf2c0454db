"""How commands print: rich tables for people, one JSON document for machines, errors on stderr."""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

import typer
from rich.cells import cell_len
from rich.console import Console, RenderableType
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


def emit_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    caption: str = "",
    *,
    identifiers: Collection[str] = (),
) -> None:
    """Print `table_of(...)` (see there)."""
    print_unshrunk(table_of(title, columns, rows, caption, identifiers=identifiers))


def table_of(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    caption: str = "",
    *,
    identifiers: Collection[str] = (),
) -> Table:
    """A table; a column with nothing in any row (all cells "") is left out.

    Cells of the `identifiers` columns (names people copy: keys, job names, URIs, ARNs, alarm, endpoint
    and variant names, times) are never wrapped or cut: each line of such a cell keeps its full width. In
    the other columns text wraps between words, never inside one. What does not fit the terminal then is
    not cropped: the table grows past it (the terminal soft-wraps the long lines; a copied identifier
    stays whole)."""
    shown = [i for i in range(len(columns)) if any(row[i] for row in rows)] or list(range(len(columns)))
    table = Table(title=title, caption=caption or None, title_justify="left", caption_justify="left")
    for i in shown:
        cells = [row[i] for row in rows]
        if columns[i] in identifiers:
            table.add_column(columns[i], no_wrap=True, min_width=_longest_line(cells), overflow="ignore")
        else:
            table.add_column(columns[i], min_width=_longest_word(cells), overflow="fold")
    for row in rows:
        table.add_row(*(row[i] for i in shown))
    return table


def emit_fields(title: str, fields: Sequence[tuple[str, str]]) -> None:
    """Print `fields_of(...)` (see there)."""
    print_unshrunk(fields_of(title, fields))


def fields_of(title: str, fields: Sequence[tuple[str, str]]) -> Table:
    """A two-column table of `name  value` lines (one record); empty values are left out. Values wrap
    between words, never inside one (an identifier in a value stays whole; see `emit_table`)."""
    shown = [(name, value) for name, value in fields if value]
    table = Table(title=title, show_header=False, title_justify="left", box=None, padding=(0, 2, 0, 0))
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", min_width=_longest_word([value for _, value in shown]), overflow="fold")
    for name, value in shown:
        table.add_row(name, value)
    return table


def emit(renderables: Sequence[RenderableType]) -> None:
    """Print sentences (rich `Text`) and tables (`table_of`, `fields_of`) one after the other."""
    for renderable in renderables:
        if isinstance(renderable, Table):
            print_unshrunk(renderable)
        else:
            console().print(renderable, markup=False, highlight=False)


def print_unshrunk(table: Table) -> None:
    """Print `table` no narrower than its columns' `min_width`s. rich shrinks a table wider than the
    terminal column by column, down to nothing, whatever their min_width: given at least the width the
    minimums need, it only wraps the wrappable columns between words."""
    out = console()
    needed = table._extra_width + sum(
        (column.min_width or 1) + table._get_padding_width(index)
        for index, column in enumerate(table.columns)
    )
    if needed > out.width:
        out = Console(width=needed)
    out.print(table, markup=False, highlight=False, crop=False)


def _longest_line(cells: Sequence[str]) -> int:
    return max((cell_len(line) for cell in cells for line in cell.splitlines()), default=0)


def _longest_word(cells: Sequence[str]) -> int:
    return max((cell_len(word) for cell in cells for word in cell.split()), default=0)


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
