"""Least privilege: one IAM role per function, granting exactly the AWS calls its code makes.

``CODE_GRANTS`` says, per function (the chalice handler name; ``api_handler`` is the whole HTTP
API and the console), which IAM actions its code calls on which resources of the stage. It is
kept honest by tests/integration/test_iam.py, which drives every function through its handler on
moto, records each AWS call it makes, and fails on a call without a grant or a grant without a
call. Resources are symbols, turned into the template's own ARNs by ``policy_for`` (``Fn::GetAtt``
and ``Ref`` of infra/template.yaml's resources, ``Fn::Sub`` of the stage's parameter paths and
the sender's SES identity), so nothing is scoped by a name pattern that another stage or
another application could also match.

Beside the code's calls, ``platform_statements`` grants what Lambda itself does with the role:
write the function's own log group, read the queue or stream its event source mapping reads, send
a stream batch given up on to the stream's failure queue, and use the KMS key of an encrypted
topic the function publishes to. Those follow from the packaged template, not from the code.

Two grants must name ``*`` because their actions have no resource ARN: SMS (``sns:Publish`` to a
phone number) for the notify worker, and ``sqs:ListQueues`` for the console's dead-letter queue
page. SecureString parameters use the AWS-managed ``aws/ssm`` key, whose key policy already allows
its use through SSM by the account's principals, so no function needs a KMS grant for them.
"""

from __future__ import annotations

import re
from typing import Any

_SSM_ARN = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}"

#: Resource symbols (see ``resource_arns``).
TABLE = "table"
BUS = "bus"
SENDER = "ses-identity/sender"
ANY = "*"


def index(name: str) -> str:
    return f"table/index/{name}"


def queue(logical_id: str) -> str:
    return f"queue/{logical_id}"


def topic(logical_id: str) -> str:
    return f"topic/{logical_id}"


def parameter(path: str) -> str:
    """A parameter under the stage's prefix ``/oms/<stage>/``; ``*`` matches the rest of a path."""
    return f"parameter/{path}"


#: SSM parameter paths (under ``/oms/<stage>/``) of the secrets each side of the API uses.
#: The API writes only the per-channel store secrets and the outbound endpoint secrets it manages;
#: it never writes the carriers' secrets or the link/console signing key.
#: Inbound webhook secrets (carriers' and each store channel's), which the API verifies with.
WEBHOOK_SECRETS = parameter("webhooks/*")
STORE_SECRETS = (parameter("webhooks/shopify/*"), parameter("webhooks/woocommerce/*"))
ENDPOINT_SECRETS = parameter("webhook-endpoints/*")
#: Each store channel's API credentials (write-back), written and removed by the API.
STORE_API_SECRETS = parameter("store-api/*")
#: Signs the links in e-mails and the console's session cookie.
LINK_SIGNING_KEY = parameter("signing/links")

#: Every item read and write of the single table, by the API and the workers alike. (Items are not
#: split per function: one order's transaction spans order, fulfillments, stock, events, dedup.)
_ITEMS_READ = {"dynamodb:GetItem": (TABLE,), "dynamodb:Query": (TABLE,)}
_TRANSACTIONS = {"dynamodb:PutItem": (TABLE,), "dynamodb:UpdateItem": (TABLE,)}
_DEAD_LETTER_QUEUES = tuple(
    queue(f"{name}Dlq")
    for name in (
        "Allocation",
        "Intake",
        "Kpi",
        "Notify",
        "Receipt",
        "StockSync",
        "Stream",
        "Tracking",
        "WebhooksOut",
        "WriteBack",
    )
)

