"""A function's handler run in-process as Lambda's Python runtime runs it: the handler loaded from
`module.function`, its environment in os.environ as its own thread sees it (one invocation at a time,
except that a handler sleeping lets the others run), the context object.

Time: the settings that are durations a function waits in wall time (`sluice.settings.WALL_CLOCK_SETTINGS`,
ReadEndpoint's poll interval and budget) are given to the handler at the sandbox's time scale, the one
Step Functions' Wait states and retry intervals run at (`runtime_environment`): the one place the sandbox
compresses time inside a function. The context's remaining time is wall time (the Timeout as declared).
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any, SupportsIndex

from sluice.settings import WALL_CLOCK_SETTINGS, get_settings
from sluice_cli.sandbox.provision.stack import FunctionSpec

# A process has one os.environ and one copy of each library's globals (the settings cache, Powertools'
# logger): invocations from every router thread take turns. A handler that sleeps (`time.sleep` on its
# thread) gives its turn away until it wakes (`_sleep_yielding`), as Lambda runs each invocation in an
# execution environment of its own: a task polling an endpoint for a minute does not hold up the alarm
# handler whose abort it is waiting for.
_INVOKE_LOCK = threading.RLock()
_TURNS = threading.Condition(_INVOKE_LOCK)
_invocation = threading.local()  # .running: this thread is running a handler
_WALL_SLEEP = time.sleep


class LambdaContext:
    """The attributes of Lambda's Python context object that handlers and Powertools read."""

    def __init__(self, function: FunctionSpec, request_id: str) -> None:
        self.function_name = function.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function.arn
        self.memory_limit_in_mb = function.memory_mb
        self.aws_request_id = request_id
        self.log_group_name = function.log_group or f"/aws/lambda/{function.name}"
        self.log_stream_name = f"{dt.datetime.now(dt.UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + function.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class HandlerFailed(Exception):
    def __init__(self, original: BaseException) -> None:
        super().__init__(str(original))
        self.original = original


def _settings_cache_clear() -> None:
    get_settings.cache_clear()


def runtime_environment(function: FunctionSpec, region: str, time_scale: float = 1.0) -> dict[str, str]:
    """What Lambda itself sets, then the template's variables, those of WALL_CLOCK_SETTINGS multiplied by
    `time_scale` (the sandbox's: wall seconds per declared second)."""
    return {
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": function.log_group or f"/aws/lambda/{function.name}",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "_HANDLER": function.handler,
        **function.environment,
        **scaled_wall_clock_settings(function.environment, time_scale),
    }


def scaled_wall_clock_settings(environment: Mapping[str, str], time_scale: float) -> dict[str, str]:
    """The function's WALL_CLOCK_SETTINGS at `time_scale` (a value that is not a number is left as it is,
    for the function's settings to refuse)."""
    scaled = {}
    for name in WALL_CLOCK_SETTINGS:
        if name not in environment:
            continue
        try:
            seconds = float(environment[name])
        except ValueError:
            continue
        scaled[name] = repr(seconds * time_scale)
    return scaled


_DELETED = object()


class ThreadEnviron(MutableMapping[str, str]):
    """os.environ as each thread sees it. In Lambda, a function's variables (and its role's credentials)
    are its process's environment; in the sandbox every function runs in one process, next to the
    router, the demo and the CLI. A thread running an invocation sees the function's variables over the
    process's; every other thread sees the process's own, so a `sluice` command or a sandbox client made
    while a handler runs keeps the administrator's credentials instead of borrowing the function's role.
    """

    def __init__(self, base: MutableMapping[str, str]) -> None:
        self.base = base
        self._local = threading.local()

    @contextmanager
    def overlay(self, variables: Mapping[str, str]) -> Iterator[None]:
        saved = getattr(self._local, "overlay", None)
        self._local.overlay = {**(saved or {}), **variables}
        try:
            yield
        finally:
            self._local.overlay = saved

    def _layer(self) -> dict[str, Any] | None:
        return getattr(self._local, "overlay", None)

    def __getitem__(self, name: str) -> str:
        layer = self._layer()
        if layer is not None and name in layer:
            value = layer[name]
            if value is _DELETED:
                raise KeyError(name)
            return str(value)
        return self.base[name]

    def __setitem__(self, name: str, value: str) -> None:
        layer = self._layer()
        if layer is None:
            self.base[name] = value
        else:
            layer[name] = value

    def __delitem__(self, name: str) -> None:
        layer = self._layer()
        if layer is None:
            del self.base[name]
        elif name not in self:
            raise KeyError(name)
        else:
            layer[name] = _DELETED

    def __iter__(self) -> Iterator[str]:
        layer = self._layer() or {}
        names = (set(self.base) | set(layer)) - {k for k, v in layer.items() if v is _DELETED}
        return iter(sorted(names))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        return dict(self)


