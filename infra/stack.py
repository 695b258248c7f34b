"""Create the infra template as a CloudFormation stack and turn its outputs into app settings.

Used where the SAM-packaged app cannot be deployed: in moto, for ``make run`` (infra.local) and the
tests, so that they run against exactly the resources production gets.
No Chalice and no app here (only botocore and the variable names from chalicelib.config), so that
tools and tests can import it before, or without, the app.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from chalicelib.config import (
    ENV_ALLOCATION_QUEUE,
    ENV_EVENT_BUS_NAME,
    ENV_INTAKE_QUEUE,
    ENV_KPI_QUEUE,
    ENV_NOTIFY_QUEUE,
    ENV_OPERATIONS_TOPIC_ARN,
    ENV_RECEIPT_QUEUE,
    ENV_STAGE,
    ENV_STOCK_SYNC_QUEUE,
    ENV_TABLE_NAME,
    ENV_TABLE_STREAM_ARN,
    ENV_TRACKING_QUEUE,
    ENV_WAREHOUSE_TOPIC_ARN,
    ENV_WEBHOOKS_QUEUE,
    ENV_WRITEBACK_QUEUE,
)

TEMPLATE_PATH = Path(__file__).resolve().parent / "template.yaml"

#: Same rule as the template's Stage AllowedPattern; checked here too because moto does not
#: enforce AllowedPattern and a bad stage would otherwise surface as odd resource names.
STAGE_PATTERN = re.compile(r"[a-z0-9-]+")

#: The app's environment variable for each template output. The single source of this mapping:
#: ``app_environment`` reads the values from a deployed stack, ``infra/build_merge.py`` puts the
#: outputs' own Ref/GetAtt expressions into every packaged function. A new queue adds one line.
APP_ENV_FROM_OUTPUT: dict[str, str] = {
    ENV_TABLE_NAME: "TableName",
    ENV_TABLE_STREAM_ARN: "TableStreamArn",
    ENV_EVENT_BUS_NAME: "EventBusName",
    ENV_RECEIPT_QUEUE: "ReceiptQueueName",
    ENV_NOTIFY_QUEUE: "NotifyQueueName",
    ENV_ALLOCATION_QUEUE: "AllocationQueueName",
    ENV_TRACKING_QUEUE: "TrackingQueueName",
    ENV_WEBHOOKS_QUEUE: "WebhooksOutQueueName",
    ENV_INTAKE_QUEUE: "IntakeQueueName",
    ENV_KPI_QUEUE: "KpiQueueName",
    ENV_WRITEBACK_QUEUE: "WriteBackQueueName",
    ENV_STOCK_SYNC_QUEUE: "StockSyncQueueName",
    ENV_WAREHOUSE_TOPIC_ARN: "WarehouseTopicArn",
    ENV_OPERATIONS_TOPIC_ARN: "OperationsTopicArn",
}

#: Resource statuses such as CREATE_FAILED: the events worth showing when creation fails.
_FAILED_EVENT_SUFFIX = "_FAILED"


class StackDeployError(RuntimeError):
    """The stack did not reach CREATE_COMPLETE; the message lists the failed resources."""


def default_stack_name(stage: str) -> str:
    return f"oms-{stage}-infra"


def deploy_stack(
    cloudformation_client: Any,
    stage: str,
    stack_name: str | None = None,
    template_path: Path = TEMPLATE_PATH,
) -> dict[str, str]:
    """Create the stack for ``stage``, wait for it, and return its outputs by key.

    Raises ``StackDeployError`` naming each failed resource and its reason when creation does
    not complete (or when the stack already exists: this only ever creates).
    """
    if not STAGE_PATTERN.fullmatch(stage):
        raise ValueError(f"stage {stage!r} does not match {STAGE_PATTERN.pattern}")
    name = stack_name or default_stack_name(stage)
    client = cloudformation_client
    try:
        client.create_stack(
            StackName=name,
            TemplateBody=template_path.read_text(encoding="utf-8"),
            Parameters=[{"ParameterKey": "Stage", "ParameterValue": stage}],
            OnFailure="DO_NOTHING",  # keep the failed resources' events around to report them
            Tags=[{"Key": "app", "Value": "oms"}, {"Key": "stage", "Value": stage}],
        )
    except client.exceptions.AlreadyExistsException as exc:
        raise StackDeployError(f"stack {name} already exists; delete it or pick another name") from exc
    except ClientError as exc:
        # moto creates resources inside create_stack, so its failures surface here, not as events.
        raise StackDeployError(f"stack {name} was not created: {exc}") from exc

    # moto creates stacks synchronously; against AWS a stack takes a minute or two.
    waiter = client.get_waiter("stack_create_complete")
    try:
        waiter.wait(StackName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 300})
    except WaiterError as exc:
        raise StackDeployError(_failure_report(client, name)) from exc

    stack = client.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def _failure_report(client: Any, stack_name: str) -> str:
    try:
        status = client.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
        paginator = client.get_paginator("describe_stack_events")
        failed = [
            f"  {e['LogicalResourceId']} ({e['ResourceType']}): {e.get('ResourceStatusReason', 'no reason')}"
            for page in paginator.paginate(StackName=stack_name)
            for e in page["StackEvents"]
            if e["ResourceStatus"].endswith(_FAILED_EVENT_SUFFIX)
        ]
    except (BotoCoreError, ClientError) as exc:  # the report must not hide the original failure
        return f"stack {stack_name} was not created, and its events could not be read: {exc}"
    lines = [f"stack {stack_name} was not created (status {status})"]
    lines += failed or ["  no failed resource events were reported"]
    return "\n".join(lines)


def app_environment(outputs: dict[str, str], stage: str) -> dict[str, str]:
    """The environment variables the app reads (chalicelib.config), from the stack's outputs."""
    missing = sorted(key for key in APP_ENV_FROM_OUTPUT.values() if key not in outputs)
    if missing:
        raise KeyError(f"stack outputs lack {', '.join(missing)}; is it the infra/template.yaml stack?")
    env = {ENV_STAGE: stage}
    env.update({var: outputs[key] for var, key in APP_ENV_FROM_OUTPUT.items()})
    return env
