"""IAM gaps: what moto 5.2.5 authorizes differently from AWS once IAM is enforced (docs/EMULATION.md,
"IAM authorization").

`IamRequestResources`: moto authorizes every request of DynamoDB, SNS, Step Functions, CloudWatch,
SageMaker, EventBridge and Lambda against resource `*` (only S3, SQS, IAM and STS name a resource), so a
policy scoped to a table, topic, state machine, alarm or endpoint ARN - least privilege, as the template
writes it - denies even the resource it names. CloudWatch is signed as `monitoring`, so moto asks for
`monitoring:PutMetricAlarm` where IAM's action is `cloudwatch:PutMetricAlarm`. And a call that needs a
second action (PutMetricAlarm with Tags also needs `cloudwatch:TagResource`) is checked for its own
action only. The filler authorizes each request as AWS does, from the Service Authorization Reference
(docs.aws.amazon.com/service-authorization/latest/reference/):
  - DynamoDB: item and table actions on `arn:aws:dynamodb:<region>:<account>:table/<TableName>`
    (`/index/<IndexName>` for a Query or Scan of an index); batch and transaction calls on every table
    they name.
  - SNS: Publish, Subscribe... on the topic ARN (`TopicArn`, or `TargetArn`).
  - Step Functions: StartExecution, DescribeStateMachine... on `stateMachine:<name>`;
    DescribeExecution, StopExecution, GetExecutionHistory on `execution:<machine>:<id>`;
    SendTaskSuccess/Failure/Heartbeat on the state machine whose execution issued the token.
  - CloudWatch: PutMetricAlarm, DeleteAlarms, DescribeAlarms (by name), SetAlarmState, TagResource on
    `alarm:<name>`; PutMetricAlarm with `Tags` also needs `cloudwatch:TagResource` ("Dependent
    actions"); PutMetricData, GetMetricData and the like on `*`.
  - SageMaker: endpoint, endpoint-config, model, transform-job actions on `<type>/<name>`
    (SageMaker ARNs spell the name in lower case); AddTags on the ARN it tags.
  - EventBridge: PutEvents on `event-bus/<name>` of each entry (`default` when none).
  - Lambda: GetFunction... on `function:<name>`; the Invoke API is IAM's `lambda:InvokeFunction` (moto
    asks for `lambda:Invoke`, which no policy grants).
Other services keep moto's own check.

`StepFunctionsTaskCredentials`: moto's Step Functions interpreter signs every service integration
(`arn:aws:states:::aws-sdk:*`, `lambda:invoke`, `sns:publish`...) with the fixed key "ak"/"sk", which
IAM enforcement refuses (InvalidClientTokenId); Step Functions makes them with the state machine's
execution role. The filler signs them with credentials of that role (an assumed-role session the
sandbox binds: `bind(credentials_for)`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from typing import Any

from sluice_cli.sandbox.gaps.base import Gap
from sluice_cli.sandbox.gaps.probes import plain_moto

# Signing name (credential scope) -> IAM's service prefix, where they differ.
IAM_PREFIX = {"monitoring": "cloudwatch"}
_SAGEMAKER_PARAMETERS = {
    "EndpointName": "endpoint",
    "EndpointConfigName": "endpoint-config",
    "ModelName": "model",
    "TransformJobName": "transform-job",
}
_CLOUDWATCH_ALARM_ACTIONS = frozenset(
    {"PutMetricAlarm", "DeleteAlarms", "DescribeAlarms", "SetAlarmState", "DescribeAlarmHistory"}
)
# API operation -> IAM action, where they differ (Service Authorization Reference, AWS Lambda: the Invoke
# API is authorized as lambda:InvokeFunction).
_LAMBDA_ACTIONS = {"Invoke": "InvokeFunction", "InvokeAsync": "InvokeFunction"}
# (action, resource ARN) pairs one request is authorized against.
Checks = list[tuple[str, str]]


class RequestView:
    """What the resource rules read of a moto request: its action, parameters, region and account."""

    def __init__(self, response: Any) -> None:
        self.response = response
        self.action = str(response._get_action())
        self.region = str(response.region)
        self.account = str(response.current_account)
        self._body: dict[str, Any] | None = None

    def param(self, name: str) -> Any:
        try:
            value = self.response._get_param(name)
        except Exception:  # a protocol moto parses only once the action runs
            value = None
        if value is not None:
            return value
        body = self._json_body()
        if name in body:
            return body[name]
        values = getattr(self.response, "querystring", {}).get(name)
        if values:
            return values[0]
        return None

    def query_list(self, prefix: str) -> list[str]:
        """Query-protocol list members (`AlarmNames.member.1`...)."""
        querystring = getattr(self.response, "querystring", {})
        return [values[0] for key, values in sorted(querystring.items()) if key.startswith(prefix) and values]

    def _json_body(self) -> dict[str, Any]:
        if self._body is None:
            try:
                loaded = json.loads(self.response.body or "{}")
            except (TypeError, ValueError):
                loaded = {}
            self._body = loaded if isinstance(loaded, dict) else {}
        return self._body

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"


def _dynamodb(request: RequestView) -> Checks:
    action = request.action
    table = request.param("TableName")
    if table:
        index = request.param("IndexName")
        resource = f"table/{table}" + (f"/index/{index}" if index and action in {"Query", "Scan"} else "")
        return [(action, request.arn("dynamodb", resource))]
    if action in {"TransactWriteItems", "TransactGetItems"}:  # each item's own action (PutItem...)
        return _transaction_checks(request)
    tables = sorted(dict(request.param("RequestItems") or {}))  # BatchGetItem, BatchWriteItem
    return [(action, request.arn("dynamodb", f"table/{name}")) for name in tables] or [(action, "*")]


def _transaction_checks(request: RequestView) -> Checks:
    operation_actions = {
        "Put": "PutItem",
        "Update": "UpdateItem",
        "Delete": "DeleteItem",
        "ConditionCheck": "ConditionCheckItem",
        "Get": "GetItem",
    }
    checks: Checks = []
    for item in request.param("TransactItems") or []:
        for operation, body in dict(item).items():
            table_arn = request.arn("dynamodb", f"table/{body.get('TableName')}")
            checks.append((operation_actions.get(operation, request.action), table_arn))
    return checks


def _sns(request: RequestView) -> Checks:
    topic = request.param("TopicArn") or request.param("TargetArn")
    checks: Checks = [(request.action, str(topic) if topic else "*")]
    if request.action in {"Publish", "PublishBatch"} and topic:
        # A publisher to a topic encrypted with a KMS key needs kms:GenerateDataKey* and kms:Decrypt on
        # that key (Amazon SNS Developer Guide, "Key management": permissions for publishers).
        key_arn = _topic_key_arn(request, str(topic))
        if key_arn:
            checks += [("kms:GenerateDataKey", key_arn), ("kms:Decrypt", key_arn)]
    return checks


def _topic_key_arn(request: RequestView, topic_arn: str) -> str | None:
    """The ARN of the KMS key the topic is encrypted with (its KmsMasterKeyId: key id, ARN or alias)."""
    from moto.kms.models import kms_backends
    from moto.sns.models import sns_backends

    topic = sns_backends[request.account][request.region].topics.get(topic_arn)
    key_id = str(getattr(topic, "kms_master_key_id", "") or "")
    if not key_id:
        return None
    kms = kms_backends[request.account][request.region]
    try:
        return str(kms.describe_key(key_id).arn)  # any_id_to_key_id: id, key ARN, alias, alias ARN
    except Exception:
        return request.arn("kms", f"key/{key_id}")


def _stepfunctions(request: RequestView) -> Checks:
    action = request.action
    if request.param("executionArn"):
        return [(action, str(request.param("executionArn")))]
    if request.param("stateMachineArn"):
        return [(action, str(request.param("stateMachineArn")))]
    if action in {"SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"}:
        machine = _token_state_machine(request, str(request.param("taskToken")))
        return [(action, machine or "*")]
    return [(action, "*")]


def _token_state_machine(request: RequestView, token: str) -> str | None:
    """The state machine whose running execution waits for `token` (moto's Step Functions backend in
    execute mode, which the sandbox runs: `stepfunctions_parser_backends`)."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    backend = stepfunctions_parser_backends[request.account][request.region]
    for machine in list(backend.state_machines):
        for execution in list(machine.executions):
            worker = getattr(execution, "exec_worker", None)
            if worker is not None and worker.env.callback_pool_manager.get(token) is not None:
                return str(execution.state_machine_arn)
    return None


