"""Serve mode: the sandbox as a long-running local AWS endpoint (`sluice sandbox serve`, `make sandbox`).

    sluice sandbox serve [--port 4566] [--time-scale 1.0] [--host 127.0.0.1] [--no-seed] [--quiet]

Starts a `Sandbox` (moto server on 127.0.0.1:<port>, the stack provisioned from template.yaml, the
router and the gap-fillers), creates the demo's SageMaker resources with plain SageMaker APIs
(`seed.py`), then prints ONE JSON line on stdout:

    {"endpoint_url": "http://127.0.0.1:4566", "region": "us-east-1", "ArtifactBucketName": "…",
     "RegistryTableName": "…", "StateMachineArn": "…", "NotificationTopicArn": "…",
     "demo": {"multi_model_endpoint": "…", "realtime_endpoint": "…", "batch_model": "…"}}

writes the same object to `.sandbox/outputs.json` (under the current directory), prints copy-paste
hints on stderr, and serves until SIGINT (Ctrl-C) or SIGTERM, writing one line per event on stderr
(uploads and the functions they invoked, rollout status and weights, alarm transitions, executions:
activity.py; `--quiet` leaves them out).

Then it stops within STOP_DEADLINE_SECONDS (10 s), even on a busy machine: each step of the stop
(router, executions, gap-fillers, server, emulator state, activity log, the thread check) has its own
deadline and is abandoned at it (shutdown.py), each reported on stderr as `stop: <step> done|abandoned
in N s (budget B s)`; then the process ends with `os._exit`, skipping Python's own finalization, a
garbage collection over the emulator's whole state that took 2.5-3 s on a quiet two-core machine
and far longer on a busy one (it was most of a 20 s stop). A watchdog ends the process with exit 1
should the stop still run at the deadline.

Anyone who can reach the port can drive the emulator with any credentials, so it binds 127.0.0.1 only:
another `--host` is refused. Exit codes: 0 stopped cleanly, 1 threads still alive after the stop (or
the stop past its deadline), 2 usage (a host other than 127.0.0.1, a bad time scale) or the port
already in use.

stdout carries only the JSON line: while serving, `sys.stdout` is redirected to stderr, so the
handlers' own output (Powertools logs and metrics, shown with `--handler-logs`) goes there too.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, redirect_stdout, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from sluice_cli.sandbox import seed

BIND_HOST = "127.0.0.1"
DEFAULT_PORT = 4566
OUTPUTS_FILE = Path(".sandbox") / "outputs.json"
EXIT_OK = 0
EXIT_THREADS_LEFT = 1
EXIT_USAGE = 2
# The stack output each key of the JSON line comes from.
STACK_OUTPUT_KEYS = {
    "ArtifactBucketName": "ArtifactBucketName",
    "RegistryTableName": "RegistryTableName",
    "StateMachineArn": "RolloutStateMachineArn",
    "NotificationTopicArn": "NotificationTopicArn",
}
DEMO_KEYS = ("multi_model_endpoint", "realtime_endpoint", "batch_model")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
THREAD_JOIN_SECONDS = 10.0
# A serve-mode stop: the sandbox's steps (shutdown.STOP_BUDGETS, 8 s), then these; 9 s in all, within
STOP_DEADLINE_SECONDS = 10.0  # of the signal, or the watchdog ends the process
ACTIVITY_LOG_SECONDS = 0.5
THREADS_SECONDS = 0.5


class ServeError(Exception):
    """Serve mode cannot start: `message` on stderr, `exit_code` returned."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@dataclass(frozen=True)
class ServeOptions:
    port: int = DEFAULT_PORT
    time_scale: float = 1.0
    host: str = BIND_HOST
    seed: bool = True
    handler_logs: bool = False
    update_seconds: float = 0.0  # how long a SageMaker endpoint update stays Updating (wall seconds)
    weights_update_seconds: float | None = None  # the same for a weights-only change (None: as above)
    quiet: bool = False  # no line per event on stderr (activity.py)


@dataclass
class ServeResult:
    exit_code: int
    document: dict[str, Any] | None = None  # the JSON line, once the sandbox was up
    threads_left: tuple[str, ...] = ()  # non-daemon threads still alive after the stop


