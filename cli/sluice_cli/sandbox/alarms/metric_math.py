"""Metric math: a tiny, safe expression language (never eval) over the queries' series."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sluice_cli.sandbox.alarms.errors import ExpressionError

_TOKEN = re.compile(
    r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>[-+*/^(),\[\]]))"
)
FUNCTIONS = frozenset({"ABS", "FILL", "MAX", "MIN", "SUM", "AVG"})

# Nodes: ("num", float) ("ref", id) ("neg", node) ("bin", op, left, right) ("call", NAME, [args])
# ("array", [nodes]).
Node = tuple[Any, ...]


def _tokens(expression: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = expression.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ExpressionError(f"unexpected {text[position:]!r} in expression {expression!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = _tokens(expression)
        self.position = 0

    def parse(self) -> Node:
        node = self._sum()
        if self.position != len(self.tokens):
            raise self._error("unexpected")
        return node

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _error(self, what: str) -> ExpressionError:
        found = self._peek()
        at = repr(found[1]) if found else "the end"
        return ExpressionError(f"{what} {at} in expression {self.expression!r}")

    def _accept(self, op: str) -> bool:
        if self._peek() == ("op", op):
            self.position += 1
            return True
        return False

    def _expect(self, op: str) -> None:
        if not self._accept(op):
            raise self._error(f"expected {op!r}, found")

    def _operator(self, *ops: str) -> str | None:
        token = self._peek()
        if token is not None and token[0] == "op" and token[1] in ops:
            self.position += 1
            return token[1]
        return None

    def _sum(self) -> Node:
        node = self._product()
        while (op := self._operator("+", "-")) is not None:
            node = ("bin", op, node, self._product())
        return node

    def _product(self) -> Node:
        node = self._unary()
        while (op := self._operator("*", "/")) is not None:
            node = ("bin", op, node, self._unary())
        return node

    def _unary(self) -> Node:
        if self._accept("-"):
            return ("neg", self._unary())
        if self._accept("+"):
            return self._unary()
        return self._power()

    def _power(self) -> Node:
        node = self._atom()
        if self._accept("^"):
            return ("bin", "^", node, self._unary())
        return node

    def _atom(self) -> Node:
        token = self._peek()
        if token is None:
            raise self._error("expected a value, found")
        kind, text = token
        if kind == "number":
            self.position += 1
            return ("num", float(text))
        if kind == "name":
            self.position += 1
            if self._accept("("):
                if text.upper() not in FUNCTIONS or text != text.upper():
                    raise ExpressionError(
                        f"function {text!r} is not evaluated by the sandbox (it knows "
                        f"{', '.join(sorted(FUNCTIONS))}) in expression {self.expression!r}"
                    )
                args = [self._sum()]
                while self._accept(","):
                    args.append(self._sum())
                self._expect(")")
                return ("call", text, args)
            return ("ref", text)
        if self._accept("("):
            node = self._sum()
            self._expect(")")
            return node
        if self._accept("["):
            items = [self._sum()]
            while self._accept(","):
                items.append(self._sum())
            self._expect("]")
            return ("array", items)
        raise self._error("unexpected")


def parse_expression(expression: str) -> Node:
    """The expression's syntax tree (ExpressionError when it is not the sandbox's subset)."""
    return _Parser(expression).parse()


def expression_references(node: Node) -> set[str]:
    """The query ids an expression reads."""
    kind = node[0]
    if kind == "ref":
        return {node[1]}
    if kind == "neg":
        return expression_references(node[1])
    if kind == "bin":
        return expression_references(node[2]) | expression_references(node[3])
    if kind == "call":
        return set().union(*(expression_references(arg) for arg in node[2]))
    if kind == "array":
        return set().union(*(expression_references(item) for item in node[1]))
    return set()


Series = tuple[float | None, ...]
Value = float | None | Series


class _Array(list[Value]):
    """`[a, b, ...]`: only a function argument."""


def _apply(op: str, left: float | None, right: float | None) -> float | None:
    if left is None or right is None:
        return None
    try:
        if op == "+":
            result = left + right
        elif op == "-":
            result = left - right
        elif op == "*":
            result = left * right
        elif op == "/":
            if right == 0:
                return None
            result = left / right
        else:
            result = math.pow(left, right)
    except (OverflowError, ValueError, ZeroDivisionError):
        return None
    return result if math.isfinite(result) else None


def broadcast(value: Value, length: int) -> Series:
    if isinstance(value, tuple):
        return value
    return (value,) * length


def _aggregate(name: str, values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    if name == "MAX":
        return max(present)
    if name == "MIN":
        return min(present)
    if name == "SUM":
        return sum(present)
    return sum(present) / len(present)  # AVG


def evaluate_expression(node: Node, values: Mapping[str, Series], length: int) -> Value:
    """The expression over series of `length` datapoints (None = missing), scalars broadcast."""
    kind = node[0]
    if kind == "num":
        return float(node[1])
    if kind == "ref":
        if node[1] not in values:
            raise ExpressionError(f"unknown id {node[1]!r} in metric math")
        return values[node[1]]
    if kind == "neg":
        operand = evaluate_expression(node[1], values, length)
        if isinstance(operand, tuple):
            return tuple(None if v is None else -v for v in operand)
        return None if operand is None else -operand
    if kind == "bin":
        left = evaluate_expression(node[2], values, length)
        right = evaluate_expression(node[3], values, length)
        if not isinstance(left, tuple) and not isinstance(right, tuple):
            return _apply(node[1], left, right)
        pairs = zip(broadcast(left, length), broadcast(right, length), strict=True)
        return tuple(_apply(node[1], a, b) for a, b in pairs)
    if kind == "array":
        raise ExpressionError("an array [...] is only a function's argument")
    name, args = node[1], node[2]
    if name == "ABS":
        if len(args) != 1:
            raise ExpressionError("ABS takes one argument")
        operand = evaluate_expression(args[0], values, length)
        if isinstance(operand, tuple):
            return tuple(None if v is None else abs(v) for v in operand)
        return None if operand is None else abs(operand)
    if name == "FILL":
        if len(args) != 2:
            raise ExpressionError("FILL takes a series and a number")
        series = broadcast(evaluate_expression(args[0], values, length), length)
        filler = evaluate_expression(args[1], values, length)
        if isinstance(filler, tuple):
            raise ExpressionError("FILL's value must be a number (REPEAT/LINEAR are not evaluated)")
        return tuple(filler if v is None else v for v in series)
    if len(args) != 1:
        raise ExpressionError(f"{name} takes one argument: a series or an array [a, b, ...]")
    if args[0][0] == "array":
        members = [broadcast(evaluate_expression(item, values, length), length) for item in args[0][1]]
        return tuple(_aggregate(name, column) for column in zip(*members, strict=True))
    operand = evaluate_expression(args[0], values, length)
    if isinstance(operand, tuple):
        return _aggregate(name, operand)  # over the series: one number, as CloudWatch's MAX(m1)
    return operand
