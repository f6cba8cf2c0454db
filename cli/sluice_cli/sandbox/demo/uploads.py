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


# The real-time endpoint's rollout configuration (README, "deploy.json"): four steps of 300 s each, and
# autoscaling with a target of max_rps x safety_factor x 60 = 600 invocations per instance and minute.
ROLLOUT_STEPS = (10, 25, 50, 100)
BAKE_SECONDS = 300
AUTOSCALING = {"min": 2, "max": 6, "max_rps": 20, "safety_factor": 0.5}


# v3's own deploy.json (`endpoints/<endpoint>/v3/deploy.json`): the same steps with 1800 s bakes. Its
# alarm ends the bake as soon as it fires; the long bake only leaves the alarm time to fire from the
# data on a busy machine (at x100 a 300 s bake is 3 s of wall time, shorter than the data → alarm →
# rollback path when two test workers and coverage share two cores).
V3_BAKE_SECONDS = 1800


def deploy_json(bake_seconds: int = BAKE_SECONDS) -> bytes:
    """`endpoints/<endpoint>/deploy.json`: how every version of the endpoint is rolled out (a version's
    own deploy.json, in its folder, takes precedence)."""
    config = {
        "rollout": {"steps": list(ROLLOUT_STEPS), "bake_seconds": bake_seconds},
        "autoscaling": dict(AUTOSCALING),
    }
    return json.dumps(config, indent=2).encode()
