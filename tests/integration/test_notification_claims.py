"""Send-once claims on DynamoDB (moto): the states ``sending`` and ``sent`` that let a failed send
be retried at once and a crash after sending be recorded without sending again."""

from __future__ import annotations

from chalicelib.adapters.dynamodb.claims import DynamoNotificationClaims
from chalicelib.service.notifications import AlreadySent, Claimed
from tests.integration.conftest import Stack


def test_a_claim_is_exclusive_released_by_its_holder_only_and_remembers_a_sent_message(stack: Stack) -> None:
    claims = DynamoNotificationClaims(stack.client("dynamodb"), stack.table)

    first = claims.claim("evt_1/email/customer", seconds=30)
    assert isinstance(first, Claimed)
    assert claims.claim("evt_1/email/customer", seconds=30) is None  # a concurrent delivery waits

    claims.release("evt_1/email/customer", Claimed("another-holder"))
    assert claims.claim("evt_1/email/customer", seconds=30) is None  # not theirs to release
    claims.release("evt_1/email/customer", first)  # the send failed
    second = claims.claim("evt_1/email/customer", seconds=30)
    assert isinstance(second, Claimed) and second.token != first.token

    claims.mark_sent("evt_1/email/customer", second, message_id="0100-ses-id", seconds=3600)
    claims.release("evt_1/email/customer", second)  # a sent claim is never given up
    assert claims.claim("evt_1/email/customer", seconds=30) == AlreadySent("0100-ses-id")
    (item,) = stack.items("CLAIM#evt_1/email/customer")
    assert (item["state"]["S"], item["message_id"]["S"]) == ("sent", "0100-ses-id")


def test_a_claim_whose_time_is_up_can_be_taken_again(stack: Stack) -> None:
    claims = DynamoNotificationClaims(stack.client("dynamodb"), stack.table)
    crashed = claims.claim("stuck/ord_1", seconds=-5)  # taken by a function that died long ago
    assert isinstance(crashed, Claimed)

    assert isinstance(claims.claim("stuck/ord_1", seconds=30), Claimed)
