"""The payload statemachines/rollout.asl.json sends the RolloutStepFunction: {"action", "state", "token"?},
with the execution's state ($) as a declared model (every `$.field` the ASL reads or writes is a field)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel


class CaughtError(BaseModel):
    """A Catch's result (ResultPath $.error): Step Functions' {"Error", "Cause"}."""

    model_config = ConfigDict(extra="allow")

    Error: str
    Cause: str | None = None


class EndpointStatus(BaseModel):
    """read_endpoint's answer ($.endpoint_state): EndpointStatus, and whether what the last action asked
    for has applied (EndpointStatus Choice reads `outcome`)."""

    model_config = ConfigDict(extra="allow")

    status: str
    outcome: Literal["ready", "waiting", "failed"] | None = None
    reason: str | None = None


class WaitAnswer(BaseModel):
    """The SendTaskSuccess output a wait ends with (ResultPath $.signal), e.g. {"action": "promote"}."""

    model_config = ConfigDict(extra="allow")

    action: str | None = None


class AnalysisNext(BaseModel):
    """Analyse's answer ($.analysis): where AfterAnalysis goes."""

    model_config = ConfigDict(extra="allow")

    next: Literal["bake", "next_step", "hold"]


class RolloutState(BaseModel):
    """The execution's state: its input (rollout_id, endpoint, version) and what the actions and the ASL
    add. Keys not declared here are kept as they are (the actions return the state they were given)."""

    model_config = ConfigDict(extra="allow")

    rollout_id: str
    endpoint: str
    version: str | None = None
    mode: Literal["first", "rollout"] | None = None  # IsFirstDeployment
    phase: Literal["first", "rollout", "promote", "rollback"] | None = None  # EndpointUnreadable
    after: Literal["created", "candidate_added", "weights_set", "promoted", "rolled_back"] | None = None
    action: Literal["wait", "promote", "pause", "approve"] | None = None  # StepAction (next_step's answer)
    step_index: int | None = None
    bake_seconds: int | None = None  # the step's bake (deploy.json)
    wait_seconds: int | None = None  # Bake's TimeoutSecondsPath: this wait of the bake
    baked_seconds: int | None = None  # the waits of this step's bake so far
    bake_started_at: str | None = None  # the analysis window's start
    analysis_looks: int | None = None  # looks judged so far in the rollout (alpha spending)
    extended_step: int | None = None  # the step whose bake was extended
    analysis: AnalysisNext | None = None  # AfterAnalysis reads `next`
    weights: dict[str, int | float] | None = None
    endpoint_state: EndpointStatus | None = None
    signal: WaitAnswer | None = None
    error: CaughtError | None = None


class ActionTask(BaseModel):
    """A Task state that runs one action on the state and returns the state updated (OutputPath $.Payload)."""

    action: Literal[
        "prepare",
        "refused",
        "create_endpoint",
        "finish_first_deployment",
        "add_candidate",
        "create_alarms",
        "next_step",
        "check_alarms",
        "analyse",
        "promote",
        "finish_promotion",
        "rollback_weights",
        "rollback_config",
        "finish_rollback",
        "read_endpoint",
        "endpoint_unhealthy",
        "needs_attention",
    ]
    state: RolloutState
    token: str | None = None


class WaitTask(BaseModel):
    """A `.waitForTaskToken` Task state: the action stores the token that a signal answers."""

    action: Literal["bake", "pause", "await_approval"]
    state: RolloutState
    token: str


RolloutStepTask = Annotated[ActionTask | WaitTask, Field(discriminator="action")]


class RolloutStepEvent(RootModel[RolloutStepTask]):
    """The whole payload as one model class (the handler validates it with `model_validate`)."""


def state_dict(state: RolloutState) -> dict[str, Any]:
    """The state as the actions take it: exactly the keys the execution sent (none added by defaults)."""
    return state.model_dump(mode="json", exclude_unset=True)
