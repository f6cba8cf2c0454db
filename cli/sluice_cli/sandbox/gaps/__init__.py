"""Every moto gap-filler of the sandbox, one module per AWS service (checked against moto 5.2.5, see
docs/EMULATION.md); `registry.EmulatorGaps` installs them in order.

One class per gap, each with a one-line `reason`, reversible (`install()` / `uninstall()`, or use it
as a context manager), and a `still_present()` probe that runs plain moto in-process (`mock_aws`)
WITHOUT the patch and says whether moto still has the gap. tests/sandbox asserts every probe is True,
so a moto release that fixes a gap makes its filler removable instead of silently doubling it.

The patches change moto's classes in this process, so they act on the in-process ThreadedMotoServer of
the sandbox (and on any `mock_aws` in the same process while installed). Probes must run with no
sandbox active: `mock_aws` resets every backend when it starts and stops.

Gaps:
- `TransformJobLifecycle`: transform jobs are Completed at once, write nothing, emit no event.
- `TransformJobCreateValidation`: CreateTransformJob accepts a missing model and a reused job name.
- `S3EventBridgeEventIds`: every S3 EventBridge event has the same `id` (and `sequencer`).
- `EventBridgeTargetEventAccount`: events sent with put_events reach their targets without `account`.
- `S3BucketPolicyTransportCondition`: a bucket policy's Deny applies whatever its Condition, so the
  template's TLS-only policy (Deny when aws:SecureTransport is false) denies every object call.
- `LambdaInvokeNeedsDocker`: Lambda cannot run functions without docker; the filler is the
  in-process `router.EventRouter`, so this class patches nothing and only carries the probe.
- `UpdateEndpoint`: SageMaker UpdateEndpoint is not implemented; endpoints have no Updating phase.
- `AlarmStateChangeEvents`: an alarm changes state without the "CloudWatch Alarm State Change" event.
- `MetricAlarmEvaluation`: moto never evaluates metric alarms; the filler runs
  `alarms.evaluator.AlarmEvaluator` on a thread (periods scaled by the sandbox's time_scale).
- `StepFunctionsLambdaTasks`: `lambda:invoke` tasks (and lambda:Invoke) need docker; the filler runs the
  stack's handler in-process through the router.
- `LambdaEventInvocations`: lambda:Invoke with InvocationType Event runs inside the request, once, with
  no retries and no OnFailure destination; the filler hands it to the router as an asynchronous
  invocation on a thread of its own.
- `TimeCompression`: the Step Functions interpreter waits in wall time; the sandbox may compress it.
- `StopExecutionInterrupts`: StopExecution leaves a task waiting for its token until it times out.
- `SandboxStackRecord`: CloudFormation knows no stack for what the sandbox provisioned (moto's
  create_stack skips SAM resources); the filler records the stack with its outputs for DescribeStacks.
- `ExecutionStatusChangeEvents`: executions end without the "Step Functions Execution Status Change"
  event.
- `GetMetricDataExtendedStatistics`: GetMetricData answers no percentile `pNN.NN` and no percentile
  rank `PR(a:b)`; the filler computes them from the period's raw values.
- `GetMetricDataWindow`: GetMetricData truncates StartTime and EndTime to the second (a second is 100
  simulated seconds at time_scale 0.01) and refuses a window within one second; the filler keeps both
  as given.
- `GetMetricDataSeriesIndex`: GetMetricData scans every datum of the account at each call (seconds
  under simulated traffic); the filler hands moto's query code only the queried series' data of the
  window, through an incremental index.

What moto 5.2.5 does around these fillers (checked by running it; docs/EMULATION.md style):
- Step Functions execute mode keeps its state machines in a backend of its own: turn it on before
  creating them. Served, its service integrations (lambda:invoke, aws-sdk:*, sqs:*) call
  http://localhost:$MOTO_PORT (default 5000), so the Sandbox sets MOTO_PORT to its port.
- lambda:invoke task of a handler that raises: Error = the payload's `errorType` (the exception's
  class name, e.g. "RuntimeError"), Cause = the error payload as JSON; "States.TaskFailed",
  "States.ALL" and a Retry/Catch on the errorType all match, as on AWS. A function missing from
  moto's Lambda: "Lambda.ResourceNotFoundException". moto's Invoke says FunctionError "Handled"
  (Lambda: "Unhandled" for an exception; the filler rewrites it).
- aws-sdk:sagemaker:* failures: Error "sagemaker.sagemakerException" for every SageMaker error (AWS:
  "SageMaker.<exception>"), Cause "<message> (Service: sagemaker, Status Code: 400, Request ID: ...)":
  tell an in-progress endpoint from other errors by the Cause text.
- waitForTaskToken: TimeoutSeconds and TimeoutSecondsPath end the task with States.Timeout (Cause "",
  catchable); a missed HeartbeatSeconds also ends as States.Timeout (AWS: States.HeartbeatTimeout);
  SendTaskFailure's Error reaches Catch, its Cause arrives as null.
- moto's Wait loop compares whole elapsed seconds with the declared ones: fed a fractional wait it
  never ends (hence TimeCompression replaces the loop rather than shortening its argument).
- EventBridge targets: moto applies InputTransformer but ignores Input and InputPath (the whole
  event is delivered): the router applies both for the stack's routes.
- SageMaker: CreateEndpoint drops an InitialVariantWeight of 0 (falsy: no CurrentWeight at all; AWS
  reports 0.0); DescribeEndpoint has no DeployedImages (read images from the config's models);
  UpdateEndpointWeightsAndCapacities without DesiredWeight or DesiredInstanceCount erases that field.
"""
