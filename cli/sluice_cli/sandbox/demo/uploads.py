"""What the demo uploads: small model archives (one of them hostile), a warm-up request, a batch CSV,
and the deploy.json of the canary rollouts.

Everything is built in memory and deterministically (fixed seeds, fixed mtimes, gzip without a
timestamp), so two runs upload byte-identical objects and print the same sha256 values.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterable
from typing import Any

# Fixed member mtime (2026-11-25T00:00:00Z): archives are byte-identical from run to run.
_MTIME = 1_795_564_800

INFERENCE_PY = b'''"""SageMaker PyTorch serving hooks of the demo model."""
import torch


def model_fn(model_dir):
    return torch.jit.load(f"{model_dir}/model.pth")


def predict_fn(data, model):
    return model(data)
'''

HOSTILE_MEMBER = "../../etc/passwd"


def weights(seed: str, size: int = 64 * 1024) -> bytes:
    """`size` pseudo-random (incompressible, like real weights) bytes, the same for the same seed."""
    return hashlib.shake_256(seed.encode()).digest(size)


def tar_gz(members: Iterable[tuple[str, bytes]]) -> bytes:
    """A .tar.gz of regular files, exactly as listed (names are not sanitised: see `hostile_archive`)."""
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = _MTIME
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def model_archive(seed: str) -> bytes:
    """A SageMaker PyTorch model archive: model.pth (weights from `seed`) and code/inference.py."""
    return tar_gz([("model.pth", weights(seed)), ("code/inference.py", INFERENCE_PY)])


def hostile_archive() -> bytes:
    """A model archive with a path-traversal member: extracting it naively writes outside the target."""
    return tar_gz(
        [
            ("model.pth", weights("evil")),
            (HOSTILE_MEMBER, b"root:x:0:0:root:/root:/bin/bash\n"),
        ]
    )


def warmup_request() -> bytes:
    """`multi-model/<endpoint>/<model>.warmup.json`: the request sent once to each new version."""
    return json.dumps({"content_type": "text/csv", "body": "42,0.5"}).encode()


def batch_csv(records: int = 1000) -> bytes:
    """`records` lines of churn features (customer id, tenure in months, monthly charge, support calls)."""
    lines = [
        f"{100000 + i},{1 + (i * 7) % 72},{19.5 + (i * 37) % 9000 / 100:.2f},{(i * 13) % 6}"
        for i in range(records)
    ]
    return ("\n".join(lines) + "\n").encode()


# The real-time endpoint's rollout configuration (README, "deploy.json"): four steps of 120 s each, the
# canary analysis with its defaults, and autoscaling with a target of max_rps x safety_factor x 60 = 600
# invocations per instance and minute. The analysis looks once a (simulated) minute: a 120 s bake is two
# looks - at 10 % the first sees ~120 candidate invocations (< min_invocations 200: inconclusive), the
# second ~240 and judges. Every look is a Lambda and a few state transitions: fewer looks, a shorter demo.
ROLLOUT_STEPS = (10, 25, 50, 100)
BAKE_SECONDS = 120
AUTOSCALING = {"min": 2, "max": 6, "max_rps": 20, "safety_factor": 0.5}


# v3's own deploy.json (`endpoints/<endpoint>/v3/deploy.json`): the same steps with 1800 s bakes and the
# canary analysis off (`"analysis": null`): v3 tells the alarm's story - its error alarm fires from the
# data and ends the bake (the analysis would judge the same spike at its next look: the demo keeps the two
# paths apart, v4 shows the analysis). The long bake only leaves the alarm time to fire on a busy machine
# (at x100 a 120 s bake is 1.2 s of wall time, shorter than the data → alarm → rollback path when two test
# workers and coverage share two cores).
V3_BAKE_SECONDS = 1800

# The low-traffic endpoint's deploy.json: two steps, 60 s bakes, the analysis on with max_bake_seconds 180
# (a step without enough traffic to judge bakes on up to 180 s, then on_insufficient_data - "hold" by
# default - applies; the default 1800 s would be 30 looks of the demo's time).
QUIET_STEPS = (10, 100)
QUIET_BAKE_SECONDS = 60
QUIET_MAX_BAKE_SECONDS = 180

ANALYSIS_DEFAULT = object()  # deploy_json: leave "analysis" out (the defaults apply)


def deploy_json(
    bake_seconds: int = BAKE_SECONDS,
    *,
    steps: Iterable[int] = ROLLOUT_STEPS,
    analysis: dict[str, Any] | object | None = ANALYSIS_DEFAULT,
    autoscaling: bool = True,
) -> bytes:
    """`endpoints/<endpoint>/deploy.json`: how every version of the endpoint is rolled out (a version's
    own deploy.json, in its folder, takes precedence). `analysis`: None writes `"analysis": null` (off),
    a dict its settings; by default the key is left out and the analysis runs with its defaults."""
    rollout: dict[str, Any] = {"steps": list(steps), "bake_seconds": bake_seconds}
    if analysis is not ANALYSIS_DEFAULT:
        rollout["analysis"] = analysis
    config: dict[str, Any] = {"rollout": rollout}
    if autoscaling:
        config["autoscaling"] = dict(AUTOSCALING)
    return json.dumps(config, indent=2).encode()


def quiet_deploy_json() -> bytes:
    """The low-traffic endpoint's deploy.json (no autoscaling: one instance)."""
    return deploy_json(
        QUIET_BAKE_SECONDS,
        steps=QUIET_STEPS,
        analysis={"max_bake_seconds": QUIET_MAX_BAKE_SECONDS},
        autoscaling=False,
    )
