"""The producers of metric data in this process (the traffic simulator), and how far they have written."""

from __future__ import annotations

import math
import threading
from typing import Protocol

from sluice_cli.sandbox.alarms.windows import settle_seconds

MAX_DATA_LAG_PERIODS = 3


class DataProducer(Protocol):
    @property
    def written_through(self) -> float:
        """Wall-clock epoch seconds up to which all of its data is in CloudWatch."""
        ...


_producers: set[DataProducer] = set()
_producers_lock = threading.Lock()


def register_producer(producer: DataProducer) -> None:
    """A running source of metric data whose periods the evaluator should wait for."""
    with _producers_lock:
        _producers.add(producer)


def unregister_producer(producer: DataProducer) -> None:
    with _producers_lock:
        _producers.discard(producer)


def data_written_through() -> float:
    """How far every registered producer has written (infinity when none runs)."""
    with _producers_lock:
        producers = list(_producers)
    return min((p.written_through for p in producers), default=math.inf)


def data_moment(now: float, written_through: float, wall_period: float) -> float:
    """The `now` a period window is computed from: no later than the producers' data allows (their
    watermark + settle), no earlier than MAX_DATA_LAG_PERIODS periods back."""
    held = min(now, written_through + settle_seconds(wall_period))
    return max(held, now - MAX_DATA_LAG_PERIODS * wall_period)
