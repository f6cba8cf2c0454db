"""EndpointGateway's reading of SageMaker's refusals (issue 13): throttling and an update in progress are
EndpointBusy (the rollout state machine retries that name with backoff); a quota refusal is not."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from sluice.adapters.sagemaker import EndpointGateway
from sluice.errors import EndpointBusy

WEIGHTS = [{"VariantName": "v1", "DesiredWeight": 100.0, "DesiredInstanceCount": 2}]
IN_PROGRESS = 'Cannot update in-progress endpoint "arn:aws:sagemaker:us-east-1:123456789012:endpoint/fraud".'
QUOTA = (
    "The account-level service limit 'ml.m5.large for endpoint usage' is 2 Instances, with current "
    "utilization of 2 Instances and a request delta of 1 Instances."
)


def refusing(operation: str, code: str, message: str) -> tuple[EndpointGateway, Stubber]:
    client = boto3.client("sagemaker", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_client_error(
        operation, service_error_code=code, service_message=message, http_status_code=400
    )
    stubber.activate()
    return EndpointGateway(client), stubber


@pytest.mark.parametrize(
    ("code", "message"),
    [("ThrottlingException", "Rate exceeded"), ("ValidationException", IN_PROGRESS)],
)
def test_a_weights_call_refused_for_now_is_endpoint_busy(code: str, message: str) -> None:
    gateway, _ = refusing("update_endpoint_weights_and_capacities", code, message)
    with pytest.raises(EndpointBusy, match=f"^fraud: {code}: "):
        gateway.set_weights("fraud", WEIGHTS)


def test_an_update_refused_for_the_instance_quota_is_not_retried_as_busy() -> None:
    gateway, _ = refusing("update_endpoint", "ResourceLimitExceeded", QUOTA)
    with pytest.raises(ClientError, match="ResourceLimitExceeded") as raised:
        gateway.update_endpoint("fraud", "fraud-v2-canary")
    assert not isinstance(raised.value, EndpointBusy)
