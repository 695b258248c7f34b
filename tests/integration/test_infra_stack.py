"""infra/template.yaml, created as a CloudFormation stack in moto, is the infrastructure the app expects.

moto's CloudFormation skips AWS::SQS::QueuePolicy and AWS::CloudWatch::Alarm (with a warning), so
those are checked on the template itself at the end of this module.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import WaiterError
from moto import mock_aws

from chalicelib import config
from chalicelib.domain.outbound import MAX_ATTEMPTS
from infra.build_merge import load_template
from infra.stack import APP_ENV_FROM_OUTPUT, StackDeployError, app_environment, deploy_stack

pytestmark = pytest.mark.integration

STAGE = "itest"
PREFIX = f"oms-{STAGE}"
REQUIRED_OUTPUTS = {
    "TableName",
    "TableArn",
    "TableStreamArn",
    "EventBusName",
    "EventBusArn",
    "ReceiptQueueName",
    "ReceiptQueueUrl",
    "ReceiptQueueArn",
    "ReceiptDlqUrl",
    "NotifyQueueName",
    "NotifyQueueUrl",
    "NotifyQueueArn",
    "NotifyDlqUrl",
    "WarehouseTopicArn",
    "OperationsTopicArn",
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials and region, so nothing here can ever reach a real account."""
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    with mock_aws():
        yield


@pytest.fixture
def outputs(aws: None) -> dict[str, str]:
    return deploy_stack(boto3.client("cloudformation"), STAGE)


def _put_event(detail_type: str, source: str = "oms") -> None:
    response = boto3.client("events").put_events(
        Entries=[
            {
                "EventBusName": PREFIX,
                "Source": source,
                "DetailType": detail_type,
                "Detail": json.dumps({"order_id": "ord_01TEST"}),
            }
        ]
    )
    assert response["FailedEntryCount"] == 0


def _drain(queue_url: str) -> list[dict[str, Any]]:
    messages = boto3.client("sqs").receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
    )
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def test_the_stack_returns_every_output_the_app_and_the_local_stack_need(outputs: dict[str, str]) -> None:
    assert outputs.keys() >= REQUIRED_OUTPUTS
    assert outputs["TableName"] == PREFIX
    assert outputs["EventBusName"] == PREFIX
    assert outputs["ReceiptQueueName"] == f"{PREFIX}-receipt"
    assert outputs["NotifyQueueName"] == f"{PREFIX}-notify"
    assert outputs["WarehouseTopicArn"].endswith(f":{PREFIX}-warehouse")
    assert outputs["OperationsTopicArn"].endswith(f":{PREFIX}-operations")


