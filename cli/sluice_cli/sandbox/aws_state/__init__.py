"""AWS-shaped state the sandbox reads and writes in moto's backends: what the gap-fillers and the
alarm evaluator share (CloudWatch alarms, SageMaker jobs and endpoints)."""
