"""The sandbox report's canary analysis: its looks read from the decision log (`verdict_record` entries),
their lane on each plot, and their table in report.md (see sluice_cli.sandbox.report)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

ALARM_COLOR = "#d62728"
ALPHA = "\u03b1"  # a test's significance level
VERDICT_COLORS = {"pass": "#2ca02c", "fail": ALARM_COLOR, "inconclusive": "#8c8c8c"}
VERDICT_MARKS = {"pass": "\u2713", "fail": "\u2717", "inconclusive": "?"}
ANALYSIS_LANES = 3


class Timeline(Protocol):
    """What the looks are read from (a report.RolloutTimeline)."""

    @property
    def decisions(self) -> Sequence[Mapping[str, Any]]: ...

    def seconds(self, at: Any) -> float | None: ...


def number(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:.0f}" if number == round(number) else f"{number:.1f}"


def cell(value: Any) -> str:
    text = "—" if value is None or value == "" else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


@dataclasses.dataclass(frozen=True)
class AnalysisLook:
    """One look of the canary analysis as its decision log entry recorded it (`verdict_record`)."""

    decision: int  # the entry's number in the decision log (1-based: its marker on the plot)
    step: int | None
    start: float  # the window it judged, seconds since the upload
    end: float
    outcome: str  # pass | fail | inconclusive
    record: Mapping[str, Any]

    @property
    def decisive(self) -> str:
        return decisive_test(self.record)


def analysis_looks(timeline: Timeline) -> list[AnalysisLook]:
    """The looks of the rollout in decision-log order: entries "analysis <outcome>" with an `analysis`
    record whose window can be placed on the plot."""
    looks = []
    for number, entry in enumerate(timeline.decisions, start=1):
        record = entry.get("analysis")
        if not str(entry.get("event", "")).startswith("analysis ") or not isinstance(record, Mapping):
            continue
        window = record.get("window")
        window = window if isinstance(window, Mapping) else {}
        end = timeline.seconds(window.get("end")) or timeline.seconds(entry.get("at"))
        if end is None:
            continue
        start = timeline.seconds(window.get("start"))
        step = record.get("step", entry.get("step"))
        looks.append(
            AnalysisLook(
                number,
                int(step) if isinstance(step, int | float) else None,
                end if start is None else start,
                end,
                str(record.get("outcome", "?")),
                record,
            )
        )
    return looks


def _p(value: Any) -> str:
    return f"{value:.2g}" if isinstance(value, int | float) else "—"


def key_verdict(record: Mapping[str, Any]) -> str:
    """The decisive test for the plot's key (its alpha is in report.md): "latency p=3.1e-62"."""
    decisive = decisive_test(record)
    if decisive.startswith("n: "):
        return "low traffic" if "<" in decisive else decisive
    return decisive.split(" <", 1)[0].split(" \u2265", 1)[0]


def decisive_test(record: Mapping[str, Any]) -> str:
    """The look's verdict in a few words: the test that failed (its p-value under its alpha); for a pass,
    the test closest to failing (its p-value over its alpha); for too little traffic, the counts."""
    tests = [
        (name, test)
        for name in ("errors", "latency")
        if isinstance(test := record.get(name), Mapping) and isinstance(test.get("p_value"), int | float)
    ]
    if record.get("outcome") == "fail":
        tests = [(name, test) for name, test in tests if test.get("worse")] or tests
    if tests:
        name, test = min(
            tests, key=lambda t: float(t[1]["p_value"]) / max(float(t[1].get("alpha") or 1), 1e-300)
        )
        worse = test.get("worse")
        return f"{name} p={_p(test['p_value'])} {'<' if worse else '≥'} {ALPHA} {_p(test.get('alpha'))}"
    reason = str(record.get("reason", ""))
    counts = reason.split("invocations ", 1)[-1] if "invocations " in reason else reason
    return f"n: {counts}" if counts else str(record.get("outcome", "?"))


def analysis_rows(looks: Sequence[AnalysisLook], rows: int = ANALYSIS_LANES) -> list[int]:
    """The lane's row of each look (0 at the top): a step's first look on row 0, its next on row 1, ...
    (their windows share the step's bake start, so they would hide each other on one row)."""
    within: dict[int | None, int] = {}
    chosen = []
    for look in looks:
        chosen.append(within.get(look.step, 0) % rows)
        within[look.step] = within.get(look.step, 0) + 1
    return chosen


