"""Faults on demand for a sandbox served in another terminal (`sluice sandbox serve`).

`sluice sandbox fault sagemaker UpdateEndpointWeightsAndCapacities ValidationException "Cannot update
in-progress endpoint" --times 20 --when EndpointName=fraud` writes the request as one JSON file under
`.sandbox/faults/` (beside `.sandbox/outputs.json`, in the directory serve was started from); the serving
sandbox picks it up within half a second, arms it (faults.py) and deletes the file, saying so on its
terminal. `--clear` forgets every armed fault. Files, not a network API: serve mode listens only as
the AWS emulator, and a file written atomically is read whole or not at all.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sluice_cli.sandbox.faults import Fault, FaultInjection

FAULTS_DIRECTORY = Path(".sandbox") / "faults"


def request_fault(
    directory: Path,
    service: str,
    operation: str,
    code: str,
    message: str,
    *,
    times: int = 1,
    when: Mapping[str, str] | None = None,
) -> Path:
    """Ask the sandbox served from `directory` to arm a fault."""
    return _write(
        directory,
        {
            "service": service,
            "operation": operation,
            "code": code,
            "message": message,
            "times": times,
            "when": dict(when or {}),
        },
    )


def request_clear(directory: Path) -> Path:
    """Ask the sandbox served from `directory` to forget every armed fault."""
    return _write(directory, {"clear": True})


def _write(directory: Path, request: Mapping[str, Any]) -> Path:
    folder = directory / FAULTS_DIRECTORY
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{uuid.uuid4().hex}.json"
    partial = folder / f".{name}.partial"
    partial.write_text(json.dumps(request))
    os.replace(partial, folder / name)  # atomic: the sandbox never reads half a request
    return folder / name


def arm_requests(faults: FaultInjection, directory: Path) -> list[str]:
    """Arm (or clear) what was requested under `directory`, oldest first; each request file is deleted.
    Returns one line per request for serve's terminal (a malformed file is named and dropped)."""
    folder = directory / FAULTS_DIRECTORY
    if not folder.is_dir():
        return []
    said = []
    for path in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns):
        try:
            request = json.loads(path.read_text())
            if request.get("clear"):
                faults.clear()
                said.append("faults cleared")
            else:
                fault = faults.fail(
                    str(request["service"]),
                    str(request["operation"]),
                    str(request["code"]),
                    str(request["message"]),
                    times=int(request.get("times", 1)),
                    when={str(k): str(v) for k, v in dict(request.get("when") or {}).items()},
                )
                said.append(f"fault armed: {describe(fault)}")
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            said.append(f"fault request {path.name} ignored: {type(error).__name__}: {error}")
        path.unlink(missing_ok=True)
    return said


def describe(fault: Fault) -> str:
    where = "".join(f" {name}={value}" for name, value in fault.when.items())
    return (
        f"the next {fault.times} {fault.service} {fault.operation}{where} answer "
        f"{fault.code}: {fault.message}"
    )
