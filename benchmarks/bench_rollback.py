"""Alarm → 100 % baseline at real time, alarms fired at random moments across every phase of a rollout.

Starts the sandbox in-process as `make sandbox` serves it (time scale 1: Step Functions' waits and the
functions' own are real seconds; the real ASL and handlers; IAM enforced), with SageMaker endpoint
updates that stay Updating (`--update-seconds` UPDATE_SECONDS for a change of instances,
`--weights-update-seconds` WEIGHTS_UPDATE_SECONDS for a weights-only change). Each rollout watches a
user alarm listed in its deploy.json, which the bench sets to ALARM (`set_alarm_state`, which the
sandbox turns into EventBridge's "CloudWatch Alarm State Change", as CloudWatch does) at a random
moment of one phase:

- adding: SageMaker is adding the candidate (AddCandidate's UpdateEndpoint, candidate at 0 %);
- shifting: a step's weights are being applied (the endpoint Updating);
- baking: during a step's bake;
- paused: paused at a step boundary (`sluice pause`);
- approval: awaiting `sluice promote` before the last step.

Measured per rollout: from the alarm to the rollback's weights call being accepted (DescribeEndpoint:
the baseline's DesiredWeight 100). While the endpoint is Updating SageMaker refuses every update, so
for adding/shifting the figure is from the moment the endpoint is InService again (the goal: within
2 s); for the others from the alarm (goal: p95 within 2 s). p50 / p95 / max per phase.

Reference, same run: one UpdateEndpointWeightsAndCapacities + DescribeEndpoint round trip against the
same emulator (an endpoint whose updates are instant): the least any rollback costs.
"""

from __future__ import annotations

import json
import logging
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from figures import Figure, percentile

from sluice_cli.sandbox.demo.uploads import model_archive
from sluice_cli.sandbox.gaps.sagemaker_endpoint import UpdateEndpoint
from sluice_cli.sandbox.seed import create_realtime_endpoint
from sluice_cli.sandbox.server import Sandbox, quiet_handler_output

ROLE = "arn:aws:iam::123456789012:role/sluice-bench"
PHASES = ("adding", "shifting", "baking", "paused", "approval")
UPDATING_PHASES = ("adding", "shifting")
ROLLOUTS_PER_PHASE = 4  # 20 rollouts
UPDATE_SECONDS = 6.0
WEIGHTS_UPDATE_SECONDS = 3.0
GOAL_SECONDS = 2.0


@dataclass(frozen=True)
class Sample:
    phase: str
    seconds: float  # alarm (or InService again, for the Updating phases) -> baseline weight 100 accepted
    from_alarm: float  # alarm -> baseline weight 100 accepted
    ended: float  # alarm -> the rollout ROLLED_BACK (baseline config restored, candidate removed)
    execution_arn: str


