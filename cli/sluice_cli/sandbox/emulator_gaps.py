"""Every moto gap-filler of the sandbox, in one place (checked against moto 5.2.5, see EMULATION_NOTES.md).

One class per gap, each with a one-line `reason`, reversible (`install()` / `uninstall()`, or use it
as a context manager), and a `still_present()` probe that runs plain moto in-process (`mock_aws`)
WITHOUT the patch and says whether moto still has the gap. tests/sandbox asserts every probe is True,
so a moto release that fixes a gap makes its filler removable instead of silently doubling it.

The patches change moto's classes in this process, so they act on the in-process ThreadedMotoServer of
the sandbox (and on any `mock_aws` in the same process while installed). Probes must run with no
sandbox active: `mock_aws` resets every backend when it starts and stops.

Gaps:
- `TransformJobLifecycle`: transform jobs are Completed at once, write nothing, emit no event.
- `TransformJobCreateValidation`: CreateTransformJob accepts a missing model and a reused job name.
- `S3EventBridgeEventIds`: every S3 EventBridge event has the same `id` (and `sequencer`).
- `EventBridgeTargetEventAccount`: events sent with put_events reach their targets without `account`.
- `S3BucketPolicyTransportCondition`: a bucket policy's Deny applies whatever its Condition, so the
  template's TLS-only policy (Deny when aws:SecureTransport is false) denies every object call.
- `LambdaInvokeNeedsDocker`: Lambda cannot run functions without docker; the filler is the
  in-process `router.EventRouter`, so this class patches nothing and only carries the probe.
- `UpdateEndpoint`: SageMaker UpdateEndpoint is not implemented; endpoints have no Updating phase.
- `AlarmStateChangeEvents`: an alarm changes state without the "CloudWatch Alarm State Change" event.
- `MetricAlarmEvaluation`: moto never evaluates metric alarms; the filler runs
  `alarm_evaluation.AlarmEvaluator` on a thread (periods scaled by the sandbox's time_scale).
- `StepFunctionsLambdaTasks`: `lambda:invoke` tasks (and lambda:Invoke) need docker; the filler runs the
  stack's handler in-process through the router.
- `TimeCompression`: the Step Functions interpreter waits in wall time; the sandbox may compress it.
- `StopExecutionInterrupts`: StopExecution leaves a task waiting for its token until it times out.

What moto 5.2.5 does around these fillers (checked by running it; EMULATION_NOTES.md style):
- Step Functions execute mode keeps its state machines in a backend of its own: turn it on before
  creating them. Served, its service integrations (lambda:invoke, aws-sdk:*, sqs:*) call
  http://localhost:$MOTO_PORT (default 5000), so the Sandbox sets MOTO_PORT to its port.
- lambda:invoke task of a handler that raises: Error = the payload's `errorType` (the exception's
  class name, e.g. "RuntimeError"), Cause = the error payload as JSON; "States.TaskFailed",
  "States.ALL" and a Retry/Catch on the errorType all match, as on AWS. A function missing from
  moto's Lambda: "Lambda.ResourceNotFoundException". moto's Invoke says FunctionError "Handled"
  (Lambda: "Unhandled" for an exception; the filler rewrites it).
- aws-sdk:sagemaker:* failures: Error "sagemaker.sagemakerException" for every SageMaker error (AWS:
  "SageMaker.<exception>"), Cause "<message> (Service: sagemaker, Status Code: 400, Request ID: ...)":
  tell an in-progress endpoint from other errors by the Cause text.
- waitForTaskToken: TimeoutSeconds and TimeoutSecondsPath end the task with States.Timeout (Cause "",
  catchable); a missed HeartbeatSeconds also ends as States.Timeout (AWS: States.HeartbeatTimeout);
  SendTaskFailure's Error reaches Catch, its Cause arrives as null.
- moto's Wait loop compares whole elapsed seconds with the declared ones: fed a fractional wait it
  never ends (hence TimeCompression replaces the loop rather than shortening its argument).
- EventBridge targets: moto applies InputTransformer but ignores Input and InputPath (the whole
  event is delivered): the router applies both for the stack's routes.
- SageMaker: CreateEndpoint drops an InitialVariantWeight of 0 (falsy: no CurrentWeight at all; AWS
  reports 0.0); DescribeEndpoint has no DeployedImages (read images from the config's models);
  UpdateEndpointWeightsAndCapacities without DesiredWeight or DesiredInstanceCount erases that field.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime as dt
import gzip
import hashlib
import io
import itertools
import json
import logging
import threading
import uuid
import zipfile
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar

log = logging.getLogger(__name__)

TRANSFORM_DETAIL_TYPE = "SageMaker Transform Job State Change"
_PROBE_REGION = "us-east-1"


class Gap:
    """A reversible patch of moto for one missing behaviour.

    A subclass's `_patch()` applies its patches with `_apply()` / `_add()`, which record them; the
    base `_unpatch()` reverts them in reverse order (a subclass with more to undo, such as threads or
    timers, overrides it and calls `super()._unpatch()`). When `_patch()` fails half-way, `install()`
    reverts what it had applied and re-raises.
    """

    name: ClassVar[str]
    reason: ClassVar[str]

    def __init__(self) -> None:
        self._installed = False
        self._applied: list[_Patch] = []  # in the order applied

    @property
    def installed(self) -> bool:
        return self._installed

    def install(self) -> None:
        if self._installed:
            return
        try:
            self._patch()
        except BaseException:
            self._revert_applied()
            raise
        self._installed = True

    def uninstall(self) -> None:
        if not self._installed:
            return
        self._unpatch()
        self._installed = False

    def pending(self) -> int:
        """Work the filler still has to do on its own threads (the router waits for it to be 0)."""
        return 0

    def _patch(self) -> None:
        raise NotImplementedError

    def _unpatch(self) -> None:
        self._revert_applied()

    def _apply(self, owner: Any, attribute: str, make: Callable[[Any], Any]) -> _MethodPatch:
        """Replace `owner.attribute` with `make(original)`, reverted by `_unpatch()`."""
        patch = _MethodPatch(owner, attribute, make)
        patch.apply()
        self._applied.append(patch)
        return patch

    def _add(self, owner: Any, attribute: str, value: Any) -> _AddedAttribute:
        """Add `owner.attribute` (which moto lacks), removed by `_unpatch()`."""
        added = _AddedAttribute(owner, attribute, value)
        added.apply()
        self._applied.append(added)
        return added

    def _revert_applied(self) -> None:
        """Revert the recorded patches, last applied first. A patch leaves the record only once reverted,
        so after a refusal (patched on top) a later call reverts what is left."""
        while self._applied:
            self._applied[-1].revert()
            self._applied.pop()

    @classmethod
    def still_present(cls) -> bool:
        """Run plain moto without this patch; True while moto still lacks the behaviour."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.install()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.uninstall()


class _MethodPatch:
    """Replace `owner.attribute` and put the previous value back (refusing if someone patched on top)."""

    def __init__(self, owner: Any, attribute: str, make: Callable[[Any], Any]) -> None:
        self.owner = owner
        self.attribute = attribute
        self.make = make
        self.original: Any = None
        self.replacement: Any = None

    def apply(self) -> None:
        self.original = self.owner.__dict__[self.attribute]
        self.replacement = self.make(self.original)
        setattr(self.owner, self.attribute, self.replacement)

    def revert(self) -> None:
        current = self.owner.__dict__[self.attribute]
        if current is not self.replacement:
            raise RuntimeError(
                f"{self.owner.__name__}.{self.attribute} was patched again on top of the sandbox; "
                "uninstall gap-fillers in reverse order"
            )
        setattr(self.owner, self.attribute, self.original)


class _AddedAttribute:
    """Add `owner.attribute`, which moto lacks, and remove it again. When moto has it by now, the sandbox
    keeps moto's (the gap's `still_present()` test then says the filler can go)."""

    def __init__(self, owner: Any, attribute: str, value: Any) -> None:
        self.owner = owner
        self.attribute = attribute
        self.value = value
        self.added = False

    def apply(self) -> None:
        if self.attribute in self.owner.__dict__:
            log.warning(
                "%s.%s exists in this moto: the sandbox keeps it (its gap-filler can go)",
                self.owner.__name__,
                self.attribute,
            )
            return
        setattr(self.owner, self.attribute, self.value)
        self.added = True

    def revert(self) -> None:
        if not self.added:
            return
        if self.owner.__dict__.get(self.attribute) is not self.value:
            raise RuntimeError(
                f"{self.owner.__name__}.{self.attribute} was replaced on top of the sandbox; "
                "uninstall gap-fillers in reverse order"
            )
        delattr(self.owner, self.attribute)
        self.added = False


