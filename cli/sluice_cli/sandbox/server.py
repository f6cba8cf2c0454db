"""`Sandbox`: the whole local stack in one context manager.

    with Sandbox() as sandbox:           # moto server on 127.0.0.1, stack from template.yaml, router on
        s3 = sandbox.client("s3")
        s3.put_object(Bucket=sandbox.outputs.ref("ArtifactBucket"), Key="...", Body=b"...")
        sandbox.wait_idle()
        sandbox.router.invocations

On entry: dummy credentials and the region in the environment, moto's ThreadedMotoServer on a free
port of 127.0.0.1, `AWS_ENDPOINT_URL` pointing at it (boto3 honours it, so the handlers' own clients
reach the emulator) and `MOTO_PORT` too (moto's Step Functions interpreter sends its service
integrations, lambda:invoke and aws-sdk:* tasks, to http://localhost:$MOTO_PORT, default 5000), the
real-AWS guard, Step Functions execute mode (`POST /moto-api/config`
{"stepfunctions": {"execute_state_machine": true}}: moto's interpreter runs the ASL), the
gap-fillers, the stack provisioned, the router started (and bound to moto's Lambda, so `lambda:invoke`
tasks run the real handlers in-process). On exit, all of it is undone in reverse order: executions
still running stopped, threads joined, server stopped (port free), moto's state reset, patches
removed, moto's config and the environment restored. `close(BoundedShutdown(...))` gives each of
those steps that can wait a deadline and abandons it there (shutdown.py: serve mode stops within 10 s
of SIGTERM).

`time_scale` compresses Step Functions time (Wait states, Retry intervals, task timeouts: 0.02 turns
a 300 s bake into 6 s) and the waits inside functions (their `WALL_CLOCK_SETTINGS`, e.g. ReadEndpoint's
poll interval and budget, through the router); `endpoint_update_delay_seconds` gives SageMaker
endpoint updates an Updating phase of that many (wall) seconds, and
`endpoint_weights_update_delay_seconds` (None: the same) weights calls that launch no instance. Both
are the gap-fillers'
(gaps.time_compression.TimeCompression, gaps.sagemaker_endpoint.UpdateEndpoint) and can be changed
while the sandbox runs.

`evaluate_alarms` (default True) runs the metric alarm evaluator (gaps.cloudwatch.MetricAlarmEvaluation,
the alarms/ package) on a thread for the life of the sandbox: alarms go to ALARM/OK from the metric
data in the emulated CloudWatch, with their "CloudWatch Alarm State Change" events. Alarm periods are
scaled by `time_scale` too (a 60 s period is 60 x time_scale wall seconds of data);
`alarm_evaluation_interval` is the longest wall time between two passes.

The real-AWS guard (`refuse_real_aws`) patches `botocore.httpsession.URLLib3Session.send`, the one
method every botocore HTTP request goes through (API calls of every session and client, and the IMDS
and container credential fetchers), so it covers clients created anywhere in the process, not only
those of one session (which a `before-send` event handler would).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

from sluice_cli.sandbox.faults import FaultInjection
from sluice_cli.sandbox.gaps.awslambda import LambdaEventInvocations, StepFunctionsLambdaTasks
from sluice_cli.sandbox.gaps.cloudformation import SandboxStackRecord
from sluice_cli.sandbox.gaps.iam import StepFunctionsTaskCredentials
from sluice_cli.sandbox.gaps.registry import EmulatorGaps
from sluice_cli.sandbox.gaps.time_compression import TimeCompression
from sluice_cli.sandbox.iam_audit import LEDGER_ENV, IamAudit
from sluice_cli.sandbox.iam_enforcement import RoleSessions, iam_enforced
from sluice_cli.sandbox.provision.clients import Clients
from sluice_cli.sandbox.provision.stack import StackOutputs
from sluice_cli.sandbox.provision.stack_creation import provision_stack
from sluice_cli.sandbox.router import EventRouter
from sluice_cli.sandbox.shutdown import BoundedShutdown, StepAbandoned

log = logging.getLogger(__name__)

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
DEFAULT_TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
}


ASL_INTERPRETER_LOGGER = "moto.stepfunctions.parser.asl"  # logs an ERROR for each Fail state reached


@contextmanager
def quiet_handler_output(enabled: bool) -> Iterator[None]:
    """When `enabled`: no Powertools metric lines (EMF on stdout) from the in-process handlers, and no
    ERROR line from moto's ASL interpreter for each Fail state reached (a rollback ends in one)."""
    if not enabled:
        yield
        return
    previous = os.environ.get("POWERTOOLS_METRICS_DISABLED")
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    interpreter = logging.getLogger(ASL_INTERPRETER_LOGGER)
    level = interpreter.level
    interpreter.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        interpreter.setLevel(level)
        if previous is None:
            os.environ.pop("POWERTOOLS_METRICS_DISABLED", None)
        else:
            os.environ["POWERTOOLS_METRICS_DISABLED"] = previous


