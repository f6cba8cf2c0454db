"""Serve mode end to end: `sluice sandbox serve` runs in a subprocess on a free port, and this test
process drives it only as a user would — boto3 with `endpoint_url` and dummy credentials (what the AWS
CLI does), and the `sluice` command line in subprocesses with `--endpoint-url` and `--table`.

Nothing here touches the sandbox's internals: every journey goes S3 upload → EventBridge rule from
template.yaml → handler / state machine in the serve process, and is observed through the registry
table, SageMaker, CloudWatch, SQS and the CLI. Step Functions time runs 100x faster (--time-scale 0.01):
a 600 s bake lasts 6 s.
"""

from __future__ import annotations

import io
import json
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from integration_kit import UNJUDGED, make_archive

from sluice.adapters.registry import from_item
from sluice.adapters.rollouts import rollout_pk
from sluice.domain.registry import JOB_SK, LATEST_SK, intake_pk, intake_sk, job_pk, model_pk

pytestmark = pytest.mark.slow

SLUICE = Path(sys.executable).with_name("sluice")  # the console script of this environment
TIME_SCALE = "0.01"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
CLI_TIMEOUT = 60.0
DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
JSON_KEYS = {
    "endpoint_url",
    "region",
    "ArtifactBucketName",
    "RegistryTableName",
    "StateMachineArn",
    "NotificationTopicArn",
    "demo",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Nobody listens, and a server could bind it again (as the sandbox's server does: SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SLUICE_"))}
    # A wide terminal for rich: table cells (e.g. "alarm fired") are not wrapped onto two lines.
    return {**env, **DUMMY_ENV, "PYTHONUNBUFFERED": "1", "COLUMNS": "240"}


@dataclass
class Server:
    """A `sluice sandbox serve` subprocess."""

    process: subprocess.Popen[str]
    cwd: Path
    port: int
    stderr_path: Path
    line: str = ""
    document: dict[str, Any] = field(default_factory=dict)

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def read_line(self, timeout: float = START_TIMEOUT) -> str:
        """The first stdout line (the JSON outputs), or AssertionError with the server's stderr."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if selector.select(timeout=0.2):
                    line = self.process.stdout.readline()
                    if line:
                        return line
                    break  # EOF: the server ended
                if self.process.poll() is not None:
                    break
        raise AssertionError(f"no JSON line from serve (exit {self.process.poll()}):\n{self.stderr}")

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"serve did not stop within {STOP_TIMEOUT} s:\n{self.stderr}") from None


def start_server(cwd: Path, port: int, *extra: str, time_scale: str = TIME_SCALE) -> Server:
    cwd.mkdir(parents=True, exist_ok=True)
    stderr_path = cwd / "serve.stderr"
    with stderr_path.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [str(SLUICE), "sandbox", "serve", "--port", str(port), "--time-scale", time_scale, *extra],
            cwd=cwd,
            env=child_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    return Server(process, cwd, port, stderr_path)


class User:
    """What a user of the served sandbox has: boto3 clients and the `sluice` command line."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.outputs = server.document
        self.url: str = self.outputs["endpoint_url"]
        self.bucket: str = self.outputs["ArtifactBucketName"]
        self.table: str = self.outputs["RegistryTableName"]
        self.demo: dict[str, str] = self.outputs["demo"]
        self.session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name=self.outputs["region"],
        )
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service, endpoint_url=self.url, config=Config(retries={"mode": "standard"})
            )
        return self._clients[service]

    def upload(self, key: str, body: bytes) -> dict[str, Any]:
        """As `aws s3 cp` does (s3transfer), then HeadObject for the version id and ETag."""
        self.client("s3").upload_fileobj(io.BytesIO(body), self.bucket, key)
        return dict(self.client("s3").head_object(Bucket=self.bucket, Key=key))

    def sluice(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SLUICE), "--endpoint-url", self.url, "--table", self.table, *args],
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )

    def item(self, pk: str, sk: str) -> dict[str, Any] | None:
        found = self.client("dynamodb").get_item(
            TableName=self.table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        )
        return from_item(found["Item"]) if "Item" in found else None

    def rollout(self, endpoint: str, version: str) -> dict[str, Any] | None:
        items = self.client("dynamodb").query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": rollout_pk(endpoint)}},
            ConsistentRead=True,
        )["Items"]
        found = [r for r in map(from_item, items) if r.get("version") == version]
        return found[0] if found else None

    def shares(self, endpoint: str) -> dict[str, float]:
        """Each variant's share of the traffic (%), from DescribeEndpoint's current weights."""
        variants = self.client("sagemaker").describe_endpoint(EndpointName=endpoint)["ProductionVariants"]
        total = sum(float(v.get("CurrentWeight") or 0) for v in variants)
        return {
            v["VariantName"]: round(100 * float(v.get("CurrentWeight") or 0) / total, 1) if total else 0.0
            for v in variants
        }

    def queue(self, name: str) -> tuple[str, str]:
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn

    def receive(self, url: str) -> list[dict[str, Any]]:
        messages = (
            self.client("sqs")
            .receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            .get("Messages", [])
        )
        return [json.loads(m["Body"]) for m in messages]


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 45.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = start_server(tmp_path_factory.mktemp("serve"), free_port())
    try:
        started.line = started.read_line()
        started.document = json.loads(started.line)
    except BaseException:
        started.process.kill()
        started.process.wait()
        raise
    yield started
    code = started.stop(signal.SIGTERM)
    assert code == 0, started.stderr
    assert port_is_free(started.port)
    assert "stopped;" in started.stderr


