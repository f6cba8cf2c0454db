"""Every test runs with dummy AWS credentials and no way to reach real AWS."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
for helpers in ("unit", "integration", "e2e"):
    sys.path.insert(0, str(Path(__file__).parent / helpers))
sys.path.insert(0, str(Path(__file__).parent))

# No unexpected AccessDenied in any test; with --iam-coverage, every permission of template.yaml used.
pytest_plugins = ["iam_ledger"]

for name, value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_METRICS_NAMESPACE": "Sluice",
    "POWERTOOLS_SERVICE_NAME": "sluice",
}.items():
    os.environ[name] = value
os.environ.pop("AWS_PROFILE", None)
os.environ.pop("AWS_ENDPOINT_URL", None)

# Property tests: random exploration on developers' machines (a failure prints its example, keep it
# as a regression case), one fixed sequence of examples in CI so that a landing never depends on luck.
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
