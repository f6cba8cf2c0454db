"""How `sluice status` and `sluice history` show the canary analysis: a look's verdict record (the shape of
`sluice.domain.analysis.look.verdict_record`, stored on the rollout as `analysis` and on each "analysis
pass|fail|inconclusive" decision) as a few labelled lines or one line, and a held rollout's way out.

    analysis   PASS at step 1, look 3 (180 s into the bake; 95 % confidence, alpha 0.0123 at this look)
      errors   baseline v1 0.50 % (9/1800), candidate v2 0.67 % (2/300), tolerance +0.1 points:
               p 0.41 ≥ alpha 0.00615, not worse
      latency  candidate v2 12.00 % (36/300) slower than 92.4 ms (baseline v1 p90.87 84 ms + 10 %),
               at most 10 % allowed: p 0.16 ≥ alpha 0.00308, not worse

Records missing a part (a look with too little traffic has no `errors`, one without a latency bound no
`latency`) show what the verdict's reason says instead. Unknown or malformed values print as "—".
"""

from __future__ import annotations

from typing import Any

from sluice_cli.commands.output import NONE, when

HELD_WAYS_OUT = (
    "`sluice promote` promotes, `sluice resume` goes on to the next step, `sluice abort` rolls back"
)


def analysis_fields(record: dict[str, Any]) -> list[tuple[str, str]]:
    """The latest look as `name  value` lines for the status table: the verdict, then each test."""
    fields = [("analysis", _headline(record))]
    errors, latency = _part(record, "errors"), _part(record, "latency")
    if errors is not None:
        fields.append(("  errors", errors_text(errors, record)))
    if latency is not None:
        fields.append(("  latency", latency_text(latency, record)))
    if errors is None or latency is None:
        fields.append(("  reason", str(record.get("reason") or NONE)))
    window = _part(record, "window") or {}
    if window.get("start") and window.get("end"):
        fields.append(("  window", f"{when(window['start'])} → {when(window['end'])}"))
    return fields


def analysis_line(record: dict[str, Any]) -> str:
    """One look on one line (history): where, then the error and latency figures, or why none."""
    where = f"step {_text(record.get('step'))}, look {_text(record.get('look'))}"
    if record.get("baked_seconds") is not None:
        where += f", {record['baked_seconds']} s into the bake"
    errors, latency = _part(record, "errors"), _part(record, "latency")
    parts = []
    if errors is not None:
        parts.append("errors " + errors_text(errors, record))
    if latency is not None:
        parts.append("latency " + latency_text(latency, record))
    if errors is None or latency is None:
        parts.append(str(record.get("reason") or NONE))
    return f"{where}: " + "; ".join(parts)


def errors_text(errors: dict[str, Any], record: dict[str, Any]) -> str:
    """`baseline v1 0.50 % (9/1800), candidate v2 0.67 % (2/300), tolerance +0.1 points: p 0.41 ≥ alpha
    0.00615, not worse`."""
    variants = _part(record, "variants") or {}
    sides = [
        f"{role} {variants.get(role) or ''} {_rate(_part(errors, role) or {})}".replace("  ", " ")
        for role in ("baseline", "candidate")
    ]
    tolerance = errors.get("tolerance")
    points = f", tolerance +{tolerance * 100:g} points" if isinstance(tolerance, int | float) else ""
    return f"{', '.join(sides)}{points}: {_test(errors)}"


def latency_text(latency: dict[str, Any], record: dict[str, Any]) -> str:
    """`candidate v2 12.00 % (36/300) slower than 92.4 ms (baseline v1 p90.87 84 ms + 10 %), at most 10 %
    allowed: p 0.16 ≥ alpha 0.00308, not worse`."""
    variants = _part(record, "variants") or {}
    slower, samples = latency.get("candidate_slower"), latency.get("candidate_samples")
    tolerance = latency.get("tolerance")
    plus = f" + {tolerance * 100:g} %" if isinstance(tolerance, int | float) else ""
    allowed = latency.get("allowed_share")
    return (
        f"candidate {variants.get('candidate') or ''} {_share(slower, samples)} slower than "
        f"{_ms(latency.get('threshold_ms'))} (baseline {variants.get('baseline') or ''} "
        f"{_text(latency.get('baseline_rank'))} {_ms(latency.get('baseline_ms'))}{plus}), at most "
        f"{_percent(allowed)} allowed: {_test(latency)}"
    ).replace("  ", " ")


def held_text(held: dict[str, Any]) -> str:
    """Why a rollout is held and since when (the rollout's `held`, set by the analysis)."""
    since = f" (step {held['step']}, since {when(held['at'])})" if held.get("step") and held.get("at") else ""
    return f"{held.get('reason') or 'no reason recorded'}{since}"


def _headline(record: dict[str, Any]) -> str:
    outcome = str(record.get("outcome") or "?").upper()
    baked = f"{record['baked_seconds']} s into the bake; " if record.get("baked_seconds") is not None else ""
    confidence = record.get("confidence")
    level = f"{confidence * 100:g} % confidence, " if isinstance(confidence, int | float) else ""
    return (
        f"{outcome} at step {_text(record.get('step'))}, look {_text(record.get('look'))} "
        f"({baked}{level}alpha {_g(record.get('alpha'))} at this look)"
    )


def _test(test: dict[str, Any]) -> str:
    """`p 0.41 ≥ alpha 0.00615, not worse` (a test finds the candidate worse when p < alpha)."""
    worse = test.get("worse")
    compared = "<" if worse else "≥"
    verdict = "WORSE" if worse else "not worse"
    return f"p {_g(test.get('p_value'))} {compared} alpha {_g(test.get('alpha'))}, {verdict}"


def _part(record: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = record.get(key)
    return value if isinstance(value, dict) else None


def _rate(counts: dict[str, Any]) -> str:
    """`0.50 % (9/1800)`: the error rate with the counts it comes from."""
    errors, invocations = counts.get("errors"), counts.get("invocations")
    return _share(errors, invocations)


def _share(part: Any, whole: Any) -> str:
    if not isinstance(part, int | float) or not isinstance(whole, int | float):
        return NONE
    counts = f"({_count(part)}/{_count(whole)})"
    return f"{part / whole * 100:.2f} % {counts}" if whole else f"{NONE} {counts}"


def _count(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def _percent(share: Any) -> str:
    return f"{share * 100:g} %" if isinstance(share, int | float) else NONE


def _ms(value: Any) -> str:
    return f"{value:.4g} ms" if isinstance(value, int | float) else NONE


def _g(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, int | float) else NONE


def _text(value: Any) -> str:
    return NONE if value is None or value == "" else str(value)
