"""Wiring: the adapters behind the domain's ports, built from the settings of this cold start.

One module per use case, so that each function imports the adapters it runs and no other (its import is
most of its cold start): `rollouts` (RolloutStep, StartRollout), `signals` (AlarmState), `batch`,
`multi_model`, and `idempotency` for the S3 upload intakes.
"""