# --------------------------------------------------------------------------------------------------
# The real-AWS guard
# --------------------------------------------------------------------------------------------------
class RealAwsRequestRefused(RuntimeError):
    """A botocore request was about to leave the machine while the sandbox guard was on."""


_guard_lock = threading.Lock()
_guard_depth = 0
_original_send: Any = None


def _guarded_send(self: Any, request: Any) -> Any:
    host = urllib.parse.urlsplit(request.url).hostname or ""
    if host not in LOCAL_HOSTS:
        raise RealAwsRequestRefused(
            f"sandbox: refusing a request to {request.url} (only {sorted(LOCAL_HOSTS)})"
        )
    return _original_send(self, request)


@contextmanager
def refuse_real_aws() -> Iterator[None]:
    """While active, any botocore request to a host other than 127.0.0.1/localhost raises
    RealAwsRequestRefused before a connection is opened (nestable)."""
    global _guard_depth, _original_send
    from botocore.httpsession import URLLib3Session

    with _guard_lock:
        if _guard_depth == 0:
            _original_send = URLLib3Session.send
            URLLib3Session.send = _guarded_send
        _guard_depth += 1
    try:
        yield
    finally:
        with _guard_lock:
            _guard_depth -= 1
            if _guard_depth == 0:
                URLLib3Session.send = _original_send
                _original_send = None


# --------------------------------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------------------------------
@contextmanager
def sandbox_environment(endpoint_url: str, region: str) -> Iterator[None]:
    """Dummy credentials, the region and the endpoint in os.environ; everything that could point a
    client elsewhere (profiles, config files, per-service endpoints) removed; all restored after."""
    import boto3

    port = urllib.parse.urlsplit(endpoint_url).port
    wanted: dict[str, str | None] = {
        **DUMMY_CREDENTIALS,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_ENDPOINT_URL": endpoint_url,
        # moto's Step Functions interpreter calls its service integrations at localhost:$MOTO_PORT.
        "MOTO_PORT": None if port is None else str(port),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_PROFILE": None,
        "AWS_DEFAULT_PROFILE": None,
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": None,
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": None,
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": None,
        "AWS_WEB_IDENTITY_TOKEN_FILE": None,
        "AWS_ROLE_ARN": None,
    }
    for name in os.environ:
        if name.startswith("AWS_ENDPOINT_URL_"):
            wanted[name] = None
    saved = {name: os.environ.get(name) for name in wanted}
    saved_session = boto3.DEFAULT_SESSION
    for name, value in wanted.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    boto3.DEFAULT_SESSION = None  # it caches credentials and config resolved before
    # The router swaps each function's variables into os.environ around an invocation, while other
    # threads (moto's Step Functions interpreter creating boto3 clients, urllib looking for proxies)
    # copy or walk os.environ: the stock copy(), items() and values() list the keys, then read each,
    # and a key removed in between raises KeyError (seen as States.Runtime 'AWS_LAMBDA_FUNCTION_NAME',
    # from urllib.request.getproxies_environment). Read the underlying dict in one step instead.
    os.environ.copy = _snapshot_environ  # type: ignore[method-assign]
    os.environ.items = lambda: _snapshot_environ().items()  # type: ignore[method-assign]
    os.environ.values = lambda: _snapshot_environ().values()  # type: ignore[method-assign]
    try:
        yield
    finally:
        del os.environ.copy
        del os.environ.items
        del os.environ.values
        for name, previous in saved.items():
            if previous is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = previous
        boto3.DEFAULT_SESSION = saved_session


