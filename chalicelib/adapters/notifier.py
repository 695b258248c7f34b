"""Outgoing messages through SES (e-mail) and SNS (SMS, warehouse and operations topics)."""

from __future__ import annotations

import json
from typing import Any


class AwsNotifier:
    def __init__(
        self, ses: Any, sns: Any, *, sender: str, warehouse_topic_arn: str, operations_topic_arn: str
    ):
        self.ses = ses
        self.sns = sns
        self.sender = sender
        self.warehouse_topic_arn = warehouse_topic_arn
        self.operations_topic_arn = operations_topic_arn

    def send_email(self, *, to: str, subject: str, text: str, html: str) -> str:
        response = self.ses.send_email(
            Source=self.sender,
            Destination={"ToAddresses": [to]},
            Message={
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {
                    "Text": {"Data": text, "Charset": "UTF-8"},
                    "Html": {"Data": html, "Charset": "UTF-8"},
                },
            },
        )
        return str(response["MessageId"])

    def send_sms(self, *, phone: str, text: str) -> str:
        response = self.sns.publish(
            PhoneNumber=phone,
            Message=text,
            MessageAttributes={"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}},
        )
        return str(response["MessageId"])

    def publish_warehouse(self, *, warehouse_id: str, subject: str, message: dict[str, Any]) -> str:
        # Each fulfillment centre subscribes with a filter policy on warehouse_id.
        response = self.sns.publish(
            TopicArn=self.warehouse_topic_arn,
            Subject=subject[:100],
            Message=json.dumps(message),
            MessageAttributes={
                "warehouse_id": {"DataType": "String", "StringValue": warehouse_id},
                "type": {"DataType": "String", "StringValue": str(message.get("type", ""))},
            },
        )
        return str(response["MessageId"])

    def publish_operations(self, *, subject: str, message: dict[str, Any]) -> str:
        response = self.sns.publish(
            TopicArn=self.operations_topic_arn,
            Subject=subject[:100],
            Message=json.dumps(message),
            MessageAttributes={"type": {"DataType": "String", "StringValue": str(message.get("type", ""))}},
        )
        return str(response["MessageId"])
