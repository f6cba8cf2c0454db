"""Step Functions state transitions of a canary rollout: per step and per rollout, and on the rollback
path, each as a ratio to the least the state machine's definition allows.

What is counted: the `*StateEntered` events of the execution history (`get_execution_history`), one per
state the execution passes through, Choice, Wait, Succeed and Fail states included. That is what AWS
bills as state transitions for a Standard workflow, except that AWS also bills each Retry of a Task as a
transition: retries are counted separately (a TaskScheduled after the first within one state entry) and
shown in each figure's detail (`retries`); on these runs they are 0.

Attribution: an execution is cut at each `NextStep` (the task that reads the signals and sets a step's
weights): "setup" is everything before the first NextStep, "step i" runs from the i-th NextStep to the
next, and the last NextStep (which finds no step left and goes to Promote) starts "end". A step's
transitions are therefore its weights change, the wait for the endpoint, the alarm check and the bake.

The reference: the least a phase can take, derived from `statemachines/rollout.asl.json` by shortest
paths over its transitions (Next, Default, Choices, Catch) through the states the data decides (see
`Minimum`): a step is NextStep -> Bake -> the Bake's States.Timeout catch (a healthy bake times out)
-> NextStep (today NextStep, StepAction, ReadEndpoint, EndpointStatus, AfterInService, CheckAlarms,
Bake, Analyse, AfterAnalysis: 9), a rollout of k steps is setup (Prepare -> AddCandidate -> NextStep)
+ k steps + end (NextStep -> Promote -> Promoted), and the rollback path runs from the Bake's
Sluice.Abort catch to RolledBack. So a ratio of 1.0 is a rollout without a single extra poll; anything
above it is the ReadEndpoint/WaitForEndpoint loop, which the bench checks is the only source of extra
transitions (it raises otherwise).

The runs (the sandbox: moto server, the stack from template.yaml, real ASL and handlers, IAM enforced):
- "instant": endpoint updates applied at once, time compressed x100;
- "4 s updates": every UpdateEndpoint and weights change stays Updating 4 s (2 s with `quick`), at real
  time (time scale 1, as `make sandbox --update-seconds 4` runs; tests/e2e/test_rollouts.py::real_time):
  ReadEndpoint polls every 2 s within one invocation (budget 60 s), so seconds of Updating cost nothing;
- "100 s updates": time compressed x50 with 2 wall seconds of Updating per change, i.e. a fleet update
  of 100 declared seconds: past ReadEndpoint's one-minute budget, so the state machine's poll loop
  (WaitForEndpoint -> ReadEndpoint -> EndpointStatus, 3 transitions) runs once per change;
- the rollback: an alarm (`set_alarm_state` on the candidate's error alarm, delivered by EventBridge to
  AlarmStateFunction) during the first step's bake, counted from the Bake to RolledBack.

Asserted (raises when wrong): each promoted rollout SUCCEEDED with status PROMOTED, the candidate alone
at 100 %, its decision log's "weights set" exactly the steps; every phase passed through its minimal
path and entered nothing else but polling states; with instant and 4 s updates every phase at its
minimum; the rolled-back one FAILED in RolledBack with
status ROLLED_BACK, the baseline alone at 100 %, and the Bake left through Rollback. `quick`: 2 steps
instead of 4.
"""

from __future__ import annotations

import itertools
import json
import statistics
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from figures import Figure

from sluice.adapters.registry import from_item
from sluice.adapters.rollouts import log_pk, rollout_pk
from sluice_cli.sandbox.gaps.sagemaker_endpoint import UpdateEndpoint
from sluice_cli.sandbox.gaps.time_compression import TimeCompression
from sluice_cli.sandbox.seed import create_realtime_endpoint
from sluice_cli.sandbox.server import Sandbox, quiet_handler_output

GROUP = "step functions"
ASL = Path(__file__).resolve().parent.parent / "statemachines" / "rollout.asl.json"
ROLE = "arn:aws:iam::123456789012:role/sluice-bench"
TIME_SCALE = 0.01
POLLING = frozenset({"ReadEndpoint", "EndpointStatus", "WaitForEndpoint"})


# -- the least the definition allows -----------------------------------------------------------------
def successors(state: dict[str, Any]) -> list[str]:
    found = [state.get("Next"), state.get("Default")]
    found += [choice.get("Next") for choice in state.get("Choices", [])]
    found += [catch.get("Next") for catch in state.get("Catch", [])]
    return [name for name in found if name]