_Patch = _MethodPatch | _AddedAttribute


@contextlib.contextmanager
def _plain_moto() -> Iterator[Callable[[str], Any]]:
    """boto3 clients on in-process moto with dummy credentials, for the probes."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
            region_name=_PROBE_REGION,
        )
        yield lambda service: session.client(service)


def _probe_rule_to_queue(clients: Callable[[str], Any], pattern: dict[str, Any]) -> str:
    sqs = clients("sqs")
    events = clients("events")
    url = sqs.create_queue(QueueName="gap-probe")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="gap-probe", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="gap-probe", Targets=[{"Id": "probe", "Arn": arn}])
    return str(url)


def _drain(clients: Callable[[str], Any], url: str) -> list[dict[str, Any]]:
    messages = clients("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


# --------------------------------------------------------------------------------------------------
# SageMaker transform jobs
# --------------------------------------------------------------------------------------------------
def fake_prediction(line: str) -> str:
    """A deterministic score in [0, 1) prefixed to the input line: `0.4215,<line>`."""
    score = int(hashlib.sha256(line.encode()).hexdigest()[:8], 16) / 0x1_0000_0000
    return f"{score:.4f},{line}"


class _TransformFailed(Exception):
    """The job ends Failed with this FailureReason."""


def _epoch_millis(moment: dt.datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def _split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise _TransformFailed(f"ClientError: {uri} is not an s3:// URI")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    return bucket, prefix


class TransformJobLifecycle(Gap):
    """Drives a transform job InProgress -> Completed/Failed, writing its output and emitting its events."""

    name = "transform-job-lifecycle"
    reason = "moto marks a transform job Completed at once, writes nothing to S3 and emits no event"

    def __init__(self, delay_seconds: float = 1.0, predict: Callable[[str], str] = fake_prediction) -> None:
        super().__init__()
        self.delay_seconds = delay_seconds
        self.predict = predict
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()

    def pending(self) -> int:
        with self._lock:
            return len(self._timers)

    def _patch(self) -> None:
        from moto.sagemaker.models import SageMakerModelBackend

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def create_transform_job(backend: Any, *args: Any, **kwargs: Any) -> Any:
                job = original(backend, *args, **kwargs)
                self._start(backend, job)
                return job

            return create_transform_job

        self._apply(SageMakerModelBackend, "create_transform_job", make)

    def _unpatch(self) -> None:
        super()._unpatch()
        with self._lock:
            timers, self._timers = set(self._timers), set()
        for timer in timers:
            timer.cancel()
        for timer in timers:
            if timer.is_alive() and timer is not threading.current_thread():
                timer.join(timeout=10)

    # -- the lifecycle ------------------------------------------------------------------------------
    def _start(self, backend: Any, job: Any) -> None:
        from moto.core.utils import utcnow

        now = utcnow()
        job.transform_job_status = "InProgress"
        job.failure_reason = None
        job.transform_start_time = now
        job.transform_end_time = None
        job.last_modified_time = now
        self._emit(backend, job)
        timer = threading.Timer(self.delay_seconds, self._finish, args=(backend, job))
        timer.daemon = True
        timer.name = f"sandbox-transform-{job.transform_job_name}"
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def _finish(self, backend: Any, job: Any) -> None:
        from moto.core.utils import utcnow

        try:
            try:
                self._write_outputs(backend, job)
                job.transform_job_status = "Completed"
            except _TransformFailed as failure:
                job.transform_job_status = "Failed"
                job.failure_reason = str(failure)
            except Exception as exc:  # an emulator bug must still end the job, visibly
                log.exception("transform job %s: the sandbox failed to run it", job.transform_job_name)
                job.transform_job_status = "Failed"
                job.failure_reason = f"InternalServerError: sandbox: {exc}"
            now = utcnow()
            job.transform_end_time = now
            job.last_modified_time = now
            self._emit(backend, job)
        finally:
            with self._lock:
                self._timers.discard(threading.current_thread())

    def _s3(self, backend: Any) -> Any:
        from moto.s3.models import s3_backends
        from moto.utilities.utils import get_partition

        return s3_backends[backend.account_id][get_partition(backend.region_name)]

    def _inputs(self, s3: Any, job: Any) -> list[tuple[str, str, str]]:
        """(bucket, key, output-relative name) of every input object."""
        source = (job.transform_input or {}).get("DataSource", {}).get("S3DataSource", {})
        data_type = source.get("S3DataType", "S3Prefix")
        bucket_name, prefix = _split_s3_uri(str(source.get("S3Uri", "")))
        if data_type == "ManifestFile":
            manifest = json.loads(self._read(s3, bucket_name, prefix))
            base_bucket, base_prefix = _split_s3_uri(manifest[0]["prefix"])
            return [(base_bucket, base_prefix + str(rel), str(rel)) for rel in manifest[1:]]
        if data_type != "S3Prefix":
            raise _TransformFailed(f"ClientError: S3DataType {data_type} is not supported by the sandbox")
        try:
            bucket = s3.get_bucket(bucket_name)
        except Exception as exc:
            raise _TransformFailed(f"ClientError: bucket {bucket_name} does not exist") from exc
        keys, _, _, _ = s3.list_objects(bucket, prefix, None, None, None)
        inputs = []
        for key in keys:
            if key.name.endswith("/"):
                continue  # a folder marker, not data
            rest = key.name[len(prefix) :]
            relative = rest.lstrip("/") if not prefix or prefix.endswith("/") or rest.startswith("/") else ""
            inputs.append((bucket_name, key.name, relative or key.name.rsplit("/", 1)[-1]))
        if not inputs:
            raise _TransformFailed(
                f'ClientError: No S3 objects found under S3 URL "s3://{bucket_name}/{prefix}"'
            )
        return inputs

    def _read(self, s3: Any, bucket: str, key: str) -> bytes:
        try:
            found = s3.get_object(bucket, key)
        except Exception as exc:
            raise _TransformFailed(f"ClientError: cannot read s3://{bucket}/{key}: {exc}") from exc
        if found is None:
            raise _TransformFailed(f"ClientError: s3://{bucket}/{key} does not exist")
        return bytes(found.value)

    def _write_outputs(self, backend: Any, job: Any) -> None:
        s3 = self._s3(backend)
        compression = (job.transform_input or {}).get("CompressionType", "None")
        out_bucket, out_prefix = _split_s3_uri(str((job.transform_output or {}).get("S3OutputPath", "")))
        outputs: list[tuple[str, bytes]] = []
        for bucket, key, relative in self._inputs(s3, job):
            body = self._read(s3, bucket, key)
            if compression == "Gzip":
                body = gzip.decompress(body)
            if not body:
                raise _TransformFailed("ClientError: input file is empty")
            lines = body.decode("utf-8", errors="replace").splitlines()
            text = "".join(self.predict(line) + "\n" for line in lines)
            out_key = (
                f"{out_prefix.rstrip('/')}/{relative}.out" if out_prefix.strip("/") else f"{relative}.out"
            )
            outputs.append((out_key, text.encode()))
        # Like SageMaker, nothing is uploaded for a job that fails on any input.
        try:
            s3.get_bucket(out_bucket)
        except Exception as exc:
            raise _TransformFailed(f"ClientError: output bucket {out_bucket} does not exist") from exc
        for out_key, data in outputs:
            s3.put_object(out_bucket, out_key, data)

    def _emit(self, backend: Any, job: Any) -> None:
        from moto.events.models import events_backends

        detail = transform_job_event_detail(job)
        entry = {
            "Source": "aws.sagemaker",
            "DetailType": TRANSFORM_DETAIL_TYPE,
            "Detail": json.dumps(detail),
            "Resources": [job.arn],
            "EventBusName": "default",
        }
        try:
            events_backends[backend.account_id][backend.region_name].put_events([entry])
        except (
            NotImplementedError
        ):  # a rule with a Lambda/SFN target matched (never registered by the sandbox)
            log.exception("transform job %s: event not delivered", job.transform_job_name)

    @classmethod
    def still_present(cls) -> bool:
        with _plain_moto() as clients:
            clients("sagemaker").create_model(
                ModelName="gap-probe",
                ExecutionRoleArn="arn:aws:iam::123456789012:role/probe",
                PrimaryContainer={"Image": "probe"},
            )
            url = _probe_rule_to_queue(clients, {"source": ["aws.sagemaker"]})
            clients("s3").create_bucket(Bucket="gap-probe")
            clients("s3").put_object(Bucket="gap-probe", Key="in/a.csv", Body=b"1,2\n")
            clients("sagemaker").create_transform_job(**_probe_transform_request("gap-probe-job"))
            status = clients("sagemaker").describe_transform_job(TransformJobName="gap-probe-job")
            written = clients("s3").list_objects_v2(Bucket="gap-probe", Prefix="out/").get("KeyCount", 0)
            return status["TransformJobStatus"] == "Completed" and written == 0 and not _drain(clients, url)


def transform_job_event_detail(job: Any) -> dict[str, Any]:
    """The `detail` of "SageMaker Transform Job State Change" as AWS sends it (times in epoch millis,
    tags as a map)."""
    detail: dict[str, Any] = {
        "TransformJobName": job.transform_job_name,
        "TransformJobArn": job.arn,
        "TransformJobStatus": job.transform_job_status,
    }
    if job.failure_reason:
        detail["FailureReason"] = job.failure_reason
    detail["ModelName"] = job.model_name
    optional = {
        "MaxConcurrentTransforms": job.max_concurrent_transforms,
        "ModelClientConfig": job.model_client_config,
        "MaxPayloadInMB": job.max_payload_in_mb,
        "BatchStrategy": job.batch_strategy,
    }
    detail.update({k: v for k, v in optional.items() if v is not None})
    detail["Environment"] = job.environment or {}
    detail["TransformInput"] = job.transform_input
    detail["TransformOutput"] = job.transform_output
    detail["TransformResources"] = job.transform_resources
    for key, value in (
        ("DataProcessing", job.data_processing),
        ("DataCaptureConfig", job.data_capture_config),
    ):
        if value:
            detail[key] = value
    times = {
        "CreationTime": _epoch_millis(job.creation_time),
        "TransformStartTime": _epoch_millis(job.transform_start_time),
        "TransformEndTime": _epoch_millis(job.transform_end_time),
    }
    detail.update({k: v for k, v in times.items() if v is not None})
    detail["Tags"] = {str(t["Key"]): str(t["Value"]) for t in job.tags or []}
    return detail


def _probe_transform_request(name: str, model: str = "gap-probe") -> dict[str, Any]:
    return {
        "TransformJobName": name,
        "ModelName": model,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://gap-probe/in/"}}
        },
        "TransformOutput": {"S3OutputPath": "s3://gap-probe/out/"},
        "TransformResources": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
    }


class TransformJobCreateValidation(Gap):
    """CreateTransformJob refuses a model that does not exist and a job name already used, as AWS does."""

    name = "transform-job-create-validation"
    reason = "moto accepts a transform job for a missing model and silently replaces a job of the same name"

    def _patch(self) -> None:
        from moto.sagemaker.exceptions import ValidationError
        from moto.sagemaker.models import SageMakerModelBackend

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def create_transform_job(backend: Any, *args: Any, **kwargs: Any) -> Any:
                name = kwargs.get("transform_job_name", args[0] if args else None)
                model = kwargs.get("model_name", args[1] if len(args) > 1 else None)
                if name in backend.transform_jobs:
                    arn = backend.transform_jobs[name].arn
                    raise ValidationError(
                        message="Job name must be unique within an AWS account and region, and a job with "
                        f"this name already exists ({arn})"
                    )
                backend.describe_model(model)  # ValidationException "Could not find model ..."
                return original(backend, *args, **kwargs)

            return create_transform_job

        self._apply(SageMakerModelBackend, "create_transform_job", make)

    @classmethod
    def still_present(cls) -> bool:
        from botocore.exceptions import ClientError

        with _plain_moto() as clients:
            sagemaker = clients("sagemaker")
            try:
                sagemaker.create_transform_job(
                    **_probe_transform_request("gap-probe-job", model="no-such-model")
                )
                sagemaker.create_transform_job(
                    **_probe_transform_request("gap-probe-job", model="no-such-model")
                )
            except ClientError:
                return False
            return True


# --------------------------------------------------------------------------------------------------
# S3 -> EventBridge
# --------------------------------------------------------------------------------------------------
class S3EventBridgeEventIds(Gap):
    """Gives each S3 EventBridge event its own id and an increasing sequencer."""

    name = "s3-eventbridge-event-ids"
    reason = "moto sends every S3 EventBridge event with the same id and sequencer (AWS ids are unique)"

    def __init__(self) -> None:
        super().__init__()
        self._sequence = itertools.count(1)

    def _patch(self) -> None:
        from moto.events.models import Rule
        from moto.events.utils import _BASE_EVENT_MESSAGE

        constant_id = _BASE_EVENT_MESSAGE["id"]
        sequence = self._sequence

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def send_to_targets(rule: Any, original_event: Any, transform_input: bool = True) -> None:
                # moto passes one dict to every rule: the first rule gives it the id all rules then see.
                if original_event.get("id") == constant_id and original_event.get("source") == "aws.s3":
                    original_event["id"] = str(uuid.uuid4())
                    obj = original_event.get("detail", {}).get("object")
                    if isinstance(obj, dict) and "sequencer" in obj:
                        obj["sequencer"] = f"{next(sequence):018X}"
                original(rule, original_event, transform_input=transform_input)

            return send_to_targets

        self._apply(Rule, "send_to_targets", make)

    @classmethod
    def still_present(cls) -> bool:
        with _plain_moto() as clients:
            s3 = clients("s3")
            s3.create_bucket(Bucket="gap-probe")
            s3.put_bucket_notification_configuration(
                Bucket="gap-probe", NotificationConfiguration={"EventBridgeConfiguration": {}}
            )
            url = _probe_rule_to_queue(clients, {"source": ["aws.s3"], "detail-type": ["Object Created"]})
            s3.put_object(Bucket="gap-probe", Key="a", Body=b"a")
            s3.put_object(Bucket="gap-probe", Key="b", Body=b"b")
            events = _drain(clients, url)
            return len(events) == 2 and events[0]["id"] == events[1]["id"]


class EventBridgeTargetEventAccount(Gap):
    """Delivers put_events events to targets whole, with `account`, as EventBridge does."""

    name = "eventbridge-target-event-account"
    reason = "moto drops `account` from every put_events event it delivers to a target (S3's keep it)"

    # The fields of an EventBridge event, in the order AWS writes them.
    FIELDS: ClassVar[tuple[str, ...]] = (
        "version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail",
        "replay-name",
    )  # fmt: skip

    def _patch(self) -> None:
        from moto.events.utils import EventTemplateParser

        fields = self.FIELDS

        def make(original: Any) -> Any:
            parse = original.__func__ if isinstance(original, staticmethod) else original

            def parse_or_copy(input_template: Any, input_paths_map: Any, event: Any) -> Any:
                if input_template:  # an InputTransformer: moto's own rendering
                    return parse(input_template, input_paths_map, event)
                return {key: copy.deepcopy(event[key]) for key in fields if key in event}

            return staticmethod(parse_or_copy)

        self._apply(EventTemplateParser, "parse", make)

    @classmethod
    def still_present(cls) -> bool:
        with _plain_moto() as clients:
            url = _probe_rule_to_queue(clients, {"source": ["gap.probe"]})
            clients("events").put_events(
                Entries=[{"Source": "gap.probe", "DetailType": "Probe", "Detail": json.dumps({"a": 1})}]
            )
            (event,) = _drain(clients, url)
            return "account" not in event


class S3BucketPolicyTransportCondition(Gap):
    """Evaluates `Bool: {aws:SecureTransport: ...}` in bucket policies as AWS does for SDK calls (TLS)."""

    name = "s3-bucket-policy-conditions"
    reason = "moto applies a bucket policy's Deny regardless of its Condition (TLS-only policy => all denied)"

    # The sandbox speaks plain HTTP to 127.0.0.1; every SDK call to S3 on AWS is TLS.
    CONTEXT: ClassVar[dict[str, str]] = {"aws:securetransport": "true"}

    @classmethod
    def effective_policy(cls, policy: dict[str, Any]) -> dict[str, Any]:
        """The policy with each statement whose only conditions are on aws:SecureTransport either
        dropped (condition false) or kept without its Condition (true); other statements untouched."""
        statements = policy.get("Statement", [])
        kept = []
        for statement in statements if isinstance(statements, list) else [statements]:
            outcome = cls._transport_condition(statement.get("Condition"))
            if outcome is False:
                continue
            if outcome is True:
                statement = {k: v for k, v in statement.items() if k != "Condition"}
            kept.append(statement)
        return {**policy, "Statement": kept}

    @classmethod
    def _transport_condition(cls, condition: Any) -> bool | None:
        """True/False when the condition only tests aws:SecureTransport with Bool; None otherwise."""
        if not isinstance(condition, dict) or set(condition) != {"Bool"}:
            return None
        tests = condition["Bool"]
        if not isinstance(tests, dict) or {k.lower() for k in tests} != {"aws:securetransport"}:
            return None
        (expected,) = tests.values()
        expected_values = expected if isinstance(expected, list) else [expected]
        return cls.CONTEXT["aws:securetransport"] in {str(v).lower() for v in expected_values}

    def _patch(self) -> None:
        from moto.iam.access_control import IAMPolicy, PermissionResult
        from moto.s3.models import FakeBucket

        effective = self.effective_policy

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def get_permission(bucket: Any, action: str, resource: str) -> Any:
                if bucket.policy is None:
                    return PermissionResult.NEUTRAL
                policy = effective(json.loads(bucket.policy.decode()))
                return IAMPolicy(json.dumps(policy)).is_action_permitted(action, resource)

            return get_permission

        self._apply(FakeBucket, "get_permission", make)

    @classmethod
    def still_present(cls) -> bool:
        from botocore.exceptions import ClientError

        deny_without_tls = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": ["arn:aws:s3:::gap-probe", "arn:aws:s3:::gap-probe/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
        with _plain_moto() as clients:
            s3 = clients("s3")  # an https:// endpoint: AWS would allow this call
            s3.create_bucket(Bucket="gap-probe")
            s3.put_bucket_policy(Bucket="gap-probe", Policy=json.dumps(deny_without_tls))
            try:
                s3.put_object(Bucket="gap-probe", Key="a", Body=b"a")
            except ClientError as error:
                return bool(error.response["ResponseMetadata"]["HTTPStatusCode"] == 403)
            return False


# --------------------------------------------------------------------------------------------------
# Lambda
# --------------------------------------------------------------------------------------------------
class LambdaInvokeNeedsDocker(Gap):
    """Filled by `sluice_cli.sandbox.router.EventRouter`, which runs the handlers in-process."""

    name = "lambda-invoke-needs-docker"
    reason = "moto runs Lambda functions only in docker (none here); the router invokes handlers in-process"

    def _patch(self) -> None:
        """Nothing to patch: no Lambda function is created in moto, the router calls the handlers."""

    @classmethod
    def still_present(cls) -> bool:
        with _plain_moto() as clients:
            role = clients("iam").create_role(RoleName="gap-probe", AssumeRolePolicyDocument="{}")["Role"][
                "Arn"
            ]
            archive = io.BytesIO()
            with zipfile.ZipFile(archive, "w") as zipped:
                zipped.writestr("probe.py", "def handler(event, context):\n    return 'ran'\n")
            lambda_ = clients("lambda")
            lambda_.create_function(
                FunctionName="gap-probe",
                Runtime="python3.11",
                Role=role,
                Handler="probe.handler",
                Code={"ZipFile": archive.getvalue()},
            )
            moto_logger = logging.getLogger("moto")
            level = moto_logger.level
            moto_logger.setLevel(logging.CRITICAL)  # moto logs the docker failure loudly
            try:
                response = lambda_.invoke(FunctionName="gap-probe", Payload=b"{}")
            finally:
                moto_logger.setLevel(level)
            payload = response["Payload"].read()
            return bool(response.get("FunctionError")) and b"docker" in payload


# --------------------------------------------------------------------------------------------------
# Helpers of the gaps below
# --------------------------------------------------------------------------------------------------
class _Timers:
    """Daemon timers a gap-filler owns: counted by `pending()`, cancelled and joined on uninstall."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._timers)

    def start(self, delay: float, name: str, action: Callable[[], None]) -> None:
        def run() -> None:
            try:
                action()
            except Exception:
                log.exception("sandbox timer %s failed", name)
            finally:
                with self._lock:
                    self._timers.discard(threading.current_thread())

        timer = threading.Timer(delay, run)
        timer.daemon = True
        timer.name = f"{self.prefix}-{name}"
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def cancel_all(self) -> None:
        with self._lock:
            timers, self._timers = set(self._timers), set()
        for timer in timers:
            timer.cancel()
        for timer in timers:
            if timer.is_alive() and timer is not threading.current_thread():
                timer.join(timeout=10)


