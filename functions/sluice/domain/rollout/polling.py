"""How ReadEndpoint waits for an endpoint that is still applying a change (issue 9, finding 27).

Each pass of the state machine's poll loop (ReadEndpoint → EndpointStatus → WaitForEndpoint) writes 9
history events, and an execution has at most 25,000: a 15 s loop spent them in about 11 hours of
Updating. So the task reads the endpoint again inside its own invocation, every `interval` seconds for
at most `budget` seconds, and the state machine loops only when the budget ran out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sluice.domain.ports import WaitClock

# Time kept between the last read and the invocation's deadline (the function's Timeout): one more
# DescribeEndpoint and a registry read, with room to spare.
POLL_MARGIN_SECONDS = 15.0


@dataclass(frozen=True)
class EndpointPolling:
    """A read every `interval` seconds on `clock`, for at most `budget` seconds; without a clock, or with
    a budget of 0, one read (what a caller that never waits, e.g. the CLI, builds by default)."""

    clock: WaitClock | None = None
    interval: float = 2.0
    budget: float = 0.0

    def within(self, seconds_left: float | None) -> EndpointPolling:
        """The budget cut so that polling ends POLL_MARGIN_SECONDS before the invocation's deadline
        (`seconds_left`: the Lambda context's remaining time; None: not known, the budget as set)."""
        if seconds_left is None:
            return self
        return replace(self, budget=max(0.0, min(self.budget, seconds_left - POLL_MARGIN_SECONDS)))

    def another_read_fits(self, elapsed: float) -> bool:
        """After `elapsed` seconds of polling, is there time to sleep once more and read again?"""
        return self.clock is not None and elapsed + self.interval <= self.budget
