"""The demo's report: `sandbox-report/report.md` and one PNG per rollout (matplotlib, Agg backend).

    files = write_report([timeline_v2, timeline_v3], "sandbox-report", preamble=["…"])
    files.markdown, files.plots      # sandbox-report/report.md, (…/rollout-<endpoint>-<version>.png, …)

A `RolloutTimeline` is what a user could gather about one rollout through the AWS APIs: the time of the
upload, the rollout record's status and reason, its decision log (as `sluice history` reads it), the
endpoint's weights as DescribeEndpoint showed them while polled, the periods its alarms were in ALARM
(from the "CloudWatch Alarm State Change" events), the candidate's error-rate alarm's datapoints as
CloudWatch judged them (one per alarm period, aligned on the alarm's period boundaries: the sandbox's
evaluator keeps them, `alarms.judged`), and per-variant error rates read back from CloudWatch
(GetMetricData, Sum of Invocation5XXErrors over Sum of Invocations per bucket). Nothing here talks to
AWS: the timeline is plain data, so a report can be rendered from a synthetic one (tests) as well.

Each plot (1200 x 700 px): a strip of numbered decision markers (their key on the right, the full
text in report.md's table), the variants' traffic weights as step lines, and the error-rate panel
(`error_panel`): the alarm's datapoints per period with its threshold (a datapoint over it is what
fires the alarm), the raw per-variant rates faint behind them (their buckets are not the alarm's
periods, so a raw bucket over the line proves nothing); alarm periods shaded across all three; and,
when the rollout ran the canary analysis, its lane (`analysis_looks`): one bar per look over the window it
judged (from the step's bake start to the look), ending in its verdict (pass ✓, fail ✗, inconclusive ?),
the decisive test's p-value against its alpha written at a step's last look and at a fail. x is seconds
since the upload. report.md adds a table of the looks with their counts and p-values.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sluice_cli.sandbox.report_analysis import (
    ALARM_COLOR,
    VERDICT_COLORS,
    VERDICT_MARKS,
    analysis_looks,
    analysis_section,
    draw_analysis_lane,
    key_verdict,
)
from sluice_cli.sandbox.report_analysis import (
    cell as _cell,
)
from sluice_cli.sandbox.report_analysis import (
    number as _number,
)

DEFAULT_DIRECTORY = "sandbox-report"
FIGURE_INCHES = (12.0, 7.0)
FIGURE_DPI = 100  # 1200 x 700 px
PALETTE = ("#7f7f7f", "#1f77b4", "#ff7f0e", "#8c564b", "#17becf", "#e377c2", "#bcbd22", "#2ca02c")
ANNOTATION_COLOR = "#9467bd"
DATAPOINT_COLOR = "#333333"
MARKER_ROWS = 4
KEY_LABEL_CHARS = 36
TIMES = "\u00d7"  # the multiplication sign
ENDINGS = {"promoted", "rolled back", "needs attention", "refused"}


# --------------------------------------------------------------------------------------------------
# The data
# --------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class WeightSample:
    """The endpoint's variants as DescribeEndpoint showed them: variant → share of the traffic (%)."""

    seconds: float  # since the upload
    weights: Mapping[str, float]


@dataclasses.dataclass(frozen=True)
class AlarmPeriod:
    """An alarm in ALARM from `start` until `end` (None: until the end of the plot)."""

    alarm: str
    start: float  # seconds since the upload
    end: float | None
    reason: str = ""
    ended_by: str = ""  # "rolled back", "OK", …


@dataclasses.dataclass(frozen=True)
class ErrorRateBucket:
    """One GetMetricData period of one variant: Sum of Invocations and of Invocation5XXErrors."""

    start: float  # seconds since the upload
    seconds: float  # the period
    invocations: float
    errors: float

    @property
    def rate(self) -> float | None:
        return self.errors / self.invocations if self.invocations else None