def _wait_for_execution(sfn: Any, execution_arn: str, timeout: float = 20.0) -> dict[str, Any]:
    """describe_execution once the execution is no longer RUNNING (the probes' plain-moto runs)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described
        time.sleep(0.05)


@contextlib.contextmanager
def _plain_moto_executing() -> Iterator[Callable[[str], Any]]:
    """`_plain_moto` with moto's Step Functions interpreter on (execute_state_machine)."""
    import boto3
    from moto import mock_aws

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
            region_name=_PROBE_REGION,
        )
        yield lambda service: session.client(service)


def _probe_role(clients: Callable[[str], Any]) -> str:
    return str(clients("iam").create_role(RoleName="gap-probe", AssumeRolePolicyDocument="{}")["Role"]["Arn"])


# --------------------------------------------------------------------------------------------------
# SageMaker UpdateEndpoint
# --------------------------------------------------------------------------------------------------
_RETAINABLE_VARIANT_PROPERTIES = frozenset({"DesiredWeight", "DesiredInstanceCount", "DataCaptureConfig"})


def endpoint_variants(
    config_variants: list[dict[str, Any]],
    current: dict[str, dict[str, Any]] | None = None,
    retained: frozenset[str] | set[str] = frozenset(),
) -> list[dict[str, Any]]:
    """DescribeEndpoint's ProductionVariants once an endpoint runs `config_variants` (an endpoint config's
    ProductionVariants): weight and instance count from the config, as AWS reports them (a weight of 0
    is 0.0; no InitialVariantWeight is 1.0), or kept from `current` (variant name -> summary) for the
    properties in `retained` (UpdateEndpoint's RetainAllVariantProperties)."""
    current = current or {}
    variants = []
    for config in config_variants:
        name = config["VariantName"]
        variant: dict[str, Any] = {"VariantName": name}
        kept = current.get(name, {})
        weight = config.get("InitialVariantWeight")
        weight = 1.0 if weight is None else float(weight)
        if "DesiredWeight" in retained and kept.get("DesiredWeight") is not None:
            weight = float(kept["DesiredWeight"])
        variant["CurrentWeight"] = variant["DesiredWeight"] = weight
        if config.get("ServerlessConfig"):
            serverless = config["ServerlessConfig"]
            variant["CurrentServerlessConfig"] = variant["DesiredServerlessConfig"] = serverless
        else:
            count = config.get("InitialInstanceCount")
            if "DesiredInstanceCount" in retained and kept.get("DesiredInstanceCount") is not None:
                count = kept["DesiredInstanceCount"]
            if count is not None:
                variant["CurrentInstanceCount"] = variant["DesiredInstanceCount"] = int(count)
        variants.append(variant)
    return variants


