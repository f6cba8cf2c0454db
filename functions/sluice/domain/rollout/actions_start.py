"""State machine actions that start a rollout: pre-flight and plan, a first deployment, the candidate
added at weight 0, its alarms; and a refusal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sluice.domain.deploy_config import DeployConfig, check_images
from sluice.domain.rollout.intake import start_next_queued
from sluice.domain.rollout.log import decide
from sluice.domain.rollout.record import (
    auto_alarm_names,
    error_reason,
    load_rollout,
    plan_weights,
    raise_if_abort_requested,
    stored_first_deployment_plan,
    stored_plan,
)
from sluice.domain.rollout.services import RolloutServices
from sluice.domain.rollout_plan import (
    BaselineAutoscaling,
    BaselineContainer,
    BaselineState,
    BaselineVariant,
    FirstDeploymentPlan,
    RolloutPlan,
    plan_first_deployment,
    plan_rollout,
)
from sluice.errors import Rejected, RejectedConfiguration, RolloutRefused


def baseline_from(
    endpoint_state: dict[str, Any], autoscaling: dict[str, dict[str, Any] | None]
) -> BaselineState:
    """The adapters' reading of an endpoint, as the planner's BaselineState."""
    variants = []
    for variant in endpoint_state["variants"]:
        registration = autoscaling.get(variant["variant_name"])
        variants.append(
            BaselineVariant(
                variant_name=variant["variant_name"],
                model_name=variant["model_name"],
                instance_type=variant.get("instance_type"),
                current_instance_count=int(variant.get("current_instance_count") or 1),
                current_weight=float(variant.get("current_weight") or 0.0),
                containers=[BaselineContainer(**c) for c in variant["containers"]],
                inference_execution_mode=variant.get("inference_execution_mode"),
                model_settings=variant.get("model_settings", {}),
                hosting_settings=variant.get("hosting_settings", {}),
                autoscaling=BaselineAutoscaling(**registration) if registration else None,
            )
        )
    return BaselineState(
        endpoint_config_name=endpoint_state["config_name"],
        variants=variants,
        config_settings=endpoint_state.get("config_settings", {}),
    )


def prepare(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Pre-flight and the plan. Raises RolloutRefused (nothing changed) with the precise reason."""
    endpoint = state["endpoint"]
    rollout = load_rollout(services, state)
    config = _stored_config(rollout)
    current = services.endpoints.state(endpoint)
    common = {
        "endpoint": endpoint,
        "version": rollout["version"],
        "config": config,
        "model_data_url": rollout["model_data_url"],
        "execution_role_arn": _execution_role(services, endpoint, current),
        "suffix": rollout["suffix"],
        "allowed_registries": services.allowed_registries,
    }
    try:
        # Checked at intake too; again here because the stack's allow-list may have changed since (a
        # queued version). The rejection names the file the rollout read, as at intake.
        check_images(config, services.allowed_registries)
    except RejectedConfiguration as error:
        raise RolloutRefused(f"{rollout.get('config_source', 'deploy.json')}: {error.reason}") from error
    try:
        if current is None:
            return _start_first_deployment(services, state, plan_first_deployment(**common), now)
        if current["status"] != "InService":
            raise RolloutRefused(
                f"endpoint {endpoint} is {current['status']}; a rollout starts only on an InService endpoint"
            )
        registrations = {
            v["variant_name"]: services.autoscaling.registration(endpoint, v["variant_name"])
            for v in current["variants"]
        }
        plan = plan_rollout(**common, baseline=baseline_from(current, registrations))
    except (RejectedConfiguration, Rejected) as error:
        raise RolloutRefused(error.reason) from error
    _refuse_while_a_user_alarm_fires(services, plan)
    return _start_canary(services, state, rollout, plan, now)


def _stored_config(rollout: dict[str, Any]) -> DeployConfig:
    stored = rollout.get("config") or {}
    return (
        DeployConfig.model_validate_json(stored)
        if isinstance(stored, str)
        else DeployConfig.model_validate(stored)
    )


def _execution_role(services: RolloutServices, endpoint: str, current: dict[str, Any] | None) -> str:
    """The stack's SageMaker execution role, else the one the production model already runs with."""
    production_roles = [v.get("execution_role_arn") for v in (current or {}).get("variants", [])]
    role = services.execution_role_arn or next((r for r in production_roles if r), "")
    if not role:
        raise RolloutRefused(
            f"endpoint {endpoint} does not exist yet and the stack has no SageMaker execution role: set the "
            "SageMakerExecutionRoleArn parameter (the role SageMaker assumes to pull the image and model)"
        )
    return str(role)


def _start_first_deployment(
    services: RolloutServices, state: dict[str, Any], first: FirstDeploymentPlan, now: datetime
) -> dict[str, Any]:
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    services.rollouts.update_rollout(
        endpoint,
        rollout_id,
        {"status": "DEPLOYING", "plan": first.to_dict(), "mode": "first", "warnings": first.warnings},
    )
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "started",
        f"first deployment: endpoint {endpoint} does not exist yet; {first.variant_name} at 100 %",
        notify="STARTED",
        warnings=first.warnings or None,
    )
    return {**state, "mode": "first", "phase": "first"}


