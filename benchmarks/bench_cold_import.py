"""Cold import of every Lambda handler, as a ratio to a bare `import boto3` measured in the same run.

What a cold start pays before the first event: the Python runtime imports the function's `Handler`
module (template.yaml). For each function of template.yaml, a fresh interpreter imports
`sluice.handlers.<name>` and times only that import (`time.perf_counter()` around
`importlib.import_module` inside the child, so the interpreter's own start-up is left out). The
reference is the same measurement of `import boto3`: every adapter needs boto3, so it is the floor a
handler cannot go under. Reference and handler runs alternate (the reference first in even rounds, the
handler first in odd ones), 7 rounds (`quick`: 2); a figure is the median of its handler's runs and its
reference the median of the boto3 runs interleaved with them. Goal: AlarmState and RolloutStep (the two
functions on the rollback path) import in at most 1.5x `import boto3`.

As Lambda runs it:
- Only what `sam build` ships is importable. The child runs with `python -S` (no site-packages) and a
  package directory on its path holding `sluice` and the distributions pinned in
  functions/requirements.txt, with their .dist-info (symlinks into this environment), as /var/task
  does: the dev environment's extra libraries (moto, requests, ...) are not there to be imported or
  scanned (pydantic reads the installed distributions' entry points at its first model).
- The environment a function has at its init: its variables from template.yaml (Globals merged, `!Ref`
  of a parameter as the parameter's default, other intrinsics as dummy strings), and what the Lambda
  runtime sets (`LAMBDA_TASK_ROOT`, the function name, region, dummy credentials, the X-Ray daemon
  address). `LAMBDA_TASK_ROOT` matters: with it the Powertools Tracer is enabled and patches at import,
  and the X-Ray recorder samples locally; without it the recorder would build a botocore X-Ray client at
  import, which Lambda never does. Nothing goes to the network.
- Bytecode: cached. Each module is imported once, untimed, with `PYTHONPYCACHEPREFIX` pointing at a
  private directory (and `PYTHONDONTWRITEBYTECODE` unset), so the timed imports read .pyc files: the
  figure is what the import executes. pip writes .pyc for the dependencies when it installs them; a
  package shipped without (valid) .pyc pays the compiler on top, on every cold start, since /var/task is
  read-only - in proportion to the source imported, which importing less also reduces.

    .venv/bin/python benchmarks/run.py --only bench_cold_import
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from figures import Figure, percentile

from sluice_cli.sandbox.template import load_template

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
REQUIREMENTS = ROOT / "functions" / "requirements.txt"
SLUICE = ROOT / "functions" / "sluice"
REFERENCE = "boto3"
GOAL_RATIO = 1.5
GOAL_HANDLERS = ("sluice.handlers.alarm_state", "sluice.handlers.rollout_step")
ROUNDS, QUICK_ROUNDS = 7, 2
REGION = "us-east-1"

# The child: argv[1] is the module. Only what the interpreter has loaded at start-up before the timer.
CHILD = """
import importlib, sys, time
loaded = len(sys.modules)
started = time.perf_counter()
importlib.import_module(sys.argv[1])
seconds = time.perf_counter() - started
print(seconds, len(sys.modules) - loaded)
"""


def lambda_package(into: Path) -> Path:
    """A directory laid out as the function's /var/task: `sluice` and the pinned dependencies."""
    package = into / "task"
    package.mkdir()
    (package / "sluice").symlink_to(SLUICE, target_is_directory=True)
    for line in REQUIREMENTS.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", line)
        if not match:
            continue
        distribution = importlib.metadata.distribution(match.group(1))
        for top in sorted({file.parts[0] for file in distribution.files or ()}):
            if top in {"..", "__pycache__"} or top.endswith((".pth", "-stubs")):
                continue
            if not (package / top).exists():
                (package / top).symlink_to(Path(str(distribution.locate_file(top))))
    return package


def function_environments(package: Path) -> dict[str, dict[str, str]]:
    """Handler module -> the environment its function starts with (template.yaml + the Lambda runtime)."""
    template = load_template(TEMPLATE)
    environments = {}
    for function in template.functions:
        handler = str(function.properties["Handler"])
        variables = (function.properties.get("Environment") or {}).get("Variables") or {}
        environments[handler.rsplit(".", 1)[0]] = {
            **{name: _dummy(value, template.parameters) for name, value in variables.items()},
            **_runtime_environment(function.logical_id, handler, package),
        }
    return environments


def _dummy(value: Any, parameters: dict[str, Any]) -> str:
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
        return str(parameters[value["Ref"]])
    return value if isinstance(value, str) else "bench-dummy"


def _runtime_environment(function_name: str, handler: str, package: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(package),
        "PYTHONPATH": str(package),
        "_HANDLER": handler,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "AKIABENCHCOLDIMPORT0",
        "AWS_SECRET_ACCESS_KEY": "bench-cold-import-secret",
        "AWS_SESSION_TOKEN": "bench-cold-import-token",
        "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    }


def import_once(module: str, environment: dict[str, str], package: Path) -> tuple[float, int]:
    """Seconds to import `module` in a fresh interpreter, and how many modules that import loaded."""
    done = subprocess.run(  # noqa: S603  # this interpreter, a constant program, a module named by template.yaml
        [sys.executable, "-S", "-c", CHILD, module],
        env=environment,
        cwd=package,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"import {module} failed:\n{done.stderr}")
    seconds, modules = done.stdout.split()
    return float(seconds), int(modules)


def run(quick: bool = False) -> list[Figure]:
    rounds = QUICK_ROUNDS if quick else ROUNDS
    with tempfile.TemporaryDirectory(prefix="sluice-cold-import-") as scratch:
        package = lambda_package(Path(scratch))
        environments = {
            handler: {**environment, "PYTHONPYCACHEPREFIX": str(Path(scratch) / "pycache")}
            for handler, environment in function_environments(package).items()
        }
        for handler, environment in environments.items():  # compile once: the timed runs read .pyc
            import_once(REFERENCE, environment, package)
            import_once(handler, environment, package)
        samples: dict[str, list[float]] = {handler: [] for handler in environments}
        references: dict[str, list[float]] = {handler: [] for handler in environments}
        modules: dict[str, int] = {}
        for index in range(rounds):
            for handler, environment in environments.items():
                pair = (REFERENCE, handler) if index % 2 == 0 else (handler, REFERENCE)
                for module in pair:
                    seconds, count = import_once(module, environment, package)
                    (references if module == REFERENCE else samples)[handler].append(seconds)
                    modules[module] = count
    figures = []
    for handler in environments:
        value = percentile(samples[handler], 50)
        reference = percentile(references[handler], 50)
        goal = handler in GOAL_HANDLERS
        figures.append(
            Figure(
                group="cold import",
                name=f"import {handler}",
                value=value,
                unit="s",
                reference=f"import {REFERENCE}",
                reference_value=reference,
                goal=f"ratio <= {GOAL_RATIO}" if goal else "",
                met=(value / reference <= GOAL_RATIO) if goal else None,
                detail={
                    "samples": samples[handler],
                    "reference_samples": references[handler],
                    "modules_loaded": modules[handler],
                    "reference_modules_loaded": modules[REFERENCE],
                    "bytecode": "cached",
                },
            )
        )
    return figures
