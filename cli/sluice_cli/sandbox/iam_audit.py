"""What IAM enforcement decided for the stack's roles, and which of their permissions anything used.

`IamAudit` records each decision moto's policy check takes for a session of one of the stack's roles
(`IAMRequestBase.check_action_permitted`, the one place every enforced request passes): the function or
state machine the role belongs to, the action, the resource, allowed or not. The administrator's
requests (the user, the demo, the provisioner) are not recorded.

- A denial is logged at once, naming the function and the action as AWS's message does, and kept in
  the process-wide `DENIALS` (the test suite fails a test during which one happened: tests/conftest.py).
- `coverage()` reads each role's inline policies as provisioned and says, statement by statement and
  action by action, whether an allowed request used it. With `SLUICE_IAM_LEDGER=<dir>` in the
  environment, a sandbox of the real template writes its coverage there when it stops; the test suite
  gathers them and fails when a permission of template.yaml was used by no test (tests/iam_ledger.py):
  then removing any permission the code needs makes some test fail with AccessDenied.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LEDGER_ENV = "SLUICE_IAM_LEDGER"


@dataclass(frozen=True)
class Decision:
    owner: str  # the logical ID of the function or state machine whose role made the request
    role: str
    action: str
    resource: str
    allowed: bool

    def describe(self) -> str:
        return (
            f"{self.owner} (role {self.role}) is not authorized to perform: {self.action} "
            f"on resource: {self.resource}"
        )


# Every denial of every sandbox in this process, in order (read by the test suite).
DENIALS: list[Decision] = []
_DENIALS_LOCK = threading.Lock()


def denials_since(count: int) -> list[Decision]:
    with _DENIALS_LOCK:
        return DENIALS[count:]


def denial_count() -> int:
    with _DENIALS_LOCK:
        return len(DENIALS)


class IamAudit:
    """Decisions for the sessions of the roles in `owners` (role name -> the logical ID of the function
    or state machine it serves)."""

    def __init__(
        self, owners: Mapping[str, str], account_id: str, policy_templates: Mapping[str, str] | None = None
    ) -> None:
        self.owners = dict(owners)
        self.account_id = account_id
        # inline policy name -> the SAM policy template it expands (granted, and removable, as a whole)
        self.policy_templates = dict(policy_templates or {})
        self.decisions: list[Decision] = []
        self._lock = threading.Lock()

    @contextmanager
    def recording(self) -> Iterator[None]:
        from moto.iam.access_control import IAMRequestBase

        audit = self
        original = IAMRequestBase.check_action_permitted

        def check_action_permitted(request: Any, resource: str) -> None:
            try:
                original(request, resource)
            except Exception:
                audit._record(request, resource, allowed=False)
                raise
            audit._record(request, resource, allowed=True)

        IAMRequestBase.check_action_permitted = check_action_permitted  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            IAMRequestBase.check_action_permitted = original  # type: ignore[method-assign]

    def _record(self, request: Any, resource: str, *, allowed: bool) -> None:
        arn = str(getattr(request._access_key, "arn", ""))
        if ":assumed-role/" not in arn:
            return
        role = arn.split(":assumed-role/", 1)[1].split("/", 1)[0]
        owner = self.owners.get(role)
        if owner is None:
            return
        decision = Decision(owner, role, str(request._action), str(resource), allowed)
        with self._lock:
            self.decisions.append(decision)
        if not allowed:
            log.warning("IAM: AccessDenied: %s", decision.describe())
            with _DENIALS_LOCK:
                DENIALS.append(decision)

    # -- which permissions were used -----------------------------------------------------------------
    def coverage(self) -> dict[str, bool]:
        """Each permission of the stack's roles -> whether an allowed request of the role used it: one
        entry per action of a statement the template writes (`<owner> <policy> #<statement> <action>`),
        one per SAM policy template (`<owner> <policy> <template>`: it is granted and removed whole), one
        per statement action of a policy SAM implies from another property, for all functions together
        (`SAM <policy suffix> #<statement> <action>`)."""
        from moto.iam.models import iam_backends

        backend = iam_backends[self.account_id]["global"]
        with self._lock:
            allowed = [d for d in self.decisions if d.allowed]
        used: dict[str, bool] = {}
        for role_name, owner in sorted(self.owners.items()):
            mine = [d for d in allowed if d.owner == owner]
            for policy_name, document in sorted(backend.get_role(role_name).policies.items()):
                grants = list(_grants(json.loads(document)))
                template = self.policy_templates.get(policy_name)
                if template:
                    used[f"{owner} {policy_name} {template}"] = any(
                        _grants_decision(action, resources, d)
                        for _, action, resources in grants
                        for d in mine
                    )
                    continue
                # A policy SAM adds for another property (EventInvokeConfig's OnFailure destination...)
                # has the same statements for every function: one entry for all of them.
                implied = not policy_name.startswith(f"{owner}RolePolicy")
                for index, action, resources in grants:
                    key = (
                        f"SAM {policy_name.removeprefix(owner)} #{index} {action}"
                        if implied
                        else f"{owner} {policy_name} #{index} {action}"
                    )
                    used[key] = used.get(key, False) or any(
                        _grants_decision(action, resources, d) for d in mine
                    )
        return used

    def write_ledger(self, directory: str | Path) -> Path:
        path = Path(directory) / f"coverage-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
        path.write_text(json.dumps(self.coverage(), indent=1, sort_keys=True))
        return path


def _grants(document: Mapping[str, Any]) -> Iterator[tuple[int, str, list[str]]]:
    """(statement index, action pattern, resource patterns) of each Allow statement of a policy."""
    statements = document.get("Statement", [])
    for index, statement in enumerate(statements if isinstance(statements, list) else [statements]):
        if statement.get("Effect") == "Allow":
            for action in _as_list(statement.get("Action", [])):
                yield index, action, _as_list(statement.get("Resource", "*"))


def _grants_decision(action: str, resources: list[str], decision: Decision) -> bool:
    return _matches(action, decision.action) and any(_matches(r, decision.resource) for r in resources)


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _matches(pattern: str, value: str) -> bool:
    """IAM's wildcards (`*`, `?`); actions compare case-insensitively, as IAM does."""
    escaped = pattern.replace("[", "[[]")
    return fnmatch.fnmatchcase(value.lower(), escaped.lower())
