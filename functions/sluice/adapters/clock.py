"""The process's clock for a task that waits within its invocation (the domain's WaitClock)."""

from __future__ import annotations

import time


class MonotonicClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
