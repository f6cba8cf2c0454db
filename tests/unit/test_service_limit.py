"""SageMaker's ResourceLimitExceeded message read as numbers: can the request ever fit the quota?"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sluice.domain.service_limit import ServiceLimit, parse_service_limit

# As SageMaker words it (quoted in public issues, e.g. aws/amazon-sagemaker-examples#1543,
# data-science-on-aws/data-science-on-aws#200; the transform quota's name in public notebooks' READMEs).
TRANSFORM_QUOTA_ZERO = (
    "ResourceLimitExceeded: The account-level service limit 'ml.m5.xlarge for transform job usage' is 0 "
    "Instances, with current utilization of 0 Instances and a request delta of 1 Instances. Please use AWS "
    "Service Quotas to request an increase for this quota. If AWS Service Quotas is not available, contact "
    "AWS support to request an increase for this quota."
)
IN_USE = (
    "The account-level service limit 'ml.p3.8xlarge for training job usage' is 2 Instances, with current "
    "utilization of 3 Instances and a request delta of 1 Instances. Please contact AWS support to request "
    "an increase for this limit."
)


def test_a_quota_of_zero_never_fits() -> None:
    limit = parse_service_limit(TRANSFORM_QUOTA_ZERO)
    assert limit == ServiceLimit("ml.m5.xlarge for transform job usage", limit=0, utilization=0, delta=1)
    assert limit.never_fits


def test_a_quota_in_use_fits_once_running_jobs_end() -> None:
    limit = parse_service_limit(IN_USE)
    assert limit == ServiceLimit("ml.p3.8xlarge for training job usage", limit=2, utilization=3, delta=1)
    assert not limit.never_fits


def test_a_request_larger_than_the_quota_never_fits() -> None:
    limit = parse_service_limit(
        "The account-level service limit 'Number of instances across all processing jobs' is 4 Instances, "
        "with current utilization of 0 Instances and a request delta of 11 Instances."
    )
    assert limit is not None and limit.never_fits


def test_other_messages_are_not_read_as_a_limit() -> None:
    assert parse_service_limit("ThrottlingException: Rate exceeded") is None
    assert parse_service_limit("ResourceLimitExceeded: account-level service limit") is None


@given(
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.integers(1, 10_000),
    st.sampled_from(["Instance", "Instances"]),
)
def test_never_fits_exactly_when_the_request_alone_exceeds_the_limit(
    limit: int, used: int, delta: int, unit: str
) -> None:
    message = (
        f"The account-level service limit 'ml.g5.xlarge for transform job usage' is {limit} {unit}, with "
        f"current utilization of {used} {unit} and a request delta of {delta} {unit}."
    )
    parsed = parse_service_limit(message)
    assert parsed == ServiceLimit("ml.g5.xlarge for transform job usage", limit, used, delta)
    assert parsed.never_fits == (delta > limit)
