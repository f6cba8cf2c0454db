"""The demo's cast: the names of what it creates and uploads, the notification contract, and the
canary's SIMULATED traffic and compressed time."""

from __future__ import annotations

from sluice_cli.sandbox import seed
from sluice_cli.sandbox.demo import uploads

ENDPOINT = "demo-mme"
ENDPOINT_MODEL = "demo-mme-model"
ENDPOINT_CONFIG = "demo-mme-config"
MODEL = "churn"
HOSTILE_MODEL = "evil"
BATCH_MODEL = "demo-batch-model"
IMAGE = seed.IMAGE
ROLE_ARN = seed.EXECUTION_ROLE_ARN
SERVING_PREFIX = (
    f"serving/{ENDPOINT}/"  # as seed.serving_prefix: in the artifact bucket, Sluice must not recurse
)
ARCHIVE_KEY = f"multi-model/{ENDPOINT}/{MODEL}.tar.gz"
WARMUP_KEY = f"multi-model/{ENDPOINT}/{MODEL}.warmup.json"
HOSTILE_KEY = f"multi-model/{ENDPOINT}/{HOSTILE_MODEL}.tar.gz"
BATCH_RECORDS = 1000
BATCH_INPUT_KEY = f"batch/{BATCH_MODEL}/input/2026-11-25/records.csv"
SNS_INBOX = "sluice-demo-sns-inbox"
EVENTS_INBOX = "sluice-demo-eventbridge-inbox"
EVENTS_RULE = "sluice-demo-notifications"

# The canary story: a real-time endpoint made by the user at v1, then v2 and v3 uploaded for Sluice.
REALTIME = "demo-realtime"
REALTIME_INSTANCES = 2
DEPLOY_JSON_KEY = f"endpoints/{REALTIME}/deploy.json"
AUTOSCALING_TARGET = (
    uploads.AUTOSCALING["max_rps"] * uploads.AUTOSCALING["safety_factor"] * 60
)  # 20 x 0.5 x 60 = 600 invocations per instance and minute
# What a hand-set alarm would say (`aws cloudwatch set-alarm-state ... --state-reason`): the demo's alarm
# comes from metric data instead, so this text must not be the reason of its rollback.
SIMULATED_ALARM_REASON = "Threshold Crossed: 1 datapoint [0.083] was greater than the threshold (0.01)"
# SIMULATED traffic on the real-time endpoint: requests per simulated second, and error rates. The
# candidate's error alarm (README default: more than 1 % of its invocations failing over one minute)
# sees a single error in a partial first minute of 10 % canary traffic (< 100 invocations) as > 1 %:
# the healthy candidate v2 serves no errors, the baselines 0.1 %; v3 none either until it bakes at
# 10 %, then a spike of 8 % (its next full minute is well above 1 %: the alarm fires during that bake).
TRAFFIC_RPS = 20
V2_ERROR_RATES = {"v1": 0.001, "v2": 0.0}
V3_CALM_ERROR_RATES = {"v2": 0.001, "v3": 0.0}
V3_ERROR_RATES = {"v2": 0.001, "v3": 0.08}
# v4: 25 % slower than v2 (SIMULATED ModelLatency 50 ms against 40 ms, each Normal with 10 % jitter), no
# errors (a single error in v4's first partial minute would fire its error alarm, see above); its p99
# latency alarm (500 ms) has nothing to fire on: only the canary analysis can tell.
V4_ERROR_RATES = {"v2": 0.001, "v4": 0.0}
V4_LATENCY_MS = {"v2": 40.0, "v4": 50.0}
LATENCY_P99_MS = 500.0  # deploy.json's auto_alarms.latency_p99_ms default
# The low-traffic endpoint: one instance at v1, 1 request per simulated second. v2 at 10 % would get ~6 a
# minute; the simulator hands each second's whole requests to the largest shares (traffic.split_invocations),
# so below 10 requests a second a 10 % variant gets none. Either way the analysis' min_invocations (200) are
# out of reach. (More traffic is no more honest here: compressed time stretches each look's window by the
# Lambdas' wall time, ~100 simulated seconds per wall second, so 1 request a second on v2 would pass.)
QUIET = "demo-quiet"
QUIET_RPS = 1
QUIET_ERROR_RATES = {"v1": 0.0, "v2": 0.0}
QUIET_DEPLOY_JSON_KEY = f"endpoints/{QUIET}/deploy.json"
OPERATOR = "on-call"
ERROR_RATE_THRESHOLD = 0.01  # deploy.json's auto_alarms.error_rate default
ALARM_INBOX = "sluice-demo-alarm-inbox"
ALARM_RULE = "sluice-demo-alarm-state-changes"
ALARM_EVENT = "CloudWatch Alarm State Change"
METRICS_PERIOD_SECONDS = 1  # GetMetricData's smallest period: 100 simulated seconds at x100
# The report's error-rate buckets: the smallest of GetMetricData's high-resolution periods (1, 5, 10, 30 s,
# then multiples of 60) that cuts the rollout into at most this many. moto answers a query period by period,
# each one scanning every datum of the whole window: 1 s periods over a 2-minute rollout whose SIMULATED
# traffic wrote ~100k datums took over a minute (a botocore read timeout).
MAX_METRICS_BUCKETS = 40
METRICS_PERIODS = (1, 5, 10, 30, 60, 120, 300)
REPORT_DIRECTORY = "sandbox-report"
# Step Functions time (Wait states, Retry intervals, task timeouts) runs 100x faster: a 120 s bake, 1.2 s.
TIME_SCALE = 0.01
TIMES = "\u00d7"  # the multiplication sign
# A deadline, not a duration (the wait ends when the state is reached): alone, v2's four steps took
# ~25 s before the canary analysis; every look adds a Lambda and a few state transitions, and on two
# busy shared cores, with IAM enforced on every request, v2's 300 s bakes (15 looks) took 120 s.
ROLLOUT_TIMEOUT_SECONDS = 400.0


