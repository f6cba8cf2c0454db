"""`Sandbox`: the whole local stack in one context manager.

    with Sandbox() as sandbox:           # moto server on 127.0.0.1, stack from template.yaml, router on
        s3 = sandbox.client("s3")
        s3.put_object(Bucket=sandbox.outputs.ref("ArtifactBucket"), Key="...", Body=b"...")
        sandbox.wait_idle()
        sandbox.router.invocations

On entry: dummy credentials and the region in the environment, moto's ThreadedMotoServer on a free
port of 127.0.0.1, `AWS_ENDPOINT_URL` pointing at it (boto3 honours it, so the handlers' own clients
reach the emulator), the real-AWS guard, the gap-fillers, the stack provisioned, the router started.
On exit, all of it is undone in reverse order: threads joined, server stopped (port free), moto's state
reset, patches removed, environment restored.

The real-AWS guard (`refuse_real_aws`) patches `botocore.httpsession.URLLib3Session.send`, the one
method every botocore HTTP request goes through (API calls of every session and client, and the IMDS
and container credential fetchers), so it covers clients created anywhere in the process, not only
those of one session (which a `before-send` event handler would).
"""

from __future__ import annotations

import logging
import os
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

from sluice_cli.sandbox.emulator_gaps import EmulatorGaps
from sluice_cli.sandbox.provision import Clients, StackOutputs, provision_stack
from sluice_cli.sandbox.router import EventRouter

log = logging.getLogger(__name__)

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
DEFAULT_TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
}


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

    wanted: dict[str, str | None] = {
        **DUMMY_CREDENTIALS,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_ENDPOINT_URL": endpoint_url,
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
    try:
        yield
    finally:
        for name, previous in saved.items():
            if previous is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = previous
        boto3.DEFAULT_SESSION = saved_session


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


# --------------------------------------------------------------------------------------------------
# The sandbox
# --------------------------------------------------------------------------------------------------
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
        poll_wait_seconds: int = 1,
        retry_delay_seconds: float = 0.0,
        start_router: bool = True,
        skipped_types: Mapping[str, str] | None = None,
    ) -> None:
        self.template_path = Path(template_path) if template_path is not None else DEFAULT_TEMPLATE
        self.stack_name = stack_name
        self.parameters = dict(parameters or {})
        self.port = port
        self.region = region
        self.transform_delay_seconds = transform_delay_seconds
        self.poll_wait_seconds = poll_wait_seconds
        self.retry_delay_seconds = retry_delay_seconds
        self.start_router = start_router
        self.skipped_types = dict(skipped_types or {})
        self.endpoint_url = ""
        self._exit_stack: ExitStack | None = None
        self._clients: Clients | None = None
        self._outputs: StackOutputs | None = None
        self._router: EventRouter | None = None
        self._gaps: EmulatorGaps | None = None

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
    def gaps(self) -> EmulatorGaps:
        if self._gaps is None:
            raise RuntimeError("the sandbox is not running")
        return self._gaps

    def wait_idle(self, timeout: float = 10.0, *, include_delayed: bool = True) -> None:
        self.router.wait_idle(timeout, include_delayed=include_delayed)

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

        stack.enter_context(refuse_real_aws())
        server = _server_class()(ip_address="127.0.0.1", port=self.port, verbose=False)
        server.start()
        stack.callback(_reset_moto)  # runs after the server stopped (ExitStack is LIFO)
        stack.callback(server.stop)
        host, port = server.get_host_and_port()
        self.port = port
        self.endpoint_url = f"http://{host}:{port}"
        stack.enter_context(sandbox_environment(self.endpoint_url, self.region))
        _reset_moto()

        self._gaps = EmulatorGaps.default(transform_delay_seconds=self.transform_delay_seconds)
        stack.enter_context(self._gaps)

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
        self._router = EventRouter(
            self._outputs,
            self._clients,
            poll_wait_seconds=self.poll_wait_seconds,
            retry_delay_seconds=self.retry_delay_seconds,
            busy_probes=[self._gaps.pending],
        )
        if self.start_router:
            self._router.start()
            stack.callback(self._router.stop)
        log.info("sandbox up at %s (stack %s)", self.endpoint_url, self.stack_name)

    def _release(self) -> None:
        with Sandbox._active_lock:
            Sandbox._active = None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        stack, self._exit_stack = self._exit_stack, None
        if stack is not None:
            stack.close()