def _snapshot_environ() -> dict[str, str]:
    """os.environ.copy() that cannot race with another thread adding or removing a variable."""
    environ: Any = os.environ
    data = dict(environ._data)  # one C-level dict copy: atomic under the GIL
    return {environ.decodekey(key): environ.decodevalue(value) for key, value in data.items()}


# --------------------------------------------------------------------------------------------------
# The moto server
# --------------------------------------------------------------------------------------------------
def _server_class() -> type[Any]:
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class _ClosingRequestHandler(MotoRequestHandler):
        # One request per connection: no keep-alive handler thread outlives the server.
        protocol_version = "HTTP/1.0"

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            """Quiet: no access log line per request."""

    class SandboxMotoServer(ThreadedMotoServer):
        """moto's ThreadedMotoServer, with connections closed after each response, and a start that
        fails (instead of waiting forever) when the port cannot be bound."""

        startup_error: BaseException | None = None

        def _server_entry(self) -> None:
            app = DomainDispatcherApplication(create_backend_app)
            try:
                self._server = make_server(
                    self._ip_address, self._port, app, True, request_handler=_ClosingRequestHandler
                )
            except BaseException as exc:
                self.startup_error = exc
                self._server_ready_event.set()
                return
            self._server_ready_event.set()
            self._server.serve_forever()

        def start(self) -> None:
            super().start()
            error = self.startup_error
            if error is not None:
                self._thread.join()  # type: ignore[union-attr]
                # werkzeug turns a bind failure into SystemExit(1), the OSError in its context.
                cause = error.__context__ if isinstance(error, SystemExit) and error.__context__ else error
                raise OSError(f"sandbox: cannot serve on {self._ip_address}:{self._port}: {cause}") from cause

    return SandboxMotoServer


def _reset_moto() -> None:
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()


# Step Functions execute mode (moto's interpreter runs the ASL) and AWS's managed policies in IAM (SAM's
# roles attach AWSLambdaBasicExecutionRole, AWSXrayWriteOnlyAccess).
SANDBOX_MOTO_CONFIG = {
    "stepfunctions": {"execute_state_machine": True},
    "iam": {"load_aws_managed_policies": True},
}