def _in_progress(endpoint: Any) -> Exception:
    from moto.sagemaker.exceptions import ValidationError

    return ValidationError(message=f'Cannot update in-progress endpoint "{endpoint.arn}".')


class UpdateEndpoint(Gap):
    """Implements SageMaker UpdateEndpoint on moto's backend (and API), with an optional Updating phase.

    The endpoint switches to the new config and its ProductionVariants are rebuilt from the config's
    (see `endpoint_variants`; RetainAllVariantProperties / ExcludeRetainedVariantProperties honoured,
    DeploymentConfig ignored). Errors as AWS: ValidationException "Could not find endpoint
    configuration ..." (moto's text for DescribeEndpointConfig) and "Cannot update in-progress endpoint
    ..." unless the endpoint is InService.

    `update_delay_seconds` (default 0: instant, like every moto status) > 0 gives UpdateEndpoint and
    UpdateEndpointWeightsAndCapacities an Updating phase of that length: DescribeEndpoint shows
    EndpointStatus "Updating" (UpdateEndpoint: the old config and variants plus PendingDeploymentSummary;
    weights: DesiredWeight/DesiredInstanceCount new, Current* old), then InService with the new ones.
    Any update while Updating fails with the in-progress error, which lets tests drive the retry path.
    moto's own UpdateEndpointWeightsAndCapacities semantics are kept, including that omitting
    DesiredWeight or DesiredInstanceCount for a variant erases that field (EMULATION_NOTES.md).
    """

    name = "sagemaker-update-endpoint"
    reason = "moto does not implement UpdateEndpoint (NotImplementedError in-process, HTTP 500 served)"

    def __init__(self, update_delay_seconds: float = 0.0) -> None:
        super().__init__()
        self.update_delay_seconds = update_delay_seconds
        self._timers = _Timers("sandbox-endpoint-update")
        self._lock = threading.RLock()

    def pending(self) -> int:
        return len(self._timers)

    def _patch(self) -> None:
        from moto.core.responses import ActionResult
        from moto.sagemaker.models import SageMakerModelBackend
        from moto.sagemaker.responses import SageMakerResponse

        gap = self

        def update_endpoint(
            backend: Any,
            endpoint_name: str,
            endpoint_config_name: str,
            retain_all_variant_properties: bool = False,
            exclude_retained_variant_properties: list[dict[str, str]] | None = None,
        ) -> Any:
            return gap._update_endpoint(
                backend,
                endpoint_name,
                endpoint_config_name,
                retain_all=bool(retain_all_variant_properties),
                excluded=exclude_retained_variant_properties or [],
            )

        def respond(response: Any) -> Any:
            endpoint = response.sagemaker_backend.update_endpoint(
                endpoint_name=response._get_param("EndpointName"),
                endpoint_config_name=response._get_param("EndpointConfigName"),
                retain_all_variant_properties=response._get_param("RetainAllVariantProperties"),
                exclude_retained_variant_properties=response._get_param("ExcludeRetainedVariantProperties"),
            )
            return ActionResult({"EndpointArn": endpoint.arn})

        def make_weights(original: Callable[..., Any]) -> Callable[..., Any]:
            def update_endpoint_weights_and_capacities(
                backend: Any, endpoint_name: str, desired_weights_and_capacities: list[dict[str, Any]]
            ) -> Any:
                return gap._update_weights(original, backend, endpoint_name, desired_weights_and_capacities)

            return update_endpoint_weights_and_capacities

        self._add(SageMakerModelBackend, "update_endpoint", update_endpoint)
        self._add(SageMakerResponse, "update_endpoint", respond)
        self._apply(SageMakerModelBackend, "update_endpoint_weights_and_capacities", make_weights)

    def _unpatch(self) -> None:
        super()._unpatch()
        self._timers.cancel_all()

    # -- UpdateEndpoint -----------------------------------------------------------------------------
    def _update_endpoint(
        self,
        backend: Any,
        endpoint_name: str,
        config_name: str,
        *,
        retain_all: bool,
        excluded: list[dict[str, str]],
    ) -> Any:
        from moto.core.utils import utcnow

        backend.describe_endpoint(endpoint_name)  # ValidationException "Could not find endpoint ..."
        endpoint = backend.endpoints[endpoint_name]
        config = backend.describe_endpoint_config(config_name)  # "Could not find endpoint configuration"
        retained: set[str] = set()
        if retain_all:
            retained = set(_RETAINABLE_VARIANT_PROPERTIES) - {
                str(e.get("VariantPropertyType")) for e in excluded
            }
        with self._lock:
            if endpoint.endpoint_status != "InService":
                raise _in_progress(endpoint)
            current = {v["VariantName"]: v for v in endpoint.production_variants}
            variants = endpoint_variants(list(config.get("ProductionVariants") or []), current, retained)
            data_capture = (
                endpoint.data_capture_config
                if "DataCaptureConfig" in retained
                else config.get("DataCaptureConfig")
            )

            def finish() -> None:
                with self._lock:
                    endpoint.endpoint_config_name = config_name
                    endpoint.production_variants = variants
                    endpoint.data_capture_config = data_capture
                    endpoint.pending_deployment_summary = None
                    endpoint.endpoint_status = "InService"
                    endpoint.last_modified_time = utcnow()

            if self.update_delay_seconds <= 0:
                finish()
                return endpoint
            now = utcnow()
            instance_types = {
                v["VariantName"]: v.get("InstanceType") for v in config.get("ProductionVariants") or []
            }
            endpoint.endpoint_status = "Updating"
            endpoint.last_modified_time = now
            endpoint.pending_deployment_summary = {
                "EndpointConfigName": config_name,
                "ProductionVariants": [
                    {
                        **variant,
                        **({"InstanceType": t} if (t := instance_types.get(variant["VariantName"])) else {}),
                        "VariantStatus": [{"Status": "Creating", "StartTime": now}],
                    }
                    for variant in variants
                ],
                "StartTime": now,
            }
            self._timers.start(self.update_delay_seconds, endpoint_name, finish)
            return endpoint

    # -- UpdateEndpointWeightsAndCapacities ---------------------------------------------------------
    def _update_weights(
        self,
        original: Callable[..., Any],
        backend: Any,
        endpoint_name: str,
        desired: list[dict[str, Any]],
    ) -> Any:
        from moto.core.utils import utcnow

        endpoint = backend.endpoints.get(endpoint_name)
        with self._lock:
            if endpoint is not None and endpoint.endpoint_status != "InService":
                raise _in_progress(endpoint)
            before = {v["VariantName"]: dict(v) for v in endpoint.production_variants} if endpoint else {}
            arn = original(backend, endpoint_name, desired)
            if endpoint is None or self.update_delay_seconds <= 0:
                return arn
            named = {d.get("VariantName") for d in desired}
            changed = [v for v in endpoint.production_variants if v["VariantName"] in named]
            for variant in changed:  # Desired* now, Current* once the update is done
                old = before.get(variant["VariantName"], {})
                for key in ("CurrentWeight", "CurrentInstanceCount"):
                    variant[key] = old.get(key)
            endpoint.endpoint_status = "Updating"
            endpoint.last_modified_time = utcnow()

            def finish() -> None:
                with self._lock:
                    for variant in changed:
                        variant["CurrentWeight"] = variant.get("DesiredWeight")
                        variant["CurrentInstanceCount"] = variant.get("DesiredInstanceCount")
                    endpoint.endpoint_status = "InService"
                    endpoint.last_modified_time = utcnow()

            self._timers.start(self.update_delay_seconds, endpoint_name, finish)
            return arn

    @classmethod
    def still_present(cls) -> bool:
        from botocore.exceptions import ClientError

        with _plain_moto() as clients:
            sagemaker = clients("sagemaker")
            sagemaker.create_model(
                ModelName="gap-probe",
                ExecutionRoleArn="arn:aws:iam::123456789012:role/probe",
                PrimaryContainer={"Image": "probe"},
            )
            for config in ("gap-probe-1", "gap-probe-2"):
                sagemaker.create_endpoint_config(
                    EndpointConfigName=config,
                    ProductionVariants=[
                        {
                            "VariantName": config,
                            "ModelName": "gap-probe",
                            "InitialInstanceCount": 1,
                            "InstanceType": "ml.m5.large",
                            "InitialVariantWeight": 1.0,
                        }
                    ],
                )
            sagemaker.create_endpoint(EndpointName="gap-probe", EndpointConfigName="gap-probe-1")
            try:
                sagemaker.update_endpoint(EndpointName="gap-probe", EndpointConfigName="gap-probe-2")
            except NotImplementedError:
                return True
            except ClientError:
                return False
            return False


