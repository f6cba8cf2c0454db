"""Fixtures of the sandbox engine tests: tests/sandbox on sys.path (for `fake_handlers`), templates."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import fake_handlers  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_fake_handler_records() -> Iterator[None]:
    fake_handlers.reset()
    yield
    fake_handlers.reset()