class Bench:
    def __init__(self, sandbox: Sandbox, rng: random.Random) -> None:
        self.sandbox, self.rng = sandbox, rng
        outputs = sandbox.outputs.outputs
        self.bucket, self.table = outputs["ArtifactBucketName"], outputs["RegistryTableName"]
        self.sm, self.cw = sandbox.client("sagemaker"), sandbox.client("cloudwatch")

    # -- reading -----------------------------------------------------------------------------------
    def rollout(self, endpoint: str) -> dict[str, Any]:
        items = self.sandbox.client("dynamodb").query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"rollout#{endpoint}"}},
            ConsistentRead=True,
        )["Items"]
        if not items:
            return {}
        item = items[-1]
        return {key: next(iter(value.values())) for key, value in item.items()}

    def described(self, endpoint: str) -> dict[str, Any]:
        return dict(self.sm.describe_endpoint(EndpointName=endpoint))

    def baseline_back(self, endpoint: str) -> bool:
        """The rollback's weights call was accepted: the candidate is there (it is removed only after)
        and the baseline's DesiredWeight is 100. (While SageMaker adds the candidate DescribeEndpoint
        shows the baseline alone: that is not a rollback.)"""
        variants = self.described(endpoint)["ProductionVariants"]
        weights = {v["VariantName"]: v.get("DesiredWeight") for v in variants}
        return "v2" in weights and weights.get("v1") == 100.0

    def settled(self, endpoint: str) -> bool:
        """The update under way is over: InService with the candidate joined, or already taking the
        rollback's call."""
        described = self.described(endpoint)
        joined = any(v["VariantName"] == "v2" for v in described["ProductionVariants"])
        return (described["EndpointStatus"] == "InService" and joined) or self.baseline_back(endpoint)

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = 120.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return time.monotonic()
            time.sleep(0.01)
        raise TimeoutError(f"timed out waiting for {what}")

    # -- acting ------------------------------------------------------------------------------------
    def sluice(self, *args: str) -> None:
        from typer.testing import CliRunner

        from sluice_cli.main import app

        options = ["--endpoint-url", self.sandbox.endpoint_url, "--table", self.table]
        result = CliRunner().invoke(app, [*options, *args], env={"SLUICE_TOPIC_ARN": None})
        if result.exit_code != 0:
            raise RuntimeError(f"sluice {' '.join(args)}: {result.output}")

    def start(self, index: int, phase: str) -> tuple[str, str]:
        name = f"rb{index}-{phase}"
        endpoint = create_realtime_endpoint(self.sandbox, self.bucket, name, autoscaling=False)
        guard = f"{endpoint}-guard"
        self.cw.put_metric_alarm(
            AlarmName=guard,
            Namespace="Bench",
            MetricName="Errors",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1.0,
            ComparisonOperator="GreaterThanThreshold",
        )
        self.cw.set_alarm_state(AlarmName=guard, StateValue="OK", StateReason="bench: quiet")
        waits_for_a_human = phase in ("paused", "approval")
        rollout = {
            "steps": [25, 50, 100],
            "bake_seconds": 2 if waits_for_a_human else 3600,
            "alarms": [guard],
            "auto_alarms": None,
            "manual_approval": phase == "approval",
        }
        s3 = self.sandbox.client("s3")
        s3.put_object(
            Bucket=self.bucket,
            Key=f"endpoints/{endpoint}/v2/deploy.json",
            Body=json.dumps({"rollout": rollout}).encode(),
        )
        s3.put_object(
            Bucket=self.bucket, Key=f"endpoints/{endpoint}/v2/model.tar.gz", Body=model_archive(endpoint)
        )
        return endpoint, guard

    def reach(self, endpoint: str, phase: str) -> None:
        def status() -> str:
            return str(self.rollout(endpoint).get("status"))

        def updating() -> bool:
            return bool(self.described(endpoint)["EndpointStatus"] == "Updating")

        if phase == "adding":
            self.wait(lambda: status() == "UPDATING" and updating(), "the candidate being added")
            time.sleep(self.rng.uniform(0, UPDATE_SECONDS * 0.6))
        elif phase == "shifting":
            self.wait(lambda: status() == "SHIFTING" and updating(), "a step's weights being applied")
            time.sleep(self.rng.uniform(0, WEIGHTS_UPDATE_SECONDS * 0.6))
        elif phase == "baking":
            self.wait(lambda: status() == "BAKING", "the bake")
            time.sleep(self.rng.uniform(0, 2.0))
        elif phase == "paused":
            self.wait(lambda: status() == "BAKING", "the bake")
            self.sluice("pause", endpoint, "--by", "bench")
            self.wait(lambda: status() == "PAUSED", "the pause")
            time.sleep(self.rng.uniform(0, 2.0))
        else:
            self.wait(lambda: status() == "AWAITING_APPROVAL", "the approval wait")
            time.sleep(self.rng.uniform(0, 2.0))

    def one(self, index: int, phase: str) -> Sample:
        endpoint, guard = self.start(index, phase)
        self.reach(endpoint, phase)
        was_updating = self.described(endpoint)["EndpointStatus"] == "Updating"
        fired = time.monotonic()
        self.cw.set_alarm_state(AlarmName=guard, StateValue="ALARM", StateReason="bench: error spike")
        in_service = fired
        if was_updating:
            in_service = self.wait(lambda: self.settled(endpoint), "InService again")
        back = self.wait(lambda: self.baseline_back(endpoint), "the baseline at 100 %")
        ended = self.wait(
            lambda: self.rollout(endpoint).get("status") == "ROLLED_BACK", "ROLLED_BACK", timeout=180
        )
        variants = self.described(endpoint)["ProductionVariants"]
        if [(v["VariantName"], v.get("CurrentWeight")) for v in variants] != [("v1", 100.0)]:
            raise AssertionError(f"{endpoint}: rolled back to {variants}")
        arn = str(self.rollout(endpoint)["execution_arn"])
        return Sample(phase, back - in_service, back - fired, ended - fired, arn)

    def reference(self) -> float:
        """One weights call + DescribeEndpoint on an endpoint of the same emulator, updates instant."""
        updates = self.sandbox.gaps.get(UpdateEndpoint)
        saved = updates.update_delay_seconds, updates.weights_update_delay_seconds
        updates.update_delay_seconds, updates.weights_update_delay_seconds = 0.0, None
        endpoint = create_realtime_endpoint(self.sandbox, self.bucket, "rb-reference", autoscaling=False)
        timings = []
        try:
            for _ in range(20):
                started = time.perf_counter()
                self.sm.update_endpoint_weights_and_capacities(
                    EndpointName=endpoint,
                    DesiredWeightsAndCapacities=[{"VariantName": "v1", "DesiredWeight": 100.0}],
                )
                self.described(endpoint)
                timings.append(time.perf_counter() - started)
        finally:
            updates.update_delay_seconds, updates.weights_update_delay_seconds = saved
        return statistics.median(timings)


