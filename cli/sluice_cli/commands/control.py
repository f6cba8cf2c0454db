"""`sluice promote | abort | pause | resume <endpoint>`: the operator's signals to the active rollout;
`sluice resolve <endpoint>`: hand on the endpoint of a rollout that NEEDS_ATTENTION.

Each signal calls the domain's own signal function (`request_promote`, `request_abort`,
`request_pause`), the very code the alarm handler runs, over the Lambdas' adapters given the CLI's
clients: one DynamoDB UpdateItem on the rollout item (ReturnValues ALL_NEW), then, when a wait token is
stored, `states:SendTaskSuccess` / `SendTaskFailure` with it. `resolve` calls the domain's `resolve`
the same way. Nothing here re-implements a signal or a resolution.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from sluice.adapters.autoscaling import AutoscalingGateway
from sluice.adapters.clients import error_code, error_message
from sluice.adapters.cloudwatch import AlarmGateway
from sluice.adapters.rollouts import RolloutStore
from sluice.adapters.sagemaker import EndpointGateway
from sluice.adapters.stepfunctions import StepFunctionsGateway
from sluice.domain.artifact import ArchiveLimits
from sluice.domain.rollout.resolve import cancel_queued_version, needing_attention, state_machine_of
from sluice.domain.rollout.resolve import resolve as resolve_rollout
from sluice.domain.rollout.services import RolloutServices
from sluice.domain.rollout.signals import active_rollout, request_abort, request_pause, request_promote
from sluice.domain.rollout.status import ACTIVE
from sluice.errors import NotResolvable
from sluice_cli.commands.context import (
    EXIT_NOT_FOUND,
    TOPIC_ENV,
    TOPIC_OUTPUT,
    CliContext,
    CliError,
    ConfigError,
    NotFound,
    handle_errors,
)
from sluice_cli.commands.output import emit_json, error_console, say

EVENT_SOURCE = "sluice"  # as the Lambdas' Notifier (sluice.adapters.notifications)
EVENT_BUS = "default"  # the stack's EVENT_BUS_NAME
STATE_MACHINE_OUTPUT = "RolloutStateMachineArn"  # template.yaml Outputs

# -- the services the signals run on ----------------------------------------------------------------


class NotUsedBySignals:
    """A port the signals never touch (S3 objects, SageMaker endpoints): the Lambdas' adapters for them
    read clients from the Lambda environment, which the CLI must not use. Any use fails loudly."""

    def __init__(self, port: str) -> None:
        self._port = port

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"the CLI's rollout signals do not use the {self._port} port ({name})")


@dataclass
class TopicNotifier:
    """NotifierPort on the CLI's clients: like the Lambdas' Notifier, SNS (the stack's topic) plus an
    EventBridge event on the default bus. Without a topic it publishes nothing. A publish that fails is
    reported, never fatal: the signal it follows has been applied already."""

    topic_arn: str | None
    sns: Any = None
    events: Any = None
    published: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def notify(self, detail_type: str, detail: dict[str, Any], *, subject: str) -> None:
        if not self.topic_arn:
            return
        from botocore.exceptions import BotoCoreError, ClientError

        body = json.dumps(detail, default=str, sort_keys=True)
        status = str(detail.get("status", "-"))
        try:
            self.sns.publish(
                TopicArn=self.topic_arn,
                Subject=subject[:100],
                Message=body,
                MessageAttributes={
                    "detail_type": {"DataType": "String", "StringValue": detail_type},
                    "status": {"DataType": "String", "StringValue": status},
                },
            )
            response = self.events.put_events(
                Entries=[
                    {
                        "Source": EVENT_SOURCE,
                        "DetailType": detail_type,
                        "Detail": body,
                        "EventBusName": EVENT_BUS,
                    }
                ]
            )
            if response.get("FailedEntryCount"):
                raise RuntimeError(f"EventBridge refused the event: {response.get('Entries')}")
        except ClientError as exc:
            self.problems.append(
                f"{detail_type} {status} not published: {error_code(exc)}: {error_message(exc)}"
            )
            return
        except (BotoCoreError, RuntimeError) as exc:
            self.problems.append(f"{detail_type} {status} not published: {exc}")
            return
        self.published.append(f"{detail_type} {status}")

    def summary(self) -> dict[str, Any]:
        """For a command's JSON report."""
        return {"topic": self.topic_arn, "published": self.published, "problems": self.problems}

    def warn_problems(self) -> None:
        """Each publish that failed, as a warning on stderr (the command's action stands)."""
        for problem in self.problems:
            error_console().print(f"warning: {problem}", markup=False, highlight=False, soft_wrap=True)


@dataclass(frozen=True)
class Answer:
    call: str  # SendTaskSuccess / SendTaskFailure
    payload: str  # the output, or error: cause
    live: bool  # False: the token was stale (the wait had ended already)


class AnsweringStepFunctions(StepFunctionsGateway):
    """The Lambdas' gateway on the CLI's client, remembering which wait it answered (for the report)."""

    def __init__(self, sfn_client: Any) -> None:
        super().__init__(sfn_client)
        self.answers: list[Answer] = []

    def start(self, state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
        raise RuntimeError("the CLI never starts rollouts: uploads do")

    def succeed(self, token: str, output: dict[str, Any]) -> bool:
        live = super().succeed(token, output)
        self.answers.append(Answer("SendTaskSuccess", json.dumps(output), live))
        return live

    def fail(self, token: str, error: str, cause: str) -> bool:
        live = super().fail(token, error, cause)
        self.answers.append(Answer("SendTaskFailure", f"{error}: {cause}", live))
        return live


@dataclass
class SignalContext:
    services: RolloutServices
    workflow: AnsweringStepFunctions
    notifier: TopicNotifier


def signal_services(cli: CliContext, topic: str | None) -> SignalContext:
    """A RolloutServices for the signals: real adapters on the CLI's clients for what they use
    (rollouts, workflow, notifier; alarms and autoscaling too, as they accept a client), placeholders
    that refuse any use for the rest. No state machine ARN or role: the signals start nothing."""
    store = cli.rollout_store()
    workflow = AnsweringStepFunctions(cli.client("stepfunctions"))
    notifier = topic_notifier(cli, topic)
    services = RolloutServices(
        store=NotUsedBySignals("object store"),
        registry=store,
        notifier=notifier,
        rollouts=store,
        endpoints=NotUsedBySignals("SageMaker endpoint"),
        alarms=AlarmGateway(cli.client("cloudwatch")),
        autoscaling=AutoscalingGateway(cli.client("application-autoscaling")),
        workflow=workflow,
        state_machine_arn="",
        execution_role_arn="",
        allowed_registries=(),
        limits=ArchiveLimits(),
    )
    return SignalContext(services, workflow, notifier)


def topic_notifier(cli: CliContext, topic: str | None) -> TopicNotifier:
    """--topic, else $SLUICE_TOPIC_ARN (both arrive as `topic`), else the stack's output; else none."""
    topic_arn = topic or cli.stack_output(TOPIC_OUTPUT)
    return TopicNotifier(
        topic_arn,
        sns=cli.client("sns") if topic_arn else None,
        events=cli.client("events") if topic_arn else None,
    )


def resolve_services(
    cli: CliContext, notifier: TopicNotifier, store: RolloutStore, state_machine_arn: str
) -> RolloutServices:
    """A RolloutServices for `resolve`: like the signals', plus what handing the lease on needs - the
    SageMaker endpoint (is it in one piece?) and a Step Functions gateway that may start the queued
    version on the rollout state machine."""
    return RolloutServices(
        store=NotUsedBySignals("object store"),
        registry=store,
        notifier=notifier,
        rollouts=store,
        endpoints=EndpointGateway(cli.client("sagemaker")),
        alarms=AlarmGateway(cli.client("cloudwatch")),
        autoscaling=AutoscalingGateway(cli.client("application-autoscaling")),
        workflow=StepFunctionsGateway(cli.client("stepfunctions")),
        state_machine_arn=state_machine_arn,
        execution_role_arn="",
        allowed_registries=(),
        limits=ArchiveLimits(),
    )


class Unresolved(CliError):
    """`resolve` refused (the domain's NotResolvable): nothing was changed, the lease stays held."""

    exit_code = EXIT_NOT_FOUND


# -- shared options ---------------------------------------------------------------------------------


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in a bare container
        return "unknown"


EndpointArg = Annotated[
    str, typer.Argument(help="The endpoint whose active rollout to act on.", show_default=False)
]
ByOption = Annotated[
    str | None,
    typer.Option(
        "--by", help="Who acts, recorded with the signal (default: the OS user).", show_default=False
    ),
]
ReasonOption = Annotated[
    str | None,
    typer.Option("--reason", "-r", help="Why (recorded, shown by `sluice history`).", show_default=False),
]
TopicOption = Annotated[
    str | None,
    typer.Option(
        "--topic",
        envvar=TOPIC_ENV,
        help="SNS topic for the notification the signal sends (pause and resume notify; abort and promote "
        "are notified by the rollout itself when it rolls back or promotes). Default: the stack's output "
        "NotificationTopicArn. When no topic is found, nothing is published (the signal still applies). "
        "With a topic, an EventBridge event goes to the default bus too, as the Lambdas do.",
        show_default=False,
    ),
]


# -- the commands -----------------------------------------------------------------------------------


@handle_errors
def promote(
    ctx: typer.Context, endpoint: EndpointArg, by: ByOption = None, topic: TopicOption = None
) -> None:
    """Promote the active rollout now: skip the remaining steps, or approve the final one.

    During a bake (or while paused) the remaining steps are skipped and the candidate takes 100 %;
    a rollout with "manual_approval": true that waits at AWAITING_APPROVAL goes ahead.

    Plain API equivalent (registry table T, rollout id R of the active rollout):

      1. dynamodb UpdateItem  TableName=T  Key={pk: "rollout#<endpoint>", sk: "R"}
         UpdateExpression "SET promote_requested = :p, approved = :t"
         :p = {by: <you>, at: <ISO time>}, :t = true
         ConditionExpression "attribute_exists(pk)"  ReturnValues ALL_NEW

      2. if the returned item holds wait_token:
         states SendTaskSuccess  taskToken=<wait_token>  output={"action": "promote"}

    Without a wait token the rollout promotes at its next step boundary.
    """
    _act(ctx, endpoint, "promote", by=by, topic=topic)


@handle_errors
def abort(
    ctx: typer.Context,
    endpoint: EndpointArg,
    reason: ReasonOption = None,
    by: ByOption = None,
    topic: TopicOption = None,
) -> None:
    """Abort the active rollout now: all traffic back to the baseline, the candidate removed.

    The stored wait (a bake, a pause or the approval) is failed, so the rollout rolls back at once,
    exactly as when one of its alarms fires.

    Plain API equivalent (registry table T, rollout id R of the active rollout):

      1. dynamodb UpdateItem  TableName=T  Key={pk: "rollout#<endpoint>", sk: "R"}
         UpdateExpression "SET abort_requested = :a"
         :a = {by: <you>, reason: <why>, at: <ISO time>}
         ConditionExpression "attribute_exists(pk)"  ReturnValues ALL_NEW

      2. if the returned item holds wait_token:
         states SendTaskFailure  taskToken=<wait_token>  error="Sluice.Abort"  cause=<why>

    Without a wait token the rollout rolls back at its next step boundary. The CLI also appends an
    "abort requested" decision (pk "log#<endpoint>#R", sk "<ISO time>#00") for `sluice history`.
    """
    _act(ctx, endpoint, "abort", by=by, topic=topic, reason=reason)


@handle_errors
def pause(ctx: typer.Context, endpoint: EndpointArg, by: ByOption = None, topic: TopicOption = None) -> None:
    """Pause the active rollout at its next step boundary (the current bake runs to its end).

    The weights stay where they are until `sluice resume` (or `promote`, or `abort`).

    Plain API equivalent (registry table T, rollout id R of the active rollout):

      dynamodb UpdateItem  TableName=T  Key={pk: "rollout#<endpoint>", sk: "R"}
      UpdateExpression "SET pause_requested = :t"  :t = true
      ConditionExpression "attribute_exists(pk)"  ReturnValues ALL_NEW

    No Step Functions call (no wait_token is answered): the rollout reads the flag at the boundary
    and waits on a new token.
    The CLI also appends a "pause requested" decision and notifies PAUSED.
    """
    _act(ctx, endpoint, "pause", by=by, topic=topic)


@handle_errors
def resume(ctx: typer.Context, endpoint: EndpointArg, by: ByOption = None, topic: TopicOption = None) -> None:
    """Resume a paused rollout (or withdraw a pause that has not taken effect yet).

    Plain API equivalent (registry table T, rollout id R of the active rollout):

      1. dynamodb UpdateItem  TableName=T  Key={pk: "rollout#<endpoint>", sk: "R"}
         UpdateExpression "SET pause_requested = :f"  :f = false
         ConditionExpression "attribute_exists(pk)"  ReturnValues ALL_NEW

      2. if the returned item has waiting_for = "pause" and a wait_token:
         states SendTaskSuccess  taskToken=<wait_token>  output={"action": "continue"}

    The CLI also appends a "resume requested" decision and notifies RESUMED.
    """
    _act(ctx, endpoint, "resume", by=by, topic=topic)


@handle_errors
def resolve(
    ctx: typer.Context,
    endpoint: Annotated[
        str,
        typer.Argument(help="The endpoint whose NEEDS_ATTENTION rollout to resolve.", show_default=False),
    ],
    reason: Annotated[
        str,
        typer.Option(
            "--reason",
            "-r",
            help="What you did to the endpoint (required; recorded in the decision log and notified).",
            show_default=False,
        ),
    ],
    by: ByOption = None,
    cancel_queued: Annotated[
        bool,
        typer.Option(
            "--cancel-queued",
            help="Cancel the version queued behind the rollout (CANCELLED) instead of starting it; "
            "the lease is then released.",
        ),
    ] = False,
    topic: TopicOption = None,
) -> None:
    """Resolve a rollout that NEEDS_ATTENTION, after you have put its endpoint in order by hand.

    A rollout whose rollback kept failing ends in NEEDS_ATTENTION and keeps the endpoint's lease: no
    other rollout touches the endpoint, new uploads are queued. Fix the endpoint first (all traffic on
    one variant, e.g. with UpdateEndpointWeightsAndCapacities), then resolve. Resolve checks that the
    endpoint is InService with all traffic on one variant (or deleted) and refuses otherwise (exit 1,
    nothing changed, the lease stays held). It records RESOLVED with who and why, deletes the rollout's
    own alarms (sluice-<endpoint>-<version>-errors / -latency; alarms you listed stay), re-creates what
    the serving variant lost of its autoscaling (the baseline's snapshot in the rollout record, or
    deploy.json's), and hands the lease on: the newest queued version starts (or, with --cancel-queued,
    is CANCELLED), else the lease is released.

    Plain API equivalent (registry table T, stuck rollout R of version V, its execution ARN X):

      1. sagemaker DescribeEndpoint: EndpointStatus InService and CurrentWeight > 0 on one variant only
         (or no endpoint at all)

      2. dynamodb UpdateItem  TableName=T  Key={pk: "rollout#<endpoint>", sk: "R"}
         UpdateExpression "SET status = :s, resolved = :r, finished_at = :t"
         :s = "RESOLVED", :r = {by: <you>, reason: <what you did>, at: <ISO time>, weights: ...}
         and a "resolved" decision (pk "log#<endpoint>#R", sk "<ISO time>#00") for `sluice history`

      3. cloudwatch DeleteAlarms  AlarmNames=[sluice-<endpoint>-V-errors, sluice-<endpoint>-V-latency]
         dynamodb DeleteItem  Key={pk: "alarm#<name>", sk: "<endpoint>"}  ConditionExpression
         "rollout_id = :R"  (for each alarm of the plan)

      4. dynamodb DeleteItem  Key={pk: "lease#<endpoint>", sk: "queued"}  ReturnValues ALL_OLD
         - a queued rollout Q: PutItem the lease {pk: "lease#<endpoint>", sk: "lease", rollout_id: Q,
           ...}  ConditionExpression "rollout_id = :R", then states StartExecution
           stateMachineArn=<X with :execution: -> :stateMachine:, its name dropped>
           name=<endpoint>-<version>-<suffix>  input={"rollout_id", "endpoint", "version"}
           (with --cancel-queued instead: UpdateItem Q SET status = "CANCELLED", finished_at, cancelled_by)
         - nothing queued: DeleteItem  Key={pk: "lease#<endpoint>", sk: "lease"}
           ConditionExpression "rollout_id = :R"

    RESOLVED (and CANCELLED, STARTING) are notified: --topic, else SLUICE_TOPIC_ARN, else the stack's
    output NotificationTopicArn; when no topic is found, nothing is published (the resolution still
    applies). Exit 0 resolved; 1 nothing needs attention, or the endpoint is not in one piece yet.
    """
    cli: CliContext = ctx.obj
    if not reason.strip():
        raise typer.BadParameter("say what you did to the endpoint", param_hint="--reason")
    who = by or os_user()
    notifier = topic_notifier(cli, topic)
    store = cli.rollout_store()
    services = resolve_services(cli, notifier, store, state_machine_arn="")
    stuck = needing_attention(services, endpoint)
    if stuck is None:
        raise NotFound(
            f"no rollout of endpoint {endpoint!r} needs attention ({cli.describe_target()}): nothing to "
            f"resolve; `sluice status {endpoint}` shows the latest one"
        )
    execution_arn = str(stuck.get("execution_arn") or "")
    machine = state_machine_of(execution_arn) if execution_arn else cli.stack_output(STATE_MACHINE_OUTPUT)
    if not machine and not cancel_queued and store.queued(endpoint):
        raise ConfigError(
            f"rollout {stuck['rollout_id']} recorded no execution ARN and the stack {cli.stack!r} has no "
            f"output {STATE_MACHINE_OUTPUT}: the queued version could not be started; pass --stack, or "
            "--cancel-queued (nothing was changed)"
        )
    services = dataclasses.replace(services, state_machine_arn=machine or "")
    try:
        result = resolve_rollout(
            services, endpoint, reason, who, datetime.now(UTC), cancel_queued=cancel_queued
        )
    except NotResolvable as exc:
        raise Unresolved(str(exc)) from exc
    lease = store.lease(endpoint)
    report = {
        "endpoint": endpoint,
        **result,
        "by": who,
        "reason": reason,
        "lease": {k: lease.get(k) for k in ("rollout_id", "version", "execution_arn")} if lease else None,
        "notifications": notifier.summary(),
    }
    if cli.json:
        emit_json(report)
    else:
        for line in resolution_lines(endpoint, report, store):
            say(line)
        say(_notification_line(notifier))
    notifier.warn_problems()


@handle_errors
def dequeue(
    ctx: typer.Context,
    endpoint: Annotated[
        str, typer.Argument(help="The endpoint whose queued version to cancel.", show_default=False)
    ],
    reason: ReasonOption = None,
    by: ByOption = None,
    topic: TopicOption = None,
) -> None:
    """Cancel the version queued to run next on an endpoint (it never starts).

    A version uploaded while a rollout runs waits as the endpoint's queued version (only the newest
    waits; older ones are SUPERSEDED). Dequeue records it CANCELLED with who and why; the running
    rollout is untouched and, when it ends, releases the endpoint instead of starting it.

    Plain API equivalent (registry table T):

      1. dynamodb DeleteItem  TableName=T  Key={pk: "lease#<endpoint>", sk: "queued"}
         ReturnValues ALL_OLD   (the returned item's rollout_id is Q; nothing returned: nothing queued)

      2. dynamodb UpdateItem  Key={pk: "rollout#<endpoint>", sk: "Q"}
         UpdateExpression "SET status = :s, finished_at = :t, cancelled_by = :b"  :s = "CANCELLED"
         and a "cancelled" decision (pk "log#<endpoint>#Q", sk "<ISO time>#00") for `sluice history`

    CANCELLED is notified (--topic, else SLUICE_TOPIC_ARN, else the stack's output
    NotificationTopicArn). Exit 0 cancelled; 1 nothing was queued.
    """
    cli: CliContext = ctx.obj
    who = by or os_user()
    signals = signal_services(cli, topic)
    why = f"with `sluice dequeue`: {reason}" if reason else "with `sluice dequeue`"
    dropped = cancel_queued_version(signals.services, endpoint, why, who, datetime.now(UTC))
    if dropped is None:
        raise NotFound(
            f"no version is queued on endpoint {endpoint!r} ({cli.describe_target()}): nothing to dequeue"
        )
    report = {
        "endpoint": endpoint,
        "rollout_id": dropped.get("rollout_id"),
        "version": dropped.get("version"),
        "status": dropped.get("status"),
        "by": who,
        "reason": reason,
        "notifications": signals.notifier.summary(),
    }
    if cli.json:
        emit_json(report)
    else:
        say(
            f"cancelled queued version {dropped.get('version')} (rollout {dropped.get('rollout_id')}) on "
            f"{endpoint}, by {who}: it will not start"
        )
        if reason:
            say(f"reason: {reason}")
        say(_notification_line(signals.notifier))
    signals.notifier.warn_problems()


def resolution_lines(endpoint: str, report: dict[str, Any], store: RolloutStore) -> list[str]:
    """What `resolve` did, for people: what was resolved, what serves, what was removed, what is next."""

    def version_of(rollout_id: str) -> str:
        return str((store.rollout(endpoint, rollout_id) or {}).get("version", "?"))

    lines = [
        f"resolved rollout {report['rollout_id']} ({report['version']}) on {endpoint}, by {report['by']}",
        f"reason: {report['reason']}",
    ]
    serving = report["serving"]
    if serving:
        lines.append(f"{serving} serves 100 % of {endpoint}'s traffic")
    else:
        lines.append(f"endpoint {endpoint} no longer exists")
    alarms = report["alarms_deleted"]
    lines.append(f"alarms deleted: {', '.join(alarms)}" if alarms else "alarms deleted: none")
    lines += [f"note: {note}" for note in report["notes"]]
    cancelled, started = report["cancelled"], report["started"]
    if cancelled:
        lines.append(f"queued rollout {cancelled} ({version_of(cancelled)}) cancelled")
    if started:
        version = version_of(started)
        lines.append(
            f"next: queued rollout {started} ({version}) started and holds the lease; "
            f"`sluice status {endpoint}` follows it"
        )
    elif report["lease"]:
        lease = report["lease"]
        lines.append(f"next: the lease is held by rollout {lease['rollout_id']} ({lease['version']})")
    else:
        nothing = "" if cancelled else "nothing queued: "
        lines.append(f"next: {nothing}the lease is released; the next upload starts a rollout at once")
    return lines


# -- how each signal is applied and reported --------------------------------------------------------


def _act(
    ctx: typer.Context,
    endpoint: str,
    action: str,
    *,
    by: str | None,
    topic: str | None,
    reason: str | None = None,
) -> None:
    cli: CliContext = ctx.obj
    who = by or os_user()
    signals = signal_services(cli, topic)
    services = signals.services
    before = active_rollout(services, endpoint)
    if before is None:
        raise NotFound(
            f"no active rollout on endpoint {endpoint!r} ({cli.describe_target()}): nothing to {action}; "
            f"`sluice status {endpoint}` shows the latest one"
        )
    rollout_id = str(before["rollout_id"])
    now = datetime.now(UTC)
    why = reason or f"aborted by {who} with `sluice abort`"
    if action == "abort":
        after = request_abort(services, endpoint, rollout_id, why, who, now)
    elif action == "promote":
        after = request_promote(services, endpoint, rollout_id, who, now)
    else:
        after = request_pause(services, endpoint, rollout_id, action == "pause", who, now)
    if after is None:
        raise NotFound(f"rollout {rollout_id} of {endpoint!r} vanished from the registry: nothing was done")
    applied = after.get("status") in ACTIVE
    message = outcome_message(action, before, after, signals.workflow.answers)
    report = {
        "endpoint": endpoint,
        "action": action,
        "rollout_id": rollout_id,
        "version": after.get("version"),
        "by": who,
        "reason": why if action == "abort" else None,
        "applied": applied,
        "status_before": before.get("status"),
        "status": after.get("status"),
        "waiting_for": after.get("waiting_for") or before.get("waiting_for"),
        "wait_answered": [
            {"call": a.call, "payload": a.payload, "token_was_live": a.live} for a in signals.workflow.answers
        ],
        "message": message,
        "notifications": signals.notifier.summary(),
    }
    if cli.json:
        emit_json(report)
    else:
        say(message)
        say(f"rollout {rollout_id} ({after.get('version')}) on {endpoint}, by {who}")
        if action == "abort":
            say(f"reason: {why}")
        say(_notification_line(signals.notifier))
    signals.notifier.warn_problems()
    if not applied:
        raise typer.Exit(1)


def _notification_line(notifier: TopicNotifier) -> str:
    if not notifier.topic_arn:
        return (
            f"notifications: none published (no topic: pass --topic, set {TOPIC_ENV}, "
            f"or --stack with an output {TOPIC_OUTPUT})"
        )
    if notifier.published:
        return f"notified on {notifier.topic_arn}: {', '.join(notifier.published)}"
    return f"notifications: nothing to publish for this signal (topic {notifier.topic_arn})"


_WAITS = {"bake": "the bake's wait", "pause": "the pause's wait", "approval": "the approval's wait"}


def outcome_message(action: str, before: dict[str, Any], after: dict[str, Any], answers: list[Answer]) -> str:
    """What the signal did, in one sentence, from the rollout before and after and the wait answered."""
    status = str(after.get("status"))
    if status not in ACTIVE:
        return f"nothing done: the rollout ended ({status}) before the {action} arrived"
    waiting_for = str(after.get("waiting_for") or before.get("waiting_for") or "")
    wait = _WAITS.get(waiting_for, "the wait")
    answered = answers[0] if answers else None
    if action == "abort":
        if status == "ROLLING_BACK":
            return "abort recorded: the rollout is already rolling back"
        if status == "PROMOTING":
            return (
                "abort recorded, but the rollout is already promoting and completes its promotion; "
                "upload the previous version to go back"
            )
        if answered and answered.live:
            return f"abort requested: {wait} was failed, the rollout is rolling back"
        # No wait to fail: the rollout is between tasks, or waiting for the endpoint (ReadEndpoint reads
        # it every 2 s and looks at the flag, or the task after AddCandidate's wait does).
        if status == "UPDATING":
            return (
                "abort requested: the candidate is still being added (0 % of the traffic); the rollout "
                "rolls back as soon as SageMaker has finished adding it"
            )
        return (
            "abort requested: the rollout sees it within seconds and rolls back as soon as SageMaker "
            "accepts an update"
        )
    if action == "promote":
        if status == "PROMOTING":
            return "promote recorded: the rollout is already promoting"
        if status == "ROLLING_BACK":
            return "promote recorded, but the rollout is rolling back: it cannot be promoted any more"
        if answered and answered.live:
            if waiting_for == "approval":
                return f"approved: {wait} was answered, the candidate is being promoted"
            return (
                f"promote requested: {wait} was answered, the remaining steps are skipped and the "
                "candidate is being promoted"
            )
        return "promote requested: the rollout promotes at its next step boundary"
    if action == "pause":
        if status in {"PROMOTING", "ROLLING_BACK"}:
            return (
                f"pause recorded, but the rollout is {status.lower().replace('_', ' ')}: it no longer pauses"
            )
        if before.get("status") == "PAUSED":
            return "already paused at a step boundary: `sluice resume` continues"
        after_bake = " (after the current bake)" if waiting_for == "bake" else ""
        return (
            f"pause requested: the rollout pauses at its next step boundary{after_bake}; "
            "`sluice resume` continues"
        )
    # resume
    if answered and answered.live:
        return f"resumed: {wait} was answered, the rollout continues with its next step"
    if before.get("pause_requested"):
        return "resume requested: the pending pause is withdrawn before it took effect"
    return "resume requested: the rollout was not paused and continues"
