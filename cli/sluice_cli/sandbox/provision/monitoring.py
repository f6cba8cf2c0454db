"""CloudWatch metric alarms and CloudWatch Logs log groups."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sluice_cli.sandbox.provision.build import StackBuild
from sluice_cli.sandbox.provision.properties import api_tags, text_value, truthy
from sluice_cli.sandbox.provision.stack import ProvisionedResource
from sluice_cli.sandbox.template import Resource


def create_alarm(build: StackBuild, resource: Resource) -> ProvisionedResource:
    """A metric alarm as put_metric_alarm takes it. moto never evaluates it (docs/EMULATION.md, CloudWatch):
    it sits in OK until something sets its state."""
    props = build.properties(resource)
    name = build.physical_name(resource, props.get("AlarmName"), max_length=255)
    request: dict[str, Any] = {
        "AlarmName": name,
        "EvaluationPeriods": int(props.get("EvaluationPeriods")),
        "ComparisonOperator": str(props.get("ComparisonOperator")),
    }
    for key in (
        "AlarmDescription",
        "MetricName",
        "Namespace",
        "Statistic",
        "ExtendedStatistic",
        "Unit",
        "TreatMissingData",
        "EvaluateLowSampleCountPercentile",
        "ThresholdMetricId",
    ):
        if props.get(key) is not None:
            request[key] = str(props.get(key))
    for key in ("Period", "DatapointsToAlarm"):
        if props.get(key) is not None:
            request[key] = int(props.get(key))
    if props.get("Threshold") is not None:
        request["Threshold"] = float(props.get("Threshold"))
    if props.get("ActionsEnabled") is not None:
        request["ActionsEnabled"] = truthy(props.get("ActionsEnabled"))
    for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
        if props.get(key) is not None:
            request[key] = [str(arn) for arn in props.get(key)]
    if props.get("Dimensions") is not None:
        request["Dimensions"] = _dimensions(props.get("Dimensions"))
    if props.get("Metrics") is not None:
        request["Metrics"] = [_metric_query(query) for query in props.get("Metrics")]
    if props.get("Tags"):
        request["Tags"] = api_tags(props.get("Tags"))
    build.clients.client("cloudwatch").put_metric_alarm(**request)
    build.warn_unread(resource, props)
    arn = build.arn("cloudwatch", f"alarm:{name}")
    return ProvisionedResource(resource.logical_id, resource.type, name, {"Arn": arn})


def create_log_group(build: StackBuild, resource: Resource) -> ProvisionedResource:
    props = build.properties(resource)
    logs = build.clients.client("logs")
    name = build.physical_name(resource, props.get("LogGroupName"), max_length=512)
    logs.create_log_group(logGroupName=name)
    if props.get("RetentionInDays"):
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(props.get("RetentionInDays")))
    build.warn_unread(resource, props)
    arn = build.arn("logs", f"log-group:{name}:*")
    return ProvisionedResource(resource.logical_id, resource.type, name, {"Arn": arn})


def _dimensions(value: Any) -> list[dict[str, str]]:
    return [{"Name": str(d["Name"]), "Value": text_value(d["Value"])} for d in value or []]


def _metric_query(query: Mapping[str, Any]) -> dict[str, Any]:
    """An alarm's `Metrics` entry (MetricDataQuery): CloudFormation's shape is the API's, typed."""
    api: dict[str, Any] = {"Id": str(query["Id"])}
    for key in ("Expression", "Label", "AccountId"):
        if query.get(key) is not None:
            api[key] = str(query[key])
    if query.get("Period") is not None:
        api["Period"] = int(query["Period"])
    if query.get("ReturnData") is not None:
        api["ReturnData"] = truthy(query["ReturnData"])
    stat = query.get("MetricStat")
    if stat:
        metric = dict(stat["Metric"])
        api["MetricStat"] = {
            "Metric": {
                "Namespace": str(metric["Namespace"]),
                "MetricName": str(metric["MetricName"]),
                "Dimensions": _dimensions(metric.get("Dimensions")),
            },
            "Period": int(stat["Period"]),
            "Stat": str(stat["Stat"]),
            **({"Unit": str(stat["Unit"])} if stat.get("Unit") else {}),
        }
    return api
