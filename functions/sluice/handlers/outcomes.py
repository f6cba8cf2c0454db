"""What the handlers that run an intake share: one EMF count and one log line per Outcome."""

from __future__ import annotations

from typing import Any

from sluice.domain.intake import Outcome
from sluice.observability import logger, metrics


def report(outcome: Outcome, metric_prefix: str) -> dict[str, Any]:
    """One EMF count per outcome (e.g. IntakePublished) and one log line: debug for ignored keys."""
    metrics.add_metric(
        name=f"{metric_prefix}{outcome.status.title().replace('_', '')}", unit="Count", value=1
    )
    log = logger.debug if outcome.status == "IGNORED" else logger.info
    log(outcome.message, extra={"outcome": outcome.as_dict()})
    return outcome.as_dict()