def _cloudwatch(request: RequestView) -> Checks:
    action = request.action
    if action not in _CLOUDWATCH_ALARM_ACTIONS and action not in {"TagResource", "UntagResource"}:
        return [(action, "*")]
    if action in {"TagResource", "UntagResource"}:
        return [(action, str(request.param("ResourceARN") or "*"))]
    names = request.param("AlarmNames") or request.query_list("AlarmNames.member.")
    single = request.param("AlarmName")
    alarm_names = [str(single)] if single else [str(name) for name in names or []]
    if not alarm_names:
        return [(action, "*")]
    checks: Checks = [(action, request.arn("cloudwatch", f"alarm:{name}")) for name in alarm_names]
    if action == "PutMetricAlarm" and (request.param("Tags") or request.query_list("Tags.member.")):
        checks.append(("TagResource", checks[0][1]))
    return checks


def _sagemaker(request: RequestView) -> Checks:
    action = request.action
    if action in {"AddTags", "DeleteTags", "ListTags"}:
        return [(action, str(request.param("ResourceArn") or "*"))]
    named = {kind: str(request.param(parameter)) for parameter, kind in _SAGEMAKER_PARAMETERS.items()}
    named = {kind: name for kind, name in named.items() if name != "None"}
    # The resource the action is about (CreateTransformJob names a model too: the job is its resource).
    nouns = {kind: kind.replace("-", " ").title().replace(" ", "") for kind in named}
    kind = next((k for k, noun in nouns.items() if action.endswith(noun)), next(iter(named), None))
    checks: Checks = (
        [] if kind is None else [(action, request.arn("sagemaker", f"{kind}/{named[kind].lower()}"))]
    )
    if checks and action.startswith("Create") and request.param("Tags"):
        checks.append(("AddTags", checks[0][1]))
    if action == "CreateModel" and request.param("ExecutionRoleArn"):
        # Handing SageMaker a role is iam:PassRole on it (IAM User Guide, "Grant a user permissions to
        # pass a role to an AWS service"; SageMaker's CreateModel lists it as a dependent action).
        checks.append(("iam:PassRole", str(request.param("ExecutionRoleArn"))))
    return checks or [(action, "*")]


