"""CloudWatch metric alarm evaluation for the sandbox: what CloudWatch does every period and moto never
does (the gap `gaps.cloudwatch.MetricAlarmEvaluation` starts and stops an `AlarmEvaluator`).

Every `interval` seconds of wall time (default 1 s), and whenever one of the alarms' periods has just
completed, the evaluator reads every metric alarm of moto's CloudWatch backends (in-process: the
sandbox's moto server runs in this process) and the raw metric data moto stores, evaluates each alarm
as CloudWatch does and, on a change of state, sets it through `aws_state.cloudwatch.set_alarm_state`, so the
"CloudWatch Alarm State Change" event reaches the bus (`AlarmStateChangeEvents`).

Evaluated:
- single-metric alarms: Namespace, MetricName, the exact Dimensions set, Unit when the alarm names one;
  Statistic Sum / Average / Minimum / Maximum / SampleCount, or ExtendedStatistic `pNN` / `pNN.N`
  computed here (nearest rank) from the raw values moto stores (moto's own percentile path raises).
  Percentiles come from raw values only (put_metric_data Value / Values+Counts); a period holding only
  StatisticValues sets has no percentile (a missing datapoint), as CloudWatch cannot compute one either.
  EvaluateLowSampleCountPercentile=ignore keeps the state while a period of the window has fewer than
  10 / (1 - p) samples.
- metric-math alarms: `Metrics` with MetricStat queries and expressions; the query with ReturnData true
  is the alarm's series. Expressions: numbers, query ids, `+ - * / ^`, parentheses, unary minus,
  ABS(x), FILL(x, value), and MAX/MIN/SUM/AVG of an array `[a, b, ...]` (per period) or of one series
  (over the window, as CloudWatch). A missing operand makes the result missing; x / 0 is missing.
- Period, EvaluationPeriods (N), DatapointsToAlarm (M, default N), Threshold, the four standard
  ComparisonOperators, TreatMissingData:
  * `breaching` / `notBreaching`: a missing datapoint counts as breaching / not breaching;
    ALARM when at least M of the N datapoints breach, else OK.
  * `missing` (the default) and `ignore`: missing datapoints are skipped. ALARM when at least M of the
    present datapoints breach; when fewer than M are present and all of them breach, `missing` goes to
    ALARM and `ignore` keeps the state (the AWS documentation's table); otherwise OK. With no datapoint
    at all, `ignore` keeps the state; `missing` goes to INSUFFICIENT_DATA only when the current state
    came from data (the evaluator set it or confirmed it): a state set with SetAlarmState, or moto's
    initial OK, is kept. This is the sandbox's choice: CloudWatch documents INSUFFICIENT_DATA, but an
    alarm set to ALARM by hand with no metric data behind it is what the serve-mode journeys and tests
    use, and flipping it back at once would make that path unusable.
- A state set from outside (SetAlarmState) is left alone for one (scaled) period after it was set, as
  CloudWatch only re-evaluates at its next period; after that the data decides (with `notBreaching`
  and no data, an alarm set to ALARM by hand returns to OK then). A new alarm (moto's initial OK,
  AWS's INSUFFICIENT_DATA) is evaluated at once.

Time: the wall clock is the sandbox's clock (metric timestamps are wall-clock UTC, as put_metric_data
writes them), but periods are scaled by the sandbox's `time_scale` t (sandbox seconds per declared
second, TimeCompression's): an alarm Period of P seconds is evaluated over buckets of P x t wall
seconds, aligned on multiples of P x t since the epoch. With t = 0.01 a 60 s period is 0.6 s of data:
the traffic simulator (`traffic.TrafficSimulator`, one simulated second = t wall seconds) writes 60
simulated seconds of invocations into it, so a compressed demo sees alarms fire in compressed time.
Only completed periods are evaluated, and a period counts as completed `settle` wall seconds after
its end (min(P x t / 2, 1 s)) so that data written at its very end is in. Declared periods appear in
StateReasonData (`period`), the wall-clock length under `sandbox.periodWallSeconds`. Every period an
alarm judged is kept (`judged.JudgedPeriods`, the gap's `judged`): the series a report plots.

Late data: CloudWatch evaluates a minute once its data has arrived. The sandbox's own producers of
metric data (the traffic simulator) write behind the clock, and on a busy machine they can fall behind
by more than the settle time: they register a watermark (`register_producer`), and a period is judged
only once every running producer has written past its end (at most MAX_DATA_LAG_PERIODS periods late,
so a stalled producer cannot freeze evaluation). Otherwise a half-written period would be judged on a
handful of invocations.

Not emulated: composite alarms (AlarmRule), anomaly-detection bands (ThresholdMetricId) and the
LessThanLowerOrGreaterThanUpperThreshold family, metric-math functions beyond the ones above (METRICS(),
SEARCH, RATE, DIFF, FILL's REPEAT/LINEAR, ...), trimmed means and other extended statistics than pNN,
the "evaluation range" CloudWatch extends backwards to find M datapoints, high-resolution alarm
periods under 60 s behaving differently, alarm actions (SNS/Auto Scaling targets: only the EventBridge
event is produced), and DescribeAlarmHistory.
"""