# --------------------------------------------------------------------------------------------------
# CloudWatch alarm state change events
# --------------------------------------------------------------------------------------------------
ALARM_DETAIL_TYPE = "CloudWatch Alarm State Change"


@dataclasses.dataclass(frozen=True)
class AlarmState:
    """An alarm's state at one moment (what `previousState` of the event reports)."""

    value: str
    reason: str
    reason_data: str | None
    timestamp: dt.datetime

    @classmethod
    def of(cls, alarm: Any) -> AlarmState:
        return cls(
            value=str(alarm.state_value),
            reason=str(alarm.state_reason or ""),
            reason_data=alarm.state_reason_data,
            timestamp=alarm.state_updated_timestamp,
        )

    def as_event_field(self) -> dict[str, Any]:
        field: dict[str, Any] = {"value": self.value, "reason": self.reason}
        if self.reason_data and self.reason_data != "{}":  # moto's "{}" for a new alarm means none
            field["reasonData"] = self.reason_data
        field["timestamp"] = alarm_timestamp(self.timestamp)
        return field


def alarm_timestamp(moment: dt.datetime) -> str:
    """CloudWatch's event timestamps: `2019-10-01T13:56:40.987+0000` (UTC, milliseconds)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}+0000"


def _alarm_metric(metric: Any) -> dict[str, Any]:
    return {
        "dimensions": {str(d.name): str(d.value) for d in metric.dimensions or []},
        "name": metric.metric_name,
        "namespace": metric.namespace,
    }


def alarm_configuration(alarm: Any) -> dict[str, Any]:
    """`detail.configuration` of the event: the description and the alarm's metrics as AWS lists them
    (a single-metric alarm as one metricStat query; metric math as its queries; composite: the rule)."""
    configuration: dict[str, Any] = {}
    if alarm.description:
        configuration["description"] = alarm.description
    if alarm.rule:
        configuration["alarmRule"] = alarm.rule
        return configuration
    metrics: list[dict[str, Any]] = []
    if alarm.metric_data_queries:
        for query in alarm.metric_data_queries:
            entry: dict[str, Any] = {"id": query.id}
            if query.expression:
                entry["expression"] = query.expression
            if query.label:
                entry["label"] = query.label
            stat = query.metric_stat
            if stat is not None:
                entry["metricStat"] = {
                    "metric": _alarm_metric(stat.metric),
                    "period": int(stat.period),
                    "stat": stat.stat,
                    **({"unit": stat.unit} if stat.unit else {}),
                }
            return_data = query.return_data
            entry["returnData"] = return_data is None or str(return_data).lower() == "true"
            metrics.append(entry)
    elif alarm.metric_name:
        from moto.cloudwatch.models import Metric

        metric = Metric(alarm.metric_name, alarm.namespace, alarm.dimensions)
        metrics.append(
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, alarm.alarm_arn)),
                "metricStat": {
                    "metric": _alarm_metric(metric),
                    "period": int(alarm.period),
                    "stat": alarm.statistic or alarm.extended_statistic,
                    **({"unit": alarm.unit} if alarm.unit else {}),
                },
                "returnData": True,
            }
        )
    configuration["metrics"] = metrics
    return configuration


def alarm_state_change_detail(alarm: Any, previous: AlarmState) -> dict[str, Any]:
    """`detail` of "CloudWatch Alarm State Change" for `alarm` (moto's Alarm, in its new state)."""
    return {
        "alarmName": alarm.name,
        "state": AlarmState.of(alarm).as_event_field(),
        "previousState": previous.as_event_field(),
        "configuration": alarm_configuration(alarm),
    }


def put_alarm_state_change_event(alarm: Any, previous: AlarmState) -> None:
    """Put the event on the default bus of the alarm's account and region, as CloudWatch does."""
    from moto.events.models import events_backends

    account_id = alarm.alarm_arn.split(":")[4]
    entry = {
        "Source": "aws.cloudwatch",
        "DetailType": ALARM_DETAIL_TYPE,
        "Detail": json.dumps(alarm_state_change_detail(alarm, previous)),
        "Resources": [alarm.alarm_arn],
        "EventBusName": "default",
    }
    try:
        events_backends[account_id][alarm.region_name].put_events([entry])
    except NotImplementedError:  # a rule with a Lambda/SFN target matched (never registered by the sandbox)
        log.exception("alarm %s: state change event not delivered", alarm.name)


def set_alarm_state(
    account_id: str,
    region: str,
    alarm_name: str,
    state_value: str,
    reason: str,
    reason_data: str | None = None,
) -> bool:
    """Change an alarm's state inside the emulator, as CloudWatch's own evaluation does (for the
    sandbox's metric-alarm evaluator): True when the state changed. The event follows from
    `AlarmStateChangeEvents` when it is installed."""
    from moto.cloudwatch.models import cloudwatch_backends

    backend = cloudwatch_backends[account_id][region]
    alarm = backend.alarms.get(alarm_name)
    before = None if alarm is None else alarm.state_value
    backend.set_alarm_state(alarm_name, reason, reason_data, state_value)  # type: ignore[arg-type]
    return bool(before != state_value)


class AlarmStateChangeEvents(Gap):
    """Puts "CloudWatch Alarm State Change" on the default bus whenever an alarm's state changes.

    Patched at moto's `Alarm.update_state`, the one path every state change takes (SetAlarmState, and
    `set_alarm_state()` above for the sandbox's own evaluation). Only transitions emit, as on AWS:
    setting the state an alarm is already in changes its reason but puts nothing on the bus.
    """

    name = "cloudwatch-alarm-state-change-events"
    reason = "moto changes an alarm's state without putting the 'CloudWatch Alarm State Change' event"

    def _patch(self) -> None:
        from moto.cloudwatch.models import Alarm

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def update_state(alarm: Any, reason: str, reason_data: str, state_value: str) -> None:
                previous = AlarmState.of(alarm)
                original(alarm, reason, reason_data, state_value)
                if alarm.state_value != previous.value:
                    put_alarm_state_change_event(alarm, previous)

            return update_state

        self._apply(Alarm, "update_state", make)

    @classmethod
    def still_present(cls) -> bool:
        with _plain_moto() as clients:
            url = _probe_rule_to_queue(clients, {"source": ["aws.cloudwatch"]})
            cloudwatch = clients("cloudwatch")
            cloudwatch.put_metric_alarm(
                AlarmName="gap-probe",
                MetricName="Errors",
                Namespace="Probe",
                Statistic="Sum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=1.0,
                ComparisonOperator="GreaterThanOrEqualToThreshold",
            )
            cloudwatch.set_alarm_state(AlarmName="gap-probe", StateValue="ALARM", StateReason="probe")
            state = cloudwatch.describe_alarms(AlarmNames=["gap-probe"])["MetricAlarms"][0]["StateValue"]
            return state == "ALARM" and not _drain(clients, url)


# --------------------------------------------------------------------------------------------------
# CloudWatch metric alarm evaluation
# --------------------------------------------------------------------------------------------------
class MetricAlarmEvaluation(Gap):
    """Evaluates every metric alarm from the metric data moto stores, as CloudWatch does, and sets
    state changes with `set_alarm_state` (so `AlarmStateChangeEvents` puts their events on the bus).

    Installing starts `alarm_evaluation.AlarmEvaluator` on a daemon thread; uninstalling stops and joins
    it. It patches nothing of moto. `time_scale` (sandbox seconds per declared second, a number or a
    callable such as the TimeCompression gap's current value) scales alarm periods: a 60 s period is
    evaluated over 60 x time_scale wall seconds of data. `evaluation_interval`: the longest wall time
    between two passes (a pass also runs as each period of an alarm completes). See alarm_evaluation.py
    for what is evaluated and what is not.
    """

    name = "cloudwatch-metric-alarm-evaluation"
    reason = "moto never evaluates metric alarms: an alarm stays OK whatever data crosses its threshold"

    def __init__(
        self, time_scale: float | Callable[[], float] = 1.0, evaluation_interval: float = 1.0
    ) -> None:
        super().__init__()
        if not evaluation_interval > 0:
            raise ValueError(f"evaluation_interval must be > 0, got {evaluation_interval}")
        self.time_scale = time_scale
        self.evaluation_interval = evaluation_interval
        self.evaluator: Any = None  # alarm_evaluation.AlarmEvaluator while installed

    def _current_time_scale(self) -> float:
        scale = self.time_scale
        return float(scale() if callable(scale) else scale)

    def _patch(self) -> None:
        from sluice_cli.sandbox.alarm_evaluation import AlarmEvaluator

        self.evaluator = AlarmEvaluator(
            time_scale=self._current_time_scale, interval=self.evaluation_interval
        )
        self.evaluator.start()

    def _unpatch(self) -> None:
        evaluator, self.evaluator = self.evaluator, None
        if evaluator is not None:
            evaluator.stop()
        super()._unpatch()

    def evaluate_now(self) -> list[Any]:
        """One evaluation pass at once (the transitions it made); [] when not installed."""
        return [] if self.evaluator is None else list(self.evaluator.evaluate_now())

    @classmethod
    def still_present(cls) -> bool:
        import time

        with _plain_moto() as clients:
            cloudwatch = clients("cloudwatch")
            cloudwatch.put_metric_alarm(
                AlarmName="gap-probe",
                Namespace="Probe",
                MetricName="Errors",
                Statistic="Sum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=5.0,
                ComparisonOperator="GreaterThanThreshold",
                TreatMissingData="notBreaching",
            )
            now = dt.datetime.now(dt.UTC)
            cloudwatch.put_metric_data(
                Namespace="Probe",
                MetricData=[
                    {"MetricName": "Errors", "Value": 100.0, "Timestamp": now - dt.timedelta(seconds=s)}
                    for s in (70, 90, 110, 130, 150)  # well inside complete minutes, far over 5
                ],
            )
            time.sleep(0.2)
            alarm = cloudwatch.describe_alarms(AlarmNames=["gap-probe"])["MetricAlarms"][0]
            return bool(alarm["StateValue"] != "ALARM")


# --------------------------------------------------------------------------------------------------
# Step Functions: lambda:invoke tasks
# --------------------------------------------------------------------------------------------------
# (function name, event) -> (result JSON, errored, logs): what moto's LambdaFunction._invoke_lambda returns.
LambdaInvoker = Callable[[str, Any], tuple[str, bool, str]]


class StepFunctionsLambdaTasks(Gap):
    """Runs a moto Lambda function's handler in-process when moto would start its docker container.

    Replaces `moto.awslambda.models.LambdaFunction._invoke_lambda(self, event) -> (result JSON,
    errored, logs)`, the one call behind lambda:Invoke and Step Functions `arn:aws:states:::lambda:invoke`
    tasks, with the bound invoker (`EventRouter.invoke_lambda`: the stack's function of that name, the
    real handler). provision.py creates every AWS::Serverless::Function in moto's Lambda so that names
    and ARNs resolve. A handler exception comes back as Lambda's error payload (`errorType`,
    `errorMessage`, ...) with `errored`: moto answers Invoke with X-Amz-Function-Error (rewritten here
    from moto's "Handled" to "Unhandled", as Lambda reports an exception), and the Step Functions
    interpreter fails the task with Error = the payload's errorType (e.g. "RuntimeError" or the
    handler's own exception class name) and Cause = the payload JSON, so a Retry/Catch on that name,
    on "States.TaskFailed" or on "States.ALL" applies, as on AWS (checked against moto 5.2.5).
    """

    name = "stepfunctions-lambda-tasks"
    reason = "moto runs a Lambda function (Invoke, Step Functions lambda:invoke tasks) only in docker"

    def __init__(self, invoker: LambdaInvoker | None = None) -> None:
        super().__init__()
        self.invoker = invoker

    def bind(self, invoker: LambdaInvoker | None) -> None:
        """Route invocations to `invoker` (None: every invocation fails with Sandbox.NoHandler)."""
        self.invoker = invoker

    def invoke(self, function_name: str, event: Any) -> tuple[str, bool, str]:
        if isinstance(event, bytes | str):
            with contextlib.suppress(ValueError):  # Lambda hands a non-JSON payload over as it is
                event = json.loads(event or "{}")
        elif event is None:
            event = {}
        invoker = self.invoker
        if invoker is None:
            error = {
                "errorMessage": f"sandbox: no in-process handler is bound for function {function_name}",
                "errorType": "Sandbox.NoHandler",
            }
            return json.dumps(error), True, ""
        return invoker(function_name, event)

    def _patch(self) -> None:
        from moto.awslambda.models import LambdaFunction

        gap = self

        def make_invoke_lambda(original: Callable[..., Any]) -> Callable[..., Any]:
            def _invoke_lambda(function: Any, event: Any = None) -> tuple[str, bool, str]:
                return gap.invoke(function.function_name, event)

            return _invoke_lambda

        def make_invoke(original: Callable[..., Any]) -> Callable[..., Any]:
            def invoke(function: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
                result = original(function, body, request_headers, response_headers)
                if response_headers.get("x-amz-function-error") == "Handled":
                    response_headers["x-amz-function-error"] = "Unhandled"
                return result

            return invoke

        self._apply(LambdaFunction, "_invoke_lambda", make_invoke_lambda)
        self._apply(LambdaFunction, "invoke", make_invoke)

    @classmethod
    def still_present(cls) -> bool:
        moto_logger = logging.getLogger("moto")
        level = moto_logger.level
        moto_logger.setLevel(logging.CRITICAL)  # moto logs the docker failure loudly
        try:
            return cls._probe()
        finally:
            moto_logger.setLevel(level)

    @classmethod
    def _probe(cls) -> bool:
        with _plain_moto_executing() as clients:
            role = _probe_role(clients)
            archive = io.BytesIO()
            with zipfile.ZipFile(archive, "w") as zipped:
                zipped.writestr("probe.py", "def handler(event, context):\n    return {'ran': True}\n")
            function_arn = clients("lambda").create_function(
                FunctionName="gap-probe",
                Runtime="python3.11",
                Role=role,
                Handler="probe.handler",
                Code={"ZipFile": archive.getvalue()},
            )["FunctionArn"]
            definition = {
                "StartAt": "Call",
                "States": {
                    "Call": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::lambda:invoke",
                        "Parameters": {"FunctionName": function_arn, "Payload": {}},
                        "End": True,
                    }
                },
            }
            sfn = clients("stepfunctions")
            machine = sfn.create_state_machine(
                name="gap-probe", definition=json.dumps(definition), roleArn=role
            )["stateMachineArn"]
            execution = sfn.start_execution(stateMachineArn=machine, name="gap-probe")["executionArn"]
            return bool(_wait_for_execution(sfn, execution)["status"] == "FAILED")


# --------------------------------------------------------------------------------------------------
# Step Functions: time compression
# --------------------------------------------------------------------------------------------------
class _ThreadingWithEvent:
    """Stands in for the `threading` module inside one moto module: its `Event` is the scaled one,
    everything else is threading's."""

    def __init__(self, event_class: type[threading.Event]) -> None:
        self.Event = event_class

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)


