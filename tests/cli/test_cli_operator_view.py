"""The operator's view (issue 13): why the latest upload changed nothing, which configuration belongs to
which version, the outcome of an upload's rollout, alarms deleted when a rollout ends, and the CLI
finding the sandbox's registry without flags. Rollouts run for real on the sandbox (time compressed 100x)
and are observed only through the CLI and AWS APIs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from integration_kit import UNJUDGED, make_archive
from typer.testing import Result

from sluice_cli.commands.status_view import rollout_fields, rollout_view
from sluice_cli.commands.upload_outcome import latest_upload_view
from sluice_cli.main import app

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)  # tests/cli: the rollout tests' sandbox helpers (Canary)
from test_cli_rollouts import Canary, ThreadIsolatedRunner, canary_in_a_sandbox  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    yield from canary_in_a_sandbox()


def _upload(canary: Canary, key: str, body: bytes) -> None:
    canary.sandbox.client("s3").put_object(Bucket=canary.bucket, Key=key, Body=body)


def _model(canary: Canary, endpoint: str, version: str) -> None:
    _upload(canary, f"endpoints/{endpoint}/{version}/model.tar.gz", make_archive({"m.pth": version.encode()}))


def _eventually(read: Callable[[], Any], ok: Callable[[Any], bool], what: str) -> Any:
    deadline, seen = time.monotonic() + 60, None
    while time.monotonic() < deadline:
        seen = read()
        if ok(seen):
            return seen
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last seen {seen}")


def _intake_of(canary: Canary, key: str) -> dict[str, Any]:
    (row,) = [r for r in canary.json("intakes", "--limit", "50")["intakes"] if r["key"] == key]
    return dict(row)


def test_a_rejected_upload_is_named_above_the_previous_rollout_and_its_configuration(canary: Canary) -> None:
    endpoint = canary.endpoint()
    settings = f"endpoints/{endpoint}/deploy.json"
    _upload(canary, settings, json.dumps({"rollout": {"steps": [50, 100], "bake_seconds": 600}}).encode())
    _model(canary, endpoint, "v2")
    baking = canary.wait_for(endpoint, lambda r: r["status"] == "BAKING", "the bake of v2")
    canary.ok("abort", endpoint, "--reason", "wrong features")
    canary.wait_for_status(endpoint, "ROLLED_BACK")

    # The endpoint's deploy.json is broken after v2 started; v3 is rejected for it.
    _upload(canary, settings, json.dumps({"rollout": {"steps": [50, 30, 100]}}).encode())
    _model(canary, endpoint, "v3")
    status = _eventually(
        lambda: canary.json("status", endpoint),
        lambda s: s["latest_upload"] and s["latest_upload"]["status"] != "RECEIVED",  # validated: its outcome
        "v3's intake to be recorded with its outcome",
    )

    upload = status["latest_upload"]
    assert (upload["version"], upload["status"], upload["code"]) == ("v3", "REJECTED", "InvalidConfiguration")
    assert upload["summary"] == (
        f"v3 rejected: InvalidConfiguration: {settings}: deploy.json is invalid: rollout.steps: step 2 (30) "
        "is not above step 1 (50); steps must be strictly increasing"
    )
    assert status["rollout"]["rollout_id"] == baking["rollout_id"]  # the rollout shown is still v2's
    table = canary.ok("status", endpoint)
    lines = table.splitlines()
    assert lines[0] == f"Latest upload: {upload['summary']}"
    assert f"endpoints/{endpoint}/v3/model.tar.gz, received " in lines[1]
    assert "the rollout below is v2's" in lines[1]
    assert f"v2 configured by  {settings}, as read when v2 was uploaded" in table

    # The rollout's own alarms were deleted when it ended: said so, not "not found".
    alarms = {a["name"]: a["missing"] for a in status["rollout"]["alarms"]}
    assert alarms == {f"sluice-{endpoint}-v2-errors": "deleted", f"sluice-{endpoint}-v2-latency": "deleted"}
    assert f"sluice-{endpoint}-v2-errors: deleted (rollout ended)" in table
    assert "not found" not in table

    # sluice intakes: the rolled-back upload shows its rollout's outcome, not just ROLLOUT_STARTED.
    v2 = _intake_of(canary, f"endpoints/{endpoint}/v2/model.tar.gz")
    assert (v2["status"], v2["rollout_status"]) == ("ROLLOUT_STARTED", "ROLLED_BACK")
    assert v2["rollout_outcome"] == "ROLLED_BACK: wrong features"
    listed = canary.ok("intakes", "--limit", "50")
    assert f"rollout of v2 on {endpoint}: ROLLED_BACK: wrong features" in listed


def test_a_queued_upload_says_which_rollout_it_waits_for(canary: Canary) -> None:
    endpoint = canary.endpoint()
    canary.deploy(endpoint, "v2", {"steps": [50, 100], "bake_seconds": 600, **UNJUDGED})
    baking = canary.wait_for(endpoint, lambda r: r["status"] == "BAKING", "the bake of v2")
    canary.deploy(endpoint, "v3", {"steps": [100], "bake_seconds": 1, **UNJUDGED})

    status = _eventually(
        lambda: canary.json("status", endpoint),
        lambda s: (s["latest_upload"] or {}).get("rollout_status") == "QUEUED",
        "v3 to queue",
    )

    upload = status["latest_upload"]
    assert upload["waits_for"] == {"rollout_id": baking["rollout_id"], "version": "v2", "status": "BAKING"}
    assert upload["summary"] == (
        f"v3 queued: waits for rollout {baking['rollout_id']} (v2, BAKING), which holds the endpoint; "
        "it starts when that rollout ends"
    )
    assert f"Latest upload: {upload['summary']}" in canary.ok("status", endpoint)
    v3 = _intake_of(canary, f"endpoints/{endpoint}/v3/model.tar.gz")
    assert v3["rollout_outcome"] == f"QUEUED behind rollout {baking['rollout_id']}"

    # No --table: the CLI reads the sandbox stack's output RegistryTableName, as on AWS.
    flagless: Result = ThreadIsolatedRunner().invoke(
        app,
        ["--endpoint-url", canary.sandbox.endpoint_url, "status", endpoint],
        env={"COLUMNS": "250", "SLUICE_REGISTRY_TABLE": None, "SLUICE_TOPIC_ARN": None},
    )
    assert flagless.exit_code == 0, (flagless.stdout, flagless.stderr)
    assert f"Active rollout {baking['rollout_id']}" in flagless.stdout

    canary.ok("promote", endpoint)  # v2 ends, v3 runs and ends: the rollout shown is v3's, no note
    canary.wait_for(endpoint, lambda r: r["version"] == "v3" and r["status"] == "PROMOTED", "v3 promoted")
    after = canary.json("status", endpoint)
    assert after["latest_upload"] is None
    assert _intake_of(canary, f"endpoints/{endpoint}/v3/model.tar.gz")["rollout_status"] == "PROMOTED"


def _record(status: str, step_index: int) -> dict[str, Any]:
    return {
        "rollout_id": "20250101T000000Z-v2-abcdef",
        "version": "v2",
        "status": status,
        "step_index": step_index,
        "plan": {
            "steps": [{"percent": 50}, {"percent": 100}],
            "alarm_names": ["sluice-ep-v2-errors", "team-p99"],
            "alarms": [{"AlarmName": "sluice-ep-v2-errors"}],
        },
    }


def test_a_missing_alarm_is_a_warning_only_while_the_rollout_is_active() -> None:
    now = datetime.now(UTC)
    active = rollout_fields(rollout_view(_record("BAKING", 0), now, {}))
    ended = rollout_fields(rollout_view(_record("PROMOTED", 1), now, {}))
    starting = rollout_fields(rollout_view(_record("DEPLOYING", -1), now, {}))
    promoting = rollout_fields(rollout_view(_record("PROMOTING", 1), now, {}))

    assert (
        "warning",
        "team-p99: MISSING: not in CloudWatch, this active rollout cannot roll back on it",
    ) in (active)
    assert ("alarm", "sluice-ep-v2-errors: deleted (rollout ended)") in ended
    assert ("alarm", "team-p99: not found (rollout ended)") in ended
    assert ("alarm", "sluice-ep-v2-errors: not created yet (armed once the candidate has joined)") in starting
    assert ("alarm", "sluice-ep-v2-errors: deleted (rollout ending)") in promoting
    assert not [name for name, _ in promoting if name == "warning"]


def test_an_upload_whose_intake_named_a_queued_rollout_reads_as_queued_before_the_intake_is_final() -> None:
    """The intake names its rollout on the intake record before it queues it, and turns ROLLOUT_STARTED
    last: in between, the upload is queued, not "being validated"."""
    upload = {
        "key": "endpoints/ep/v3/model.tar.gz",
        "version": "v3",
        "status": "RECEIVED",
        "rollout_id": "r3",
    }
    queued = {"rollout_id": "r3", "version": "v3", "status": "QUEUED"}
    lease = {"rollout_id": "r2", "version": "v2"}
    holder = {"rollout_id": "r2", "version": "v2", "status": "BAKING"}

    view = latest_upload_view(upload, queued, lease, holder)
    validating = latest_upload_view(upload, None, lease, holder)

    assert view["summary"] == (
        "v3 queued: waits for rollout r2 (v2, BAKING), which holds the endpoint; "
        "it starts when that rollout ends"
    )
    assert "not yet started: being validated" in validating["summary"]


# -- status --watch ------------------------------------------------------------------------------------
def _blocks(stdout: str) -> list[str]:
    """The blocks a non-terminal watch printed, each opened by its `── <time> ──` line."""
    return [block for block in stdout.split("── ")[1:] if block.strip()]


def test_watch_prints_each_change_until_the_rollout_is_promoted_then_exits_0(canary: Canary) -> None:
    endpoint = canary.endpoint()
    canary.deploy(endpoint, "v2", {"steps": [50, 100], "bake_seconds": 200, **UNJUDGED})
    canary.wait_for(endpoint, lambda r: r["status"] == "BAKING", "the bake of step 1")

    watched = canary.sluice("status", endpoint, "--watch", "--interval", "0.2", "--timeout", "120")

    assert watched.exit_code == 0, (watched.stdout, watched.stderr)
    blocks = _blocks(watched.stdout)
    assert len(blocks) >= 2
    assert "Active rollout" in blocks[0] and "Latest decisions" in blocks[0]
    assert any("2/2   planned 50 % → 100 % ◀" in block for block in blocks)
    assert "refreshing every" not in watched.stdout  # not a terminal: blocks, no live redraw
    last = blocks[-1]
    assert "Latest rollout (none active)" in last
    assert "promoted" in last  # the latest decisions
    assert last.rstrip().splitlines()[-1].startswith("Done: rollout ")
    assert last.rstrip().endswith("of v2 ended PROMOTED (exit 0)")

    # -o json: one document per line per change; an ended rollout gives one, settled, at once.
    (line,) = canary.ok("-o", "json", "status", endpoint, "--watch").splitlines()
    document = json.loads(line)
    assert document["watch"] == {"settled": True, "exit_code": 0}
    assert document["rollout"]["status"] == "PROMOTED"
    assert document["decisions"][-1]["event"] == "promoted"


def test_watch_exits_3_when_the_rollout_rolls_back_and_130_on_ctrl_c(canary: Canary) -> None:
    endpoint = canary.endpoint()
    canary.deploy(endpoint, "v2", {"steps": [50, 100], "bake_seconds": 3600, **UNJUDGED})
    canary.wait_for(endpoint, lambda r: r["status"] == "BAKING", "the bake of step 1")

    # Ctrl-C: the installed command, interrupted once it has shown the rollout; the rollout goes on.
    command = [
        str(Path(sys.executable).parent / "sluice"),
        "--endpoint-url",
        canary.sandbox.endpoint_url,
        "--table",
        canary.table,
        "status",
        endpoint,
        "--watch",
    ]
    watcher = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert watcher.stdout is not None
    first = watcher.stdout.readline()
    assert first.startswith("── "), first
    watcher.send_signal(signal.SIGINT)
    out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 130, (out, err)
    assert "stopped watching; the rollout goes on" in err
    assert canary.rollout(endpoint)["status"] == "BAKING"  # type: ignore[index]

    # On a terminal (TTY_COMPATIBLE makes rich treat the output as one): redrawn in place; --timeout.
    on_a_terminal = ThreadIsolatedRunner().invoke(
        app,
        [
            *("--endpoint-url", canary.sandbox.endpoint_url, "--table", canary.table),
            *("status", endpoint, "--watch", "--interval", "0.2", "--timeout", "1"),
        ],
        env={"COLUMNS": "200", "TTY_COMPATIBLE": "1", "SLUICE_REGISTRY_TABLE": None},
    )
    assert on_a_terminal.exit_code == 4, (on_a_terminal.stdout, on_a_terminal.stderr)
    assert "refreshing every 0.2 s; Ctrl-C stops watching (the rollout goes on)" in on_a_terminal.stdout
    assert "gave up after 1 s; the rollout goes on" in on_a_terminal.stdout
    assert "── " not in on_a_terminal.stdout  # no blocks: one view, redrawn

    def fire_alarm() -> None:
        time.sleep(1.0)  # while the watch below runs (if it runs later, it sees the rollback ended)
        canary.sandbox.client("cloudwatch").set_alarm_state(
            AlarmName=f"sluice-{endpoint}-v2-errors", StateValue="ALARM", StateReason="test: errors"
        )

    firing = threading.Thread(target=fire_alarm)
    firing.start()
    watched = canary.sluice("status", endpoint, "--watch", "--interval", "0.2", "--timeout", "120")
    firing.join()

    assert watched.exit_code == 3, (watched.stdout, watched.stderr)
    last = _blocks(watched.stdout)[-1]
    assert "ROLLED_BACK" in last
    assert last.rstrip().endswith("(exit 3)")


def test_the_bake_countdown_alone_is_not_a_change() -> None:
    from sluice_cli.commands.status_watch import _signature

    def document(left: float) -> dict[str, Any]:
        return {"endpoint": "ep", "rollout": {"status": "BAKING", "bake_seconds_left": left}}

    assert _signature(document(100.0)) == _signature(document(42.5))
    assert _signature(document(1.0)) != _signature({**document(1.0), "rollout": {"status": "SHIFTING"}})
