"""How `sluice sandbox traffic` shows itself: a line per interval (or a refreshing table on a terminal)
while it runs, a summary table at the end, or one JSON document with `--json` / `-o json`."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

from rich.live import Live
from rich.table import Table

from sluice_cli.commands.output import console, emit_table
from sluice_cli.sandbox.traffic import SIMULATION_LABEL
from sluice_cli.sandbox.traffic_tally import Interval, VariantSummary

SUMMARY_COLUMNS = ("variant", "invocations", "errors", "error rate", "mean latency", "p90 latency")


def _percent(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f} %"


def _milliseconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} ms"


def _share(percent: float) -> str:
    return f"{percent:.0f} %" if percent == round(percent) else f"{percent:.1f} %"


def interval_line(interval: Interval) -> str:
    """`SIMULATED t=120 s  v1 90 %: 180 calls, 0 errors · v2 10 %: 20 calls, 3 errors (15.00 %)`."""
    parts = []
    for v in interval.variants:
        rate = f" ({_percent(v.errors / v.invocations)})" if v.invocations and v.errors else ""
        parts.append(f"{v.variant} {_share(v.percent)}: {v.invocations} calls, {v.errors} errors{rate}")
    served = " · ".join(parts) or "no variant"
    return f"SIMULATED t={interval.simulated_seconds} s  {served}"


def interval_table(interval: Interval, title: str) -> Table:
    table = Table(title=title, title_justify="left", caption="counts since the previous refresh")
    for column in ("variant", "weight", "invocations", "errors", "error rate"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for v in interval.variants:
        rate = _percent(v.errors / v.invocations) if v.invocations else "—"
        table.add_row(v.variant, _share(v.percent), str(v.invocations), str(v.errors), rate)
    return table


class LiveTraffic:
    """Plain lines (`interval_line`) on a pipe or file; on a terminal, one table refreshed in place."""

    def __init__(self, title: str) -> None:
        self.console = console()
        self.title = title
        self.live: Live | None = None

    def __enter__(self) -> LiveTraffic:
        if self.console.is_terminal:
            self.live = Live(console=self.console, auto_refresh=False, transient=False)
            self.live.start()
        return self

    def show(self, interval: Interval) -> None:
        if self.live is not None:
            title = f"{self.title} · t={interval.simulated_seconds} simulated s"
            self.live.update(interval_table(interval, title), refresh=True)
        else:
            self.console.print(interval_line(interval), markup=False, highlight=False)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.live is not None:
            self.live.stop()


def summary_rows(rows: Sequence[VariantSummary]) -> list[list[str]]:
    return [
        [
            row.variant,
            str(row.invocations),
            str(row.errors),
            _percent(row.error_rate),
            _milliseconds(row.mean_ms),
            _milliseconds(row.p90_ms),
        ]
        for row in rows
    ]


def emit_summary(rows: Sequence[VariantSummary], simulated_seconds: int, stopped: str) -> None:
    emit_table(
        f"{SIMULATION_LABEL}: {simulated_seconds} simulated seconds",
        SUMMARY_COLUMNS,
        summary_rows(rows),
        caption=f"stopped: {stopped}",
    )


def traffic_document(
    endpoint: str,
    description: str,
    rows: Sequence[VariantSummary],
    simulated_seconds: int,
    stopped: str,
    rollout: Any,
    warnings: Sequence[str],
) -> dict[str, Any]:
    """The `--json` document."""
    return {
        "endpoint": endpoint,
        "simulation": description,
        "simulated_seconds": simulated_seconds,
        "stopped": stopped,
        "rollout": rollout,
        "variants": [row.as_json() for row in rows],
        "warnings": list(warnings),
    }