class _WhileInvocationsRun:
    """os.environ replaced by a ThreadEnviron over it, and `time.sleep` by `_sleep_yielding`, from the
    first invocation in progress until the last one ends (a sleeping invocation may end after one that
    started later). Counted under _INVOKE_LOCK."""

    def __init__(self) -> None:
        self.count = 0
        self.original_environ: Any = None

    @contextmanager
    def entered(self) -> Iterator[ThreadEnviron]:
        with _INVOKE_LOCK:
            if self.count == 0:
                self.original_environ = os.environ
                if not isinstance(os.environ, ThreadEnviron):
                    # a view over it, not a new environment
                    os.environ = ThreadEnviron(os.environ)  # type: ignore[assignment]  # noqa: B003
                time.sleep = _sleep_yielding
            self.count += 1
            environ = os.environ
        assert isinstance(environ, ThreadEnviron)
        try:
            yield environ
        finally:
            with _INVOKE_LOCK:
                self.count -= 1
                if self.count == 0:
                    time.sleep = _WALL_SLEEP
                    os.environ = self.original_environ  # noqa: B003
                    self.original_environ = None


_WHILE_INVOCATIONS_RUN = _WhileInvocationsRun()


def _sleep_yielding(seconds: float | SupportsIndex) -> None:
    """time.sleep while invocations run: on a thread running a handler, the turn goes to the other
    invocations until the time is up (Condition.wait releases _INVOKE_LOCK, however deeply held, and
    takes it back); on any other thread, time.sleep."""
    if not getattr(_invocation, "running", False):
        _WALL_SLEEP(seconds)
        return
    deadline = time.monotonic() + float(seconds)
    with _TURNS:
        while (left := deadline - time.monotonic()) > 0:
            _TURNS.wait(left)


def running_a_handler() -> bool:
    """This thread is running a function's handler (not the router, a client's transfer thread, the CLI)."""
    return bool(getattr(_invocation, "running", False))


@contextmanager
def thread_environ() -> Iterator[ThreadEnviron]:
    """os.environ replaced by a ThreadEnviron over it while this (and any other) invocation runs."""
    with _WHILE_INVOCATIONS_RUN.entered() as environ:
        yield environ


@contextmanager
def function_environment(variables: Mapping[str, str]) -> Iterator[None]:
    """`variables` in os.environ for the duration, as this thread sees it (ThreadEnviron); this thread
    counts as running a handler (its sleeps give the turn away)."""
    with _INVOKE_LOCK, thread_environ() as environ:
        _settings_cache_clear()
        was_running = getattr(_invocation, "running", False)
        _invocation.running = True
        try:
            with environ.overlay(variables):
                yield
        finally:
            _invocation.running = was_running
            _settings_cache_clear()


def load_handler(dotted: str) -> Callable[[Any, Any], Any]:
    module_name, _, attribute = dotted.rpartition(".")
    if not module_name:
        raise ValueError(f"handler {dotted!r} is not module.function")
    handler = getattr(importlib.import_module(module_name), attribute)
    if not callable(handler):
        raise TypeError(f"handler {dotted!r} is not callable")
    return handler  # type: ignore[no-any-return]


def run_handler(
    function: FunctionSpec,
    event: Any,
    region: str,
    request_id: str,
    credentials: Mapping[str, str] | None = None,
    time_scale: float = 1.0,
) -> tuple[Any, Exception | None]:
    """The function's handler called with `event` and a context, in the function's environment (with
    `credentials`, its role's session, when IAM is enforced; its wall-clock settings at `time_scale`):
    (its result, None), or (None, the exception it raised)."""
    environment = runtime_environment(function, region, time_scale)
    with function_environment({**environment, **dict(credentials or {})}):
        try:
            handler = load_handler(function.handler)
            return handler(event, LambdaContext(function, request_id)), None
        except Exception as exc:
            return None, exc