@dataclasses.dataclass(frozen=True)
class AlarmDatapoint:
    """One period of an alarm as CloudWatch judged it: the value it compared with the threshold."""

    start: float  # seconds since the upload (the period's start, on the alarm's period boundaries)
    seconds: float  # the period, in wall seconds (the alarm's Period x the time scale)
    value: float | None  # None: a missing datapoint
    breaching: bool
    judged_at: float | None = None  # seconds since the upload: when CloudWatch first judged it


@dataclasses.dataclass
class RolloutTimeline:
    endpoint: str
    version: str
    uploaded_at: dt.datetime  # UTC: x = 0 of the plot
    status: str
    reason: str = ""
    rollout_id: str = ""
    decisions: Sequence[Mapping[str, Any]] = ()  # the decision log, oldest first ("at", "event", "reason")
    samples: Sequence[WeightSample] = ()
    alarms: Sequence[AlarmPeriod] = ()
    error_rates: Mapping[str, Sequence[ErrorRateBucket]] = dataclasses.field(default_factory=dict)
    error_threshold: float | None = None  # the candidate's error-rate alarm threshold (a fraction)
    alarm_datapoints: Sequence[AlarmDatapoint] = ()  # the error-rate alarm's, as judged (fractions)
    alarm_name: str = ""  # whose datapoints those are
    alarm_period: int | None = None  # its declared Period (seconds)
    timings: Mapping[str, float] = dataclasses.field(default_factory=dict)  # label → seconds
    traffic: str = ""  # what generated the metrics (e.g. the SIMULATED traffic's description)
    time_scale: float = 1.0  # Step Functions time compression (wall seconds per declared second)
    notes: Sequence[str] = ()
    annotations: Sequence[tuple[float, str]] = ()  # (seconds, label): other moments (e.g. a traffic change)

    @property
    def name(self) -> str:
        return f"rollout-{self.endpoint}-{self.version}"

    def seconds(self, at: Any) -> float | None:
        """An ISO timestamp (or datetime) as seconds since the upload."""
        moment = at if isinstance(at, dt.datetime) else _parse_time(at)
        if moment is None:
            return None
        return (_utc(moment) - _utc(self.uploaded_at)).total_seconds()

    def variants(self) -> list[str]:
        """Every variant seen, the candidate first, then by name."""
        names = {v for s in self.samples for v in s.weights} | set(self.error_rates)
        for entry in self.decisions:
            weights = entry.get("weights")
            if isinstance(weights, Mapping):
                names |= {str(v) for v in weights}
        return sorted(names, key=lambda v: (v != self.version, v))

    def end_seconds(self) -> float:
        """The right edge of the plot: the last thing known, plus a little."""
        known = [s.seconds for s in self.samples]
        known += [t for t in (self.seconds(e.get("at")) for e in self.decisions) if t is not None]
        known += [b.start + b.seconds for buckets in self.error_rates.values() for b in buckets]
        known += [p.start + p.seconds for p in self.alarm_datapoints]
        known += [a.end if a.end is not None else a.start for a in self.alarms]
        return max(known, default=1.0)


@dataclasses.dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    plots: tuple[Path, ...]


def _parse_time(text: Any) -> dt.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def colors_for(timelines: Sequence[RolloutTimeline]) -> dict[str, str]:
    """One colour per variant name across every plot of the report (v2 is the same blue in each)."""
    names = sorted({v for t in timelines for v in t.variants()})
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


# --------------------------------------------------------------------------------------------------
# The error-rate panel, as data
# --------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PlottedPeriod:
    """One of the alarm's periods on the panel (seconds since the upload, the value in %)."""

    start: float
    end: float
    percent: float | None
    breaching: bool
    judged_at: float | None = None


@dataclasses.dataclass(frozen=True)
class ErrorPanel:
    """What the error-rate panel draws: the alarm's datapoints (the series it compared with its
    threshold), where that series goes over the threshold, and the raw per-variant rates (background)."""

    periods: tuple[PlottedPeriod, ...]
    crossings: tuple[float, ...]  # starts of the periods where the series goes over the threshold
    threshold_percent: float | None
    background: Mapping[str, tuple[tuple[float, float, float], ...]]  # variant → (start, end, %)

    @property
    def top(self) -> float:
        values = [p.percent for p in self.periods if p.percent is not None]
        values += [rate for buckets in self.background.values() for _, _, rate in buckets]
        if self.threshold_percent is not None:
            values.append(self.threshold_percent * 2)
        return max(values, default=0.0)