def run(quick: bool = False) -> list[Figure]:
    # A rollback meets "Cannot update in-progress endpoint" on purpose; the router's warnings for those
    # retried task failures would bury the figures.
    logging.getLogger("sluice_cli.sandbox.router").setLevel(logging.ERROR)
    rng = random.Random(20261206)  # noqa: S311 - reproducible moments, not secrets
    per_phase = 1 if quick else ROLLOUTS_PER_PHASE
    order = [phase for phase in PHASES for _ in range(per_phase)]
    rng.shuffle(order)
    parameters = {"SageMakerExecutionRoleArn": ROLE, "LogLevel": "ERROR"}
    with (
        quiet_handler_output(True),
        Sandbox(
            time_scale=1.0,
            parameters=parameters,
            endpoint_update_delay_seconds=UPDATE_SECONDS,
            endpoint_weights_update_delay_seconds=WEIGHTS_UPDATE_SECONDS,
        ) as sandbox,
    ):
        bench = Bench(sandbox, rng)
        samples = []
        for index, phase in enumerate(order):
            sample = bench.one(index, phase)
            print(f"   {index + 1:2}/{len(order)} {phase:9} {sample.seconds:6.2f} s", flush=True)
            samples.append(sample)
        reference = bench.reference()
    return figures(samples, reference)


def figures(samples: list[Sample], reference: float) -> list[Figure]:
    result = []
    for phase in PHASES:
        seconds = [s.seconds for s in samples if s.phase == phase]
        if not seconds:
            continue
        since = "InService again" if phase in UPDATING_PHASES else "alarm"
        for label, q in (("p50", 50.0), ("p95", 95.0), ("max", 100.0)):
            value = percentile(seconds, q)
            result.append(
                Figure(
                    group="rollback (real time)",
                    name=f"{phase}: {since} -> baseline 100 % {label}",
                    value=value,
                    unit="s",
                    reference="one weights round trip",
                    reference_value=reference,
                    goal=f"<= {GOAL_SECONDS:g} s" if label == "p95" else "",
                    met=value <= GOAL_SECONDS if label == "p95" else None,
                    detail={
                        "samples": seconds,
                        "from_alarm": [s.from_alarm for s in samples if s.phase == phase],
                        "update_seconds": UPDATE_SECONDS,
                        "weights_update_seconds": WEIGHTS_UPDATE_SECONDS,
                    },
                )
            )
    ended = [s.ended for s in samples]
    for label, q in (("p50", 50.0), ("max", 100.0)):
        result.append(
            Figure(
                group="rollback (real time)",
                name=f"all phases: alarm -> ROLLED_BACK (config restored) {label}",
                value=percentile(ended, q),
                unit="s",
                # the floor: a rollback sits through its weights update and its config update
                reference=f"the 2 updates' Updating ({WEIGHTS_UPDATE_SECONDS:g} s + {UPDATE_SECONDS:g} s)",
                reference_value=UPDATE_SECONDS + WEIGHTS_UPDATE_SECONDS,
                detail={"samples": ended, "phases": [s.phase for s in samples]},
            )
        )
    return result


if __name__ == "__main__":
    from figures import table

    print(table(run()))