@pytest.fixture(scope="module")
def user(server: Server) -> User:
    return User(server)


def test_the_json_line_names_the_stack_and_the_demo_resources(server: Server) -> None:
    document = server.document
    assert set(document) == JSON_KEYS
    assert document["endpoint_url"] == f"http://127.0.0.1:{server.port}"
    assert document["region"] == "us-east-1"
    assert document["StateMachineArn"].startswith("arn:aws:states:us-east-1:")
    assert document["NotificationTopicArn"].startswith("arn:aws:sns:us-east-1:")
    assert document["demo"] == {
        "multi_model_endpoint": "demo-mme",
        "realtime_endpoint": "demo-realtime",
        "batch_model": "demo-batch-model",
    }


def test_outputs_json_holds_the_same_object_as_the_json_line(server: Server) -> None:
    written = json.loads((server.cwd / ".sandbox" / "outputs.json").read_text(encoding="utf-8"))
    assert written == server.document
    assert server.line.count("\n") == 1  # one line, and it is the whole object


def test_the_demo_resources_exist_as_sagemaker_made_them(user: User) -> None:
    sagemaker = user.client("sagemaker")
    mme = sagemaker.describe_endpoint(EndpointName=user.demo["multi_model_endpoint"])
    assert mme["EndpointStatus"] == "InService"
    assert sagemaker.describe_model(ModelName="demo-mme-model")["PrimaryContainer"]["Mode"] == "MultiModel"
    assert user.shares(user.demo["realtime_endpoint"]) == {"v1": 100.0}
    targets = user.client("application-autoscaling").describe_scalable_targets(ServiceNamespace="sagemaker")
    assert [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in targets["ScalableTargets"]] == [
        ("endpoint/demo-realtime/variant/v1", 2, 6)
    ]
    model = sagemaker.describe_model(ModelName=user.demo["batch_model"])
    assert model["PrimaryContainer"]["Image"].startswith("763104351884.dkr.ecr.us-east-1.amazonaws.com/")


def test_a_multi_model_upload_is_registered_as_v1(user: User) -> None:
    endpoint = user.demo["multi_model_endpoint"]
    user.upload(f"multi-model/{endpoint}/churn.tar.gz", make_archive())

    latest = wait_for(lambda: user.item(model_pk(endpoint, "churn"), LATEST_SK), "churn's latest record")
    assert latest["version"] == 1
    assert latest["target_model"] == "churn/v1.tar.gz"
    shown = user.sluice("-o", "json", "models", endpoint)
    assert shown.returncode == 0, shown.stderr
    assert "churn/v1.tar.gz" in shown.stdout


def test_a_batch_csv_runs_a_transform_job_to_completed(user: User) -> None:
    model = user.demo["batch_model"]
    key = f"batch/{model}/input/x.csv"
    head = user.upload(key, b"".join(f"{i},0.5\n".encode() for i in range(20)))
    intake_key = (intake_pk(user.bucket, key), intake_sk(head.get("VersionId"), head.get("ETag")))

    intake = wait_for(
        lambda: (user.item(*intake_key) or {}).get("job_name") and user.item(*intake_key), "job"
    )
    job_name = str(intake["job_name"])
    job = wait_for(
        lambda: (found := user.item(job_pk(job_name), JOB_SK)) and found["status"] == "Completed" and found,
        "the job record at Completed",
    )
    assert job["status"] == "Completed"
    described = user.client("sagemaker").describe_transform_job(TransformJobName=job_name)
    assert described["TransformJobStatus"] == "Completed"