# -- checks ---------------------------------------------------------------------------------------------
def check_host(host: str) -> None:
    if host != BIND_HOST:
        raise ServeError(
            f"refusing to serve on {host!r}: the sandbox binds {BIND_HOST} only (the emulator accepts any "
            "credentials, so anyone who can reach the port could drive it)"
        )


def check_time_scale(time_scale: float) -> None:
    if not time_scale > 0:
        raise ServeError(f"--time-scale must be greater than 0 (1.0 is real time), not {time_scale}")


def check_port(port: int) -> None:
    """ServeError (exit 2) when `port` cannot be bound on 127.0.0.1, with the same options the server
    uses (SO_REUSEADDR: a port a stopped server left in TIME_WAIT counts as free)."""
    if not 0 <= port <= 65535:
        raise ServeError(f"--port must be between 0 and 65535, not {port}")
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((BIND_HOST, port))
    except OSError as error:
        raise ServeError(port_in_use_message(port, error)) from error
    finally:
        probe.close()


def port_in_use_message(port: int, error: BaseException | None) -> str:
    reason = getattr(error, "strerror", None) or str(error or "")
    return (
        f"cannot serve on {BIND_HOST}:{port}: {reason or 'address already in use'}. Another sandbox (or "
        f"something else) holds the port: stop it, or pick another port (sluice sandbox serve --port N, "
        f"make sandbox PORT=N)."
    )