# The service-linked role Application Auto Scaling creates on the first RegisterScalableTarget of a
# SageMaker variant in an account (the caller needs iam:CreateServiceLinkedRole then, and only then).
SAGEMAKER_SCALING_SLR = (
    "role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
)


def _application_autoscaling(request: RequestView) -> Checks:
    """Application Auto Scaling actions are on `*` (no resource-level permissions for SageMaker
    variants); it validates that the caller may also do what scaling will do on its behalf (Application
    Auto Scaling User Guide, "Permissions required for API actions on target services and CloudWatch"
    and "Permissions validation"): describe and update the endpoint when registering a variant, and
    manage the `TargetTracking-<resource id>-*` alarms a target tracking policy creates and deletes."""
    action = request.action
    checks: Checks = [(action, "*")]
    resource_id = str(request.param("ResourceId") or "")
    if request.param("ServiceNamespace") != "sagemaker" or not resource_id.startswith("endpoint/"):
        return checks
    endpoint = resource_id.split("/")[1].lower()
    alarms = request.arn("cloudwatch", f"alarm:TargetTracking-{resource_id}-*")
    if action == "RegisterScalableTarget":
        endpoint_arn = request.arn("sagemaker", f"endpoint/{endpoint}")
        checks += [
            ("sagemaker:DescribeEndpoint", endpoint_arn),
            ("sagemaker:UpdateEndpointWeightsAndCapacities", endpoint_arn),
        ]
        if not _service_linked_role_exists(request):
            checks.append(
                ("iam:CreateServiceLinkedRole", f"arn:aws:iam::{request.account}:{SAGEMAKER_SCALING_SLR}")
            )
    elif action == "PutScalingPolicy" and request.param("TargetTrackingScalingPolicyConfiguration"):
        checks += [("cloudwatch:DescribeAlarms", alarms), ("cloudwatch:PutMetricAlarm", alarms)]
    elif action in {"DeleteScalingPolicy", "DeregisterScalableTarget"}:
        checks += [("cloudwatch:DescribeAlarms", alarms), ("cloudwatch:DeleteAlarms", alarms)]
    return checks


