"""In-memory stand-ins for the rollout ports (sluice.domain.ports), and a walk of the rollout state machine.

Each fake copies the semantics of its real adapter where the orchestration depends on them:
- FakeRolloutStore (sluice.adapters.rollouts.RolloutStore): the same keys; `signal` sets attributes and
  returns the whole item in the same step (UpdateItem ALL_NEW); an attribute set to None is stored as
  NULL (read back as None), while `create_rollout`/`put` drop None attributes (to_item); floats come
  back as ints when whole (DynamoDB numbers); the lease is a conditional put / conditional delete.
- FakeEndpoints (sluice.adapters.sagemaker.EndpointGateway): `state` has the adapter's shape; a config
  names models that must exist (CreateEndpointConfig checks), UpdateEndpoint switches config and
  variants (weights and counts from the config), UpdateEndpointWeightsAndCapacities updates
  CurrentWeight/CurrentInstanceCount of variants that must exist; "already exists" and "does not
  exist" are swallowed like the adapter does; `busy` makes the next mutating calls raise EndpointBusy.
- FakeAutoscaling (sluice.adapters.autoscaling.AutoscalingGateway): per variant a scalable target, its
  policies and scheduled actions; deregistering deletes them with the target, a re-created policy has a
  new ARN, a step policy's alarms are those whose actions name its ARN (see the class).
- FakeWorkflow (sluice.adapters.stepfunctions.StepFunctionsGateway): a token answered once is stale
  (the second answer returns False); starting an existing execution name returns its ARN.

`calls` is one journal shared by all fakes, so tests can assert the order of calls across ports.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any, ClassVar

from analysis_fakes import FakeMetrics
from fakes import FakeNotifier, FakeObjectStore, FakeRegistry

from sluice.adapters.registry import _dynamo, _plain
from sluice.adapters.rollouts import (
    LEASE_SK,
    QUEUED_SK,
    alarm_owner_pk,
    lease_pk,
    log_pk,
    rollout_pk,
)
from sluice.domain.artifact import ArchiveLimits
from sluice.domain.intake import Outcome, Upload
from sluice.domain.rollout.actions import run_action
from sluice.domain.rollout.intake import new_suffix, start_rollout_upload
from sluice.domain.rollout.polling import EndpointPolling
from sluice.domain.rollout.scaling import ALARM_ACTION_FIELDS
from sluice.domain.rollout.services import RolloutServices
from sluice.domain.rollout_plan import scalable_target
from sluice.errors import EndpointBusy, RefusedRequest
from sluice.models.rollout_step import RolloutStepEvent, state_dict

Call = tuple[Any, ...]
ASL_PATH = Path(__file__).resolve().parents[2] / "statemachines" / "rollout.asl.json"
STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:sluice-rollout"
EXECUTION_ROLE_ARN = "arn:aws:iam::123456789012:role/sluice-models"
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
ALLOWED_REGISTRIES = (ECR, "763104351884.dkr.ecr.*.amazonaws.com")


class FakeAwsError(Exception):
    """What boto3 would raise for a request SageMaker refuses (ValidationException)."""


def _stored(value: Any) -> Any:
    """A value as DynamoDB gives it back (the real adapter's serialisation round trip)."""
    return _plain(_dynamo(copy.deepcopy(value)))


# --------------------------------------------------------------------------------------------------
# RolloutStorePort
# --------------------------------------------------------------------------------------------------


@dataclass
class FakeRolloutStore:
    calls: list[Call] = field(default_factory=list)
    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    # -- the table ---------------------------------------------------------------------------------
    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self.items.get((pk, sk))
        return copy.deepcopy(item) if item is not None else None

    def _put(self, record: dict[str, Any]) -> None:
        self.items[(record["pk"], record["sk"])] = {k: _stored(v) for k, v in record.items() if v is not None}

    def _put_new(self, record: dict[str, Any]) -> bool:
        if (record["pk"], record["sk"]) in self.items:
            return False
        self._put(record)
        return True

    def _delete(self, pk: str, sk: str) -> dict[str, Any] | None:
        return self.items.pop((pk, sk), None)

    def _query(self, pk: str, *, newest_first: bool = False) -> list[dict[str, Any]]:
        keys = sorted((key for key in self.items if key[0] == pk), reverse=newest_first)
        return [copy.deepcopy(self.items[key]) for key in keys]

    # -- rollouts ----------------------------------------------------------------------------------
    def create_rollout(self, endpoint: str, rollout_id: str, record: dict[str, Any], created_at: str) -> bool:
        self.calls.append(("rollouts.create_rollout", endpoint, rollout_id))
        return self._put_new(
            {
                **record,
                "pk": rollout_pk(endpoint),
                "sk": rollout_id,
                "gsi1pk": "rollouts",
                "gsi1sk": f"{created_at}#{endpoint}",
                "endpoint": endpoint,
                "rollout_id": rollout_id,
                "created_at": created_at,
            }
        )

    def rollout(self, endpoint: str, rollout_id: str) -> dict[str, Any] | None:
        return self._get(rollout_pk(endpoint), rollout_id)

    def rollouts(self, endpoint: str, *, limit: int = 20) -> list[dict[str, Any]]:
        return self._query(rollout_pk(endpoint), newest_first=True)[:limit]

    def update_rollout(
        self, endpoint: str, rollout_id: str, attrs: dict[str, Any], *, expect: dict[str, Any] | None = None
    ) -> bool:
        """RegistryStore.update: without `expect` only an existing item; None values become NULL."""
        self.calls.append(("rollouts.update_rollout", endpoint, rollout_id, copy.deepcopy(attrs)))
        key = (rollout_pk(endpoint), rollout_id)
        item = self.items.get(key)
        if expect:
            current = item or {}
            for name, value in expect.items():
                holds = name not in current if value is None else current.get(name) == _stored(value)
                if not holds:
                    return False
            if item is None:  # UpdateItem creates the item when its condition holds
                item = self.items.setdefault(key, {"pk": key[0], "sk": key[1]})
        elif item is None:
            return False
        item.update({k: _stored(v) for k, v in attrs.items()})
        return True

    def signal(
        self, endpoint: str, rollout_id: str, attrs: dict[str, Any], *, keep_existing: bool = False
    ) -> dict[str, Any] | None:
        """One UpdateItem with ReturnValues=ALL_NEW: set (if_not_exists with keep_existing), then the
        whole item as it is now (atomic)."""
        self.calls.append(("rollouts.signal", endpoint, rollout_id, copy.deepcopy(attrs)))
        item = self.items.get((rollout_pk(endpoint), rollout_id))
        if item is None:
            return None
        for key, value in attrs.items():
            if not (keep_existing and key in item):
                item[key] = _stored(value)
        return copy.deepcopy(item)

    # -- decision log ------------------------------------------------------------------------------
    def log_decision(self, endpoint: str, rollout_id: str, at: str, entry: dict[str, Any]) -> None:
        for seq in range(100):
            if self._put_new(
                {**entry, "pk": log_pk(endpoint, rollout_id), "sk": f"{at}#{seq:02d}", "at": at}
            ):
                return
        raise RuntimeError(f"could not append to the decision log of {rollout_id}")

    def history(self, endpoint: str, rollout_id: str) -> list[dict[str, Any]]:
        return self._query(log_pk(endpoint, rollout_id))

    # -- lease and queue ---------------------------------------------------------------------------
    def acquire_lease(self, endpoint: str, holder: dict[str, Any]) -> dict[str, Any] | None:
        if self._put_new({**holder, "pk": lease_pk(endpoint), "sk": LEASE_SK}):
            return None
        return self._get(lease_pk(endpoint), LEASE_SK) or {}

    def take_over_lease(self, endpoint: str, dead_rollout_id: str, holder: dict[str, Any]) -> bool:
        current = self.items.get((lease_pk(endpoint), LEASE_SK))
        if current is None or current.get("rollout_id") != dead_rollout_id:
            return False
        self._put({**holder, "pk": lease_pk(endpoint), "sk": LEASE_SK})
        return True

    def release_lease(self, endpoint: str, rollout_id: str) -> bool:
        self.calls.append(("rollouts.release_lease", endpoint, rollout_id))
        current = self.items.get((lease_pk(endpoint), LEASE_SK))
        if current is None or current.get("rollout_id") != rollout_id:
            return False
        self._delete(lease_pk(endpoint), LEASE_SK)
        return True

    def lease(self, endpoint: str) -> dict[str, Any] | None:
        return self._get(lease_pk(endpoint), LEASE_SK)

    def queued(self, endpoint: str) -> dict[str, Any] | None:
        return self._get(lease_pk(endpoint), QUEUED_SK)

    def replace_queued(self, endpoint: str, queued: dict[str, Any]) -> dict[str, Any] | None:
        old = self._get(lease_pk(endpoint), QUEUED_SK)
        self._put({**queued, "pk": lease_pk(endpoint), "sk": QUEUED_SK})
        return old

    def queue_if_newest(self, endpoint: str, queued: dict[str, Any]) -> tuple[bool, dict[str, Any] | None]:
        old = self._get(lease_pk(endpoint), QUEUED_SK)
        if old is not None and str(old.get("uploaded_at", "")) > str(queued["uploaded_at"]):
            return False, None
        self._put({**queued, "pk": lease_pk(endpoint), "sk": QUEUED_SK})
        return True, old

    def pop_queued(self, endpoint: str) -> dict[str, Any] | None:
        return self._delete(lease_pk(endpoint), QUEUED_SK)

    # -- alarm owners ------------------------------------------------------------------------------
    def own_alarms(self, names: list[str], endpoint: str, rollout_id: str) -> None:
        for name in names:
            self._put(
                {"pk": alarm_owner_pk(name), "sk": endpoint, "endpoint": endpoint, "rollout_id": rollout_id}
            )

    def alarm_owners(self, alarm_name: str) -> list[dict[str, Any]]:
        return self._query(alarm_owner_pk(alarm_name))

    def disown_alarms(self, names: list[str], endpoint: str, rollout_id: str) -> None:
        for name in names:
            current = self.items.get((alarm_owner_pk(name), endpoint))
            if current is not None and current.get("rollout_id") == rollout_id:
                self._delete(alarm_owner_pk(name), endpoint)


# --------------------------------------------------------------------------------------------------
# EndpointPort
# --------------------------------------------------------------------------------------------------


@dataclass
class FakeEndpoint:
    name: str
    config_name: str
    status: str = "InService"
    failure_reason: str | None = None
    # variant name → {"weight": CurrentWeight, "instances": CurrentInstanceCount}
    variants: dict[str, dict[str, float | int]] = field(default_factory=dict)


@dataclass
class FakeEndpoints:
    calls: list[Call] = field(default_factory=list)
    endpoints: dict[str, FakeEndpoint] = field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    busy: int = 0  # the next `busy` mutating endpoint calls raise EndpointBusy
    broken: dict[str, Exception] = field(default_factory=dict)  # method name → raised on every call
    weight_history: list[dict[str, tuple[float, int]]] = field(default_factory=list)
    reads: int = 0  # DescribeEndpoint calls (`state`)

    def add_production_endpoint(
        self,
        name: str,
        *,
        variant: str = "v1",
        model: str = "fraud-v1-aaa111",
        config: str = "fraud-v1-aaa111",
        instances: int = 3,
        image: str = f"{ECR}/fraud:1",
        instance_type: str = "ml.m5.xlarge",
    ) -> None:
        """An InService endpoint with one production variant (what a rollout starts from)."""
        self.models[model] = {
            "ModelName": model,
            "ExecutionRoleArn": EXECUTION_ROLE_ARN,
            "PrimaryContainer": {
                "Image": image,
                "ModelDataUrl": "s3://artifacts/endpoints/fraud/v1/model.tar.gz",
                "Environment": {"THREADS": "2"},
            },
        }
        self.configs[config] = {
            "EndpointConfigName": config,
            "ProductionVariants": [
                {
                    "VariantName": variant,
                    "ModelName": model,
                    "InstanceType": instance_type,
                    "InitialInstanceCount": instances,
                    "InitialVariantWeight": 1.0,
                }
            ],
        }
        self.endpoints[name] = FakeEndpoint(
            name, config, variants={variant: {"weight": 1.0, "instances": instances}}
        )

    # -- reads -------------------------------------------------------------------------------------
    def state(self, endpoint: str) -> dict[str, Any] | None:
        self.reads += 1
        described = self.endpoints.get(endpoint)
        if described is None:
            return None
        config = self.configs.get(described.config_name, {"ProductionVariants": []})
        configured = {v["VariantName"]: v for v in config["ProductionVariants"]}
        variants = []
        for variant_name, current in described.variants.items():
            spec = configured.get(variant_name, {})
            model = self.models.get(spec.get("ModelName", ""), {})
            containers = (
                [model["PrimaryContainer"]] if "PrimaryContainer" in model else model.get("Containers", [])
            )
            variants.append(
                {
                    "variant_name": variant_name,
                    "model_name": spec.get("ModelName"),
                    "instance_type": spec.get("InstanceType"),
                    "current_instance_count": current["instances"],
                    "current_weight": current["weight"],
                    "containers": [
                        {
                            "image": c.get("Image", ""),
                            "environment": c.get("Environment", {}),
                            "model_data_url": c.get("ModelDataUrl"),
                            "hostname": c.get("ContainerHostname"),
                        }
                        for c in containers
                    ],
                    "inference_execution_mode": (model.get("InferenceExecutionConfig") or {}).get("Mode"),
                    "model_settings": {},
                    "execution_role_arn": model.get("ExecutionRoleArn"),
                }
            )
        return {
            "endpoint": endpoint,
            "status": described.status,
            "failure_reason": described.failure_reason,
            "config_name": described.config_name,
            "config_settings": {},
            "variants": variants,
        }

    def weights(self, endpoint: str) -> dict[str, tuple[float, int]]:
        """{variant: (CurrentWeight, CurrentInstanceCount)}, what DescribeEndpoint shows."""
        return {
            name: (float(v["weight"]), int(v["instances"]))
            for name, v in self.endpoints[endpoint].variants.items()
        }

    # -- writes ------------------------------------------------------------------------------------
    def _enter(self, method: str, *args: Any, mutating: bool = False) -> None:
        self.calls.append((f"endpoints.{method}", *args))
        if method in self.broken:
            raise self.broken[method]
        if mutating and self.busy:
            self.busy -= 1
            raise EndpointBusy(f"{args[0]}: ValidationException: Cannot update in-progress endpoint")

    def create_model(self, request: dict[str, Any]) -> None:
        self._enter("create_model", request["ModelName"])
        self.models.setdefault(request["ModelName"], copy.deepcopy(request))  # "already exists": ours

    def create_endpoint_config(self, request: dict[str, Any]) -> None:
        self._enter("create_endpoint_config", request["EndpointConfigName"])
        for variant in request["ProductionVariants"]:
            if variant["ModelName"] not in self.models:
                raise FakeAwsError(f"Could not find model {variant['ModelName']!r}")
        self.configs.setdefault(request["EndpointConfigName"], copy.deepcopy(request))

    def create_endpoint(self, endpoint: str, config_name: str, tags: list[dict[str, str]]) -> None:
        self._enter("create_endpoint", endpoint, config_name, mutating=True)
        if endpoint not in self.endpoints:
            self.endpoints[endpoint] = FakeEndpoint(endpoint, config_name)
            self._switch(self.endpoints[endpoint], config_name)

    def update_endpoint(
        self, endpoint: str, config_name: str, *, retain_variant_properties: bool = False
    ) -> None:
        self._enter("update_endpoint", endpoint, config_name, mutating=True)
        if endpoint not in self.endpoints:
            raise FakeAwsError(f"Could not find endpoint {endpoint!r}")
        self._switch(self.endpoints[endpoint], config_name, retain=retain_variant_properties)

    def _switch(self, described: FakeEndpoint, config_name: str, *, retain: bool = False) -> None:
        """The config's variants with their initial weight and count; with retain
        (RetainAllVariantProperties), a variant that stays keeps its current ones."""
        if config_name not in self.configs:
            raise FakeAwsError(f"Could not find endpoint configuration {config_name!r}")
        before = described.variants
        described.config_name = config_name
        described.variants = {
            v["VariantName"]: (
                dict(before[v["VariantName"]])
                if retain and v["VariantName"] in before
                else {"weight": float(v["InitialVariantWeight"]), "instances": v["InitialInstanceCount"]}
            )
            for v in self.configs[config_name]["ProductionVariants"]
        }

    def set_weights(self, endpoint: str, desired: list[dict[str, Any]]) -> None:
        self._enter("set_weights", endpoint, copy.deepcopy(desired), mutating=True)
        variants = self.endpoints[endpoint].variants
        for entry in desired:
            if entry["VariantName"] not in variants:
                raise FakeAwsError(f"The variant {entry['VariantName']!r} does not exist in {endpoint!r}")
            if "DesiredWeight" not in entry and "DesiredInstanceCount" not in entry:
                raise FakeAwsError("an entry needs DesiredWeight or DesiredInstanceCount")
        for entry in desired:  # as SageMaker: a field left out keeps its current value
            current = variants[entry["VariantName"]]
            variants[entry["VariantName"]] = {
                "weight": float(entry.get("DesiredWeight", current["weight"])),
                "instances": int(entry.get("DesiredInstanceCount", current["instances"])),
            }
        self.weight_history.append(self.weights(endpoint))

    def delete_model(self, name: str, *, only_if_managed: bool = False) -> bool:
        self._enter("delete_model", name)
        if name not in self.models or (only_if_managed and not _managed(self.models[name])):
            return False
        del self.models[name]
        return True

    def delete_endpoint_config(self, name: str, *, only_if_managed: bool = False) -> bool:
        self._enter("delete_endpoint_config", name)
        if name not in self.configs or (only_if_managed and not _managed(self.configs[name])):
            return False
        del self.configs[name]
        return True


def _managed(request: dict[str, Any]) -> bool:
    """Created by Sluice: the sluice:managed tag its requests carry (the real gateway reads ListTags)."""
    return {"Key": "sluice:managed", "Value": "true"} in request.get("Tags", [])


# --------------------------------------------------------------------------------------------------
# AlarmPort, AutoscalingPort, WorkflowPort
# --------------------------------------------------------------------------------------------------


@dataclass
class FakeAlarm:
    name: str
    state: str
    reason: str
    request: dict[str, Any] = field(default_factory=dict)


@dataclass
class FakeAlarms:
    """CloudWatch's alarms. `metrics_flow`: the endpoint has traffic (as FakeMetrics answers by default),
    so an alarm Sluice creates has evaluated data (OK) by the time a bake ends; False models an endpoint
    without traffic, whose new alarms stay INSUFFICIENT_DATA."""

    calls: list[Call] = field(default_factory=list)
    alarms: dict[str, FakeAlarm] = field(default_factory=dict)
    metrics_flow: bool = True

    def add(self, name: str, state: str = "OK", reason: str = "Threshold Crossed: no datapoints") -> None:
        """A user's alarm that exists before any rollout."""
        self.alarms[name] = FakeAlarm(name, state, reason)

    def set_state(self, name: str, state: str, reason: str) -> None:
        self.alarms[name].state, self.alarms[name].reason = state, reason

    def put_alarm(self, request: dict[str, Any]) -> None:
        self.calls.append(("alarms.put_alarm", request["AlarmName"]))
        existing = self.alarms.get(request["AlarmName"])
        if existing is None:  # updating an alarm keeps its state
            self.alarms[request["AlarmName"]] = (
                FakeAlarm(
                    request["AlarmName"], "OK", "Threshold Crossed: datapoints below the threshold", request
                )
                if self.metrics_flow
                else FakeAlarm(
                    request["AlarmName"], "INSUFFICIENT_DATA", "Unchecked: Initial alarm creation", request
                )
            )
        else:
            existing.request = request

    def delete_alarms(self, names: list[str]) -> None:
        self.calls.append(("alarms.delete_alarms", list(names)))
        for name in names:
            self.alarms.pop(name, None)

    def firing(self, names: list[str]) -> list[FakeAlarm]:
        return [
            copy.copy(self.alarms[name])
            for name in names
            if name in self.alarms and self.alarms[name].state == "ALARM"
        ]

    def states(self, names: list[str]) -> list[FakeAlarm]:
        return [copy.copy(self.alarms[name]) for name in names if name in self.alarms]

    def define(self, request: dict[str, Any], state: str = "OK") -> None:
        """A user's metric alarm made with PutMetricAlarm before any rollout."""
        self.alarms[request["AlarmName"]] = FakeAlarm(request["AlarmName"], state, "", copy.deepcopy(request))

    def alarm_requests(self, names: list[str]) -> list[dict[str, Any]]:
        return [
            {"AlarmName": name, **copy.deepcopy(self.alarms[name].request)}
            for name in names
            if name in self.alarms
        ]

    def update_alarm(self, request: dict[str, Any]) -> None:
        self.calls.append(("alarms.update_alarm", request["AlarmName"]))
        self.alarms[request["AlarmName"]].request = copy.deepcopy(request)


@dataclass
class FakeAutoscaling:
    """Application Auto Scaling as AWS keeps it (sluice.adapters.autoscaling.AutoscalingGateway): per
    variant a scalable target (its RegisterScalableTarget fields), its policies and scheduled actions
    (their Put* requests). As on AWS: a put for a variant that is not a scalable target is refused; a
    policy created (not updated) gets a new ARN (AWS's hold a generated id); deregistering deletes the
    policies and scheduled actions with the target; a policy's `Alarms` are the alarms whose actions name
    its ARN. `refuse` (a policy or scheduled action name → message) makes its put answer RefusedRequest,
    as the adapter does for a ValidationException."""

    calls: list[Call] = field(default_factory=list)
    alarms: FakeAlarms | None = None
    targets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    policies: dict[tuple[str, str], dict[str, dict[str, Any]]] = field(default_factory=dict)
    scheduled_actions: dict[tuple[str, str], dict[str, dict[str, Any]]] = field(default_factory=dict)
    refuse: dict[str, str] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: count(1))

    @staticmethod
    def _key(resource_id: str) -> tuple[str, str]:
        _, endpoint, _, variant = resource_id.split("/")
        return endpoint, variant

    def target_tracking(self, endpoint: str, variant: str, summary: dict[str, Any]) -> None:
        """A variant its user registered with one target-tracking policy ({min, max, target, cooldowns})."""
        key = scalable_target(endpoint, variant)
        self.register({**key, "MinCapacity": summary["min"], "MaxCapacity": summary["max"]})
        self.put_policy(
            {
                **key,
                "PolicyName": f"{endpoint}-{variant}-invocations",
                "PolicyType": "TargetTrackingScaling",
                "TargetTrackingScalingPolicyConfiguration": {
                    "TargetValue": summary["target"],
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
                    },
                    "ScaleInCooldown": summary["scale_in_cooldown"],
                    "ScaleOutCooldown": summary["scale_out_cooldown"],
                },
            }
        )

    # -- AutoscalingPort ---------------------------------------------------------------------------
    def registration(self, endpoint: str, variant: str) -> dict[str, Any] | None:
        """The adapter's summary: bounds and the first target-tracking policy, None without one."""
        found = self.configuration(endpoint, variant)
        if found is None:
            return None
        for policy in found["policies"]:
            tracking = policy["request"].get("TargetTrackingScalingPolicyConfiguration")
            if tracking:
                return {
                    "min": found["target"]["MinCapacity"],
                    "max": found["target"]["MaxCapacity"],
                    "target": tracking["TargetValue"],
                    "scale_in_cooldown": tracking.get("ScaleInCooldown"),
                    "scale_out_cooldown": tracking.get("ScaleOutCooldown"),
                }
        return None

    def apply(self, register: dict[str, Any], policy: dict[str, Any]) -> None:
        self.calls.append(("autoscaling.apply", register["ResourceId"]))
        self._register(register)
        self._put_policy(policy)

    def remove(self, deregister: dict[str, Any]) -> bool:
        self.calls.append(("autoscaling.remove", deregister["ResourceId"]))
        key = self._key(deregister["ResourceId"])
        self.policies.pop(key, None)
        self.scheduled_actions.pop(key, None)
        return self.targets.pop(key, None) is not None

    def configuration(self, endpoint: str, variant: str) -> dict[str, Any] | None:
        key = (endpoint, variant)
        if key not in self.targets:
            return None
        return copy.deepcopy(
            {
                "target": self.targets[key],
                "policies": [
                    {**policy, "alarms": self._alarms_invoking(policy["policy_arn"])}
                    for policy in self.policies.get(key, {}).values()
                ],
                "scheduled_actions": list(self.scheduled_actions.get(key, {}).values()),
            }
        )

    def register(self, request: dict[str, Any]) -> None:
        self.calls.append(("autoscaling.register", request["ResourceId"]))
        self._register(request)

    def put_policy(self, request: dict[str, Any]) -> None:
        self.calls.append(("autoscaling.put_policy", request["ResourceId"], request["PolicyName"]))
        self._put_policy(request)

    def put_scheduled_action(self, request: dict[str, Any]) -> None:
        name = request["ScheduledActionName"]
        self.calls.append(("autoscaling.put_scheduled_action", request["ResourceId"], name))
        key = self._registered(request)
        self._refuse(name)
        self.scheduled_actions.setdefault(key, {})[name] = copy.deepcopy(request)

    # -- as AWS keeps it ---------------------------------------------------------------------------
    def _register(self, request: dict[str, Any]) -> None:
        key = self._key(request["ResourceId"])
        self.targets[key] = {**self.targets.get(key, {}), **copy.deepcopy(request)}

    def _put_policy(self, request: dict[str, Any]) -> None:
        key, name = self._registered(request), request["PolicyName"]
        self._refuse(name)
        existing = self.policies.setdefault(key, {}).get(name)
        arn = (
            existing["policy_arn"]
            if existing
            else f"arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:{next(self._ids):08d}:"
            f"resource/sagemaker/{request['ResourceId']}:policyName/{name}"
        )
        self.policies[key][name] = {"request": copy.deepcopy(request), "policy_arn": arn}

    def _registered(self, request: dict[str, Any]) -> tuple[str, str]:
        key = self._key(request["ResourceId"])
        if key not in self.targets:
            raise FakeAwsError(
                f"ObjectNotFoundException: No scalable target registered for {request['ResourceId']}"
            )
        return key

    def _refuse(self, name: str) -> None:
        if name in self.refuse:
            raise RefusedRequest("ValidationException", self.refuse[name])

    def _alarms_invoking(self, arn: str) -> list[str]:
        if self.alarms is None:
            return []
        return sorted(
            alarm.name
            for alarm in self.alarms.alarms.values()
            if any(arn in alarm.request.get(actions, []) for actions in ALARM_ACTION_FIELDS)
        )