def shortest_path(states: dict[str, Any], start: str, goal: str) -> list[str]:
    """The fewest states entered from `start` to `goal`, both included (breadth first)."""
    came_from: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        name = queue.popleft()
        for following in successors(states[name]):
            if following == goal:
                path = [goal, name]
                while (previous := came_from[path[-1]]) is not None:
                    path.append(previous)
                return path[::-1]
            if following not in came_from:
                came_from[following] = name
                queue.append(following)
    raise ValueError(f"no path from {start} to {goal} in {ASL.name}")


def path_through(states: dict[str, Any], *waypoints: str) -> list[str]:
    """The shortest path visiting `waypoints` in order, all included."""
    path = [waypoints[0]]
    for start, goal in itertools.pairwise(waypoints):
        path += shortest_path(states, start, goal)[1:]
    return path


def caught(state: dict[str, Any], error: str) -> str:
    (target,) = [c["Next"] for c in state.get("Catch", []) if error in c["ErrorEquals"]]
    return str(target)


@dataclass(frozen=True)
class Minimum:
    """The least state transitions per phase, and the states of each such path.

    Where the execution's data decides a Choice the graph cannot evaluate, the path names the state the
    data leads to: AddCandidate (the endpoint exists), Promote (no step left), and the Bake's catches
    (States.Timeout: the bake passed; Sluice.Abort: an alarm). The rest is the shortest path."""

    setup: list[str]  # Prepare .. the state before the first NextStep
    step: list[str]  # NextStep .. the state before the next NextStep, through a bake that passed
    end: list[str]  # the last NextStep .. Promoted
    rollback: list[str]  # after the Bake .. RolledBack

    @classmethod
    def of(cls, definition: dict[str, Any]) -> Minimum:
        states = definition["States"]
        passed, aborted = caught(states["Bake"], "States.Timeout"), caught(states["Bake"], "Sluice.Abort")
        return cls(
            setup=path_through(states, definition["StartAt"], "AddCandidate", "NextStep")[:-1],
            step=path_through(states, "NextStep", "Bake", passed, "NextStep")[:-1],
            end=path_through(states, "NextStep", "Promote", "Promoted"),
            rollback=path_through(states, aborted, "RolledBack"),
        )

    def rollout(self, steps: int) -> int:
        return len(self.setup) + steps * len(self.step) + len(self.end)


# -- reading an execution ----------------------------------------------------------------------------
@dataclass(frozen=True)
class History:
    entered: list[str]  # the states entered, in order
    retries: int

    @classmethod
    def read(cls, sandbox: Sandbox, execution_arn: str) -> History:
        sfn = sandbox.client("stepfunctions")
        events = [
            event
            for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
            for event in page["events"]
        ]
        entered, retries, scheduled = [], 0, 0
        for event in events:
            if event["type"].endswith("StateEntered"):
                entered.append(str(event["stateEnteredEventDetails"]["name"]))
                scheduled = 0
            elif event["type"] in ("TaskScheduled", "LambdaFunctionScheduled"):
                retries += scheduled > 0
                scheduled += 1
        return cls(entered, retries)

    def phases(self) -> list[tuple[str, list[str]]]:
        """[("setup", states), ("step 1", states), ..., ("end", states)] as the docstring cuts them."""
        cut = [i for i, name in enumerate(self.entered) if name == "NextStep"]
        bounds = [0, *cut, len(self.entered)]
        phases = [("setup", self.entered[: bounds[1]])]
        for n, (start, stop) in enumerate(itertools.pairwise(bounds[1:]), start=1):
            phases.append((f"step {n}", self.entered[start:stop]))
        if len(phases) > 1 and "Bake" not in phases[-1][1]:
            phases[-1] = ("end", phases[-1][1])
        return phases


def extra_states(seen: list[str], minimum: list[str]) -> Counter[str]:
    """What a phase entered beyond its minimal path; raises when a state of that path is missing."""
    missing = Counter(minimum) - Counter(seen)
    if missing:
        raise AssertionError(f"phase {seen} lacks {dict(missing)} of its minimal path {minimum}")
    return Counter(seen) - Counter(minimum)