def error_panel(timeline: RolloutTimeline) -> ErrorPanel:
    """The error-rate panel of a timeline: its alarm datapoints in order, the threshold crossings (a
    breaching period after one that did not breach, or first), and each variant's raw rate buckets."""
    periods = tuple(
        PlottedPeriod(
            p.start,
            p.start + p.seconds,
            None if p.value is None else 100.0 * p.value,
            p.breaching,
            p.judged_at,
        )
        for p in sorted(timeline.alarm_datapoints, key=lambda p: p.start)
    )
    crossings = tuple(
        period.start
        for before, period in zip((None, *periods), periods, strict=False)
        if period.breaching and (before is None or not before.breaching)
    )
    background = {
        variant: tuple(
            (b.start, b.start + b.seconds, 100.0 * b.rate)
            for b in sorted(buckets, key=lambda b: b.start)
            if b.rate is not None
        )
        for variant, buckets in timeline.error_rates.items()
    }
    threshold = timeline.error_threshold
    return ErrorPanel(periods, crossings, None if threshold is None else 100.0 * threshold, background)


# --------------------------------------------------------------------------------------------------
# The canary analysis, as data (the decision log's "analysis pass|fail|inconclusive" entries)
# --------------------------------------------------------------------------------------------------
# --------------------------------------------------------------------------------------------------
# Decisions: short labels for the plot's key
# --------------------------------------------------------------------------------------------------
def _shares(weights: Mapping[str, Any], first: str) -> str:
    ordered = sorted(weights, key=lambda v: (v != first, v))
    return " · ".join(f"{v} {_number(weights[v])} %" for v in ordered)


def short_label(entry: Mapping[str, Any], version: str) -> str:
    """A decision in a few words: the event, and its weights or alarm when it has them."""
    event = str(entry.get("event", "?"))
    weights = entry.get("weights")
    if isinstance(weights, Mapping) and weights and event in {"weights set", "rolling back", "rolled back"}:
        label = f"{'weights' if event == 'weights set' else event}: {_shares(weights, version)}"
    elif event.startswith("analysis ") and isinstance(entry.get("analysis"), Mapping):
        label = f"{event.removeprefix('analysis ')}: {key_verdict(entry['analysis'])}"
    elif entry.get("alarm") and event == "alarm fired":
        alarm = str(entry["alarm"])
        mine = alarm.find(f"-{version}-")  # sluice-<endpoint>-<version>-errors: from the version on
        alarm = alarm[mine + 1 :] if mine >= 0 else alarm
        room = KEY_LABEL_CHARS - len(event) - 2
        label = f"{event}: {alarm if len(alarm) <= room else '…' + alarm[-(room - 1) :]}"
    else:
        label = event
    return label if len(label) <= KEY_LABEL_CHARS else label[: KEY_LABEL_CHARS - 1] + "…"


def _role(variant: str, version: str) -> str:
    return f"{variant} (candidate)" if variant == version else f"{variant} (baseline)"


def _decision_color(event: str) -> str:
    if event == "alarm fired" or event.startswith("rolling back") or event == "analysis fail":
        return ALARM_COLOR
    if event == "held":
        return "#e6a100"
    if event in ENDINGS:
        return "#2ca02c" if event == "promoted" else "#000000"
    return "#555555"


def marker_rows(times: Sequence[float], min_gap: float, rows: int = MARKER_ROWS) -> list[int]:
    """A row for each marker (times in order) so that two markers of one row are `min_gap` apart when
    possible: the lowest free row, else the row whose last marker is oldest."""
    last: list[float | None] = [None] * rows
    chosen = []
    for t in times:
        free = [r for r in range(rows) if last[r] is None or t - (last[r] or 0.0) >= min_gap]
        row = free[0] if free else min(range(rows), key=lambda r: last[r] or 0.0)
        last[row] = t
        chosen.append(row)
    return chosen


