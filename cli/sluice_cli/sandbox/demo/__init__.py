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

The canary story (steps 9 to 12) runs with Step Functions time compressed (`cast.TIME_SCALE`): a 120 s
bake lasts 1.2 s of wall time, a 60 s alarm period 0.6 s. Every rollout runs under SIMULATED traffic
(`traffic.TrafficSimulator`: per-variant SageMaker metrics in the emulated CloudWatch, split by the
endpoint's live weights): healthy for v2, which equals v1 and passes the canary analysis at each analysed
step; for v3 (its own deploy.json turns the analysis off: the alarm's path alone) an error spike (8 %) once
it bakes at 10 %. v3's error-rate alarm fires from that data (the sandbox evaluates metric alarms as
CloudWatch does) and Sluice rolls v3 back. The time from the alarm's transition to ALARM (the "CloudWatch
Alarm State Change" event, caught by an EventBridge rule → SQS of the demo's) until DescribeEndpoint shows
the baseline back at 100 % is measured and kept in `DemoReport.facts["alarm_to_baseline_seconds"]`. v4 is
25 % slower than v2 (ModelLatency 50 ms against 40 ms), no errors: no alarm fires, the canary analysis
fails it on latency and Sluice rolls it back. Last, a quiet endpoint (1 request per simulated second): v2
cannot be judged, its bake extends to max_bake_seconds, the rollout holds (PAUSED, "not enough traffic to
judge"), and the demo runs `sluice abort` as an operator would.

After the story, `sandbox-report/` (in the current directory) gets report.md and a PNG per rollout
(`report.write_report`): weights over time, alarm periods, decisions, error rates read back from
CloudWatch.

Where things live, each module importing only those above it:

    uploads.py                 what the demo uploads (archives, warm-up request, batch CSV, deploy.json)
    cast.py                    the names it uses, the notification contract, SIMULATED traffic and time
    checks.py                  Check, Checks, StepResult: what a step expected and observed
    harness.py                 Demo: the sandbox as the user sees it (upload, settle, poll, read, show)
    notifications_story.py     steps 0, 8, 13: the subscribers, and what they received
    intake_story.py            steps 1 to 7: multi-model registration, rejection, a batch job
    rollout_watch.py           RolloutWatch: DescribeEndpoint and the rollout record, change by change
    canary_observation.py      traffic, alarm events, metrics, executions, a rollout's outcome and timeline
    canary_promotion_story.py  step 9: a real-time endpoint at v1, v2 promoted step by step
    canary_rollback_story.py   step 10: v3 rolled back when its alarm fires from SIMULATED metric data
    canary_analysis_story.py   steps 11, 12: v4 (25 % slower, no alarm) rolled back by the canary analysis;
                               a low-traffic endpoint's bake extends, then holds, and `sluice abort` ends it
    story.py                   StoryStep and STORY, the fourteen steps in order
    runner.py                  run_story, run_demo(console) -> DemoReport, the report, the summary, main
"""
