"""SageMaker gap: creating a model, endpoint config or endpoint whose name exists (docs/EMULATION.md,
SageMaker)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sluice_cli.sandbox.gaps.base import Gap
from sluice_cli.sandbox.gaps.probes import plain_moto


def already_existing(kind: str, arn: str) -> Exception:
    """SageMaker's answer to a create of an existing name, as quoted in public reports (e.g.
    aws/amazon-sagemaker-examples#2491, hashicorp/terraform-provider-aws#40080):
    ValidationException `Cannot create already existing endpoint "arn:…"`."""
    from moto.sagemaker.exceptions import ValidationError

    return ValidationError(message=f'Cannot create already existing {kind} "{arn}".')


class SageMakerDuplicateCreates(Gap):
    """CreateModel, CreateEndpointConfig and CreateEndpoint refuse a name that exists, as SageMaker does.

    moto replaces the existing resource silently, so code that retries a create (a Step Functions retry
    of a step that crashed after creating) and expects "already exists" was never exercised."""

    name = "sagemaker-duplicate-creates"
    reason = "moto overwrites an existing model, endpoint config or endpoint on create (AWS refuses)"

    def _patch(self) -> None:
        from moto.sagemaker.models import SageMakerModelBackend
        from moto.sagemaker.utils import arn_formatter

        def arn(resource_type: str) -> Callable[[str, str, str], str]:
            return lambda name, account, region: str(arn_formatter(resource_type, name, account, region))

        def refusing(
            kind: str,
            store: Callable[[Any], dict[str, Any]],
            arn_of: Callable[[str, str, str], str],
            param: str,
        ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
            def make(original: Callable[..., Any]) -> Callable[..., Any]:
                def create(backend: Any, *args: Any, **kwargs: Any) -> Any:
                    name = kwargs[param] if param in kwargs else args[0]
                    if name in store(backend):
                        raise already_existing(kind, arn_of(name, backend.account_id, backend.region_name))
                    return original(backend, *args, **kwargs)

                return create

            return make

        self._apply(
            SageMakerModelBackend,
            "create_model",
            refusing("model", lambda b: b._models, arn("model"), "model_name"),
        )
        self._apply(
            SageMakerModelBackend,
            "create_endpoint_config",
            refusing(
                "endpoint configuration",
                lambda b: b.endpoint_configs,
                arn("endpoint-config"),
                "endpoint_config_name",
            ),
        )
        self._apply(
            SageMakerModelBackend,
            "create_endpoint",
            refusing("endpoint", lambda b: b.endpoints, arn("endpoint"), "endpoint_name"),
        )

    @classmethod
    def still_present(cls) -> bool:
        from botocore.exceptions import ClientError

        with plain_moto() as clients:
            sagemaker = clients("sagemaker")
            model = {
                "ModelName": "gap-probe",
                "ExecutionRoleArn": "arn:aws:iam::123456789012:role/probe",
                "PrimaryContainer": {"Image": "probe"},
            }
            sagemaker.create_model(**model)
            try:
                sagemaker.create_model(**model)
            except ClientError:
                return False
            return True