# --------------------------------------------------------------------------------------------------
# The plot
# --------------------------------------------------------------------------------------------------
def render_plot(timeline: RolloutTimeline, path: str | Path, colors: Mapping[str, str] | None = None) -> Path:
    """The rollout's PNG at `path` (1200 x 700 px)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib import pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    path = Path(path)
    colors = dict(colors or colors_for([timeline]))
    variants = timeline.variants()
    for name in variants:
        colors.setdefault(name, PALETTE[len(colors) % len(PALETTE)])
    end = timeline.end_seconds()
    right = end * 1.03 + 0.2
    left = -right * 0.015

    looks = analysis_looks(timeline)
    fig = plt.figure(figsize=FIGURE_INCHES, dpi=FIGURE_DPI)
    grid = fig.add_gridspec(
        4 if looks else 3,
        2,
        width_ratios=(2.6, 1.0),
        height_ratios=(0.72, 0.7, 2.2, 1.3) if looks else (0.72, 2.5, 1.45),
        left=0.065,
        right=0.985,
        top=0.875,
        bottom=0.085,
        hspace=0.09,
        wspace=0.05,
    )
    strip = fig.add_subplot(grid[0, 0])
    lane = fig.add_subplot(grid[1, 0], sharex=strip) if looks else None
    weights_ax = fig.add_subplot(grid[-2, 0], sharex=strip)
    errors_ax = fig.add_subplot(grid[-1, 0], sharex=strip)
    side = fig.add_subplot(grid[:, 1])
    side.axis("off")

    fig.suptitle(
        f"{timeline.endpoint} · {timeline.version}: {timeline.status or '—'}", fontsize=15, weight="bold"
    )
    subtitle = "traffic weights from DescribeEndpoint, decisions from the decision log"
    if timeline.traffic:
        subtitle += ", metrics from SIMULATED traffic"
    if timeline.time_scale and timeline.time_scale != 1:
        subtitle += f" · time compressed {TIMES}{1 / timeline.time_scale:.0f}"
    fig.text(0.5, 0.915, subtitle, ha="center", fontsize=10.5, color="#333333")

    # Other moments (a change of the simulated traffic): a dashed line through the two panels.
    for seconds, _ in timeline.annotations:
        for ax in (weights_ax, errors_ax):
            ax.axvline(seconds, color=ANNOTATION_COLOR, lw=1.3, ls="--")

    # Alarm periods, shaded across the three panels.
    for period in timeline.alarms:
        stop = period.end if period.end is not None else right
        for ax in (strip, weights_ax, errors_ax):
            ax.axvspan(period.start, stop, color=ALARM_COLOR, alpha=0.13, lw=0)

    # Decisions: a numbered marker each on the strip, a faint line down through the panels.
    decisions = [
        (t, entry)
        for t, entry in ((timeline.seconds(e.get("at")), e) for e in timeline.decisions)
        if t is not None
    ]
    axis_pixels = FIGURE_INCHES[0] * FIGURE_DPI * (0.985 - 0.065) * 2.6 / 3.6
    min_gap = 36 * (right - left) / axis_pixels  # ~36 px between two numbers of a row
    rows = marker_rows([t for t, _ in decisions], min_gap)
    for number, ((t, entry), row) in enumerate(zip(decisions, rows, strict=True), start=1):
        color = _decision_color(str(entry.get("event", "")))
        y = MARKER_ROWS - 0.5 - row
        strip.plot([t, t], [0, y - 0.32], color=color, lw=0.8, alpha=0.6)
        strip.text(
            t,
            y,
            str(number),
            ha="center",
            va="center",
            fontsize=8.5,
            color="white",
            weight="bold",
            bbox={"boxstyle": "round,pad=0.22", "fc": color, "ec": "none"},
        )
        for ax in (weights_ax, errors_ax):
            ax.axvline(t, color=color, lw=0.7, ls=":", alpha=0.55 if color != "#555555" else 0.35)
    strip.set_ylim(0, MARKER_ROWS)
    strip.set_yticks([])
    strip.set_ylabel("decisions", fontsize=9, rotation=0, ha="right", va="center")
    strip.tick_params(axis="x", labelbottom=False)
    for spine in ("top", "right", "left"):
        strip.spines[spine].set_visible(False)

    if lane is not None:
        draw_analysis_lane(lane, looks)

    # Traffic weights: one step line per variant, from the polled samples (a dot where polled).
    samples = sorted(timeline.samples, key=lambda s: s.seconds)
    for name in variants:
        xs: list[float] = []
        ys: list[float] = []
        for sample in samples:
            value = sample.weights.get(name)
            xs.append(sample.seconds)
            ys.append(float("nan") if value is None else float(value))
        if not xs or all(y != y for y in ys):
            continue
        xs.append(end)
        ys.append(ys[-1])
        weights_ax.step(xs, ys, where="post", color=colors[name], lw=2.4)
        weights_ax.plot(xs[:-1], ys[:-1], "o", color=colors[name], ms=3.5)
    weights_ax.set_ylim(-4, 108)
    weights_ax.set_yticks([0, 10, 25, 50, 75, 90, 100])
    weights_ax.set_ylabel("traffic weight (%)", fontsize=10.5)
    weights_ax.grid(axis="y", color="#dddddd", lw=0.6)
    weights_ax.tick_params(axis="x", labelbottom=False)

    # Error rates: the alarm's datapoints per period over the threshold, the raw rates faint behind.
    panel = error_panel(timeline)
    faint = bool(panel.periods)
    for name in variants:
        buckets = panel.background.get(name, ())
        for start, stop, percent in buckets:
            errors_ax.hlines(
                percent, start, stop, color=colors[name], lw=1.2 if faint else 2.4, alpha=0.3 if faint else 1
            )
        if buckets and not faint:
            points = [((start + stop) / 2, percent) for start, stop, percent in buckets]
            errors_ax.plot(*zip(*points, strict=True), "o", color=colors[name], ms=3.5)
    for plotted in panel.periods:
        if plotted.percent is None:
            continue
        color = ALARM_COLOR if plotted.breaching else DATAPOINT_COLOR
        errors_ax.hlines(plotted.percent, plotted.start, plotted.end, color=color, lw=2.6)
        errors_ax.plot((plotted.start + plotted.end) / 2, plotted.percent, "o", color=color, ms=4)
        judged_at = plotted.judged_at
        if plotted.start in panel.crossings and judged_at is not None and judged_at > plotted.end:
            # A crossing: dotted on to the moment CloudWatch judged it (late when its data came late).
            errors_ax.plot([plotted.end, judged_at], [plotted.percent] * 2, ":", color=ALARM_COLOR, lw=1.4)
            errors_ax.plot(judged_at, plotted.percent, "|", color=ALARM_COLOR, ms=9, mew=1.6)
    threshold = timeline.error_threshold
    if panel.threshold_percent is not None:
        errors_ax.axhline(panel.threshold_percent, color=ALARM_COLOR, ls="--", lw=1.2)
    top = panel.top
    errors_ax.set_ylim(-max(top * 1.2, 1.0) * 0.04, max(top * 1.2, 1.0))  # a line at 0 % stays visible
    errors_ax.set_ylabel("error rate (%)", fontsize=10.5)
    errors_ax.set_xlabel("seconds since upload", fontsize=10.5)
    errors_ax.grid(axis="y", color="#dddddd", lw=0.6)
    if not timeline.error_rates and not panel.periods:
        errors_ax.text(0.5, 0.5, "no metrics", transform=errors_ax.transAxes, ha="center", color="#777777")
    errors_ax.set_xlim(left, right)

    # The side: what the lines are, then the decisions' key.
    bucket_seconds = next((b.seconds for bs in timeline.error_rates.values() for b in bs), None)
    handles: list[Any] = [
        Line2D([], [], color=colors[name], lw=2.4, marker="o", ms=3.5, label=_role(name, timeline.version))
        for name in variants
    ]
    if panel.periods:
        wall = panel.periods[0].end - panel.periods[0].start
        declared = f"{timeline.alarm_period} s" if timeline.alarm_period else f"{wall:g} s"
        if timeline.alarm_period and timeline.time_scale and timeline.time_scale != 1:
            declared += f" = {wall:g} s"
        handles += [
            Line2D(
                [],
                [],
                color=DATAPOINT_COLOR,
                lw=2.6,
                marker="o",
                ms=4,
                label=f"alarm datapoint per {declared}",
            ),
            Line2D(
                [],
                [],
                color=ALARM_COLOR,
                lw=2.6,
                marker="o",
                ms=4,
                label="datapoint over the threshold\n(dotted: until it was judged)",
            ),
        ]
    if threshold is not None:
        handles.append(
            Line2D([], [], color=ALARM_COLOR, ls="--", lw=1.2, label=f"alarm threshold {100 * threshold:g} %")
        )
    if timeline.alarms:
        handles.append(Patch(color=ALARM_COLOR, alpha=0.25, label="alarm in ALARM"))
    if looks:
        shown_outcomes = [o for o in VERDICT_COLORS if any(look.outcome == o for look in looks)]
        handles += [
            Line2D(
                [],
                [],
                color=VERDICT_COLORS[outcome],
                lw=4,
                alpha=0.6,
                marker=f"${VERDICT_MARKS[outcome]}$",
                ms=9,
                label=f"analysis look: {outcome}" + ("\n(bar: the window it judged)" if i == 0 else ""),
            )
            for i, outcome in enumerate(shown_outcomes)
        ]
    handles += [
        Line2D([], [], color=ANNOTATION_COLOR, lw=1.3, ls="--", label=f"{label}\nfrom {seconds:.2f} s")
        for seconds, label in timeline.annotations
    ]
    per = f"{bucket_seconds:g} s" if bucket_seconds else "period"
    if bucket_seconds and timeline.time_scale and timeline.time_scale != 1:
        per += f" = {bucket_seconds / timeline.time_scale:g} s simulated"
    raw = "faint: raw error rate" if panel.periods else "error rate"
    legend_title = f"variants (weights; {raw}\nper {per})"
    options: dict[str, Any] = {
        "loc": "upper left",
        "bbox_to_anchor": (0.02, 1.0),
        "fontsize": 9.5,
        "frameon": False,
        "title": legend_title + ("" if timeline.alarms else "\nno alarm fired"),
        "title_fontsize": 9.5,
        "alignment": "left",
    }
    legend = side.legend(handles=handles, **options)
    fig.canvas.draw()
    box = legend.get_window_extent().transformed(side.transAxes.inverted())
    lines = [
        f"{number:>2} {t:5.2f} s  {short_label(entry, timeline.version)}"
        for number, (t, entry) in enumerate(decisions, start=1)
    ]
    key_top = box.y0 - 0.03
    side.text(0.04, key_top, "decisions (s since upload)", fontsize=9.5, va="top", transform=side.transAxes)
    line_height = min(0.032, (key_top - 0.05) / max(len(lines), 1))
    for i, (line, (_, entry)) in enumerate(zip(lines, decisions, strict=True)):
        side.text(
            0.04,
            key_top - 0.045 - i * line_height,
            line,
            fontsize=8.3 if line_height >= 0.028 else 7.4,
            family="monospace",
            va="top",
            color=_decision_color(str(entry.get("event", ""))),
            transform=side.transAxes,
        )

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=FIGURE_DPI)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------------------
# The markdown
# --------------------------------------------------------------------------------------------------
def _clock(at: Any) -> str:
    moment = _parse_time(at)
    return _utc(moment).strftime("%H:%M:%S.%f")[:-3] if moment else str(at)


def rollout_section(timeline: RolloutTimeline, plot: str) -> list[str]:
    """A rollout's summary, its plot and its decision log as markdown lines."""
    ended = next(
        (
            timeline.seconds(e.get("at"))
            for e in reversed(timeline.decisions)
            if str(e.get("event")) in ENDINGS
        ),
        None,
    )
    rows = [
        ("endpoint", timeline.endpoint),
        ("version", timeline.version),
        ("rollout", timeline.rollout_id),
        ("status", f"**{timeline.status}**"),
        ("reason", timeline.reason),
        ("uploaded", _utc(timeline.uploaded_at).isoformat(timespec="milliseconds")),
    ]
    if ended is not None:
        rows.append(("upload → end of the rollout", f"{ended:.2f} s"))
    rows += [(label, f"{value:.2f} s") for label, value in timeline.timings.items()]
    rows += [(label, f"{seconds:.2f} s after the upload") for seconds, label in timeline.annotations]
    for period in timeline.alarms:
        span = f"{period.start:.2f} s → " + (f"{period.end:.2f} s" if period.end is not None else "end")
        rows.append((f"alarm {period.alarm} in ALARM", f"{span} ({period.ended_by or 'still in ALARM'})"))
    if timeline.traffic:
        rows.append(("traffic", timeline.traffic))
    if timeline.time_scale and timeline.time_scale != 1:
        rows.append(
            (
                "time",
                f"Step Functions time compressed {TIMES}{1 / timeline.time_scale:.0f} "
                "(the decision log's times are wall-clock)",
            )
        )
    lines = [f"## {timeline.endpoint} {timeline.version}: {timeline.status}", ""]
    lines += ["| | |", "|---|---|"]
    lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in rows]
    lines += [""]
    lines += [f"- {note}" for note in timeline.notes]
    if timeline.notes:
        lines.append("")
    lines += [f"![{timeline.endpoint} {timeline.version}: weights and decisions over time]({plot})", ""]
    lines += analysis_section(timeline)
    lines += [f"### Decision log ({len(timeline.decisions)} entries)", ""]
    lines += ["| # | time (UTC) | s since upload | event | reason |", "|---:|---|---:|---|---|"]
    for number, entry in enumerate(timeline.decisions, start=1):
        seconds = timeline.seconds(entry.get("at"))
        shown = "—" if seconds is None else f"{seconds:.2f}"
        reason = entry.get("reason", "")
        weights = entry.get("weights")
        if isinstance(weights, Mapping) and weights:
            reason = f"{reason} (weights {_shares(weights, timeline.version)})".strip()
        cells = [str(number), _clock(entry.get("at")), shown, _cell(entry.get("event")), _cell(reason)]
        lines.append(f"| {' | '.join(cells)} |")
    lines.append("")
    return lines


def write_report(
    timelines: Sequence[RolloutTimeline],
    directory: str | Path = DEFAULT_DIRECTORY,
    *,
    title: str = "Sluice sandbox report",
    preamble: Sequence[str] = (),
) -> ReportFiles:
    """`directory`/report.md and `directory`/rollout-<endpoint>-<version>.png for each timeline."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    colors = colors_for(timelines)
    plots = []
    lines = [f"# {title}", ""]
    lines += [*preamble, ""] if preamble else []
    if timelines:
        lines += ["| rollout | status | plot |", "|---|---|---|"]
        lines += [
            f"| {_cell(f'{t.endpoint} {t.version}')} | {_cell(t.status)} | [{t.name}.png]({t.name}.png) |"
            for t in timelines
        ]
        lines.append("")
    for timeline in timelines:
        plot = render_plot(timeline, directory / f"{timeline.name}.png", colors)
        plots.append(plot)
        lines += rollout_section(timeline, plot.name)
    markdown = directory / "report.md"
    markdown.write_text("\n".join(lines), encoding="utf-8")
    return ReportFiles(markdown=markdown, plots=tuple(plots))
