"""SageMaker endpoint gaps: UpdateEndpoint and an Updating phase for endpoint updates
(docs/EMULATION.md, SageMaker)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sluice.domain.rollout_plan import scalable_target
from sluice_cli.sandbox.aws_state.sagemaker import endpoint_variants
from sluice_cli.sandbox.gaps.base import Gap, Timers
from sluice_cli.sandbox.gaps.probes import plain_moto

_RETAINABLE_VARIANT_PROPERTIES = frozenset({"DesiredWeight", "DesiredInstanceCount", "DataCaptureConfig"})


def _in_progress(endpoint: Any) -> Exception:
    from moto.sagemaker.exceptions import ValidationError

    return ValidationError(message=f'Cannot update in-progress endpoint "{endpoint.arn}".')


def _pending_deployment_summary(
    config_name: str, config: dict[str, Any], variants: list[dict[str, Any]], now: Any
) -> dict[str, Any]:
    """DescribeEndpoint's PendingDeploymentSummary while an UpdateEndpoint to `config` is Updating."""
    instance_types = {v["VariantName"]: v.get("InstanceType") for v in config.get("ProductionVariants") or []}
    return {
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


def _refuse_removing_a_scalable_target(backend: Any, endpoint: Any, config: dict[str, Any]) -> None:
    """SageMaker's "Update or delete endpoints that use auto scaling": an UpdateEndpoint that removes a
    variant registered as a scalable target, or changes its instance type, fails (the docs give no error
    text: this one is the sandbox's)."""
    from moto.applicationautoscaling.models import applicationautoscaling_backends
    from moto.sagemaker.exceptions import ValidationError

    targets = applicationautoscaling_backends[backend.account_id][backend.region_name]
    new = {v["VariantName"]: v for v in config.get("ProductionVariants") or []}
    serving = backend.describe_endpoint_config(endpoint.endpoint_config_name)
    for variant in serving.get("ProductionVariants") or []:
        name = variant["VariantName"]
        kept = new.get(name)
        if kept is not None and kept.get("InstanceType") == variant.get("InstanceType"):
            continue
        target = scalable_target(endpoint.endpoint_name, name)
        if targets._scalable_target_exists(target["ResourceId"], target["ScalableDimension"]):
            raise ValidationError(
                message=f'The variant "{name}" is registered as a scalable target with Application Auto '
                "Scaling: deregister it before UpdateEndpoint removes it or changes its instance type."
            )


def _probe_endpoint(sagemaker: Any, configs: dict[str, str], *, count: int) -> None:
    """A probe's model, its endpoint configs (name → variant name) and endpoint "gap-probe" on the first."""
    sagemaker.create_model(
        ModelName="gap-probe",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/probe",
        PrimaryContainer={"Image": "probe"},
    )
    for config, variant in configs.items():
        sagemaker.create_endpoint_config(
            EndpointConfigName=config,
            ProductionVariants=[
                {
                    "VariantName": variant,
                    "ModelName": "gap-probe",
                    "InitialInstanceCount": count,
                    "InstanceType": "ml.m5.large",
                    "InitialVariantWeight": 1.0,
                }
            ],
        )
    sagemaker.create_endpoint(EndpointName="gap-probe", EndpointConfigName=next(iter(configs)))


@dataclass(frozen=True)
class _FailedUpdate:
    reason: str
    rollback_failed: bool


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
    A weights call that changes no instance count (no instance to launch) is Updating for
    `weights_update_delay_seconds` instead, when given (None: the same as any update).
    Any update while Updating fails with the in-progress error, which lets tests drive the retry path.
    moto's own UpdateEndpointWeightsAndCapacities validation is kept; a field the request leaves out
    stays as it is (WeightsKeepOmittedFields, installed first).
    """

    name = "sagemaker-update-endpoint"
    reason = "moto does not implement UpdateEndpoint (NotImplementedError in-process, HTTP 500 served)"

    def __init__(
        self, update_delay_seconds: float = 0.0, weights_update_delay_seconds: float | None = None
    ) -> None:
        super().__init__()
        self.update_delay_seconds = update_delay_seconds
        self.weights_update_delay_seconds = weights_update_delay_seconds
        self._timers = Timers("sandbox-endpoint-update")
        self._lock = threading.RLock()
        self._failing: dict[str, list[_FailedUpdate]] = {}

    def fail_next_update(self, endpoint_name: str, reason: str, *, rollback_failed: bool = False) -> None:
        """Make the next UpdateEndpoint of `endpoint_name` fail as SageMaker's do, after its Updating
        phase: back to InService on the previous config and variants with FailureReason `reason`
        (DescribeEndpoint: "the status is InService but update operation fails"), or, with
        `rollback_failed`, stuck in UpdateRollbackFailed ("Both the rolling deployment and auto-rollback
        failed"). The call itself is accepted, as on AWS: the failure shows only in DescribeEndpoint."""
        with self._lock:
            self._failing.setdefault(endpoint_name, []).append(_FailedUpdate(reason, rollback_failed))

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
            _refuse_removing_a_scalable_target(backend, endpoint, config)
            current = {v["VariantName"]: v for v in endpoint.production_variants}
            variants = endpoint_variants(list(config.get("ProductionVariants") or []), current, retained)
            data_capture = (
                endpoint.data_capture_config
                if "DataCaptureConfig" in retained
                else config.get("DataCaptureConfig")
            )

            failing = self._failing.get(endpoint_name) or []
            fault = failing.pop(0) if failing else None

            def finish() -> None:
                with self._lock:
                    endpoint.pending_deployment_summary = None
                    endpoint.last_modified_time = utcnow()
                    if fault is not None:  # the previous config and variants stay
                        endpoint.failure_reason = fault.reason
                        endpoint.endpoint_status = (
                            "UpdateRollbackFailed" if fault.rollback_failed else "InService"
                        )
                        return
                    endpoint.endpoint_config_name = config_name
                    endpoint.production_variants = variants
                    endpoint.data_capture_config = data_capture
                    endpoint.failure_reason = None
                    endpoint.endpoint_status = "InService"

            if self.update_delay_seconds <= 0:
                finish()
                return endpoint
            now = utcnow()
            endpoint.endpoint_status = "Updating"
            endpoint.last_modified_time = now
            endpoint.pending_deployment_summary = _pending_deployment_summary(
                config_name, config, variants, now
            )
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
            delay = self._weights_delay(before, desired)
            arn = original(backend, endpoint_name, desired)
            if endpoint is None or delay <= 0:
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

            self._timers.start(delay, endpoint_name, finish)
            return arn

    def _weights_delay(self, before: dict[str, dict[str, Any]], desired: list[dict[str, Any]]) -> float:
        """How long this weights call keeps the endpoint Updating: a call that launches or removes
        instances takes as long as any update, one that only moves weights may be quicker."""
        current = {name: variant.get("CurrentInstanceCount") for name, variant in before.items()}
        resized = any(
            "DesiredInstanceCount" in d and d["DesiredInstanceCount"] != current.get(str(d["VariantName"]))
            for d in desired
        )
        if resized or self.weights_update_delay_seconds is None:
            return self.update_delay_seconds
        return self.weights_update_delay_seconds

    @classmethod
    def still_present(cls) -> bool:
        from botocore.exceptions import ClientError

        with plain_moto() as clients:
            sagemaker = clients("sagemaker")
            _probe_endpoint(sagemaker, {"gap-probe-1": "gap-probe-1", "gap-probe-2": "gap-probe-2"}, count=1)
            try:
                sagemaker.update_endpoint(EndpointName="gap-probe", EndpointConfigName="gap-probe-2")
            except NotImplementedError:
                return True
            except ClientError:
                return False
            return False


class WeightsKeepOmittedFields(Gap):
    """UpdateEndpointWeightsAndCapacities leaves a variant's count (or weight) as it is when the request
    leaves DesiredInstanceCount (or DesiredWeight) out, as SageMaker does (DesiredWeightAndCapacity: both
    fields optional). moto sets the omitted field to null, which erases it from DescribeEndpoint.

    Installed before UpdateEndpoint, whose Updating phase then wraps this behaviour."""

    name = "sagemaker-weights-keep-omitted-fields"
    reason = "moto's UpdateEndpointWeightsAndCapacities erases DesiredInstanceCount/DesiredWeight left out"

    def _patch(self) -> None:
        from moto.sagemaker.models import SageMakerModelBackend

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def update_endpoint_weights_and_capacities(
                backend: Any, endpoint_name: str, desired_weights_and_capacities: list[dict[str, Any]]
            ) -> Any:
                endpoint = backend.endpoints.get(endpoint_name)
                current = {v["VariantName"]: v for v in endpoint.production_variants} if endpoint else {}
                completed = []
                for entry in desired_weights_and_capacities:
                    variant = current.get(entry.get("VariantName"), {})
                    completed.append(
                        {
                            "DesiredWeight": variant.get("CurrentWeight", variant.get("DesiredWeight")),
                            "DesiredInstanceCount": variant.get(
                                "CurrentInstanceCount", variant.get("DesiredInstanceCount")
                            ),
                            **entry,
                        }
                    )
                return original(backend, endpoint_name, completed)

            return update_endpoint_weights_and_capacities

        self._apply(SageMakerModelBackend, "update_endpoint_weights_and_capacities", make)

    @classmethod
    def still_present(cls) -> bool:
        with plain_moto() as clients:
            sagemaker = clients("sagemaker")
            _probe_endpoint(sagemaker, {"gap-probe": "v1"}, count=2)
            sagemaker.update_endpoint_weights_and_capacities(
                EndpointName="gap-probe",
                DesiredWeightsAndCapacities=[{"VariantName": "v1", "DesiredWeight": 3.0}],
            )
            (variant,) = sagemaker.describe_endpoint(EndpointName="gap-probe")["ProductionVariants"]
            return bool(variant.get("CurrentInstanceCount") != 2)