CODE_GRANTS: dict[str, dict[str, tuple[str, ...]]] = {
    # The HTTP API and the operations console.
    "api_handler": {
        "dynamodb:GetItem": (TABLE,),
        "dynamodb:BatchGetItem": (TABLE,),
        # Orders by status (gsi1), work by warehouse (gsi5), a fulfillment by id (gsi6).
        "dynamodb:Query": (TABLE, index("gsi1"), index("gsi5"), index("gsi6")),
        **{action: resources for action, resources in _TRANSACTIONS.items()},
        # A box retired from a warehouse's catalogue (DELETE /v1/warehouses/{id}/boxes/{code}).
        "dynamodb:DeleteItem": (TABLE,),
        # The store API credentials are read only to keep the set in use beside a new one.
        "ssm:GetParameter": (WEBHOOK_SECRETS, LINK_SIGNING_KEY, STORE_API_SECRETS),
        # Only the secrets it manages: a store channel's signing secret and API credentials, an
        # endpoint's secret.
        "ssm:PutParameter": (*STORE_SECRETS, ENDPOINT_SECRETS, STORE_API_SECRETS),
        "ssm:DeleteParameter": (STORE_API_SECRETS,),
        # The console's dead-letter queue depths.
        "sqs:ListQueues": (ANY,),
        "sqs:GetQueueAttributes": _DEAD_LETTER_QUEUES,
    },
    "outbox_relay": {"events:PutEvents": (BUS,)},
    "receipt_worker": {**_ITEMS_READ, "dynamodb:PutItem": (TABLE,)},
    "notify_worker": {
        **_ITEMS_READ,
        "dynamodb:PutItem": (TABLE,),
        "dynamodb:DeleteItem": (TABLE,),  # a claim given back after a failed send
        "ses:SendEmail": (SENDER,),
        "sns:Publish": (ANY, topic("WarehouseTopic"), topic("OperationsTopic")),  # ANY: SMS
        "ssm:GetParameter": (LINK_SIGNING_KEY,),
    },
    "stuck_order_sweeper": {
        "dynamodb:Query": (index("gsi1"),),
        "dynamodb:PutItem": (TABLE,),
        "dynamodb:DeleteItem": (TABLE,),
        "sns:Publish": (topic("OperationsTopic"),),
    },
    "sla_sweeper": {"dynamodb:Query": (TABLE, index("gsi5")), "dynamodb:PutItem": (TABLE,)},
    "stock_report": {"dynamodb:Query": (TABLE, index("gsi5")), "sns:Publish": (topic("OperationsTopic"),)},
    "allocation_worker": {
        "dynamodb:Query": (TABLE, index("gsi5")),
        "dynamodb:BatchGetItem": (TABLE,),
        **_TRANSACTIONS,
    },
    "tracking_worker": {**_ITEMS_READ, "dynamodb:PutItem": (TABLE,)},
    "intake_worker": {**_ITEMS_READ, "dynamodb:BatchGetItem": (TABLE,), **_TRANSACTIONS},
    "kpi_worker": {**_ITEMS_READ, **_TRANSACTIONS},
    "stock_sync_worker": {
        **_ITEMS_READ,
        "dynamodb:Query": (TABLE, index("gsi5")),  # channels; the catalogue's SKUs for a full push
        "dynamodb:BatchGetItem": (TABLE,),  # the SKU's stock levels
        "dynamodb:UpdateItem": (TABLE,),  # the sync markers
        "dynamodb:PutItem": (TABLE,),  # failure records of rejected pushes
        "ssm:GetParameter": (STORE_API_SECRETS,),
        # Its own delayed push messages and catalogue pages.
        "sqs:GetQueueUrl": (queue("StockSyncQueue"),),
        "sqs:SendMessage": (queue("StockSyncQueue"),),
    },
    "webhooks_out_worker": {
        **_ITEMS_READ,
        "dynamodb:PutItem": (TABLE,),
        "ssm:GetParameter": (ENDPOINT_SECRETS,),
        # Retries go back on its own queue with a delay.
        "sqs:GetQueueUrl": (queue("WebhooksOutQueue"),),
        "sqs:SendMessage": (queue("WebhooksOutQueue"),),
        "sqs:ChangeMessageVisibility": (queue("WebhooksOutQueue"),),
    },
    "writeback_worker": {
        # The channel, the order with its fulfillments, parked orders, failing channels.
        **_ITEMS_READ,
        # Claims, failing channels and refused requests (put), parked orders (update), claims
        # released, parked orders re-driven and failures cleared (delete).
        "dynamodb:PutItem": (TABLE,),
        "dynamodb:UpdateItem": (TABLE,),
        "dynamodb:DeleteItem": (TABLE,),
        "ssm:GetParameter": (STORE_API_SECRETS,),
        "sns:Publish": (topic("OperationsTopic"),),
        # Retries and re-drives go back on its own queue with a delay.
        "sqs:GetQueueUrl": (queue("WriteBackQueue"),),
        "sqs:SendMessage": (queue("WriteBackQueue"),),
    },
}

#: Topics encrypted with a customer-managed KMS key (a publisher needs to use the key).
ENCRYPTED_TOPICS = {"OperationsTopic": "OperationsTopicKey"}