class TimeCompression(Gap):
    """Divides the Step Functions interpreter's waits by the sandbox's clock: `time_scale` = sandbox
    seconds per declared second (1.0 real time; 0.02 makes a 300 s bake last 6 s).

    Scaled: Wait states (Seconds, SecondsPath, Timestamp, TimestampPath: `WaitFunction._wait_interval`,
    replaced by a deadline loop), Retry intervals after BackoffRate, MaxDelaySeconds and jitter (the
    value `JitterStrategyDecl` leaves for the retrier's sleep), and task TimeoutSeconds /
    TimeoutSecondsPath / HeartbeatSeconds(Path) (the `threading.Event` waits of the callback endpoints
    in `asl.eval.callback` and of `ExecutionState._evaluate_with_timeout`, through scaled Event
    classes). The declared values stay as they are in the execution history (timeoutInSeconds ...).
    Not scaled: a state machine's top-level TimeoutSeconds.
    """

    name = "stepfunctions-time-compression"
    reason = "moto's Step Functions interpreter waits in wall time (Wait, Retry intervals, task timeouts)"

    def __init__(self, time_scale: float = 1.0) -> None:
        super().__init__()
        if not time_scale > 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale}")
        self.time_scale = time_scale

    def scaled(self, seconds: float) -> float:
        """Wall-clock seconds for `seconds` of declared (AWS) time."""
        return max(0.0, float(seconds) * self.time_scale)

    def _event_class(self) -> type[threading.Event]:
        gap = self

        class ScaledEvent(threading.Event):
            """threading.Event whose wait(timeout) lasts timeout x the sandbox's time scale."""

            def wait(self, timeout: float | None = None) -> bool:
                return super().wait(None if timeout is None else gap.scaled(timeout))

        return ScaledEvent

    def _patch(self) -> None:
        import time

        from moto.stepfunctions.parser.asl.component.common.retry.jitter_strategy_decl import (
            JitterStrategyDecl,
        )
        from moto.stepfunctions.parser.asl.component.state.exec import execute_state
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
            WaitFunction,
        )
        from moto.stepfunctions.parser.asl.eval.callback import callback

        gap = self
        scaled_event = self._event_class()

        def make_wait(original: Callable[..., Any]) -> Callable[..., Any]:
            # moto's loop compares int(elapsed) with the declared seconds: a fractional wait never ends.
            def _wait_interval(wait_function: Any, env: Any, wait_seconds: float) -> None:
                deadline = time.monotonic() + gap.scaled(wait_seconds)
                while env.is_running():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return
                    env.program_state_event.wait(remaining)  # pulsed when the execution stops or fails

            return _wait_interval

        def make_jitter(original: Callable[..., Any]) -> Callable[..., Any]:
            def _eval_body(decl: Any, env: Any) -> None:
                original(decl, env)  # the last step of the retry interval: its value is on the stack
                env.stack.append(gap.scaled(env.stack.pop()))

            return _eval_body

        self._apply(WaitFunction, "_wait_interval", make_wait)
        self._apply(JitterStrategyDecl, "_eval_body", make_jitter)
        self._apply(callback, "Event", lambda original: scaled_event)
        self._apply(execute_state, "threading", lambda original: _ThreadingWithEvent(scaled_event))

    @classmethod
    def still_present(cls) -> bool:
        import time

        with _plain_moto_executing() as clients:
            definition = {
                "StartAt": "Pause",
                "States": {"Pause": {"Type": "Wait", "Seconds": 1, "End": True}},
            }
            sfn = clients("stepfunctions")
            machine = sfn.create_state_machine(
                name="gap-probe", definition=json.dumps(definition), roleArn=_probe_role(clients)
            )["stateMachineArn"]
            started = time.monotonic()
            execution = sfn.start_execution(stateMachineArn=machine, name="gap-probe")["executionArn"]
            described = _wait_for_execution(sfn, execution)
            return bool(described["status"] == "SUCCEEDED") and time.monotonic() - started >= 0.9