def test_the_table_has_a_stream_of_new_and_old_images_and_six_string_keyed_gsis(
    outputs: dict[str, str],
) -> None:
    table = boto3.client("dynamodb").describe_table(TableName=outputs["TableName"])["Table"]

    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert table["LatestStreamArn"] == outputs["TableStreamArn"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    indexes = {gsi["IndexName"]: gsi for gsi in table["GlobalSecondaryIndexes"]}
    assert sorted(indexes) == [f"gsi{n}" for n in range(1, 7)]
    attribute_types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    for n in range(1, 6):
        assert indexes[f"gsi{n}"]["KeySchema"] == [
            {"AttributeName": f"gsi{n}pk", "KeyType": "HASH"},
            {"AttributeName": f"gsi{n}sk", "KeyType": "RANGE"},
        ]
        assert indexes[f"gsi{n}"]["Projection"] == {"ProjectionType": "ALL"}
        assert attribute_types[f"gsi{n}pk"] == attribute_types[f"gsi{n}sk"] == "S"
    # gsi6 finds a fulfillment by its id alone: a hash key and nothing else.
    assert indexes["gsi6"]["KeySchema"] == [{"AttributeName": "gsi6pk", "KeyType": "HASH"}]
    assert indexes["gsi6"]["Projection"] == {"ProjectionType": "ALL"}
    assert attribute_types["gsi6pk"] == "S"


def test_every_main_queue_has_its_own_dead_letter_queue_after_its_retries(
    outputs: dict[str, str],
) -> None:
    sqs = boto3.client("sqs")
    urls = sqs.list_queues(QueueNamePrefix=PREFIX)["QueueUrls"]
    attributes = {
        url.rsplit("/", 1)[-1]: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        for url in urls
    }
    main_queues = {name for name in attributes if not name.endswith("-dlq")}

    assert {
        f"{PREFIX}-receipt",
        f"{PREFIX}-notify",
        f"{PREFIX}-allocation",
        f"{PREFIX}-tracking",
    } <= main_queues
    for name in main_queues:
        redrive = json.loads(attributes[name]["RedrivePolicy"])
        # Webhooks to stores retry with growing delays over about a day (domain/outbound.py).
        expected = MAX_ATTEMPTS if name.endswith("-webhooks-out") else 5
        assert redrive["maxReceiveCount"] == expected
        assert redrive["deadLetterTargetArn"] == attributes[f"{name}-dlq"]["QueueArn"]
        # 6 x the function's timeout: 60 s, or 360 s for the write-back and stock-sync workers,
        # whose messages make several store calls of up to 10 s each.
        slow = name.endswith("-writeback") or name.endswith("-stock-sync")
        assert attributes[name]["VisibilityTimeout"] == ("360" if slow else "60")
        assert attributes[name]["SqsManagedSseEnabled"] == "true"
        assert attributes[f"{name}-dlq"]["MessageRetentionPeriod"] == str(14 * 24 * 3600)


def test_order_placed_on_the_bus_arrives_in_the_receipt_queue_and_not_in_notify(
    outputs: dict[str, str],
) -> None:
    _put_event("order.placed")

    received = _drain(outputs["ReceiptQueueUrl"])
    assert [(m["source"], m["detail-type"], m["detail"]) for m in received] == [
        ("oms", "order.placed", {"order_id": "ord_01TEST"})
    ]
    assert _drain(outputs["NotifyQueueUrl"]) == []


#: What the kpi worker counts (chalicelib/domain/kpis.py): every order change, shipments, tracking,
#: SLA breaches, feedback, returns and cycle counts.
KPI_TYPES = frozenset(
    {
        "order.placed",
        "order.confirmed",
        "order.updated",
        "order.on_hold",
        "order.hold_released",
        "order.backordered",
        "order.backorder_allocated",
        "order.cancelled",
        "order.lines_cancelled",
        "order.received",
        "fulfillment.picked",
        "fulfillment.short_picked",
        "fulfillment.packed",
        "fulfillment.shipped",
        "tracking.updated",
        "sla.breached",
        "feedback.received",
        "return.requested",
        "return.received",
        "inventory.counted",
        "fulfillment.exception_recorded",
        "fulfillment.resolved",
    }
)


@pytest.mark.parametrize(
    ("detail_type", "queues"),
    [
        ("order.placed", {"Receipt", "WebhooksOut"}),
        ("order.confirmed", {"Notify", "WebhooksOut"}),
        ("order.updated", {"WebhooksOut"}),
        ("order.on_hold", {"Notify", "WebhooksOut"}),
        ("order.hold_released", {"WebhooksOut"}),
        ("order.backordered", {"Notify", "WebhooksOut"}),
        ("order.backorder_allocated", {"Notify", "WebhooksOut"}),
        ("fulfillment.picked", {"WebhooksOut"}),
        ("fulfillment.packed", {"WebhooksOut"}),
        ("fulfillment.shipped", {"Notify", "WebhooksOut", "WriteBack"}),
        ("sla.breached", {"Notify"}),
        # Cancelling tells the customer and frees stock that backorders may be waiting for.
        ("order.cancelled", {"Notify", "Allocation", "WebhooksOut", "WriteBack"}),
        ("order.lines_cancelled", {"Notify", "Allocation", "WebhooksOut", "WriteBack"}),
        # An edit tells the customer, may free stock, and the store settles the difference.
        ("order.edited", {"Notify", "Allocation", "WebhooksOut"}),
        ("payment.adjustment_requested", {"WebhooksOut"}),
        ("inventory.received", {"Allocation"}),
        ("inventory.adjusted", {"Allocation"}),
        ("tracking.received", {"Tracking"}),
        ("tracking.updated", {"Notify", "WebhooksOut", "WriteBack"}),
        ("tracking.unmatched", set()),
        ("feedback.received", {"WebhooksOut"}),
        ("notification.sent", set()),
        ("channel.order_received", {"Intake"}),
        ("channel.webhook_ignored", set()),
        ("return.requested", {"Notify", "WebhooksOut"}),
        ("return.received", {"Notify", "WebhooksOut"}),
        ("refund.requested", {"WebhooksOut"}),
        ("inventory.counted", {"Allocation"}),
        # The store connection changed: the write-back re-drives the orders parked meanwhile.
        ("channel.store_api_changed", {"WriteBack"}),
        ("order.note_added", {"WriteBack"}),
        ("fulfillment.exception_recorded", {"WebhooksOut"}),
        # A reship e-mails the customer and sends the warehouse its pick work.
        ("fulfillment.resolved", {"Notify", "WebhooksOut"}),
    ],
)
def test_each_event_type_reaches_exactly_the_queues_that_consume_it(
    outputs: dict[str, str], detail_type: str, queues: set[str]
) -> None:
    _put_event(detail_type)

    for queue in ("Receipt", "Notify", "Allocation", "Tracking", "WebhooksOut", "Intake", "Kpi", "WriteBack"):
        expected = [detail_type] if queue in queues or (queue == "Kpi" and detail_type in KPI_TYPES) else []
        assert [m["detail-type"] for m in _drain(outputs[f"{queue}QueueUrl"])] == expected, queue


def test_events_from_another_source_reach_no_queue(outputs: dict[str, str]) -> None:
    _put_event("order.placed", source="not-oms")

    assert _drain(outputs["ReceiptQueueUrl"]) == []
    assert _drain(outputs["NotifyQueueUrl"]) == []


def test_the_warehouse_and_operations_topics_exist_and_are_encrypted(outputs: dict[str, str]) -> None:
    sns = boto3.client("sns")
    topic_arns = {t["TopicArn"] for t in sns.list_topics()["Topics"]}

    assert {outputs["WarehouseTopicArn"], outputs["OperationsTopicArn"]} <= topic_arns
    warehouse = sns.get_topic_attributes(TopicArn=outputs["WarehouseTopicArn"])["Attributes"]
    operations = sns.get_topic_attributes(TopicArn=outputs["OperationsTopicArn"])["Attributes"]
    assert warehouse["KmsMasterKeyId"] == "alias/aws/sns"
    # The stack's own key: CloudWatch alarms cannot publish through the AWS managed alias/aws/sns.
    # (Not describe_key: moto 5.2.5 stores a CloudFormation KeyPolicy as a dict and then fails to
    # validate it on every key-level call.)
    stack_keys = {k["KeyId"] for k in boto3.client("kms").list_keys()["Keys"]}
    assert operations["KmsMasterKeyId"] in stack_keys


def test_app_environment_gives_the_app_every_resource_name_it_reads(outputs: dict[str, str]) -> None:
    env = app_environment(outputs, STAGE)

    assert env == {
        config.ENV_STAGE: STAGE,
        config.ENV_TABLE_NAME: PREFIX,
        config.ENV_TABLE_STREAM_ARN: outputs["TableStreamArn"],
        config.ENV_EVENT_BUS_NAME: PREFIX,
        config.ENV_RECEIPT_QUEUE: f"{PREFIX}-receipt",
        config.ENV_NOTIFY_QUEUE: f"{PREFIX}-notify",
        config.ENV_ALLOCATION_QUEUE: f"{PREFIX}-allocation",
        config.ENV_TRACKING_QUEUE: f"{PREFIX}-tracking",
        config.ENV_WEBHOOKS_QUEUE: f"{PREFIX}-webhooks-out",
        config.ENV_INTAKE_QUEUE: f"{PREFIX}-intake",
        config.ENV_KPI_QUEUE: f"{PREFIX}-kpi",
        config.ENV_WRITEBACK_QUEUE: f"{PREFIX}-writeback",
        config.ENV_STOCK_SYNC_QUEUE: f"{PREFIX}-stock-sync",
        config.ENV_WAREHOUSE_TOPIC_ARN: outputs["WarehouseTopicArn"],
        config.ENV_OPERATIONS_TOPIC_ARN: outputs["OperationsTopicArn"],
    }


def test_app_environment_refuses_outputs_of_some_other_stack() -> None:
    with pytest.raises(KeyError, match="TableName"):
        app_environment({"Unrelated": "x"}, STAGE)


def test_creating_the_same_stack_twice_is_a_clear_error(outputs: dict[str, str]) -> None:
    with pytest.raises(StackDeployError, match="already exists"):
        deploy_stack(boto3.client("cloudformation"), STAGE)


def test_a_stage_name_the_template_would_reject_is_refused_before_anything_is_created(aws: None) -> None:
    with pytest.raises(ValueError, match="does not match"):
        deploy_stack(boto3.client("cloudformation"), "Prod_1")

    assert boto3.client("cloudformation").list_stacks()["StackSummaries"] == []


def test_a_stack_that_fails_in_aws_is_reported_with_each_failed_resource_and_its_reason() -> None:
    # moto never reports CREATE_FAILED (its failures are errors of create_stack itself), so this
    # plays the part of AWS.
    class FailingCloudFormation:
        class exceptions:  # noqa: N801 - mirrors boto3's client.exceptions
            AlreadyExistsException = type("AlreadyExistsException", (Exception,), {})

        def create_stack(self, **kwargs: Any) -> None:
            pass

        def get_waiter(self, name: str) -> Any:
            class Waiter:
                def wait(self, **kwargs: Any) -> None:
                    raise WaiterError(name, "Waiter encountered a terminal failure state", {})

            return Waiter()

        def describe_stacks(self, StackName: str) -> dict[str, Any]:  # noqa: N803 - boto3's name
            return {"Stacks": [{"StackStatus": "CREATE_FAILED"}]}

        def get_paginator(self, name: str) -> Any:
            events = [
                {"LogicalResourceId": "Table", "ResourceType": "AWS::DynamoDB::Table",
                 "ResourceStatus": "CREATE_FAILED", "ResourceStatusReason": "oms-x already exists"},
                {"LogicalResourceId": "EventBus", "ResourceType": "AWS::Events::EventBus",
                 "ResourceStatus": "CREATE_COMPLETE"},
            ]  # fmt: skip

            class Paginator:
                def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
                    return [{"StackEvents": events}]

            return Paginator()

    with pytest.raises(StackDeployError) as failure:
        deploy_stack(FailingCloudFormation(), "x")

    assert str(failure.value) == (
        "stack oms-x-infra was not created (status CREATE_FAILED)\n"
        "  Table (AWS::DynamoDB::Table): oms-x already exists"
    )


# --- What moto's CloudFormation skips, checked on the template itself ---------------------------


def test_every_dead_letter_queue_alarms_the_operations_topic_when_it_holds_a_message() -> None:
    resources = load_template()["Resources"]
    dlqs = {
        logical_id
        for logical_id, res in resources.items()
        if res["Type"] == "AWS::SQS::Queue" and res["Properties"]["QueueName"]["Fn::Sub"].endswith("-dlq")
    }
    alarmed = {}
    for res in resources.values():
        if res["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = res["Properties"]
        [dimension] = props["Dimensions"]
        alarmed[dimension["Value"]["Fn::GetAtt"][0]] = props

    assert {"ReceiptDlq", "NotifyDlq", "StreamDlq"} <= dlqs
    assert set(alarmed) == dlqs
    for props in alarmed.values():
        assert props["Namespace"] == "AWS/SQS"
        assert props["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 0)
        assert props["AlarmActions"] == [{"Ref": "OperationsTopic"}]


def test_only_the_bus_rule_of_each_main_queue_may_send_to_it() -> None:
    resources = load_template()["Resources"]
    rules_by_queue = {
        target["Arn"]["Fn::GetAtt"][0]: logical_id
        for logical_id, res in resources.items()
        if res["Type"] == "AWS::Events::Rule"
        for target in res["Properties"]["Targets"]
    }
    policies = [res["Properties"] for res in resources.values() if res["Type"] == "AWS::SQS::QueuePolicy"]

    assert sorted(rules_by_queue) == sorted(p["Queues"][0]["Ref"] for p in policies)
    for policy in policies:
        queue = policy["Queues"][0]["Ref"]
        [statement] = policy["PolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        assert statement["Action"] == "sqs:SendMessage"
        assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == {
            "Fn::GetAtt": [rules_by_queue[queue], "Arn"]
        }


def test_every_rule_names_the_bus_as_a_string_and_depends_on_it() -> None:
    # Ref of the bus in a rule's EventBusName crashes moto's stack creation.
    resources = load_template()["Resources"]
    rules = [res for res in resources.values() if res["Type"] == "AWS::Events::Rule"]

    assert rules
    for rule in rules:
        assert rule["Properties"]["EventBusName"] == {"Fn::Sub": "oms-${Stage}"}
        assert rule["DependsOn"] == "EventBus"
        assert rule["Properties"]["EventPattern"]["source"] == ["oms"]


def test_every_app_environment_variable_comes_from_a_template_output() -> None:
    outputs = load_template()["Outputs"]

    assert set(APP_ENV_FROM_OUTPUT.values()) <= outputs.keys()
    assert outputs.keys() >= REQUIRED_OUTPUTS