def function_name(handler: str) -> str:
    """The deployed name of a handler's function (and so of its log group)."""
    return f"oms-${{Stage}}-{handler}"


def resource_arns(symbol: str) -> list[Any]:
    """The CloudFormation expressions of a resource symbol's ARNs."""
    if symbol == ANY:
        return ["*"]
    if symbol == TABLE:
        return [{"Fn::GetAtt": ["Table", "Arn"]}]
    if symbol.startswith("table/index/"):
        return [{"Fn::Sub": "${Table.Arn}/index/" + symbol.removeprefix("table/index/")}]
    if symbol == BUS:
        return [{"Fn::GetAtt": ["EventBus", "Arn"]}]
    if symbol.startswith("queue/"):
        return [{"Fn::GetAtt": [symbol.removeprefix("queue/"), "Arn"]}]
    if symbol.startswith("topic/"):
        return [{"Ref": symbol.removeprefix("topic/")}]
    if symbol.startswith("parameter/"):
        path = symbol.removeprefix("parameter/")
        return [{"Fn::Sub": f"{_SSM_ARN}:parameter/oms/${{Stage}}/{path}"}]
    if symbol == SENDER:
        # SES authorises a send against the identity that is verified: the address or its domain.
        identity = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/"
        return [
            {"Fn::Sub": identity + "${SenderEmail}"},
            {
                "Fn::Sub": [
                    identity + "${Domain}",
                    {"Domain": {"Fn::Select": [1, {"Fn::Split": ["@", {"Ref": "SenderEmail"}]}]}},
                ]
            },
        ]
    raise ValueError(f"unknown resource symbol {symbol!r}")


def _statement(sid: str, actions: list[str], resources: list[Any]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resources}


def code_statements(handler: str) -> list[dict[str, Any]]:
    """One statement per resource: the actions the handler's code calls on it."""
    grants = CODE_GRANTS.get(handler)
    if grants is None:
        raise KeyError(handler)
    by_resource: dict[str, list[str]] = {}
    for action, symbols in grants.items():
        for symbol in symbols:
            by_resource.setdefault(symbol, []).append(action)
    return [
        _statement(_sid(symbol), actions, resource_arns(symbol))
        for symbol, actions in sorted(by_resource.items())
    ]


def _sid(symbol: str) -> str:
    """A statement id naming the resource (``parameter/webhooks/*`` -> ``ParameterWebhooksAny``)."""
    if symbol == ANY:
        return "ActionsWithoutResourceArn"
    words = re.split(r"[^A-Za-z0-9]+", symbol.replace("*", " any "))
    return "".join(word[:1].upper() + word[1:] for word in words if word)


def platform_statements(handler: str, events: dict[str, Any]) -> list[dict[str, Any]]:
    """What Lambda does with the role for this function: its logs, its event source, its
    stream failure destination, the keys of encrypted topics its code publishes to."""
    log_group = (
        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/"
        + function_name(handler)
    )
    statements = [
        _statement(
            "OwnLogGroup",
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            [{"Fn::Sub": log_group + ":*"}],
        )
    ]
    for name, source in sorted(events.items()):
        props = source.get("Properties", {})
        if source.get("Type") == "SQS":
            statements.append(
                _statement(
                    f"EventSource{name}",
                    ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
                    [props["Queue"]],
                )
            )
        elif source.get("Type") == "DynamoDB":
            statements.append(
                _statement(
                    f"EventSource{name}",
                    [
                        "dynamodb:DescribeStream",
                        "dynamodb:GetRecords",
                        "dynamodb:GetShardIterator",
                        "dynamodb:ListStreams",
                    ],
                    [props["Stream"]],
                )
            )
            destination = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            if destination is not None:
                statements.append(_statement(f"FailureDestination{name}", ["sqs:SendMessage"], [destination]))
    published = set(CODE_GRANTS.get(handler, {}).get("sns:Publish", ()))
    for topic_id, key_id in sorted(ENCRYPTED_TOPICS.items()):
        if topic(topic_id) in published:
            statements.append(
                _statement(
                    f"EncryptedTopic{topic_id}",
                    ["kms:Decrypt", "kms:GenerateDataKey"],
                    [{"Fn::GetAtt": [key_id, "Arn"]}],
                )
            )
    return statements


def policy_for(handler: str, events: dict[str, Any]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": code_statements(handler) + platform_statements(handler, events),
    }