# --------------------------------------------------------------------------------------------------
# Step Functions: StopExecution
# --------------------------------------------------------------------------------------------------
def interrupt_callbacks(env: Any) -> int:
    """Wake every task of an interpreter environment that waits for a task token or heartbeat (they
    then see the execution is no longer running and end). Returns how many endpoints were woken."""
    manager = getattr(env, "callback_pool_manager", None)
    endpoints = list(getattr(manager, "_pool", {}).values())
    for endpoint in endpoints:
        endpoint.interrupt_all()
    return len(endpoints)


class StopExecutionInterrupts(Gap):
    """StopExecution also wakes the execution's tasks waiting for a task token (or heartbeat).

    moto marks the execution ABORTED but its interpreter threads keep waiting for the token until the
    task's TimeoutSeconds (99999999 s by default): a sandbox shut down with a rollout baking would
    leave them behind. Patched at `ExecutionWorker.stop`: after moto's stop, every callback endpoint of
    the execution is interrupted (`interrupt_callbacks`); the woken task sees the execution stopped.
    The woken task then reports an error, and moto's `Environment.set_error` would turn the stopped
    program into a failed one (DescribeExecution FAILED, where AWS says ABORTED): while the gap is
    installed, a stopped program stays stopped.
    """

    name = "stepfunctions-stop-execution-interrupts"
    reason = "moto's StopExecution leaves a task waiting for its token (a thread) until the task times out"

    _THREAD_MARK = "_exec_and_notify"  # the thread of a task being evaluated (ExecutionState)

    def _patch(self) -> None:
        from moto.stepfunctions.parser.asl.eval.environment import Environment
        from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
        from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def stop(worker: Any, *args: Any, **kwargs: Any) -> None:
                original(worker, *args, **kwargs)
                if worker.env is not None:
                    interrupt_callbacks(worker.env)

            return stop

        def make_set_error(original: Callable[..., Any]) -> Callable[..., Any]:
            def set_error(env: Any, *args: Any, **kwargs: Any) -> None:
                if isinstance(getattr(env, "_program_state", None), ProgramStopped):
                    return  # stopped (ABORTED) stays stopped
                original(env, *args, **kwargs)

            return set_error

        self._apply(ExecutionWorker, "stop", make)
        self._apply(Environment, "set_error", make_set_error)

    @classmethod
    def still_present(cls) -> bool:
        import time

        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        def task_threads() -> set[threading.Thread]:
            return {t for t in threading.enumerate() if cls._THREAD_MARK in t.name and t.is_alive()}

        before = task_threads()
        with _plain_moto_executing() as clients:
            url = clients("sqs").create_queue(QueueName="gap-probe")["QueueUrl"]
            definition = {
                "StartAt": "Bake",
                "States": {
                    "Bake": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                        "Parameters": {"QueueUrl": url, "MessageBody.$": "$$.Task.Token"},
                        "TimeoutSeconds": 60,
                        "End": True,
                    }
                },
            }
            sfn = clients("stepfunctions")
            machine = sfn.create_state_machine(
                name="gap-probe", definition=json.dumps(definition), roleArn=_probe_role(clients)
            )["stateMachineArn"]
            # The probe needs a task waiting for its token. Under load an execution has been seen to
            # fail in its SQS call instead (moto, once in several suite runs): such a run proves
            # nothing, so try again, and say so if it never gets there rather than report "fixed".
            execution, waiting, seen = "", False, ""
            for attempt in range(3):
                execution = sfn.start_execution(stateMachineArn=machine, name=f"gap-probe-{attempt}")[
                    "executionArn"
                ]
                deadline = time.monotonic() + 5.0
                while time.monotonic() < deadline:  # until the message is sent: the task waits now
                    if clients("sqs").receive_message(QueueUrl=url).get("Messages"):
                        waiting = True
                        break
                    described = sfn.describe_execution(executionArn=execution)
                    if described["status"] != "RUNNING":
                        seen = f"{described['status']}: {described.get('cause', '')}"
                        break
                    time.sleep(0.02)
                if waiting:
                    break
            if not waiting:
                raise RuntimeError(
                    f"{cls.name} probe: no task ever waited for its token ({seen or 'timeout'})"
                )
            sfn.stop_execution(executionArn=execution)
            deadline = time.monotonic() + 1.0
            while task_threads() - before and time.monotonic() < deadline:
                time.sleep(0.05)
            present = bool(task_threads() - before)
            backend = stepfunctions_parser_backends["123456789012"][_PROBE_REGION]
            for state_machine in backend.state_machines:  # clean up after the probe
                for run in state_machine.executions:
                    worker = getattr(run, "exec_worker", None)
                    if worker is not None and worker.env is not None:
                        interrupt_callbacks(worker.env)
            return present


