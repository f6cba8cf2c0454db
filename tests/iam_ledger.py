"""IAM in the test suite: no test may meet an AccessDenied it does not expect, and with `--iam-coverage`
every permission template.yaml grants Sluice's roles must be used by some test.

Together they make the template's permissions tested: the sandbox enforces IAM with the roles SAM makes
from template.yaml (sluice_cli/sandbox/iam_enforcement.py), so removing a permission that some test
uses makes that test fail, naming the function and the action (`IAM: AccessDenied: RolloutStepFunction
(role …) is not authorized to perform: cloudwatch:TagResource on resource: …`); and the coverage check
says which permissions no test uses, so that none is granted "just in case" and untested.

The coverage entries come from every sandbox of the real template (sluice_cli/sandbox/iam_audit.py
writes them to `$SLUICE_IAM_LEDGER`, one file per sandbox, xdist workers included); the controller
gathers them at the end. A permission no test can use is listed in UNEXERCISED with the reason.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice_cli.sandbox.iam_audit import LEDGER_ENV, denial_count, denials_since

# Permissions no test can use in the sandbox, each with its reason: (pattern of IamAudit.coverage()
# keys, reason). Every entry is a statement of fact about AWS or about what the sandbox cannot stage.
UNEXERCISED: list[tuple[str, str]] = [
    (
        r"RolloutStateMachine \S+ #\d+ logs:\w+",
        "Step Functions checks these on the execution role when a state machine with a "
        "LoggingConfiguration is created or updated (Step Functions Developer Guide, 'IAM policies for "
        "logging to CloudWatch Logs'); moto creates it without CloudWatch Logs delivery.",
    ),
    (
        r"\w+Function \S+ #\d+ s3:ListBucket",
        "Lets a HeadObject of a missing key answer 404 instead of 403 (S3 API reference, HeadObject: "
        "without s3:ListBucket Amazon S3 returns 403 Forbidden); no call lists the bucket, and moto "
        "answers 404 either way.",
    ),
    (
        r"(RegisterModel|StartRollout)Function \S+ #\d+ s3:(AbortMultipartUpload|PutObjectVersionTagging)",
        "Only a multipart copy uses them: s3transfer's managed copy goes multipart above "
        "adapters/s3.py's threshold (64 MiB), aborts a failed one, and tags the new object by its "
        "version id (issue 9, finding 17); the tests' archives are kilobytes.",
    ),
    (
        r"RolloutStepFunction \S+ #\d+ states:SendTask(Success|Failure)",
        "A signal (abort, promote, resume) that lands between a step's check and its wait storing the "
        "task token is answered by the step itself (actions_walk.wait_for_signal); unit-tested "
        "(tests/unit/test_rollout_signals.py), no sandbox test can place a request in that window.",
    ),
]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--iam-coverage",
        action="store_true",
        help="fail when a permission template.yaml grants is used by no test (full runs only)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "access_denied: the test expects an AccessDenied in the sandbox")
    if hasattr(config, "workerinput") or not config.getoption("--iam-coverage"):
        return
    directory = tempfile.mkdtemp(prefix="sluice-iam-ledger-")
    os.environ[LEDGER_ENV] = directory  # xdist workers start after this and inherit it
    config.stash[_LEDGER] = directory


_LEDGER = pytest.StashKey[str]()
_DESELECTED = pytest.StashKey[int]()


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        config = items[0].config
        config.stash[_DESELECTED] = config.stash.get(_DESELECTED, 0) + len(items)


@pytest.fixture(autouse=True)
def _no_unexpected_access_denied(request: pytest.FixtureRequest) -> Iterator[None]:
    before = denial_count()
    yield
    denied = denials_since(before)
    if denied and request.node.get_closest_marker("access_denied") is None:
        lines = "\n".join(f"  IAM: AccessDenied: {d.describe()}" for d in denied[:10])
        pytest.fail(f"the sandbox refused {len(denied)} request(s) of Sluice's roles:\n{lines}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    directory = config.stash.get(_LEDGER, None)
    if directory is None:
        return
    coverage = _gather(Path(directory))
    unused = sorted(
        key
        for key, used in coverage.items()
        if not used and not any(re.fullmatch(pattern, key) for pattern, _ in UNEXERCISED)
    )
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    write = reporter.write_line if reporter else print
    partial = config.stash.get(_DESELECTED, 0) or config.getoption("keyword") or config.getoption("markexpr")
    write(f"IAM coverage: {sum(coverage.values())} of {len(coverage)} permissions used by the tests")
    if not coverage or not unused:
        return
    write("IAM: permissions template.yaml grants that no test uses (use one, or remove it):")
    for key in unused:
        write(f"  {key}")
    if not partial and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _gather(directory: Path) -> dict[str, bool]:
    coverage: dict[str, bool] = {}
    for path in sorted(directory.glob("coverage-*.json")):
        for key, used in json.loads(path.read_text()).items():
            coverage[key] = coverage.get(key, False) or bool(used)
    return coverage