@dataclass
class FakeWorkflow:
    calls: list[Call] = field(default_factory=list)
    executions: dict[str, dict[str, Any]] = field(default_factory=dict)  # arn → {name, input, running}
    started: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (name, input)
    succeeded: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    _answered: set[str] = field(default_factory=set)

    def start(self, state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
        self.calls.append(("workflow.start", name))
        arn = state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
        if arn not in self.executions:
            self.executions[arn] = {"name": name, "input": copy.deepcopy(payload), "running": True}
            self.started.append((name, copy.deepcopy(payload)))
        return arn

    def end(self, execution_arn: str) -> None:
        """The execution reached a terminal state (or was stopped)."""
        self.executions[execution_arn]["running"] = False

    def expire(self, token: str) -> None:
        """The wait holding `token` timed out: answering it now fails (TaskTimedOut: stale)."""
        self._answered.add(token)

    def is_running(self, execution_arn: str) -> bool:
        return bool(self.executions.get(execution_arn, {}).get("running"))

    def succeed(self, token: str, output: dict[str, Any]) -> bool:
        self.calls.append(("workflow.succeed", token, output))
        if token in self._answered:
            return False
        self._answered.add(token)
        self.succeeded.append((token, output))
        return True

    def fail(self, token: str, error: str, cause: str) -> bool:
        self.calls.append(("workflow.fail", token, error))
        if token in self._answered:
            return False
        self._answered.add(token)
        self.failed.append((token, error, cause))
        return True

    def answer(self, token: str) -> tuple[Any, ...] | None:
        """How the wait holding `token` ended: ("success", output), ("failure", error, cause) or None."""
        for answered, output in self.succeeded:
            if answered == token:
                return ("success", output)
        for answered, error, cause in self.failed:
            if answered == token:
                return ("failure", error, cause)
        return None


# --------------------------------------------------------------------------------------------------
# The services, a clock
# --------------------------------------------------------------------------------------------------


@dataclass
class Clock:
    """Each reading is one second after the previous one (decision log entries stay ordered)."""

    at: datetime = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.at += timedelta(seconds=1)
        return self.at


@dataclass
class WaitClock:
    """The clock a task waits on within its invocation (sluice.domain.ports.WaitClock): `sleep` moves it
    on and runs, in time order, what `after` scheduled meanwhile (SageMaker finishing an update, the
    alarm handler flagging an abort while the task sleeps)."""

    now: float = 0.0
    slept: list[float] = field(default_factory=list)
    scheduled: list[tuple[float, Callable[[], None]]] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        due = sorted((e for e in self.scheduled if e[0] <= self.now), key=lambda e: e[0])
        self.scheduled = [e for e in self.scheduled if e[0] > self.now]
        for _, action in due:
            action()

    def after(self, seconds: float, action: Callable[[], None]) -> None:
        self.scheduled.append((self.now + seconds, action))


# ReadEndpoint's polling as template.yaml sets it (ENDPOINT_POLL_INTERVAL_SECONDS, _BUDGET_SECONDS).
POLL_INTERVAL, POLL_BUDGET = 2.0, 60.0


@dataclass
class RolloutWorld:
    """Every fake behind one RolloutServices, with the shared call journal."""

    calls: list[Call]
    store: FakeObjectStore
    registry: FakeRegistry
    notifier: FakeNotifier
    rollouts: FakeRolloutStore
    endpoints: FakeEndpoints
    alarms: FakeAlarms
    autoscaling: FakeAutoscaling
    workflow: FakeWorkflow
    services: RolloutServices
    clock: Clock
    waits: WaitClock
    metrics: FakeMetrics

    def calls_to(self, *names: str) -> list[Call]:
        """The journal restricted to these calls ("endpoints.set_weights", ...), in order."""
        return [call for call in self.calls if call[0] in names]

    def notifications(self, rollout_id: str | None = None) -> list[dict[str, Any]]:
        return [
            detail
            for _, detail in self.notifier.sent
            if rollout_id is None or detail.get("rollout_id") == rollout_id
        ]


def make_world(*, allowed_registries: tuple[str, ...] = ALLOWED_REGISTRIES) -> RolloutWorld:
    calls: list[Call] = []
    store, registry, notifier = FakeObjectStore(), FakeRegistry(), FakeNotifier()
    rollouts = FakeRolloutStore(calls)
    endpoints = FakeEndpoints(calls)
    alarms = FakeAlarms(calls)
    autoscaling = FakeAutoscaling(calls, alarms)
    workflow = FakeWorkflow(calls)
    waits = WaitClock()
    metrics = FakeMetrics()
    services = RolloutServices(
        store=store,
        registry=registry,
        notifier=notifier,
        rollouts=rollouts,
        endpoints=endpoints,
        alarms=alarms,
        metrics=metrics,
        autoscaling=autoscaling,
        workflow=workflow,
        state_machine_arn=STATE_MACHINE_ARN,
        execution_role_arn=EXECUTION_ROLE_ARN,
        allowed_registries=allowed_registries,
        limits=ArchiveLimits(),
        polling=EndpointPolling(waits, interval=POLL_INTERVAL, budget=POLL_BUDGET),
    )
    return RolloutWorld(
        calls,
        store,
        registry,
        notifier,
        rollouts,
        endpoints,
        alarms,
        autoscaling,
        workflow,
        services,
        Clock(),
        waits,
        metrics,
    )


# --------------------------------------------------------------------------------------------------
# The state machine, walked
# --------------------------------------------------------------------------------------------------

ASL: dict[str, Any] = json.loads(ASL_PATH.read_text())


def lambda_cause(error: Exception) -> str:
    """The Cause of a Lambda task's failure: the function's error as JSON."""
    return json.dumps({"errorMessage": str(error), "errorType": type(error).__name__, "stackTrace": []})


def _path(state: dict[str, Any], variable: str) -> Any:
    """A JSONPath of the form $.a.b on the execution's state (None when missing)."""
    value: Any = state
    for part in variable.removeprefix("$.").split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _matches(error_equals: list[str], error: str) -> bool:
    """Step Functions' matching: the name itself, States.ALL, or States.TaskFailed (all but
    States.Timeout)."""
    return (
        error in error_equals
        or "States.ALL" in error_equals
        or ("States.TaskFailed" in error_equals and error != "States.Timeout")
    )


def retrier_for(task_state: str, error: str) -> dict[str, Any] | None:
    """The retrier of `task_state` that handles `error`: the first whose ErrorEquals matches."""
    retriers = ASL["States"][task_state].get("Retry", [])
    return next((r for r in retriers if _matches(r["ErrorEquals"], error)), None)


def caught_to(task_state: str, error: str) -> str | None:
    """Where `task_state`'s Catch sends `error` once its retrier (if any) gave up: the first match."""
    catchers = ASL["States"][task_state].get("Catch", [])
    return next((str(c["Next"]) for c in catchers if _matches(c["ErrorEquals"], error)), None)


def choose(choice_state: str, state: dict[str, Any]) -> str:
    """Where one of the ASL's Choice states goes for `state` (its StringEquals rules, as written)."""
    definition = ASL["States"][choice_state]

    def holds(rule: dict[str, Any]) -> bool:
        if "Or" in rule:
            return any(holds(inner) for inner in rule["Or"])
        return bool(_path(state, rule["Variable"]) == rule["StringEquals"])

    for rule in definition["Choices"]:
        if holds(rule):
            return str(rule["Next"])
    return str(definition["Default"])


class RolloutAslWalk:
    """Walks statemachines/rollout.asl.json the way Step Functions runs it, one state at a time.

    Every Task state is the RolloutStepFunction called with {"action": <its Payload.action>, "state": $};
    its result replaces $ (OutputPath $.Payload). A `.waitForTaskToken` task gets a fresh token and the
    execution then waits for an answer. Choice states are evaluated from the ASL itself (`choose`).
    The endpoint is read once after each change (ReadEndpoint): the fake endpoint applies changes at once.
    """

    TASK_ACTIONS: ClassVar[dict[str, str]] = {
        "Prepare": "prepare",
        "CreateEndpoint": "create_endpoint",
        "FinishFirstDeployment": "finish_first_deployment",
        "AddCandidate": "add_candidate",
        "ReadEndpoint": "read_endpoint",
        "EndpointUnhealthy": "endpoint_unhealthy",
        "CreateAlarms": "create_alarms",
        "NextStep": "next_step",
        "CheckAlarms": "check_alarms",
        "Bake": "bake",
        "Analyse": "analyse",
        "Paused": "pause",
        "AwaitApproval": "await_approval",
        "Promote": "promote",
        "FinishPromotion": "finish_promotion",
        "Rollback": "rollback_weights",
        "RestoreBaselineConfig": "rollback_config",
        "FinishRollback": "finish_rollback",
        "Refused": "refused",
        "NeedsAttention": "needs_attention",
    }

    def __init__(self, world: RolloutWorld, execution_input: dict[str, Any]) -> None:
        self.world = world
        self.state = copy.deepcopy(execution_input)  # the execution's input: {rollout_id, endpoint, version}
        self.visited: list[str] = []
        self._tokens = count(1)

    @classmethod
    def of_started(cls, world: RolloutWorld, index: int = -1) -> RolloutAslWalk:
        """The execution the intake started (the last one, by default)."""
        return cls(world, world.workflow.started[index][1])

    def payload(self, name: str, token: str | None) -> tuple[str, dict[str, Any], str | None]:
        """Task `name`'s payload as the RolloutStepFunction's handler parses it (sluice.models.rollout_step):
        (action, state, token), the state exactly as the execution holds it."""
        event = {
            "action": self.TASK_ACTIONS[name],
            "state": self.state,
            **({"token": token} if token else {}),
        }
        task = RolloutStepEvent.model_validate(event).root
        assert state_dict(task.state) == self.state
        return task.action, state_dict(task.state), task.token

    # -- single states -----------------------------------------------------------------------------
    def task(self, name: str) -> dict[str, Any]:
        self.visited.append(name)
        self.state = run_action(self.world.services, *self.payload(name, None), self.world.clock())
        return self.state

    def wait(self, name: str) -> str:
        """A `.waitForTaskToken` task: the Lambda stores the token; returns the token waited on."""
        self.visited.append(name)
        token = f"{name}-token-{next(self._tokens)}"
        run_action(self.world.services, *self.payload(name, token), self.world.clock())
        return token

    def fails(self, name: str) -> tuple[str, str]:
        """Task `name` raises: (Error, Cause) as the Lambda integration hands them to a Catch."""
        self.visited.append(name)
        payload = self.payload(name, None)
        try:
            run_action(self.world.services, *payload, self.world.clock())
        except Exception as error:  # any error: the Lambda's errorType
            return type(error).__name__, lambda_cause(error)
        raise AssertionError(f"{name} did not fail")

    def caught(self, name: str, error: str, cause: str) -> dict[str, Any]:
        """A Catch (ResultPath $.error) sends the execution to Task `name`."""
        self.state = {**self.state, "error": {"Error": error, "Cause": cause}}
        return self.task(name)

    def after_in_service(self) -> str:
        """ReadEndpoint (the change applied) → EndpointStatus → AfterInService: where $.after leads."""
        self.task("ReadEndpoint")
        assert choose("EndpointStatus", self.state) == "AfterInService", self.state.get("endpoint_state")
        return choose("AfterInService", self.state)

    # -- the happy path, state by state ------------------------------------------------------------
    def start(self) -> None:
        """Prepare → IsFirstDeployment → AddCandidate → (InService) → CreateAlarms."""
        self.task("Prepare")
        assert choose("IsFirstDeployment", self.state) == "AddCandidate"
        self.task("AddCandidate")
        assert self.after_in_service() == "CreateAlarms"
        self.task("CreateAlarms")

    def next_step(self) -> str:
        """NextStep → StepAction: returns where the execution goes (ReadEndpoint, Promote, ...)."""
        self.task("NextStep")
        return choose("StepAction", self.state)

    def to_bake(self) -> str:
        """NextStep sets the weights → (InService) → CheckAlarms → Bake: the bake's token."""
        assert self.next_step() == "ReadEndpoint"
        assert self.after_in_service() == "CheckAlarms"
        self.task("CheckAlarms")
        return self.wait("Bake")

    def bake_times_out(self, token: str) -> str:
        """Nobody answered `token` within TimeoutSecondsPath: Catch States.Timeout → Analyse →
        AfterAnalysis: where the execution goes (Bake again, Paused, NextStep)."""
        assert self.world.workflow.answer(token) is None, "the bake was answered: off the happy path"
        self.caught("Analyse", "States.Timeout", "")
        return choose("AfterAnalysis", self.state)

    def fails_after_timeout(self, token: str) -> tuple[str, str]:
        """The bake's wait times out and Analyse fails (a fail, or no evidence with rollback): the
        (Error, Cause) its Catch hands to Rollback."""
        assert self.world.workflow.answer(token) is None, "the bake was answered: off the happy path"
        self.state = {**self.state, "error": {"Error": "States.Timeout", "Cause": ""}}
        return self.fails("Analyse")

    def bake_to_end(self, token: str) -> str:
        """Every wait of the bake times out: Bake → Analyse → AfterAnalysis, until the bake leaves for
        NextStep or Paused (where it went)."""
        where = self.bake_times_out(token)
        while where == "Bake":
            where = self.bake_times_out(self.wait("Bake"))
        return where

    def promote(self) -> None:
        """Promote → (InService) → FinishPromotion → Promoted."""
        self.task("Promote")
        assert self.after_in_service() == "FinishPromotion"
        self.task("FinishPromotion")

    def rollback(self, error: str, cause: str) -> None:
        """Catch → Rollback → RestoreBaselineConfig → (InService) → FinishRollback → RolledBack."""
        self.caught("Rollback", error, cause)
        self.task("RestoreBaselineConfig")
        assert self.after_in_service() == "FinishRollback"
        self.task("FinishRollback")


def walk_happy_path_like_rollout_asl(walk: RolloutAslWalk) -> RolloutAslWalk:
    """prepare → add_candidate → create_alarms → [next_step → check_alarms → bake → analyse]* →
    promote → finish_promotion, as statemachines/rollout.asl.json runs it when nothing goes wrong:

        Prepare → IsFirstDeployment → AddCandidate → (InService) → CreateAlarms →
        [NextStep → StepAction "wait" → (InService) → CheckAlarms → Bake (times out) → Analyse]* →
        NextStep → StepAction "promote" → Promote → (InService) → FinishPromotion → Promoted
    """
    walk.start()
    while walk.next_step() != "Promote":
        assert walk.after_in_service() == "CheckAlarms"
        walk.task("CheckAlarms")
        assert walk.bake_to_end(walk.wait("Bake")) == "NextStep"
    walk.promote()
    return walk


# --------------------------------------------------------------------------------------------------
# Scenario helpers
# --------------------------------------------------------------------------------------------------

BUCKET = "artifacts"
ENDPOINT = "fraud"
USER_ALARM = "fraud-5xx"
BASELINE_AUTOSCALING = {
    "min": 3,
    "max": 6,
    "target": 600.0,
    "scale_in_cooldown": 300,
    "scale_out_cooldown": 60,
}
DEPLOY = {"rollout": {"steps": [10, 50, 100], "bake_seconds": 60, "alarms": [USER_ALARM]}}


def archive(members: dict[str, bytes] | None = None) -> bytes:
    """A model.tar.gz holding `members` (default: one weights file)."""
    buffer = io.BytesIO()
    # gzip's header holds a modification time: 0, so the same members always give the same bytes
    # (tests compare sha256 digests of archives built at different moments).
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w") as tar,
    ):
        for name, payload in (members or {"model.pth": b"weights"}).items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def production_world(*, autoscaled: bool = True, **changes: Any) -> RolloutWorld:
    """The `fraud` endpoint InService on v1 (3 instances; autoscaled 3..6 by target tracking unless
    `autoscaled` is False), the user's alarm OK."""
    world = make_world(**changes)
    world.endpoints.add_production_endpoint(ENDPOINT)
    if autoscaled:
        world.autoscaling.target_tracking(ENDPOINT, "v1", BASELINE_AUTOSCALING)
    world.alarms.add(USER_ALARM)
    return world


