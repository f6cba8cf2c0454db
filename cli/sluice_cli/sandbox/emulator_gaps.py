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
"""

from __future__ import annotations

import contextlib
import copy
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
from typing import Any, ClassVar, Self

log = logging.getLogger(__name__)

TRANSFORM_DETAIL_TYPE = "SageMaker Transform Job State Change"
_PROBE_REGION = "us-east-1"


class Gap:
    """A reversible patch of moto for one missing behaviour."""

    name: ClassVar[str]
    reason: ClassVar[str]

    def __init__(self) -> None:
        self._installed = False

    @property
    def installed(self) -> bool:
        return self._installed

    def install(self) -> None:
        if self._installed:
            return
        self._patch()
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
        raise NotImplementedError

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
        self._patch_create: _MethodPatch | None = None

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

        self._patch_create = _MethodPatch(SageMakerModelBackend, "create_transform_job", make)
        self._patch_create.apply()

    def _unpatch(self) -> None:
        assert self._patch_create is not None
        self._patch_create.revert()
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

    def __init__(self) -> None:
        super().__init__()
        self._patch_create: _MethodPatch | None = None

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

        self._patch_create = _MethodPatch(SageMakerModelBackend, "create_transform_job", make)
        self._patch_create.apply()

    def _unpatch(self) -> None:
        assert self._patch_create is not None
        self._patch_create.revert()

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
        self._patch_send: _MethodPatch | None = None
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

        self._patch_send = _MethodPatch(Rule, "send_to_targets", make)
        self._patch_send.apply()

    def _unpatch(self) -> None:
        assert self._patch_send is not None
        self._patch_send.revert()

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

    def __init__(self) -> None:
        super().__init__()
        self._patch_parse: _MethodPatch | None = None

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

        self._patch_parse = _MethodPatch(EventTemplateParser, "parse", make)
        self._patch_parse.apply()

    def _unpatch(self) -> None:
        assert self._patch_parse is not None
        self._patch_parse.revert()

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

    def __init__(self) -> None:
        super().__init__()
        self._patch_permission: _MethodPatch | None = None

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

        self._patch_permission = _MethodPatch(FakeBucket, "get_permission", make)
        self._patch_permission.apply()

    def _unpatch(self) -> None:
        assert self._patch_permission is not None
        self._patch_permission.revert()

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

    def _unpatch(self) -> None:
        """Nothing was patched."""

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
# All of them
# --------------------------------------------------------------------------------------------------
ALL_GAPS: tuple[type[Gap], ...] = (
    S3EventBridgeEventIds,
    EventBridgeTargetEventAccount,
    S3BucketPolicyTransportCondition,
    TransformJobLifecycle,
    TransformJobCreateValidation,
    LambdaInvokeNeedsDocker,
)


class EmulatorGaps:
    """The sandbox's gap-fillers, installed in order and uninstalled in reverse order."""

    def __init__(self, gaps: list[Gap]) -> None:
        self.gaps = gaps

    @classmethod
    def default(cls, transform_delay_seconds: float = 1.0) -> EmulatorGaps:
        # TransformJobCreateValidation wraps the lifecycle patch, so it refuses before a job starts.
        return cls(
            [
                S3EventBridgeEventIds(),
                EventBridgeTargetEventAccount(),
                S3BucketPolicyTransportCondition(),
                TransformJobLifecycle(delay_seconds=transform_delay_seconds),
                TransformJobCreateValidation(),
                LambdaInvokeNeedsDocker(),
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

    def get(self, gap_type: type[Gap]) -> Gap:
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