def draw_analysis_lane(lane: Any, looks: Sequence[AnalysisLook]) -> None:
    """The canary analysis' lane: per look a bar over the window it judged (the looks of a step share
    its start: its first look on the top row, the next below, ... in ANALYSIS_LANES rows), its verdict's
    mark at the look, and the decisive test at each step's last look and at a fail."""
    last_of_step = {look.step: look.decision for look in looks}
    for look, row in zip(looks, analysis_rows(looks), strict=True):
        color = VERDICT_COLORS.get(look.outcome, "#555555")
        y = ANALYSIS_LANES - 0.5 - row
        lane.hlines(y, look.start, look.end, color=color, lw=5, alpha=0.35)
        lane.text(
            look.end,
            y,
            VERDICT_MARKS.get(look.outcome, "?"),
            ha="center",
            va="center",
            fontsize=9,
            weight="bold",
            color="white",
            bbox={"boxstyle": "circle,pad=0.15", "fc": color, "ec": "none"},
        )
        if look.outcome == "fail" or last_of_step.get(look.step) == look.decision:
            # Left of its mark, over its own bar: the windows of one step end one after the other.
            # A fail says its test and alpha; a pass or an inconclusive end a few words (report.md has all).
            verdict = look.decisive if look.outcome == "fail" else key_verdict(look.record)
            lane.annotate(
                f"#{look.decision} {verdict}",
                (look.end, y),
                xytext=(-9, 0),
                textcoords="offset points",
                ha="right",
                va="center",
                fontsize=7.6,
                color=color if look.outcome != "inconclusive" else "#555555",
            )
    lane.set_ylim(0, ANALYSIS_LANES)
    lane.set_yticks([])
    lane.set_ylabel("canary\nanalysis", fontsize=9, rotation=0, ha="right", va="center")
    lane.tick_params(axis="x", labelbottom=False)
    for spine in ("top", "right", "left"):
        lane.spines[spine].set_visible(False)


def _counts_cell(test: Mapping[str, Any]) -> str:
    def one(name: str) -> str:
        counts = test.get(name)
        if not isinstance(counts, Mapping):
            return f"{name} —"
        rate = counts.get("error_rate")
        shown = f"{100 * float(rate):.2f} %" if isinstance(rate, int | float) else "—"
        return f"{name} {counts.get('errors')}/{counts.get('invocations')} ({shown})"

    tested = f"p {_p(test.get('p_value'))}, {ALPHA} {_p(test.get('alpha'))}"
    return f"{one('candidate')} vs {one('baseline')}; {tested}"


def _latency_cell(test: Mapping[str, Any]) -> str:
    return (
        f"baseline p{number(test.get('percentile'))} ≤ {test.get('baseline_ms')} ms "
        f"({test.get('baseline_rank')}) → threshold {test.get('threshold_ms')} ms; candidate "
        f"{test.get('candidate_slower')}/{test.get('candidate_samples')} slower "
        f"(≤ {number(100 * float(test.get('allowed_share') or 0))} % allowed); "
        f"p {_p(test.get('p_value'))}, {ALPHA} {_p(test.get('alpha'))}"
    )


def analysis_section(timeline: Timeline) -> list[str]:
    """The canary analysis' looks as a markdown table (nothing when the rollout ran none)."""
    looks = analysis_looks(timeline)
    if not looks:
        return []
    lines = [f"### Canary analysis ({len(looks)} look{'' if len(looks) == 1 else 's'})", ""]
    lines += [
        "| # | step | window (s since upload) | verdict | decisive | errors | latency |",
        "|---:|---:|---|---|---|---|---|",
    ]
    for look in looks:
        errors, latency = look.record.get("errors"), look.record.get("latency")
        cells = [
            str(look.decision),
            "—" if look.step is None else str(look.step),
            f"{look.start:.2f} → {look.end:.2f}",
            f"**{look.outcome}**",
            look.decisive,
            _counts_cell(errors) if isinstance(errors, Mapping) else "—",
            _latency_cell(latency) if isinstance(latency, Mapping) else "—",
        ]
        lines.append(f"| {' | '.join(cell(c) for c in cells)} |")
    lines.append("")
    return lines