def _address_in_use(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.EADDRINUSE:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


# -- what serve mode shows --------------------------------------------------------------------------------
def serve_document(
    endpoint_url: str, region: str, stack_outputs: Mapping[str, Any], demo: Mapping[str, str] | None
) -> dict[str, Any]:
    """The JSON line (and .sandbox/outputs.json)."""
    document: dict[str, Any] = {"endpoint_url": endpoint_url, "region": region}
    for key, output in STACK_OUTPUT_KEYS.items():
        document[key] = stack_outputs[output]
    document["demo"] = {key: (demo or {}).get(key) for key in DEMO_KEYS}
    return document


def write_outputs(document: Mapping[str, Any], directory: Path) -> Path:
    """`directory/.sandbox/outputs.json`, replaced atomically (a reader never sees half a file)."""
    path = directory / OUTPUTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def sluice_on_path() -> str | None:
    """`export PATH=…` for the shell the hints are pasted into, when the `sluice` of this environment is
    not the one it finds (make sandbox runs .venv/bin/sluice without activating the environment)."""
    here = Path(sys.executable).with_name("sluice")
    found = shutil.which("sluice")
    if not here.exists() or (found is not None and Path(found).resolve() == here.resolve()):
        return None
    return f'export PATH="{here.parent}:$PATH"'


def hints(document: Mapping[str, Any], time_scale: float, outputs_path: Path) -> str:
    """Copy-paste examples for another shell, each working as pasted (one block or line by line, in any
    directory): the AWS CLI and `sluice`, both with --endpoint-url; the files they upload are made
    first, and the alarm is waited for before its state is set."""
    url = document["endpoint_url"]
    bucket = document["ArtifactBucketName"]
    table = document["RegistryTableName"]
    demo = document.get("demo") or {}
    mme = demo.get("multi_model_endpoint") or "my-mme"
    realtime = demo.get("realtime_endpoint") or "my-endpoint"
    batch = demo.get("batch_model") or "my-batch-model"
    aws = f"aws --endpoint-url {url}"
    sluice = f'sluice --endpoint-url {url} --table "$T"'
    clock = "real time" if time_scale == 1 else f"Step Functions time x{1 / time_scale:g} faster"
    lines = [
        f"Sluice sandbox serving on {url} ({document['region']}, local emulator, {clock}).",
        f"  artifact bucket  {bucket}",
        f"  registry table   {table}",
        f"  state machine    {document['StateMachineArn']}",
        f"  topic            {document['NotificationTopicArn']}",
    ]
    if demo.get("multi_model_endpoint"):
        lines.append(
            f"  demo resources   multi-model endpoint {mme}, real-time endpoint {realtime} (v1, "
            f"2 instances, autoscaled), batch model {batch}"
        )
    lines += [
        f"  outputs          {outputs_path} (the JSON line on stdout)",
        "",
        "Try it from another shell, in a scratch directory (any credentials work; these are dummies):",
        '  cd "$(mktemp -d)"',
        "  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION="
        + str(document["region"]),
        *([f"  {path}"] if (path := sluice_on_path()) else []),
        f"  B={bucket} T={table}",
        "  echo weights > model.pth && tar -czf model.tar.gz model.pth",
        f"  {aws} s3 cp model.tar.gz s3://$B/multi-model/{mme}/churn.tar.gz",
        f"  until {sluice} models {mme}; do sleep 2; done",
        f"  printf '1,0.5\\n2,0.7\\n' | {aws} s3 cp - s3://$B/batch/{batch}/input/records.csv",
        f"  {sluice} jobs --model {batch}",
        f'  echo \'{{"rollout": {{"steps": [50, 100], "bake_seconds": 600}}}}\' | '
        f"{aws} s3 cp - s3://$B/endpoints/{realtime}/deploy.json",
        f"  {aws} s3 cp model.tar.gz s3://$B/endpoints/{realtime}/v2/model.tar.gz",
        f"  {sluice} status {realtime}",
        f"  {aws} cloudwatch wait alarm-exists --alarm-names sluice-{realtime}-v2-errors"
        "   # created as the canary starts",
        f"  {aws} cloudwatch set-alarm-state --alarm-name sluice-{realtime}-v2-errors "
        '--state-value ALARM --state-reason "simulated error spike"',
        f"  {aws} sagemaker describe-endpoint --endpoint-name {realtime} "
        "--query 'ProductionVariants[].[VariantName,CurrentWeight]'",
        f"  {sluice} history {realtime}",
        "",
        "Ctrl-C (or SIGTERM) stops the sandbox; everything in it is forgotten.",
    ]
    return "\n".join(lines)


# -- running ------------------------------------------------------------------------------------------------
@contextmanager
def stop_on_signals(stop: threading.Event, say: Callable[[str], None]) -> Iterator[None]:
    """SIGINT and SIGTERM set `stop` (from the main thread only; elsewhere nothing is installed).
    A second signal while stopping only says so: the stop is already under way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            say(f"sluice sandbox: already stopping ({signal.Signals(signum).name})")
        stop.set()

    previous = {signum: signal.signal(signum, handle) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def threads_left(timeout: float = THREAD_JOIN_SECONDS) -> list[threading.Thread]:
    """Non-daemon threads (other than this one) still alive after up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [
            thread
            for thread in threading.enumerate()
            if thread is not threading.current_thread() and not thread.daemon and thread.is_alive()
        ]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def serve(
    options: ServeOptions,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    directory: Path | None = None,
    stop: threading.Event | None = None,
) -> ServeResult:
    """Run serve mode until `stop` is set (by SIGINT/SIGTERM when called from the main thread)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    directory = directory or Path.cwd()
    stop = stop or threading.Event()

    def say(text: str) -> None:
        print(text, file=err, flush=True)

    try:
        check_host(options.host)
        check_time_scale(options.time_scale)
        check_port(options.port)
    except ServeError as error:
        say(f"sluice sandbox: {error.message}")
        return ServeResult(error.exit_code)

    from sluice_cli.sandbox.activity import ActivityLog
    from sluice_cli.sandbox.fault_requests import arm_requests
    from sluice_cli.sandbox.server import Sandbox, quiet_handler_output
    from sluice_cli.sandbox.shutdown import BoundedShutdown

    parameters = {"SageMakerExecutionRoleArn": seed.EXECUTION_ROLE_ARN}
    if not options.handler_logs:
        parameters["LogLevel"] = "WARNING"
    result = ServeResult(EXIT_OK)
    activity: ActivityLog | None = None
    shutdown = BoundedShutdown(lambda report: None)  # replaced by the stop's own
    where = f"{BIND_HOST}:{options.port}" if options.port else f"a free port of {BIND_HOST}"
    say(f"sluice sandbox: starting on {where} (moto server, the stack from template.yaml) …")
    began = time.monotonic()
    with ExitStack() as stack:
        stack.enter_context(stop_on_signals(stop, say))
        stack.enter_context(redirect_stdout(err))  # stdout carries the JSON line only
        stack.enter_context(quiet_handler_output(not options.handler_logs))
        sandbox = Sandbox(
            port=options.port,
            time_scale=options.time_scale,
            parameters=parameters,
            endpoint_update_delay_seconds=options.update_seconds,
            endpoint_weights_update_delay_seconds=options.weights_update_seconds,
        )
        try:
            stack.enter_context(sandbox)
        except OSError as error:
            if not _address_in_use(error):
                raise
            say(f"sluice sandbox: {port_in_use_message(options.port, error.__cause__ or error)}")
            return ServeResult(EXIT_USAGE)
        if not stop.is_set():
            bucket = sandbox.outputs.outputs["ArtifactBucketName"]
            demo = seed.seed_demo(sandbox, bucket) if options.seed else None
            document = serve_document(sandbox.endpoint_url, sandbox.region, sandbox.outputs.outputs, demo)
            path = write_outputs(document, directory)
            out.write(json.dumps(document) + "\n")
            out.flush()
            result.document = document
            say(hints(document, options.time_scale, path.relative_to(directory)))
            say(f"sluice sandbox: up in {time.monotonic() - began:.1f} s; serving until Ctrl-C or SIGTERM.")
            if not options.quiet:
                activity = ActivityLog(say)
                activity.attach(sandbox)
            while not stop.wait(0.5):
                for line in arm_requests(sandbox.faults, directory):  # `sluice sandbox fault`
                    say(f"sluice sandbox: {line}")
        say(
            f"sluice sandbox: stopping within {STOP_DEADLINE_SECONDS:g} s (running executions stopped, "
            "threads joined, port closed) …"
        )
        if activity is not None:
            activity.stop_reading()
        shutdown = BoundedShutdown(lambda report: say(f"sluice sandbox: {report.line()}"))
        sandbox.close(shutdown)  # each step bounded; the ExitStack's own close of it is then a no-op
        if activity is not None:
            shutdown.budgets["activity log"] = ACTIVITY_LOG_SECONDS
            shutdown.run("activity log", lambda: activity.close(ACTIVITY_LOG_SECONDS - 0.1))
    left = threads_left(THREADS_SECONDS)
    abandoned = [report.name for report in shutdown.reports if report.outcome == "abandoned"]
    if left:
        result.exit_code = EXIT_THREADS_LEFT
        result.threads_left = tuple(thread.name for thread in left)
        say(f"sluice sandbox: threads still running after the stop: {', '.join(result.threads_left)}")
    elif abandoned:
        say(f"sluice sandbox: stopped, abandoning {', '.join(abandoned)}; the process exit frees the port.")
    else:
        say(f"sluice sandbox: stopped; {BIND_HOST}:{sandbox.port} is free.")
    return result


def exit_now(code: int) -> None:
    """End the process at once: logs and streams flushed, Python's finalization skipped (its garbage
    collection over the emulator's state is the slowest part of a stop, and nothing in it matters)."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def stop_watchdog(stop: threading.Event, deadline: float = STOP_DEADLINE_SECONDS) -> threading.Thread:
    """A daemon thread that ends the process with exit 1 `deadline` seconds after `stop` is set, should
    the stop still run then (each step has its own deadline: this is the net under them)."""

    def watch() -> None:
        stop.wait()
        time.sleep(deadline)
        print(
            f"sluice sandbox: the stop still runs {deadline:g} s after the signal: exiting anyway.",
            file=sys.stderr,
            flush=True,
        )
        exit_now(EXIT_THREADS_LEFT)

    thread = threading.Thread(target=watch, name="sandbox-stop-watchdog", daemon=True)
    thread.start()
    return thread


def main(options: ServeOptions) -> int:
    """The command's body: serve until a signal, stop within STOP_DEADLINE_SECONDS (a watchdog makes
    sure), then end the process with the exit code at once (`exit_now`): a non-daemon thread that
    outlived the stop, or Python's finalization, cannot hold it up."""
    stop = threading.Event()
    stop_watchdog(stop)
    result = serve(options, stop=stop)
    exit_now(result.exit_code)
    return result.exit_code  # pragma: no cover - exit_now does not return
