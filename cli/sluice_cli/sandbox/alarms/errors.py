"""Alarms the sandbox's evaluator cannot evaluate."""


class UnsupportedAlarm(ValueError):
    """An alarm the evaluator cannot evaluate (left as it is, logged once)."""


class ExpressionError(UnsupportedAlarm):
    """A metric-math expression the sandbox cannot parse or evaluate."""