# -- driving rollouts --------------------------------------------------------------------------------
class Rollouts:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.bucket = sandbox.outputs.outputs["ArtifactBucketName"]
        self.table = sandbox.outputs.outputs["RegistryTableName"]
        self.count = 0

    def start(self, steps: list[int], bake_seconds: int) -> str:
        """A fresh endpoint at v1 and a v2 upload with that rollout; returns the endpoint."""
        self.count += 1
        endpoint = f"bench-sfn-{self.count}"
        create_realtime_endpoint(self.sandbox, self.bucket, endpoint, autoscaling=False)
        s3 = self.sandbox.client("s3")
        # The state machine's own transitions, without traffic: no canary analysis (each of its looks
        # adds one Bake -> Analyse -> AfterAnalysis round, 3 transitions a minute of a split step's bake).
        config = {
            "rollout": {
                "steps": steps,
                "bake_seconds": bake_seconds,
                "analysis": None,
                "on_insufficient_data": "continue",
            }
        }
        s3.put_object(
            Bucket=self.bucket, Key=f"endpoints/{endpoint}/deploy.json", Body=json.dumps(config).encode()
        )
        s3.put_object(Bucket=self.bucket, Key=f"endpoints/{endpoint}/v2/model.tar.gz", Body=archive(endpoint))
        return endpoint

    def items(self, pk: str) -> list[dict[str, Any]]:
        found = self.sandbox.client("dynamodb").query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ConsistentRead=True,
        )["Items"]
        return [from_item(item) for item in found]

    def rollout(self, endpoint: str) -> dict[str, Any] | None:
        found = self.items(rollout_pk(endpoint))
        return found[-1] if found else None

    def wait_for(self, endpoint: str, field: str, wanted: Any = None, timeout: float = 120.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rollout = self.rollout(endpoint) or {}
            if rollout.get(field) is not None and (wanted is None or rollout[field] == wanted):
                return rollout[field]
            time.sleep(0.02)
        raise TimeoutError(f"{endpoint}: rollout {field} not {wanted or 'set'}: {self.rollout(endpoint)}")

    def finish(self, endpoint: str, timeout: float = 180.0) -> tuple[dict[str, Any], dict[str, Any]]:
        """(DescribeExecution, the rollout record) once the execution ended."""
        arn = self.wait_for(endpoint, "execution_arn", timeout=timeout)
        described = self.sandbox.wait_for_execution(arn, timeout=timeout)
        return described, self.rollout(endpoint) or {}

    def variants(self, endpoint: str) -> dict[str, float | None]:
        described = self.sandbox.client("sagemaker").describe_endpoint(EndpointName=endpoint)
        return {v["VariantName"]: v.get("CurrentWeight") for v in described["ProductionVariants"]}

    def weights_set(self, endpoint: str, rollout_id: str) -> list[Any]:
        log = self.items(log_pk(endpoint, rollout_id))
        return [entry.get("weights") for entry in log if entry.get("event") == "weights set"]


def archive(tag: str) -> bytes:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        body = tag.encode()
        info = tarfile.TarInfo("model.pth")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


@contextmanager
def clock(sandbox: Sandbox, time_scale: float, update_seconds: float) -> Iterator[None]:
    """The running sandbox at `time_scale` with endpoint updates Updating `update_seconds` (wall)."""
    compression, updates = sandbox.gaps.get(TimeCompression), sandbox.gaps.get(UpdateEndpoint)
    saved = compression.time_scale, updates.update_delay_seconds
    compression.time_scale, updates.update_delay_seconds = time_scale, update_seconds
    try:
        yield
    finally:
        compression.time_scale, updates.update_delay_seconds = saved


# -- the runs ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mode:
    label: str  # "instant", "4 s updates", ...
    time_scale: float
    update_seconds: float  # wall
    bake_seconds: int  # declared
    at_minimum: bool  # every phase must be at its minimum

    @property
    def declared_update_seconds(self) -> float:
        return self.update_seconds / self.time_scale


def modes(quick: bool) -> tuple[Mode, ...]:
    real_time = 2.0 if quick else 4.0
    return (
        Mode("instant endpoint updates", TIME_SCALE, 0.0, 60, at_minimum=True),
        Mode(f"{real_time:.0f} s endpoint updates (real time)", 1.0, real_time, 1, at_minimum=True),
        # 2 wall seconds at x50 = 100 declared seconds: past one ReadEndpoint budget (60 s, 1.2 wall
        # seconds), well within two (an invocation's overhead included), so one WaitForEndpoint loop each
        Mode("100 s endpoint updates (compressed x50)", 0.02, 2.0, 60, at_minimum=False),
    )


def promoted(rollouts: Rollouts, minimum: Minimum, steps: list[int], mode: Mode) -> list[Figure]:
    with clock(rollouts.sandbox, mode.time_scale, mode.update_seconds):
        started = time.monotonic()
        endpoint = rollouts.start(steps, mode.bake_seconds)
        described, rollout = rollouts.finish(endpoint)
        seconds = time.monotonic() - started
    if (described["status"], rollout.get("status")) != ("SUCCEEDED", "PROMOTED"):
        raise AssertionError(f"{endpoint} ({mode.label}): {described['status']}, {rollout}")
    if rollouts.variants(endpoint) != {"v2": 1.0}:
        raise AssertionError(f"{endpoint}: variants {rollouts.variants(endpoint)} after promotion")
    weights = rollouts.weights_set(endpoint, rollout["rollout_id"])
    if weights != [{"v2": p, "v1": 100 - p} for p in steps]:
        raise AssertionError(f"{endpoint}: weights set {weights} for steps {steps}")

    history = History.read(rollouts.sandbox, described["executionArn"])
    phases = history.phases()
    names = [name for name, _ in phases]
    if names != ["setup", *[f"step {n}" for n in range(1, len(steps) + 1)], "end"]:
        raise AssertionError(f"{endpoint}: phases {names} for {len(steps)} steps")
    extras: dict[str, dict[str, int]] = {}
    for name, seen in phases:
        least = minimum.setup if name == "setup" else minimum.end if name == "end" else minimum.step
        extra = extra_states(seen, least)
        if set(extra) - POLLING or (mode.at_minimum and extra):
            raise AssertionError(f"{endpoint} ({mode.label}): {name} entered {dict(extra)} beyond {least}")
        extras[name] = dict(extra)
    per_step = [len(seen) for name, seen in phases if name.startswith("step")]
    detail = {
        "steps": steps,
        "phases": {name: len(seen) for name, seen in phases},
        "beyond_minimum": {name: extra for name, extra in extras.items() if extra},
        "retries": history.retries,
        "declared_update_seconds": mode.declared_update_seconds,
        "time_scale": mode.time_scale,
        "wall_seconds": round(seconds, 1),
    }
    return [
        Figure(
            group=GROUP,
            name=f"transitions per canary step, {mode.label}",
            value=statistics.mean(per_step),
            unit="transitions",
            reference="least per step (rollout.asl.json)",
            reference_value=len(minimum.step),
            detail={**detail, "per_step": per_step, "least_path": minimum.step},
        ),
        Figure(
            group=GROUP,
            name=f"transitions per {len(steps)}-step rollout to PROMOTED, {mode.label}",
            value=len(history.entered),
            unit="transitions",
            reference="least per rollout (rollout.asl.json)",
            reference_value=minimum.rollout(len(steps)),
            detail=detail,
        ),
    ]


def rolled_back(rollouts: Rollouts, minimum: Minimum, steps: list[int]) -> Figure:
    """An alarm during the first step's bake: the transitions from that Bake to RolledBack."""
    sandbox = rollouts.sandbox
    with clock(sandbox, TIME_SCALE, 0.0):
        endpoint = rollouts.start(steps, 3600)
        rollouts.wait_for(endpoint, "status", "BAKING")
        sandbox.client("cloudwatch").set_alarm_state(
            AlarmName=f"sluice-{endpoint}-v2-errors", StateValue="ALARM", StateReason="bench: error rate 9 %"
        )
        described, rollout = rollouts.finish(endpoint)
    if (described["status"], rollout.get("status")) != ("FAILED", "ROLLED_BACK"):
        raise AssertionError(f"{endpoint}: {described['status']}, {rollout}")
    if rollouts.variants(endpoint) != {"v1": 100.0}:
        raise AssertionError(f"{endpoint}: variants {rollouts.variants(endpoint)} after the rollback")
    history = History.read(sandbox, described["executionArn"])
    bake = len(history.entered) - 1 - history.entered[::-1].index("Bake")
    path = history.entered[bake + 1 :]
    if history.entered.count("Bake") != 1 or path[:1] != ["Rollback"] or path[-1:] != ["RolledBack"]:
        raise AssertionError(f"{endpoint}: the rollback path is {path} in {history.entered}")
    extra = extra_states(path, minimum.rollback)
    if extra:
        raise AssertionError(f"{endpoint}: the rollback entered {dict(extra)} beyond {minimum.rollback}")
    return Figure(
        group=GROUP,
        name="transitions from an alarm in a bake to RolledBack, instant endpoint updates",
        value=len(path),
        unit="transitions",
        reference="least from the Bake's abort catch (rollout.asl.json)",
        reference_value=len(minimum.rollback),
        detail={"path": path, "execution_total": len(history.entered), "retries": history.retries},
    )


def run(quick: bool = False) -> list[Figure]:
    minimum = Minimum.of(json.loads(ASL.read_text()))
    steps = [50, 100] if quick else [10, 25, 50, 100]
    parameters = {"SageMakerExecutionRoleArn": ROLE, "LogLevel": "ERROR"}
    figures: list[Figure] = []
    with quiet_handler_output(True), Sandbox(time_scale=TIME_SCALE, parameters=parameters) as sandbox:
        rollouts = Rollouts(sandbox)
        for mode in modes(quick):
            figures += promoted(rollouts, minimum, steps, mode)
        figures.append(rolled_back(rollouts, minimum, steps))
    return figures


if __name__ == "__main__":
    from figures import table

    print(table(run(quick=True)))
