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
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice_cli.sandbox.iam_audit import LEDGER_ENV, denial_count, denials_since

STATE_MACHINE_LOGGING = (
    "Step Functions checks these on the execution role when a state machine with a LoggingConfiguration "
    "is created or updated (Step Functions Developer Guide, 'IAM policies for logging to CloudWatch "
    "Logs'); moto creates it without CloudWatch Logs delivery, so no sandbox request can use them."
)
# Permissions no test can use in the sandbox, each with the reason (key as in IamAudit.coverage()).
UNEXERCISED: dict[str, str] = {
    f"RolloutStateMachine RolloutStateMachineRolePolicy1 #0 logs:{action}": STATE_MACHINE_LOGGING
    for action in (
        "CreateLogDelivery",
        "DeleteLogDelivery",
        "DescribeLogGroups",
        "DescribeResourcePolicies",
        "GetLogDelivery",
        "ListLogDeliveries",
        "PutResourcePolicy",
        "UpdateLogDelivery",
    )
}


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
    unused = sorted(key for key, used in coverage.items() if not used and key not in UNEXERCISED)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    write = reporter.write_line if reporter else print
    partial = config.stash.get(_DESELECTED, 0) or config.getoption("keyword") or config.getoption("markexpr")
    write(f"IAM coverage: {sum(coverage.values())} of {len(coverage)} permissions used by the tests")
    if not coverage:
        return
    if unused and not partial and exitstatus == 0:
        write("IAM: permissions template.yaml grants that no test uses (use one, or remove it):")
        for key in unused:
            write(f"  {key}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _gather(directory: Path) -> dict[str, bool]:
    coverage: dict[str, bool] = {}
    for path in sorted(directory.glob("coverage-*.json")):
        for key, used in json.loads(path.read_text()).items():
            coverage[key] = coverage.get(key, False) or bool(used)
    return coverage
