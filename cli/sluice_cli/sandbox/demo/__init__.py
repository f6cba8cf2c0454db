"""`make demo`: the story of Sluice on the local sandbox, told only through AWS APIs.

    python -m sluice_cli.sandbox.demo        # exit code 0 only when every step observed what it expected

The demo acts as a user would: it creates a SageMaker endpoint and models with ordinary SageMaker
calls, drops objects into the artifact bucket, and then *reads* what Sluice decided from where a user
would find it — the registry table, the bucket (objects, metadata, tags) and the notifications (an
SQS queue subscribed to the SNS topic, and one behind an EventBridge rule on `source: sluice`), the
rollout records and decision logs, and what SageMaker's DescribeEndpoint says. It never
looks inside the handlers and recomputes nothing Sluice records; the only things it computes are facts
about its own uploads (their sha256, their line count) to compare Sluice's records with, and the
share of traffic each endpoint variant gets (its weight over the sum of the weights).

The canary story (steps 9 and 10) runs with Step Functions time compressed (`cast.TIME_SCALE`): a 300 s
bake lasts 3 s of wall time, a 60 s alarm period 0.6 s. Both rollouts run under SIMULATED traffic
(`traffic.TrafficSimulator`: per-variant SageMaker metrics in the emulated CloudWatch, split by the
endpoint's live weights): healthy for v2; for v3 an error spike (8 %) once it bakes at 10 %. v3's
error-rate alarm fires from that data (the sandbox evaluates metric alarms as CloudWatch does) and
Sluice rolls v3 back. The time from the alarm's transition to ALARM (the "CloudWatch Alarm State
Change" event, caught by an EventBridge rule → SQS of the demo's) until DescribeEndpoint shows the
baseline back at 100 % is measured and kept in `DemoReport.facts["alarm_to_baseline_seconds"]`.

After the story, `sandbox-report/` (in the current directory) gets report.md and a PNG per rollout
(`report.write_report`): weights over time, alarm periods, decisions, error rates read back from
CloudWatch.

Where things live, each module importing only those above it:

    uploads.py                 what the demo uploads (archives, warm-up request, batch CSV, deploy.json)
    cast.py                    the names it uses, the notification contract, SIMULATED traffic and time
    checks.py                  Check, Checks, StepResult: what a step expected and observed
    harness.py                 Demo: the sandbox as the user sees it (upload, settle, poll, read, show)
    notifications_story.py     steps 0, 8, 11: the subscribers, and what they received
    intake_story.py            steps 1 to 7: multi-model registration, rejection, a batch job
    rollout_watch.py           RolloutWatch: DescribeEndpoint and the rollout record, change by change
    canary_observation.py      traffic, alarm events, metrics, executions, a rollout's outcome and timeline
    canary_promotion_story.py  step 9: a real-time endpoint at v1, v2 promoted step by step
    canary_rollback_story.py   step 10: v3 rolled back when its alarm fires from SIMULATED metric data
    story.py                   StoryStep and STORY, the twelve steps in order
    runner.py                  run_story, run_demo(console) -> DemoReport, the report, the summary, main
"""