def _service_linked_role_exists(request: RequestView) -> bool:
    from moto.iam.models import iam_backends

    backend = iam_backends[request.account]["global"]
    name = SAGEMAKER_SCALING_SLR.rpartition("/")[2]
    return any(role.name == name for role in backend.roles.values())


def _after_authorized(request: RequestView) -> None:
    """What AWS does once an authorized request goes through and moto does not: the first
    RegisterScalableTarget of a SageMaker variant creates Application Auto Scaling's service-linked role."""
    if request.action != "RegisterScalableTarget" or request.param("ServiceNamespace") != "sagemaker":
        return
    if _service_linked_role_exists(request):
        return
    from moto.iam.models import iam_backends

    path, _, name = SAGEMAKER_SCALING_SLR.removeprefix("role").rpartition("/")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sagemaker.application-autoscaling.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam_backends[request.account]["global"].create_role(
        role_name=name,
        assume_role_policy_document=json.dumps(trust),
        path=path + "/",
        permissions_boundary=None,
        description="",
        tags=[],
        max_session_duration=None,
        linked_service="sagemaker.application-autoscaling.amazonaws.com",
    )


def _events(request: RequestView) -> Checks:
    if request.action != "PutEvents":
        name = request.param("EventBusName") or "default"
        return [
            (request.action, "*" if request.param("Name") else request.arn("events", f"event-bus/{name}"))
        ]
    buses = {str(entry.get("EventBusName") or "default") for entry in request.param("Entries") or []}
    return [
        ("PutEvents", bus if bus.startswith("arn:") else request.arn("events", f"event-bus/{bus}"))
        for bus in sorted(buses or {"default"})
    ]


def _lambda(request: RequestView) -> Checks:
    action = _LAMBDA_ACTIONS.get(request.action, request.action)
    path = str(getattr(request.response, "path", ""))
    parts = path.split("/functions/", 1)
    if len(parts) < 2:
        return [(action, "*")]
    name = parts[1].split("/", 1)[0].replace("%3A", ":")
    if name.startswith("arn:"):
        return [(action, name.split(":$")[0])]
    return [(action, request.arn("lambda", f"function:{name.split(':', 1)[0]}"))]


RESOURCE_RULES: dict[str, Callable[[RequestView], Checks]] = {
    "dynamodb": _dynamodb,
    "sns": _sns,
    "states": _stepfunctions,
    "monitoring": _cloudwatch,
    "sagemaker": _sagemaker,
    "events": _events,
    "lambda": _lambda,
    "application-autoscaling": _application_autoscaling,
}


def signing_name(headers: Any) -> str:
    """The service of a SigV4 request's credential scope (`Credential=<key>/<date>/<region>/<service>/`)."""
    authorization = str(headers.get("Authorization") or "")
    scope = authorization.partition("Credential=")[2].partition(",")[0].split("/")
    return scope[3] if len(scope) > 3 else ""


class IamRequestResources(Gap):
    """Authorize DynamoDB, SNS, Step Functions, CloudWatch, SageMaker, EventBridge and Lambda requests
    against the resource ARNs and the actions AWS checks (this module's docstring)."""

    name = "iam-request-resources"
    reason = "moto authorizes most services against resource '*', CloudWatch as 'monitoring:'"

    def _patch(self) -> None:
        from moto.core.authorization import ActionAuthenticatorMixin

        def make(original: Callable[..., None]) -> Callable[..., None]:
            def authorize(response: Any, resource: str = "*") -> None:
                service = signing_name(getattr(response, "headers", {}))
                if resource != "*" or service not in RESOURCE_RULES or not _enforcing():
                    original(response, resource)
                    return
                view = RequestView(response)
                for action, arn in RESOURCE_RULES[service](view):
                    authorize_action(response, service, action, arn)
                _after_authorized(view)

            return authorize

        self._apply(ActionAuthenticatorMixin, "_authenticate_and_authorize_normal_action", make)

    @classmethod
    def still_present(cls) -> bool:
        with plain_moto() as clients, enforced_in_plain_moto():
            table_arn = _probe_table(clients)
            session = _probe_role_session(clients, "dynamodb:GetItem", table_arn)
            try:
                session.client("dynamodb").get_item(TableName="gap-probe", Key={"id": {"S": "x"}})
            except Exception as exc:
                return "AccessDenied" in str(exc) or "403" in str(exc)
            return False