def put_deploy_json(world: RolloutWorld, key: str, settings: dict[str, Any] | bytes) -> None:
    body = settings if isinstance(settings, bytes) else json.dumps(settings).encode()
    world.store.put(BUCKET, key, body)


def upload_version(
    world: RolloutWorld,
    version: str,
    *,
    deploy: dict[str, Any] | bytes | None = DEPLOY,
    body: bytes | None = None,
    endpoint: str = ENDPOINT,
    event_time: str | None = None,
) -> Outcome:
    """Upload endpoints/<endpoint>/<version>/model.tar.gz (and its deploy.json) and run the intake.

    `event_time`: the time the S3 event reports (a late event carries an earlier time than its arrival).
    """
    if deploy is not None:
        put_deploy_json(world, f"endpoints/{endpoint}/{version}/deploy.json", deploy)
    key = f"endpoints/{endpoint}/{version}/model.tar.gz"
    head = world.store.put(BUCKET, key, archive() if body is None else body)
    now = world.clock()
    return start_rollout_upload(
        Upload(BUCKET, key, "raw", head.version_id, head.etag, event_time),
        world.services,
        now,
        new_suffix(f"{key}@{now.isoformat()}"),
    )


def events(world: RolloutWorld, rollout_id: str, endpoint: str = ENDPOINT) -> list[str]:
    """The decision log's events, in order (what `sluice history` lists)."""
    return [entry["event"] for entry in world.rollouts.history(endpoint, rollout_id)]


def decision(world: RolloutWorld, rollout_id: str, event: str, endpoint: str = ENDPOINT) -> dict[str, Any]:
    """The last decision-log entry of that event."""
    found = [entry for entry in world.rollouts.history(endpoint, rollout_id) if entry["event"] == event]
    assert found, f"no {event!r} in {events(world, rollout_id, endpoint)}"
    return found[-1]


def status(world: RolloutWorld, rollout_id: str, endpoint: str = ENDPOINT) -> str:
    rollout = world.rollouts.rollout(endpoint, rollout_id)
    assert rollout is not None
    return str(rollout["status"])
