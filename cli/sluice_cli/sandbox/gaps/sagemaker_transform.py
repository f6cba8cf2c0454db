"""SageMaker transform job gaps: the job's lifecycle (output, events) and CreateTransformJob's
validation (docs/EMULATION.md, SageMaker; Found since)."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

from sluice_cli.sandbox.aws_state.sagemaker import TRANSFORM_DETAIL_TYPE, transform_job_event_detail
from sluice_cli.sandbox.gaps.base import Gap, Timers
from sluice_cli.sandbox.gaps.probes import drain_queue, plain_moto, probe_rule_to_queue

log = logging.getLogger(__name__)


def fake_prediction(line: str) -> str:
    """A deterministic score in [0, 1) prefixed to the input line: `0.4215,<line>`."""
    score = int(hashlib.sha256(line.encode()).hexdigest()[:8], 16) / 0x1_0000_0000
    return f"{score:.4f},{line}"


class _TransformFailed(Exception):
    """The job ends Failed with this FailureReason."""


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
        self._timers = Timers("sandbox-transform")

    def pending(self) -> int:
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
        self._timers.cancel_all()

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
        self._timers.start(self.delay_seconds, job.transform_job_name, lambda: self._finish(backend, job))

    def _finish(self, backend: Any, job: Any) -> None:
        from moto.core.utils import utcnow

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
        with plain_moto() as clients:
            clients("sagemaker").create_model(
                ModelName="gap-probe",
                ExecutionRoleArn="arn:aws:iam::123456789012:role/probe",
                PrimaryContainer={"Image": "probe"},
            )
            url = probe_rule_to_queue(clients, {"source": ["aws.sagemaker"]})
            clients("s3").create_bucket(Bucket="gap-probe")
            clients("s3").put_object(Bucket="gap-probe", Key="in/a.csv", Body=b"1,2\n")
            clients("sagemaker").create_transform_job(**_probe_transform_request("gap-probe-job"))
            status = clients("sagemaker").describe_transform_job(TransformJobName="gap-probe-job")
            written = clients("s3").list_objects_v2(Bucket="gap-probe", Prefix="out/").get("KeyCount", 0)
            return (
                status["TransformJobStatus"] == "Completed" and written == 0 and not drain_queue(clients, url)
            )


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

        with plain_moto() as clients:
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
