"""Canary rollouts of endpoint versions: intake, the actions of statemachines/rollout.asl.json, resolve, and
the signals that alarms and operators send. Import from the defining module."""