def _enforcing() -> bool:
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    return ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT


def authorize_action(response: Any, service: str, action: str, resource: str) -> None:
    """moto's signature and policy check of `response`'s request for `action` on `resource`, with IAM's
    service prefix (AccessDenied names the principal and the action, as AWS's message does)."""
    from moto.iam.access_control import IAMRequest

    request = IAMRequest(
        account_id=response.current_account,
        method=response.method,
        path=response.raw_path + (f"?{response.uri.partition('?')[2]}" if "?" in response.uri else ""),
        data=response.data,
        body=response.raw_body,
        headers=response.headers,
        action=action,
    )
    # A dependent action of another service comes whole ("iam:PassRole"), the request's own bare.
    request._action = action if ":" in action else f"{IAM_PREFIX.get(service, service)}:{action}"
    request.check_signature()
    request.check_action_permitted(resource)


class enforced_in_plain_moto:
    """IAM enforcement on in plain moto for a probe (every request checked), restored after."""

    def __enter__(self) -> None:
        from moto import settings
        from moto.core.authorization import ActionAuthenticatorMixin

        self.saved = (settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count)

    def __exit__(self, *exc_info: object) -> None:
        from moto import settings
        from moto.core.authorization import ActionAuthenticatorMixin

        settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count = self.saved


def _probe_table(clients: Callable[[str], Any]) -> str:
    table = clients("dynamodb").create_table(
        TableName="gap-probe",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return str(table["TableDescription"]["TableArn"])


def _probe_role_session(clients: Callable[[str], Any], action: str, resource: str) -> Any:
    """A boto3 session of a role allowed `action` on `resource`; IAM enforced from then on."""
    import boto3

    iam = clients("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    role_arn = iam.create_role(RoleName="gap-probe", AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}],
    }
    iam.put_role_policy(RoleName="gap-probe", PolicyName="probe", PolicyDocument=json.dumps(policy))
    credentials = clients("sts").assume_role(RoleArn=role_arn, RoleSessionName="gap-probe")["Credentials"]
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    ActionAuthenticatorMixin.request_count = 0
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name="us-east-1",
    )


# --------------------------------------------------------------------------------------------------
# Step Functions service integrations signed with the execution role
# --------------------------------------------------------------------------------------------------
# role ARN -> (access key id, secret access key, session token), or None for moto's own "ak"/"sk".
RoleCredentials = Callable[[str], tuple[str, str, str] | None]
BOTO_CLIENT_MODULE = "moto.stepfunctions.parser.asl.utils.boto_client"


def _modules_using_boto_client_for() -> Iterable[Any]:
    """moto's interpreter modules that imported `boto_client_for` by name (each holds its own binding)."""
    import importlib
    import pkgutil

    import moto.stepfunctions.parser as parser

    for info in pkgutil.walk_packages(parser.__path__, parser.__name__ + "."):
        if "boto_client_for" in info.name or ".state_task" in info.name or ".resource_eval" in info.name:
            try:
                module = importlib.import_module(info.name)
            except ImportError:
                continue
            if "boto_client_for" in module.__dict__:
                yield module
    yield sys.modules[BOTO_CLIENT_MODULE]


class StepFunctionsTaskCredentials(Gap):
    """Sign moto's Step Functions service integrations with the execution role's credentials."""

    name = "stepfunctions-task-credentials"
    reason = "moto's Step Functions interpreter signs service integrations with 'ak'/'sk', not the role"

    def __init__(self) -> None:
        super().__init__()
        self.credentials_for: RoleCredentials | None = None

    def bind(self, credentials_for: RoleCredentials | None) -> None:
        self.credentials_for = credentials_for

    def _patch(self) -> None:
        gap = self

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
                client = original(region=region, service=service, state_credentials=state_credentials)
                role_arn = getattr(state_credentials, "role_arn", None)
                credentials = gap.credentials_for(role_arn) if gap.credentials_for and role_arn else None
                if credentials is None:
                    return client
                from sluice_cli.sandbox.iam_enforcement import client_as

                return client_as(client, service, credentials)

            return boto_client_for

        for module in set(_modules_using_boto_client_for()):
            self._apply(module, "boto_client_for", make)

    @classmethod
    def still_present(cls) -> bool:
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import StateCredentials

        module = sys.modules.get(BOTO_CLIENT_MODULE) or __import__(BOTO_CLIENT_MODULE, fromlist=["x"])
        with plain_moto():
            client = module.boto_client_for(
                region="us-east-1",
                service="sts",
                state_credentials=StateCredentials(role_arn="arn:aws:iam::123456789012:role/x"),
            )
            return bool(client._request_signer._credentials.access_key == "ak")


