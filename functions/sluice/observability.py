"""Powertools Logger, Tracer and Metrics: created once, imported everywhere."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "sluice"
METRICS_NAMESPACE = "Sluice"

logger = Logger(service=SERVICE)
# Every function traces (template.yaml Globals: Tracing Active); botocore is the only library X-Ray
# patches that Sluice calls through, so patching only it spares each cold start the others (sqlite3 ...).
tracer = Tracer(service=SERVICE, patch_modules=("botocore",))
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)
