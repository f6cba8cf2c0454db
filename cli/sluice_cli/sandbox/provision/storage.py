"""S3 buckets and bucket policies, DynamoDB tables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sluice_cli.sandbox.provision.build import StackBuild
from sluice_cli.sandbox.provision.properties import api_tags, json_text, truthy
from sluice_cli.sandbox.provision.stack import ProvisionedResource
from sluice_cli.sandbox.template import Resource, TemplateError


def create_bucket(build: StackBuild, resource: Resource) -> ProvisionedResource:
    props = build.properties(resource)
    s3 = build.clients.client("s3")
    name = build.physical_name(resource, props.get("BucketName"), max_length=63, lowercase=True)
    if build.pseudo.region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": build.pseudo.region})
    versioning = props.get("VersioningConfiguration")
    if versioning:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning["Status"]})
    encryption = props.get("BucketEncryption")
    if encryption:
        rules = []
        for rule in encryption["ServerSideEncryptionConfiguration"]:
            api_rule: dict[str, Any] = {
                "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]
            }
            if "BucketKeyEnabled" in rule:
                api_rule["BucketKeyEnabled"] = truthy(rule["BucketKeyEnabled"])
            rules.append(api_rule)
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    public_access = props.get("PublicAccessBlockConfiguration")
    if public_access:
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={k: truthy(v) for k, v in public_access.items()},
        )
    ownership = props.get("OwnershipControls")
    if ownership:
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=ownership)
    lifecycle = props.get("LifecycleConfiguration")
    if lifecycle:
        s3.put_bucket_lifecycle_configuration(
            Bucket=name,
            LifecycleConfiguration={"Rules": [_lifecycle_rule(r) for r in lifecycle["Rules"]]},
        )
    notification = props.get("NotificationConfiguration")
    if notification:
        s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration=_notification_configuration(resource, notification)
        )
    tags = props.get("Tags")
    if tags:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": api_tags(tags)})
    build.warn_unread(resource, props)
    suffix = build.pseudo.url_suffix
    return ProvisionedResource(
        resource.logical_id,
        resource.type,
        name,
        {
            "Arn": build.arn("s3", name, region=False, account=False),
            "DomainName": f"{name}.s3.{suffix}",
            "RegionalDomainName": f"{name}.s3.{build.pseudo.region}.{suffix}",
            "DualStackDomainName": f"{name}.s3.dualstack.{build.pseudo.region}.{suffix}",
            "WebsiteURL": f"http://{name}.s3-website-{build.pseudo.region}.{suffix}",
        },
    )


def create_bucket_policy(build: StackBuild, resource: Resource) -> ProvisionedResource:
    props = build.properties(resource)
    bucket = str(props.get("Bucket"))
    build.clients.client("s3").put_bucket_policy(Bucket=bucket, Policy=json_text(props.get("PolicyDocument")))
    build.warn_unread(resource, props)
    return ProvisionedResource(resource.logical_id, resource.type, bucket, {})


def create_table(build: StackBuild, resource: Resource) -> ProvisionedResource:
    props = build.properties(resource)
    dynamodb = build.clients.client("dynamodb")
    name = build.physical_name(resource, props.get("TableName"), max_length=255)
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props.get("AttributeDefinitions"),
        "KeySchema": props.get("KeySchema"),
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    for key in ("ProvisionedThroughput", "LocalSecondaryIndexes", "TableClass", "OnDemandThroughput"):
        if props.get(key) is not None:
            request[key] = props.get(key)
    if props.get("GlobalSecondaryIndexes"):
        request["GlobalSecondaryIndexes"] = [
            {k: v for k, v in index.items() if k != "ContributorInsightsSpecification"}
            for index in props.get("GlobalSecondaryIndexes")
        ]
    if props.get("StreamSpecification"):
        request["StreamSpecification"] = {"StreamEnabled": True, **props.get("StreamSpecification")}
    sse = props.get("SSESpecification")
    if sse:
        request["SSESpecification"] = {
            "Enabled": truthy(sse.get("SSEEnabled")),
            **{k: v for k, v in sse.items() if k in {"SSEType", "KMSMasterKeyId"}},
        }
    if props.get("DeletionProtectionEnabled") is not None:
        request["DeletionProtectionEnabled"] = truthy(props.get("DeletionProtectionEnabled"))
    if props.get("Tags"):
        request["Tags"] = api_tags(props.get("Tags"))
    description = dynamodb.create_table(**request)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={
                "AttributeName": ttl["AttributeName"],
                "Enabled": truthy(ttl["Enabled"]),
            },
        )
    pitr = props.get("PointInTimeRecoverySpecification")
    if pitr:
        dynamodb.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": truthy(pitr.get("PointInTimeRecoveryEnabled"))
            },
        )
    build.warn_unread(resource, props)
    attributes = {"Arn": description["TableArn"]}
    if description.get("LatestStreamArn"):
        attributes["StreamArn"] = description["LatestStreamArn"]
    return ProvisionedResource(resource.logical_id, resource.type, name, attributes)


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    api: dict[str, Any] = {"Status": rule.get("Status", "Enabled")}
    if rule.get("Id"):
        api["ID"] = rule["Id"]
    prefix = rule.get("Prefix", "")
    tags = [{"Key": t["Key"], "Value": t["Value"]} for t in rule.get("TagFilters") or []]
    if tags:
        api["Filter"] = (
            {"And": {"Prefix": prefix, "Tags": tags}} if prefix or len(tags) > 1 else {"Tag": tags[0]}
        )
    else:
        api["Filter"] = {"Prefix": prefix}
    expiration = {
        key: value
        for key, value in (
            ("Days", rule.get("ExpirationInDays")),
            ("Date", rule.get("ExpirationDate")),
            ("ExpiredObjectDeleteMarker", rule.get("ExpiredObjectDeleteMarker")),
        )
        if value is not None
    }
    if expiration:
        api["Expiration"] = expiration
    noncurrent = dict(rule.get("NoncurrentVersionExpiration") or {})
    if rule.get("NoncurrentVersionExpirationInDays") is not None:
        noncurrent["NoncurrentDays"] = rule["NoncurrentVersionExpirationInDays"]
    if noncurrent:
        api["NoncurrentVersionExpiration"] = {k: int(v) for k, v in noncurrent.items()}
    if rule.get("Transitions"):
        api["Transitions"] = [
            {
                **({"Days": int(t["TransitionInDays"])} if "TransitionInDays" in t else {}),
                **({"Date": t["TransitionDate"]} if "TransitionDate" in t else {}),
                "StorageClass": t["StorageClass"],
            }
            for t in rule["Transitions"]
        ]
    if rule.get("NoncurrentVersionTransitions"):
        api["NoncurrentVersionTransitions"] = [
            {"NoncurrentDays": int(t["TransitionInDays"]), "StorageClass": t["StorageClass"]}
            for t in rule["NoncurrentVersionTransitions"]
        ]
    if rule.get("AbortIncompleteMultipartUpload"):
        days = int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        api["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
    return api


def _s3_filter(config: Mapping[str, Any]) -> dict[str, Any]:
    rules = ((config.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
    return {"Filter": {"Key": {"FilterRules": list(rules)}}} if rules else {}


def _notification_configuration(resource: Resource, notification: Mapping[str, Any]) -> dict[str, Any]:
    api: dict[str, Any] = {}
    eventbridge = notification.get("EventBridgeConfiguration")
    if eventbridge and truthy(eventbridge.get("EventBridgeEnabled"), default=True):
        api["EventBridgeConfiguration"] = {}
    if notification.get("QueueConfigurations"):
        api["QueueConfigurations"] = [
            {"QueueArn": c["Queue"], "Events": [c["Event"]], **_s3_filter(c)}
            for c in notification["QueueConfigurations"]
        ]
    if notification.get("TopicConfigurations"):
        api["TopicConfigurations"] = [
            {"TopicArn": c["Topic"], "Events": [c["Event"]], **_s3_filter(c)}
            for c in notification["TopicConfigurations"]
        ]
    if notification.get("LambdaConfigurations"):
        raise TemplateError(
            f"{resource.logical_id}: LambdaConfigurations are not routed by the sandbox (use EventBridge)"
        )
    return api