def test_an_alarm_rolls_the_canary_back_and_the_cli_shows_it(user: User) -> None:
    endpoint = user.demo["realtime_endpoint"]
    # Bakes far longer than the test: the alarm ends them, and a loaded machine cannot outrun one. No
    # traffic: unjudged (the analysis would also cap a bake at its max_bake_seconds).
    deploy = {"rollout": {"steps": [50, 100], "bake_seconds": 3600, **UNJUDGED}}
    user.upload(f"endpoints/{endpoint}/deploy.json", json.dumps(deploy).encode())
    user.upload(f"endpoints/{endpoint}/v2/model.tar.gz", make_archive({"model.pth": b"v2"}))

    def baking() -> dict[str, Any] | None:
        shown = user.sluice("-o", "json", "status", endpoint)
        assert shown.returncode == 0, shown.stderr
        rollout = json.loads(shown.stdout).get("rollout") or {}
        return rollout if rollout.get("version") == "v2" and rollout.get("status") == "BAKING" else None

    rollout = wait_for(baking, "`sluice status` to show v2 baking", interval=0)
    assert rollout["step"] == 1
    assert user.shares(endpoint) == {"v2": 50.0, "v1": 50.0}

    alarm = f"sluice-{endpoint}-v2-errors"
    fired_at = time.monotonic()
    user.client("cloudwatch").set_alarm_state(
        AlarmName=alarm,
        StateValue="ALARM",
        StateReason="Threshold Crossed: 1 datapoint [0.09] was greater than the threshold (0.01)",
    )
    wait_for(lambda: user.shares(endpoint) == {"v1": 100.0}, "v1 back at 100 %", interval=0.01)
    latency = time.monotonic() - fired_at
    print(f"\nserve mode: alarm event → 100 % baseline in {latency:.2f} s (SetAlarmState → DescribeEndpoint)")

    final = wait_for(
        lambda: (r := user.rollout(endpoint, "v2")) and r["status"] == "ROLLED_BACK" and r,
        "the rollout to end ROLLED_BACK",
    )
    assert final["alarm"] == alarm
    history = user.sluice("history", endpoint)
    assert history.returncode == 0, history.stderr
    assert "alarm fired" in history.stdout
    assert "rolled back" in history.stdout
    decisions = json.loads(user.sluice("-o", "json", "history", endpoint).stdout)["rollouts"][0]["decisions"]
    events = [d["event"] for d in decisions]
    assert events.index("alarm fired") < events.index("rolling back") < events.index("rolled back")