def model_key(endpoint: str, version: str) -> str:
    return f"endpoints/{endpoint}/{version}/model.tar.gz"


def alarm_name(endpoint: str, version: str) -> str:
    """The candidate's automatic error-rate alarm (README: `sluice-<endpoint>-<version>-errors`)."""
    return f"sluice-{endpoint}-{version}-errors"


# The notification contract (README, "Rejections, failures, notifications").
REGISTERED = "Sluice Model Registered"
UNCHANGED = "Sluice Model Unchanged"
REJECTED = "Sluice Artifact Rejected"
BATCH_STATE = "Sluice Batch Job State Change"
ROLLOUT_STATE = "Sluice Rollout State Change"
EXPECTED_NOTIFICATIONS = {REGISTERED: 2, UNCHANGED: 1, REJECTED: 1, BATCH_STATE: 3}

# The rollout states each canary version is expected to notify, in order: v2 through its four steps; v3
# through the steps it reached (1 or 2: its alarm fires during the first bakes), then back; v4 rolled back
# at step 1 by the canary analysis; the low-traffic v2 held (PAUSED) at step 1, then aborted.
V2_STATES = ("STARTED", "STEP", "STEP", "STEP", "STEP", "PROMOTED")


def rolled_back_states(steps: int) -> tuple[str, ...]:
    return ("STARTED", *("STEP",) * steps, "ROLLING_BACK", "ROLLED_BACK")


V3_STATES = rolled_back_states(2)  # when the alarm fires during step 2 (step 1: one STEP fewer)
V4_STATES = rolled_back_states(1)
HELD_STATES = ("STARTED", "STEP", "PAUSED", "ROLLING_BACK", "ROLLED_BACK")

# A batch job record while SageMaker runs the job: Sluice's STARTED, or SageMaker's InProgress already.
RUNNING = frozenset({"STARTED", "InProgress"})

SETTLE_TIMEOUT_SECONDS = 30.0
