"""The sandbox's time scale: wall seconds one declared (AWS) second lasts, as a number or read
from a callable (the TimeCompression gap's, which may change while the sandbox runs)."""

from __future__ import annotations

from collections.abc import Callable

TimeScale = float | Callable[[], float]


def current_time_scale(time_scale: TimeScale) -> float:
    """A time scale given as a number or read from a callable (the sandbox's, which may change)."""
    scale = time_scale() if callable(time_scale) else time_scale
    if not scale > 0:
        raise ValueError(f"time_scale must be > 0, got {scale}")
    return float(scale)