# --------------------------------------------------------------------------------------------------
# All of them
# --------------------------------------------------------------------------------------------------
ALL_GAPS: tuple[type[Gap], ...] = (
    S3EventBridgeEventIds,
    EventBridgeTargetEventAccount,
    S3BucketPolicyTransportCondition,
    TransformJobLifecycle,
    TransformJobCreateValidation,
    LambdaInvokeNeedsDocker,
    UpdateEndpoint,
    AlarmStateChangeEvents,
    StepFunctionsLambdaTasks,
    TimeCompression,
    StopExecutionInterrupts,
    MetricAlarmEvaluation,
)


G = TypeVar("G", bound=Gap)


class EmulatorGaps:
    """The sandbox's gap-fillers, installed in order and uninstalled in reverse order."""

    def __init__(self, gaps: list[Gap]) -> None:
        self.gaps = gaps

    @classmethod
    def default(
        cls,
        transform_delay_seconds: float = 1.0,
        *,
        time_scale: float = 1.0,
        update_delay_seconds: float = 0.0,
        evaluate_alarms: bool = True,
        alarm_evaluation_interval: float = 1.0,
    ) -> EmulatorGaps:
        """Every filler. `time_scale`: Step Functions seconds per declared second (TimeCompression);
        `update_delay_seconds`: the Updating phase of a SageMaker endpoint update (UpdateEndpoint);
        `evaluate_alarms`: run MetricAlarmEvaluation (periods scaled by TimeCompression's time_scale,
        read at every pass), a pass at least every `alarm_evaluation_interval` wall seconds."""
        compression = TimeCompression(time_scale=time_scale)
        # TransformJobCreateValidation wraps the lifecycle patch, so it refuses before a job starts.
        # MetricAlarmEvaluation comes after AlarmStateChangeEvents: its thread stops before that unpatches.
        return cls(
            [
                S3EventBridgeEventIds(),
                EventBridgeTargetEventAccount(),
                S3BucketPolicyTransportCondition(),
                TransformJobLifecycle(delay_seconds=transform_delay_seconds),
                TransformJobCreateValidation(),
                LambdaInvokeNeedsDocker(),
                UpdateEndpoint(update_delay_seconds=update_delay_seconds),
                AlarmStateChangeEvents(),
                StepFunctionsLambdaTasks(),
                compression,
                StopExecutionInterrupts(),
                *(
                    [
                        MetricAlarmEvaluation(
                            time_scale=lambda: compression.time_scale,
                            evaluation_interval=alarm_evaluation_interval,
                        )
                    ]
                    if evaluate_alarms
                    else []
                ),
            ]
        )

    def install(self) -> None:
        installed: list[Gap] = []
        try:
            for gap in self.gaps:
                gap.install()
                installed.append(gap)
        except BaseException:
            for gap in reversed(installed):
                gap.uninstall()
            raise

    def uninstall(self) -> None:
        for gap in reversed(self.gaps):
            gap.uninstall()

    def pending(self) -> int:
        return sum(gap.pending() for gap in self.gaps)

    def get(self, gap_type: type[G]) -> G:
        for gap in self.gaps:
            if isinstance(gap, gap_type):
                return gap
        raise KeyError(gap_type.__name__)

    def __enter__(self) -> Self:
        self.install()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.uninstall()
