"""SageMaker's ResourceLimitExceeded read as numbers: can the request ever fit the account's quota?

SageMaker words an instance quota refusal as (quoted in public issues, e.g.
aws/amazon-sagemaker-examples#1543, data-science-on-aws/data-science-on-aws#200):

    The account-level service limit 'ml.m5.xlarge for transform job usage' is 0 Instances, with current
    utilization of 0 Instances and a request delta of 1 Instances. Please use AWS Service Quotas to
    request an increase for this quota. ...

Utilization frees up as running jobs end, so a request within the limit fits later (wait and retry). A
request larger than the limit itself (a quota of 0, the default for many instance types on a new
account) never fits, however long it waits: only a quota increase or a smaller request helps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LIMIT = re.compile(
    r"service limit '(?P<name>[^']+)' is (?P<limit>\d+) \w+, with current utilization of (?P<used>\d+) \w+ "
    r"and a request delta of (?P<delta>\d+) \w+"
)


@dataclass(frozen=True)
class ServiceLimit:
    name: str  # the quota's name in Service Quotas: "ml.m5.xlarge for transform job usage"
    limit: int
    utilization: int
    delta: int  # what the refused request asked for

    @property
    def never_fits(self) -> bool:
        """The request alone exceeds the quota: no amount of waiting starts it."""
        return self.delta > self.limit


def parse_service_limit(message: str) -> ServiceLimit | None:
    """The quota a ResourceLimitExceeded message names, or None when it names none in this form."""
    found = _LIMIT.search(message)
    if found is None:
        return None
    return ServiceLimit(
        found["name"], limit=int(found["limit"]), utilization=int(found["used"]), delta=int(found["delta"])
    )