@contextmanager
def moto_config(endpoint_url: str, config: Mapping[str, Any]) -> Iterator[None]:
    """Set moto's config through the server's `POST /moto-api/config` (what serve mode and any moto
    server take), and put this process's previous values back afterwards (the sandbox's server runs
    in-process, so it shares moto's `default_user_config` with any later `mock_aws`)."""
    from moto.core.config import default_user_config

    saved = {key: copy.deepcopy(default_user_config.get(key)) for key in config}
    request = urllib.request.Request(  # noqa: S310 - the sandbox's own http://127.0.0.1 server
        f"{endpoint_url}/moto-api/config",
        data=json.dumps(config).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  # nosec B310
            response.read()
        for key, value in config.items():  # moto-api takes batch/lambda/stepfunctions only (not iam)
            default_user_config[key] = copy.deepcopy(value)  # type: ignore[literal-required]
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                default_user_config.pop(key, None)  # type: ignore[misc]
            else:
                default_user_config[key] = value  # type: ignore[literal-required]


# --------------------------------------------------------------------------------------------------
# The sandbox
# --------------------------------------------------------------------------------------------------
def _role_owners(outputs: StackOutputs) -> dict[str, str]:
    """The stack's role names -> the function or state machine each serves (SAM's `<LogicalId>Role`)."""
    owners = {}
    for logical_id, resource in outputs.resources.items():
        if resource.type == "AWS::IAM::Role":
            owner = logical_id.removesuffix("Role")
            owners[resource.ref] = owner if owner in outputs.resources else logical_id
    return owners


def _policy_templates(outputs: StackOutputs) -> dict[str, str]:
    """Inline policy names SAM gives the expansion of a policy template (`<LogicalId>RolePolicy<i>`,
    i = its place in `Policies`: samtranslator's role_constructor) -> the template's name."""
    names = {}
    for logical_id, resource in outputs.template.body.get("Resources", {}).items():
        policies = (resource.get("Properties") or {}).get("Policies")
        for index, entry in enumerate(policies if isinstance(policies, list) else []):
            if isinstance(entry, dict) and len(entry) == 1 and "Statement" not in entry:
                (name,) = entry
                if not str(name).startswith("Fn::"):
                    names[f"{logical_id}RolePolicy{index}"] = str(name)
    return names


class Sandbox:
    """moto server + stack from template.yaml + gap-fillers + router, for the life of a `with` block.

    One sandbox per process at a time (moto's state and os.environ are per process).
    """

    _active: ClassVar[Sandbox | None] = None
    _active_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        template_path: str | Path | None = None,
        *,
        stack_name: str = "sluice",
        parameters: Mapping[str, Any] | None = None,
        port: int = 0,
        region: str = "us-east-1",
        transform_delay_seconds: float = 1.0,
        time_scale: float = 1.0,
        endpoint_update_delay_seconds: float = 0.0,
        endpoint_weights_update_delay_seconds: float | None = None,
        poll_wait_seconds: int = 1,
        retry_delay_seconds: float = 0.0,
        start_router: bool = True,
        skipped_types: Mapping[str, str] | None = None,
        evaluate_alarms: bool = True,
        alarm_evaluation_interval: float = 1.0,
        enforce_iam: bool = True,
    ) -> None:
        self.template_path = Path(template_path) if template_path is not None else DEFAULT_TEMPLATE
        self.stack_name = stack_name
        self.parameters = dict(parameters or {})
        self.port = port
        self.region = region
        self.transform_delay_seconds = transform_delay_seconds
        self.time_scale = time_scale
        self.endpoint_update_delay_seconds = endpoint_update_delay_seconds
        self.endpoint_weights_update_delay_seconds = endpoint_weights_update_delay_seconds
        self.poll_wait_seconds = poll_wait_seconds
        self.retry_delay_seconds = retry_delay_seconds
        self.start_router = start_router
        self.skipped_types = dict(skipped_types or {})
        self.evaluate_alarms = evaluate_alarms
        self.alarm_evaluation_interval = alarm_evaluation_interval
        self.enforce_iam = enforce_iam
        self.endpoint_url = ""
        self._exit_stack: ExitStack | None = None
        self._clients: Clients | None = None
        self._outputs: StackOutputs | None = None
        self._router: EventRouter | None = None
        self._gaps: EmulatorGaps | None = None
        self._faults: FaultInjection | None = None
        self._shutdown: BoundedShutdown | None = None  # while a bounded close runs
        self.iam_audit: IamAudit | None = None  # when IAM is enforced

    # -- what the caller uses -----------------------------------------------------------------------
    @property
    def clients(self) -> Clients:
        if self._clients is None:
            raise RuntimeError("the sandbox is not running")
        return self._clients

    def client(self, service_name: str) -> Any:
        return self.clients.client(service_name)

    @property
    def outputs(self) -> StackOutputs:
        if self._outputs is None:
            raise RuntimeError("the sandbox is not running")
        return self._outputs

    @property
    def router(self) -> EventRouter:
        if self._router is None:
            raise RuntimeError("the sandbox is not running")
        return self._router

    @property
    def faults(self) -> FaultInjection:
        """Arm AWS errors on demand (sluice_cli/sandbox/faults.py)."""
        if self._faults is None:
            raise RuntimeError("the sandbox is not running")
        return self._faults

    @property
    def gaps(self) -> EmulatorGaps:
        if self._gaps is None:
            raise RuntimeError("the sandbox is not running")
        return self._gaps

    def wait_idle(self, timeout: float = 10.0, *, include_delayed: bool = True) -> None:
        self.router.wait_idle(timeout, include_delayed=include_delayed)

    def wait_for_execution(self, execution_arn: str, timeout: float = 30.0) -> dict[str, Any]:
        """DescribeExecution once the Step Functions execution has ended (TimeoutError otherwise)."""
        return self.router.wait_for_execution(execution_arn, timeout)

    # -- lifecycle ----------------------------------------------------------------------------------
    def __enter__(self) -> Self:
        with Sandbox._active_lock:
            if Sandbox._active is not None:
                raise RuntimeError("another Sandbox is running in this process")
            Sandbox._active = self
        stack = ExitStack()
        stack.callback(self._release)
        try:
            self._start(stack)
        except BaseException:
            stack.close()
            raise
        self._exit_stack = stack
        return self

    def _start(self, stack: ExitStack) -> None:
        import boto3

        werkzeug_logger = logging.getLogger("werkzeug")
        stack.callback(werkzeug_logger.setLevel, werkzeug_logger.level)
        werkzeug_logger.setLevel(logging.ERROR)
        # moto's ASL interpreter logs every execution that ends in a Fail state (a rolled-back rollout)
        # as an ERROR with a dump of the state: expected outcomes, recorded in the execution history.
        asl_logger = logging.getLogger(ASL_INTERPRETER_LOGGER)
        stack.callback(asl_logger.setLevel, asl_logger.level)
        asl_logger.setLevel(logging.CRITICAL)

        stack.enter_context(refuse_real_aws())
        server = _server_class()(ip_address="127.0.0.1", port=self.port, verbose=False)
        server.start()
        self._on_stop(stack, "emulator state", _reset_moto)  # after the server stopped (ExitStack: LIFO)
        self._on_stop(stack, "server", server.stop)
        host, port = server.get_host_and_port()
        self.port = port
        self.endpoint_url = f"http://{host}:{port}"
        stack.enter_context(sandbox_environment(self.endpoint_url, self.region))
        _reset_moto()
        # Before provisioning: execute mode keeps its state machines in a backend of its own.
        stack.enter_context(moto_config(self.endpoint_url, SANDBOX_MOTO_CONFIG))
        _reset_moto()  # backends made before the config (IAM reads load_aws_managed_policies at creation)

        self._gaps = EmulatorGaps.default(
            transform_delay_seconds=self.transform_delay_seconds,
            time_scale=self.time_scale,
            update_delay_seconds=self.endpoint_update_delay_seconds,
            weights_update_delay_seconds=self.endpoint_weights_update_delay_seconds,
            evaluate_alarms=self.evaluate_alarms,
            alarm_evaluation_interval=self.alarm_evaluation_interval,
        )
        self._gaps.install()  # (the alarm evaluator's thread starts and stops with it)
        self._on_stop(stack, "gap-fillers", self._gaps.uninstall)
        self._faults = FaultInjection()
        stack.enter_context(self._faults)

        self._clients = Clients(
            boto3.session.Session(region_name=self.region), endpoint_url=self.endpoint_url
        )
        stack.callback(self._clients.close)
        self._outputs = provision_stack(
            self._clients,
            self.template_path,
            stack_name=self.stack_name,
            parameters=self.parameters,
            skipped_types=self.skipped_types,
        )
        self._record_stack()
        self._on_stop(stack, "executions", self._stop_executions)  # after the router stopped
        role_sessions = self._enforce_iam(stack) if self.enforce_iam else None
        compression = self._gaps.get(TimeCompression)
        self._router = EventRouter(
            self._outputs,
            self._clients,
            poll_wait_seconds=self.poll_wait_seconds,
            retry_delay_seconds=self.retry_delay_seconds,
            busy_probes=[self._gaps.pending],
            role_credentials=role_sessions.environment if role_sessions else None,
            time_scale=lambda: compression.time_scale,
        )
        lambda_tasks = self._gaps.get(StepFunctionsLambdaTasks)
        lambda_tasks.bind(self._router.invoke_lambda)
        stack.callback(lambda_tasks.bind, None)
        event_invocations = self._gaps.get(LambdaEventInvocations)
        event_invocations.bind(self._router.invoke_event)
        stack.callback(event_invocations.bind, None)
        # also waits for Event invocations of a router never started
        self._on_stop(stack, "router", self._stop_router)
        if self.start_router:
            self._router.start()
        log.info("sandbox up at %s (stack %s)", self.endpoint_url, self.stack_name)

    def _record_stack(self) -> None:
        """DescribeStacks answers the stack with its outputs, as on AWS (gaps/cloudformation.py)."""
        outputs = self.outputs
        details = outputs.output_details
        self.gaps.get(SandboxStackRecord).record(
            self.client("cloudformation"),
            self.stack_name,
            str(outputs.template.body.get("Description") or ""),
            {key: {"Value": value, **details.get(key, {})} for key, value in outputs.outputs.items()},
        )

    def _on_stop(self, stack: ExitStack, step: str, action: Callable[[], None]) -> None:
        """`action` when the sandbox closes, as the step `step` of a bounded stop (shutdown.py)."""
        stack.callback(self._stop_step, step, action)

    def _stop_step(self, step: str, action: Callable[[], None]) -> None:
        if self._shutdown is None:
            action()
        else:
            self._shutdown.run(step, action)

    def _stop_router(self) -> None:
        budget = self._shutdown.budget("router") if self._shutdown is not None else None
        if budget is None:
            self.router.stop()
        else:
            try:  # its own report of what is left, in time
                self.router.stop(timeout=max(0.0, budget - 0.2))
            except RuntimeError as error:  # "router threads did not stop: …"
                raise StepAbandoned(str(error)) from error

    def _enforce_iam(self, stack: ExitStack) -> RoleSessions:
        """IAM enforced from now on (iam_enforcement.py): the dummy key is the administrator, the
        handlers and the state machines' service integrations act with sessions of their roles."""
        outputs = self.outputs
        sessions = RoleSessions(outputs.account_id, outputs.region)
        stack.enter_context(iam_enforced(DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"]))
        self.iam_audit = IamAudit(_role_owners(outputs), outputs.account_id, _policy_templates(outputs))
        stack.enter_context(self.iam_audit.recording())
        ledger = os.environ.get(LEDGER_ENV)
        if ledger and self.template_path.resolve() == DEFAULT_TEMPLATE.resolve():
            stack.callback(self.iam_audit.write_ledger, ledger)
        task_credentials = self.gaps.get(StepFunctionsTaskCredentials)
        task_credentials.bind(sessions.credentials)
        stack.callback(task_credentials.bind, None)
        return sessions

    def _stop_executions(self) -> None:
        """Stop every execution still running, so that no interpreter thread outlives the sandbox."""
        sfn = self.clients.client("stepfunctions")
        try:
            for page in sfn.get_paginator("list_state_machines").paginate():
                for machine in page["stateMachines"]:
                    running = sfn.list_executions(
                        stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"
                    )["executions"]
                    for execution in running:
                        sfn.stop_execution(
                            executionArn=execution["executionArn"], cause="the sandbox is shutting down"
                        )
        except Exception:
            log.exception("sandbox: could not stop the running executions")

    def _release(self) -> None:
        with Sandbox._active_lock:
            Sandbox._active = None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self, shutdown: BoundedShutdown | None = None) -> None:
        """Undo everything, in reverse order. With `shutdown`, each step that can wait (router,
        executions, gap-fillers, server, emulator state) has a deadline and is abandoned at it
        (shutdown.py); without, each is waited for."""
        stack, self._exit_stack = self._exit_stack, None
        if stack is None:
            return
        self._shutdown = shutdown
        try:
            stack.close()
        finally:
            self._shutdown = None