# --------------------------------------------------------------------------------------------------
# S3: the actions AWS checks for versioned requests and for a copy's source
# --------------------------------------------------------------------------------------------------
# AWS authorizes a request naming a versionId as the Version action (Amazon S3 User Guide, "Policy
# actions for Amazon S3": HeadObject/GetObject with versionId need s3:GetObjectVersion, Get/PutObjectTagging
# with versionId need s3:Get/PutObjectVersionTagging); moto 5.2.5 maps HEAD to GetObject always, tagging
# with a versionId to GetObjectVersion / PutObjectTagging.
_S3_VERSIONED = {
    ("HEAD", "GetObject"): "GetObjectVersion",
    ("GET", "GetObjectTagging"): "GetObjectVersionTagging",
    ("PUT", "PutObjectTagging"): "PutObjectVersionTagging",
}


def s3_action(method: str, action: str, query: Any) -> str:
    """The IAM action AWS checks for an S3 object request moto named `action`."""
    if "versionId" not in query:
        return action
    if method == "GET" and "tagging" in query:
        return "GetObjectVersionTagging"
    return _S3_VERSIONED.get((method, action), action)


def copy_source_check(headers: Any) -> tuple[str, str] | None:
    """CopyObject / UploadPartCopy also read their source: s3:GetObject on it, s3:GetObjectVersion when
    the source names a version (S3 API reference, CopyObject: "you must have read access to the source
    object"); moto checks only the destination."""
    import urllib.parse

    source = headers.get("x-amz-copy-source")
    if not source:
        return None
    path, _, query = urllib.parse.unquote(str(source)).lstrip("/").partition("?")
    versioned = "versionId=" in query
    return ("GetObjectVersion" if versioned else "GetObject", f"arn:aws:s3:::{path}")


class S3RequestActions(Gap):
    """Authorize S3 object requests with the action AWS checks for a versionId, a copy's source, and
    tags given with the object."""

    name = "s3-request-actions"
    reason = "moto authorizes versioned S3 requests as unversioned ones and never a copy's source"

    def _patch(self) -> None:
        from moto.core.authorization import ActionAuthenticatorMixin

        def make(original: Callable[..., None]) -> Callable[..., None]:
            def authorize(response: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
                if key_name and _enforcing():
                    query = getattr(response, "querystring", {}) or {}
                    action = response.data.get("Action")
                    if action:
                        response.data["Action"] = s3_action(response.method, str(action), query)
                original(response, bucket_name=bucket_name, key_name=key_name)
                if key_name and _enforcing():
                    check = copy_source_check(response.headers)
                    if check is not None:
                        authorize_s3(response, *check)
                    if response.headers.get("x-amz-tagging") and response.method in {"PUT", "POST"}:
                        # Tags given with PutObject / CopyObject / CreateMultipartUpload need
                        # s3:PutObjectTagging too (S3 API reference, PutObject: x-amz-tagging).
                        authorize_s3(response, "PutObjectTagging", f"arn:aws:s3:::{bucket_name}/{key_name}")

            return authorize

        self._apply(ActionAuthenticatorMixin, "_authenticate_and_authorize_s3_action", make)

    @classmethod
    def still_present(cls) -> bool:
        from moto.s3.responses import ACTION_MAP

        return "versionId" not in ACTION_MAP["KEY"]["PUT"] and "versionId" not in ACTION_MAP["KEY"]["HEAD"]


def authorize_s3(response: Any, action: str, resource: str) -> None:
    from moto.iam.access_control import S3IAMRequest

    request = S3IAMRequest(
        account_id=response.current_account,
        method=response.method,
        path=response.raw_path,
        data=response.data,
        body=response.raw_body,
        headers=response.headers,
        action=f"s3:{action}",
    )
    request._action = f"s3:{action}"
    request.check_signature()
    request.check_action_permitted(resource)
