"""The demo's SageMaker resources, made with the plain SageMaker (and Application Auto Scaling) APIs a
user would call, so that Sluice meets them exactly as it meets a user's own:

    create_multi_model_endpoint(clients, bucket)  # "demo-mme": Mode MultiModel, model data in the bucket
    create_realtime_endpoint(clients, bucket)     # "demo-realtime": variant v1 on 2 instances, autoscaled
    create_batch_model(clients, bucket)           # "demo-batch-model": a single-model container

`clients` is anything with `.client(service_name)`: a `Sandbox`, the sandbox's `Clients`, or a small
wrapper around a boto3 session. Each function returns the name of what it made. Images come from the
AWS Deep Learning Containers registry (allowed by the stack's default image allow-list); the execution
role is a dummy ARN (the emulator does not check it).
"""

from __future__ import annotations

from typing import Any, Protocol

IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3-cpu-py311"
EXECUTION_ROLE_ARN = "arn:aws:iam::123456789012:role/sluice-sandbox"
INSTANCE_TYPE = "ml.m5.large"

MULTI_MODEL_ENDPOINT = "demo-mme"
REALTIME_ENDPOINT = "demo-realtime"
BATCH_MODEL = "demo-batch-model"

SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
AUTOSCALING_MIN = 2
AUTOSCALING_MAX = 6
# Target tracking on SageMakerVariantInvocationsPerInstance: 20 rps x 0.5 safety x 60 s per instance.
AUTOSCALING_TARGET = 600.0


class ClientSource(Protocol):
    def client(self, service_name: str) -> Any: ...


def serving_prefix(bucket: str, endpoint: str) -> str:
    """Where a multi-model endpoint made here loads its models from (inside the artifact bucket: Sluice
    must not react to its own copies)."""
    return f"s3://{bucket}/serving/{endpoint}/"


def create_multi_model_endpoint(clients: ClientSource, bucket: str, name: str = MULTI_MODEL_ENDPOINT) -> str:
    """A multi-model endpoint `name` (model `<name>-model`, config `<name>-config`, one ml.m5.large),
    its model data under s3://<bucket>/serving/<name>/. Returns the endpoint name."""
    sagemaker = clients.client("sagemaker")
    model, config = f"{name}-model", f"{name}-config"
    sagemaker.create_model(
        ModelName=model,
        ExecutionRoleArn=EXECUTION_ROLE_ARN,
        PrimaryContainer={"Image": IMAGE, "Mode": "MultiModel", "ModelDataUrl": serving_prefix(bucket, name)},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                "InitialInstanceCount": 1,
                "InstanceType": INSTANCE_TYPE,
                "InitialVariantWeight": 1.0,
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)
    return name


def create_realtime_endpoint(
    clients: ClientSource,
    bucket: str,
    name: str = REALTIME_ENDPOINT,
    version: str = "v1",
    instances: int = 2,
    autoscaling: bool = True,
) -> str:
    """A production endpoint `name` serving `version` (model and config `<name>-<version>`, variant
    `<version>` on `instances` ml.m5.large), optionally autoscaled (min 2, max 6, target tracking 600
    invocations per instance and minute), as a user made it before Sluice. Returns the endpoint name."""
    sagemaker = clients.client("sagemaker")
    model = f"{name}-{version}"
    sagemaker.create_model(
        ModelName=model,
        ExecutionRoleArn=EXECUTION_ROLE_ARN,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{bucket}/models/{model}.tar.gz"},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=model,
        ProductionVariants=[
            {
                "VariantName": version,
                "ModelName": model,
                "InitialInstanceCount": instances,
                "InstanceType": INSTANCE_TYPE,
                "InitialVariantWeight": 1.0,
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=model)
    if autoscaling:
        aas = clients.client("application-autoscaling")
        resource = f"endpoint/{name}/variant/{version}"
        aas.register_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId=resource,
            ScalableDimension=SCALABLE_DIMENSION,
            MinCapacity=min(AUTOSCALING_MIN, instances),
            MaxCapacity=max(AUTOSCALING_MAX, instances),
        )
        aas.put_scaling_policy(
            PolicyName=f"{name}-invocations",
            ServiceNamespace="sagemaker",
            ResourceId=resource,
            ScalableDimension=SCALABLE_DIMENSION,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": AUTOSCALING_TARGET,
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
                },
            },
        )
    return name


def create_batch_model(clients: ClientSource, bucket: str, name: str = BATCH_MODEL) -> str:
    """An ordinary single-model container `name` for batch transform (its data at
    s3://<bucket>/models/<name>.tar.gz). Returns the model name."""
    clients.client("sagemaker").create_model(
        ModelName=name,
        ExecutionRoleArn=EXECUTION_ROLE_ARN,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{bucket}/models/{name}.tar.gz"},
    )
    return name


def seed_demo(clients: ClientSource, bucket: str) -> dict[str, str]:
    """All three, with their default names: {"multi_model_endpoint", "realtime_endpoint", "batch_model"}."""
    return {
        "multi_model_endpoint": create_multi_model_endpoint(clients, bucket),
        "realtime_endpoint": create_realtime_endpoint(clients, bucket),
        "batch_model": create_batch_model(clients, bucket),
    }