def test_simulated_traffic_fires_the_alarm_from_metric_data_and_rolls_back(user: User) -> None:
    """`sluice sandbox traffic` in its own process writes per-variant metrics; the sandbox evaluates the
    candidate's error-rate alarm from them (no set-alarm-state) and the rollout rolls back."""
    endpoint = user.demo["realtime_endpoint"]
    user.upload(f"endpoints/{endpoint}/v3/model.tar.gz", make_archive({"model.pth": b"v3"}))
    wait_for(lambda: (r := user.rollout(endpoint, "v3")) and r.get("status") == "BAKING", "v3 baking")

    traffic = subprocess.run(
        [
            str(SLUICE),
            "--endpoint-url",
            user.url,
            "sandbox",
            "traffic",
            endpoint,
            "--rps",
            "40",
            "--error-rate",
            "v3=0.5",
            "--seconds",
            "4",
            "--time-scale",
            "0.01",
        ],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert traffic.returncode == 0, traffic.stderr
    assert "SIMULATED" in traffic.stdout + traffic.stderr

    final = wait_for(
        lambda: (r := user.rollout(endpoint, "v3")) and r["status"] in ("ROLLED_BACK", "PROMOTED") and r,
        "the v3 rollout to end",
    )
    assert final["status"] == "ROLLED_BACK"
    assert final["alarm"] == f"sluice-{endpoint}-v3-errors"
    assert "datapoints" in final["reason"]  # the evaluator's reason: fired from metric data
    assert user.shares(endpoint) == {"v1": 100.0}


def test_a_users_own_sns_subscription_and_eventbridge_rule_receive_notifications(user: User) -> None:
    suffix = uuid.uuid4().hex[:6]
    sns_url, sns_arn = user.queue(f"my-sns-inbox-{suffix}")
    events_url, events_arn = user.queue(f"my-events-inbox-{suffix}")
    user.client("sns").subscribe(
        TopicArn=user.outputs["NotificationTopicArn"], Protocol="sqs", Endpoint=sns_arn
    )
    rule = f"my-sluice-notifications-{suffix}"
    user.client("events").put_rule(
        Name=rule, EventPattern=json.dumps({"source": ["sluice"]}), State="ENABLED"
    )
    user.client("events").put_targets(Rule=rule, Targets=[{"Id": "inbox", "Arn": events_arn}])

    key = f"multi-model/{user.demo['multi_model_endpoint']}/evil.tar.gz"
    user.upload(key, make_archive({"../../etc/passwd": b"root"}))

    def rejected(url: str, read: Callable[[dict[str, Any]], dict[str, Any]]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []

        def arrived() -> bool:
            found.extend(read(body) for body in user.receive(url))
            return any(n.get("key") == key for n in found)

        wait_for(arrived, f"a notification in {url}")
        return [n for n in found if n.get("key") == key]

    via_sns = rejected(sns_url, lambda body: json.loads(body["Message"]))
    via_events = rejected(events_url, lambda body: {**body["detail"], "detail_type": body["detail-type"]})
    assert via_sns[0]["status"] == "REJECTED"
    assert ".." in via_sns[0]["reason"]
    assert via_events[0]["detail_type"] == "Sluice Artifact Rejected"


def test_a_fault_requested_from_another_terminal_fails_the_next_matching_requests(
    server: Server, user: User
) -> None:
    endpoint = server.document["demo"]["realtime_endpoint"]
    requested = subprocess.run(
        [str(SLUICE), "sandbox", "fault", "sagemaker", "DescribeEndpoint", "ValidationException",
         "Endpoint is being serviced", "--times", "2", "--when", f"EndpointName={endpoint}"],
        cwd=server.cwd, env=child_env(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "requested: the next 2 sagemaker DescribeEndpoint answer ValidationException" in requested.stdout
    armed = f"fault armed: the next 2 sagemaker DescribeEndpoint EndpointName={endpoint} answer"
    wait_for(lambda: armed in server.stderr, "the server to arm the fault", timeout=10)
    sagemaker = user.client("sagemaker")
    for _ in range(2):
        with pytest.raises(ClientError, match="Endpoint is being serviced"):
            sagemaker.describe_endpoint(EndpointName=endpoint)
    assert sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"
    assert not list((server.cwd / ".sandbox" / "faults").glob("*.json"))  # picked up and removed


def test_a_second_server_on_a_used_port_exits_2_with_a_clear_message(server: Server, tmp_path: Path) -> None:
    second = start_server(tmp_path, server.port, "--no-seed")
    code = second.process.wait(timeout=START_TIMEOUT)
    assert code == 2
    assert f"cannot serve on 127.0.0.1:{server.port}" in second.stderr
    assert "--port" in second.stderr
    assert server.process.poll() is None  # the first one still serves


def test_serve_starts_and_stops_cleanly_on_sigint_and_sigterm(tmp_path: Path) -> None:
    """Either signal stops it (exit 0, port free); `--quiet` (here with SIGINT) leaves out the lines of
    what happens, the activity log's step of the stop with them."""
    for signum, quiet in ((signal.SIGINT, True), (signal.SIGTERM, False)):
        port = free_port()
        started = start_server(tmp_path / signum.name, port, "--no-seed", *(["--quiet"] if quiet else []))
        document = json.loads(started.read_line())
        assert document["demo"] == {
            "multi_model_endpoint": None,
            "realtime_endpoint": None,
            "batch_model": None,
        }
        buckets = boto3.client(
            "s3",
            endpoint_url=document["endpoint_url"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).list_buckets()["Buckets"]
        assert document["ArtifactBucketName"] in [b["Name"] for b in buckets]

        assert started.stop(signum) == 0, started.stderr
        assert port_is_free(port)
        assert "threads still running" not in started.stderr
        assert ("stop: activity log" in started.stderr) is not quiet


def test_update_seconds_keeps_endpoint_updates_in_progress_as_sagemaker_does(tmp_path: Path) -> None:
    """`--update-seconds 3`: a weights change leaves the endpoint Updating for 3 s, and SageMaker's
    "Cannot update in-progress endpoint" answers another update meanwhile."""
    started = start_server(tmp_path, free_port(), "--update-seconds", "3")
    try:
        document = json.loads(started.read_line())
        sagemaker = boto3.client(
            "sagemaker",
            endpoint_url=document["endpoint_url"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        endpoint = document["demo"]["realtime_endpoint"]
        change = [{"VariantName": "v1", "DesiredWeight": 2.0, "DesiredInstanceCount": 2}]
        sagemaker.update_endpoint_weights_and_capacities(
            EndpointName=endpoint, DesiredWeightsAndCapacities=change
        )
        assert sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "Updating"
        with pytest.raises(ClientError, match="Cannot update in-progress endpoint"):
            sagemaker.update_endpoint_weights_and_capacities(
                EndpointName=endpoint, DesiredWeightsAndCapacities=change
            )
        wait_for(
            lambda: sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService",
            "InService again",
        )
    finally:
        assert started.stop(signal.SIGTERM) == 0, started.stderr


def test_serving_on_another_host_is_refused() -> None:
    refused = subprocess.run(
        [str(SLUICE), "sandbox", "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert refused.returncode == 2
    assert "127.0.0.1" in refused.stderr
    assert refused.stdout == ""


# -- the stop, and the README's session ----------------------------------------------------------------
README = Path(__file__).resolve().parents[2] / "README.md"
STOP_STEP = re.compile(
    r"stop: (?P<step>[a-z -]+) (?P<outcome>done|abandoned|failed) "
    r"in (?P<seconds>[\d.]+) s \(budget (?P<budget>[\d.]+) s\)"
)
STOP_STEPS = ["router", "executions", "gap-fillers", "server", "emulator state", "activity log"]


def assert_stopped_step_by_step(server: Server) -> None:
    """Its log reports every step of the stop, in order, each ended (or abandoned) within its budget;
    the slack is for a thread woken late on a loaded machine, not for a step that overran."""
    reports = [m.groupdict() for m in STOP_STEP.finditer(server.stderr)]
    assert [r["step"] for r in reports] == STOP_STEPS, server.stderr
    for report in reports:
        assert report["outcome"] != "failed", server.stderr
        assert float(report["seconds"]) <= float(report["budget"]) + 1.0, report
    assert sum(float(r["budget"]) for r in reports) < 10


def test_sigterm_during_a_canary_bake_with_traffic_stops_step_by_step(tmp_path: Path) -> None:
    """A rollout baking, simulated traffic writing metrics, then SIGTERM: serve reports each step of
    its stop within its budget and exits 0 (before the 30 s this test gives it)."""
    started = start_server(tmp_path, free_port())
    traffic: subprocess.Popen[str] | None = None
    try:
        started.document = json.loads(started.read_line())
        user = User(started)
        endpoint = user.demo["realtime_endpoint"]
        # baking at the stop: the canary analysis looks at the traffic each minute, its bake may last as long
        deploy = {
            "rollout": {"steps": [50, 100], "bake_seconds": 86_400, "analysis": {"max_bake_seconds": 86_400}}
        }
        user.upload(f"endpoints/{endpoint}/deploy.json", json.dumps(deploy).encode())
        user.upload(f"endpoints/{endpoint}/v2/model.tar.gz", make_archive({"model.pth": b"v2"}))
        wait_for(lambda: (r := user.rollout(endpoint, "v2")) and r.get("status") == "BAKING", "v2 baking")
        traffic = subprocess.Popen(
            [str(SLUICE), "--endpoint-url", user.url, "sandbox", "traffic", endpoint, "--rps", "20",
             "--seconds", "120", "--time-scale", TIME_SCALE],
            env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        wait_for(
            lambda: user.client("cloudwatch").list_metrics(Namespace="AWS/SageMaker")["Metrics"], "traffic"
        )
    finally:
        code = started.stop(signal.SIGTERM)
        if traffic is not None:
            traffic.kill()
            traffic.wait()
    assert code == 0, started.stderr
    assert_stopped_step_by_step(started)
    assert "execution started sluice-rollout demo-realtime-v2-" in started.stderr
    assert "rollout demo-realtime v2: SHIFTING → BAKING" in started.stderr
    assert port_is_free(started.port)


def ended_rollout(user: User, endpoint: str, version: str) -> dict[str, Any]:
    """The rollout's record once it is ROLLED_BACK or PROMOTED."""
    ended = ("ROLLED_BACK", "PROMOTED")
    return dict(
        wait_for(
            lambda: (r := user.rollout(endpoint, version)) and r["status"] in ended and r,
            f"the rollout of {version} on {endpoint} to end",
        )
    )


def readme_session() -> tuple[str, str]:
    """The Quick start's session: (terminal 1, terminal 2) as the README shows them."""
    text = README.read_text(encoding="utf-8")
    block = text[text.index("```bash\n# Terminal 1") + len("```bash\n") :]
    block = block[: block.index("```")]
    first, second = block.split("# Terminal 2")
    return first, "# Terminal 2" + second


def test_the_readme_session_works_pasted_as_one_block(tmp_path: Path) -> None:
    """Terminal 2 of the Quick start, pasted as one block into bash against `sluice sandbox serve` (what
    `make sandbox` runs) started in a copy of the repository: every command succeeds (bash -e), the
    rollout is rolled back by the alarm it sets, its files are made in a scratch directory, and the
    serve terminal logged what happened. Only the port differs (a free one, not 4566); time runs 10x
    faster than `make sandbox`'s, so its 600 s bakes still last a minute."""
    if shutil.which("aws") is None:
        pytest.skip("the session needs the AWS CLI (pip install awscli)")
    terminal_1, terminal_2 = readme_session()
    assert "make sandbox" in terminal_1
    repository = tmp_path / "repository"
    repository.mkdir()
    (repository / ".venv").symlink_to(Path(sys.executable).parents[1])
    port = free_port()
    started = start_server(repository, port, time_scale="0.1")  # bakes of 60 s: ample for the session
    try:
        started.document = json.loads(started.read_line())
        session = subprocess.run(
            ["bash", "-e", "-c", terminal_2.replace("127.0.0.1:4566", f"127.0.0.1:{port}")],
            cwd=repository, env=child_env(), capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert session.returncode == 0, f"{session.stdout}\n{session.stderr}\n{started.stderr}"
        assert "churn/v1.tar.gz" in session.stdout
        assert ended_rollout(User(started), "demo-realtime", "v2")["status"] == "ROLLED_BACK"
        assert not {"model.pth", "model.tar.gz", "deploy.json"} & {p.name for p in repository.iterdir()}
        for line in (
            "endpoints/demo-realtime/v2/model.tar.gz → StartRolloutFunction → STARTED v2",
            "multi-model/demo-mme/churn.tar.gz → RegisterModelFunction →",
            "execution started sluice-rollout demo-realtime-v2-",
            "alarm sluice-demo-realtime-v2-errors OK → ALARM: Threshold Crossed",
            "rollout demo-realtime v2: STARTING",
            "→ ROLLED_BACK",
            "execution ended FAILED sluice-rollout demo-realtime-v2-",
        ):
            wait_for(lambda line=line: line in started.stderr, f"the serve log to show {line!r}", timeout=30)
    finally:
        code = started.stop(signal.SIGTERM)
    assert code == 0, started.stderr
    assert_stopped_step_by_step(started)


def banner_commands(stderr: str) -> str:
    """The commands serve's banner suggests, as a user would paste them."""
    lines = stderr[stderr.index("Try it from another shell") :].splitlines()[1:]
    return "\n".join(line.removeprefix("  ") for line in lines[: lines.index("")])


def test_the_banner_commands_work_pasted_as_one_block(tmp_path: Path) -> None:
    """Every command the banner suggests succeeds pasted as one block into bash (-e): the files it
    uploads are made first, the alarm is waited for before its state is set, and the canary it starts
    is rolled back. Time runs 10x faster than `make sandbox`'s: its 600 s bakes still last a minute."""
    if shutil.which("aws") is None:
        pytest.skip("the banner's commands need the AWS CLI (pip install awscli)")
    started = start_server(tmp_path / "serve", free_port(), time_scale="0.1")  # 60 s bakes
    try:
        started.document = json.loads(started.read_line())
        wait_for(lambda: "Try it from another shell" in started.stderr, "the banner")
        commands = banner_commands(started.stderr)
        assert "records.csv" in commands
        pasted = subprocess.run(
            ["bash", "-e", "-c", commands],
            cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert pasted.returncode == 0, f"{commands}\n{pasted.stdout}\n{pasted.stderr}"
        user = User(started)
        endpoint = user.demo["realtime_endpoint"]
        final = ended_rollout(user, endpoint, "v2")
        assert final["status"] == "ROLLED_BACK"
        assert final["alarm"] == f"sluice-{endpoint}-v2-errors"
        assert not list(tmp_path.glob("model.*"))  # made in the scratch directory it changes into
    finally:
        code = started.stop(signal.SIGTERM)
    assert code == 0, started.stderr