def _refuse_while_a_user_alarm_fires(services: RolloutServices, plan: RolloutPlan) -> None:
    user_alarms = [name for name in plan.alarm_names if name not in auto_alarm_names(plan)]
    firing = services.alarms.firing(user_alarms)
    if firing:
        first_alarm = firing[0]
        raise RolloutRefused(
            f"alarm {first_alarm.name} is already in ALARM ({first_alarm.reason}); a firing alarm would "
            "abort any rollout, including a fix: resolve it (or remove it from deploy.json) and upload again"
        )


def _start_canary(
    services: RolloutServices,
    state: dict[str, Any],
    rollout: dict[str, Any],
    plan: RolloutPlan,
    now: datetime,
) -> dict[str, Any]:
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    services.rollouts.update_rollout(
        endpoint,
        rollout_id,
        {
            "status": "STARTING",
            "plan": plan.to_dict(),
            "mode": "rollout",
            "warnings": plan.warnings,
            "baseline_config": plan.names.baseline_config,
        },
    )
    steps = ", ".join(f"{s.percent} %" for s in plan.steps)
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "started",
        f"canary of {rollout['version']} against {plan.names.baseline_variant}: steps {steps}, "
        f"bake {plan.bake_seconds} s each, alarms {', '.join(plan.alarm_names) or 'none'}",
        notify="STARTED",
        warnings=plan.warnings or None,
    )
    return {
        **state,
        "mode": "rollout",
        "phase": "rollout",
        "step_index": -1,
        "bake_seconds": max(1, plan.bake_seconds),  # Step Functions timeouts are >= 1 s
    }


def refused(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    reason = error_reason(state.get("error"))
    services.rollouts.update_rollout(endpoint, rollout_id, {"status": "REFUSED", "reason": reason})
    decide(services, endpoint, rollout_id, now, "refused", reason, notify="REFUSED")
    start_next_queued(services, endpoint, rollout_id, now)
    return state


def create_endpoint(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    rollout = load_rollout(services, state)
    plan = stored_first_deployment_plan(rollout)
    services.endpoints.create_model(plan.create_model)
    services.endpoints.create_endpoint_config(plan.endpoint_config)
    services.endpoints.create_endpoint(
        plan.endpoint, plan.endpoint_config_name, plan.create_endpoint.get("Tags", [])
    )
    decide(
        services,
        state["endpoint"],
        state["rollout_id"],
        now,
        "endpoint created",
        f"CreateEndpoint {plan.endpoint} with {plan.variant_name} at 100 %",
    )
    return {**state, "after": "created"}


def finish_first_deployment(
    services: RolloutServices, state: dict[str, Any], now: datetime
) -> dict[str, Any]:
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    plan = stored_first_deployment_plan(load_rollout(services, state))
    if plan.autoscaling:
        services.autoscaling.apply(
            plan.autoscaling.register_scalable_target, plan.autoscaling.put_scaling_policy
        )
    services.rollouts.update_rollout(
        endpoint, rollout_id, {"status": "DEPLOYED", "weights": {plan.variant_name: 100}}
    )
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "deployed",
        f"{plan.variant_name} serves 100 % of {endpoint}",
        notify="DEPLOYED",
        autoscaling=plan.autoscaling.resource_id if plan.autoscaling else None,
    )
    start_next_queued(services, endpoint, rollout_id, now)
    return state


def add_candidate(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The candidate's model and a config with the baseline unchanged plus the candidate at weight 0.
    An abort requested since Prepare (`sluice abort` while STARTING) ends the rollout before anything is
    created."""
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    rollout = load_rollout(services, state)
    raise_if_abort_requested(rollout)
    plan = stored_plan(rollout)
    services.endpoints.create_model(plan.create_model)
    services.endpoints.create_endpoint_config(plan.candidate_config)
    services.endpoints.update_endpoint(endpoint, plan.names.candidate_config)
    services.rollouts.update_rollout(
        endpoint, rollout_id, {"status": "UPDATING", "weights": plan_weights(plan, -1)}
    )
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "candidate added",
        f"UpdateEndpoint to {plan.names.candidate_config}: {plan.names.candidate_variant} at 0 %, "
        f"{plan.names.baseline_variant} unchanged",
        weights=plan_weights(plan, -1),
    )
    return {**state, "after": "candidate_added"}


def create_alarms(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The automatic alarms, once the candidate has joined. An abort requested while SageMaker added the
    candidate (its wait is not interrupted: see endpoint_check.abort_ends_the_wait) rolls back here,
    the moment the endpoint is InService, without arming alarms only to delete them."""
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    rollout = load_rollout(services, state)
    raise_if_abort_requested(rollout)
    plan = stored_plan(rollout)
    for request in plan.alarms:
        services.alarms.put_alarm(request)
    services.rollouts.own_alarms(plan.alarm_names, endpoint, rollout_id)
    existing = {alarm.name for alarm in services.alarms.states(plan.alarm_names)}
    missing = [name for name in plan.alarm_names if name not in existing]
    watched = [name for name in plan.alarm_names if name in existing]
    reason = f"watching {', '.join(watched) or 'no alarms'}"
    if missing:
        # A typo in deploy.json must not look like protection: say which names guard nothing.
        reason += f"; WARNING: no such alarm {', '.join(missing)} (it guards nothing)"
    decide(services, endpoint, rollout_id, now, "alarms armed", reason, missing_alarms=missing or None)
    return state
