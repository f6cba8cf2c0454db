"""Application Auto Scaling gap: the error for a scalable target that is not registered
(docs/EMULATION.md, CloudWatch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sluice_cli.sandbox.gaps.base import Gap
from sluice_cli.sandbox.gaps.probes import plain_moto


class AutoscalingObjectNotFound(Gap):
    """DeregisterScalableTarget of a target that is not registered answers ObjectNotFoundException, as
    AWS does ("No scalable target registered for service namespace: …", quoted in public reports such as
    ansible/ansible#40237). moto answers ValidationException, which on AWS means something else (a
    missing permission, an invalid request): code that swallowed it as "not registered" would hide those."""

    name = "autoscaling-object-not-found"
    reason = (
        "moto answers ValidationException for an unregistered scalable target (AWS: ObjectNotFoundException)"
    )

    def _patch(self) -> None:
        from moto.applicationautoscaling.models import ApplicationAutoscalingBackend
        from moto.core.exceptions import JsonRESTError

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def deregister_scalable_target(backend: Any, namespace: str, r_id: str, dimension: str) -> None:
                if not backend._scalable_target_exists(r_id, dimension):
                    raise JsonRESTError(
                        "ObjectNotFoundException",
                        f"No scalable target registered for service namespace: {namespace}, resource ID: "
                        f"{r_id}, scalable dimension: {dimension}",
                    )
                original(backend, namespace, r_id, dimension)

            return deregister_scalable_target

        self._apply(ApplicationAutoscalingBackend, "deregister_scalable_target", make)

    @classmethod
    def still_present(cls) -> bool:
        from botocore.exceptions import ClientError

        with plain_moto() as clients:
            try:
                clients("application-autoscaling").deregister_scalable_target(
                    ServiceNamespace="sagemaker",
                    ResourceId="endpoint/gap-probe/variant/v1",
                    ScalableDimension="sagemaker:variant:DesiredInstanceCount",
                )
            except ClientError as error:
                return bool(error.response["Error"]["Code"] != "ObjectNotFoundException")
            return False
