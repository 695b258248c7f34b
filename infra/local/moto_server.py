"""moto in server mode, in-process, with every request executed alone.

Why one request at a time: moto's in-memory backends are not thread-safe. Two DynamoDB
transactions running at once in werkzeug's request threads can interleave inside moto and leave
its tables corrupt (tests/integration/test_stock_race.py shows the same race in-process). Real
DynamoDB executes each request atomically, so serialising requests makes moto *more* faithful, not
less: clients still interleave freely between requests (read, plan, conditional write), which is
the concurrency the service is designed for.

Two consequences of the lock are handled here:

* SQS long polling (``WaitTimeSeconds`` > 0) would hold the lock for up to 20 seconds while moto
  waits for a message that no other request can now send. The middleware runs such a receive as
  a series of short (``WaitTimeSeconds=0``) receives, releasing the lock in between, until a
  message arrives or the wait is over: what the client sees is unchanged.
* The same lock guards the in-process readers of moto's backends (the local mailbox and the SNS
  log in :mod:`infra.local.observers`): :attr:`SerialisedMotoServer.lock`.

After each request that can make work for the event pump (see ``_WAKES_THE_PUMP``) the
middleware signals an :class:`~infra.local.activity.Activity`, which the pump waits on instead of
polling.

And one addition: moto's SES keeps only the HTML part of an e-mail that has both parts, so the
middleware keeps each ``SendEmail``'s text part by message id (:class:`SesTextTap`) for the
local mailbox.

And moto's DynamoDB is patched in this process when the server starts (:func:`apply_moto_patches`;
the integration tests apply the same patches to ``mock_aws``): transactions roll back from an undo
log of the items they touched instead of copies of whole tables, honour ``ClientRequestToken``,
the table's stream drops what every reader has read (or what is 24 hours old), and a query, on the
table or on an index, reads the items under the partition key it asks for, not the whole table.

One fault can be injected for tests, off unless :data:`ENV_LOSE_TRANSACT_REPLY` is set: a
transaction applied whose reply is lost (see :class:`SerialisingMiddleware`).
"""

from __future__ import annotations

import copy
import io
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from infra.local.activity import Activity
from infra.local.meter import wrap_if_enabled

__all__ = [
    "SerialisedMotoServer",
    "SerialisingMiddleware",
    "SesTextTap",
    "UndoLog",
    "apply_moto_patches",
    "trim_stream",
]

WsgiEnviron = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[WsgiEnviron, StartResponse], Iterable[bytes]]

logger = logging.getLogger("oms.local.moto")

_SQS_RECEIVE_TARGET = "AmazonSQS.ReceiveMessage"  # boto3 speaks SQS's JSON protocol
_TRANSACT_WRITE_TARGET = "DynamoDB_20120810.TransactWriteItems"
#: Fault knob (off unless set): the first ``TransactWriteItems`` whose request contains this text
#: (and a ``ClientRequestToken``) is applied, then answered with a 500, as if its reply were lost.
ENV_LOSE_TRANSACT_REPLY = "OMS_LOCAL_LOSE_TRANSACT_REPLY"
_LOST_REPLY_BODY = json.dumps(
    {
        "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
        "message": f"reply lost on purpose ({ENV_LOSE_TRANSACT_REPLY}); the transaction was applied",
    }
).encode()
_LONG_POLL_STEP = 0.05  # seconds between the short receives that stand in for one long poll
_SES_SCOPE = "/ses/aws4_request"  # SigV4 credential scope of an SES (v1, query protocol) request
_MESSAGE_ID = re.compile(rb"<MessageId>([^<]+)</MessageId>")
_TAP_LIMIT = 1000  # text parts kept for the mailbox; it collects them within a second
#: Requests (``X-Amz-Target`` of the JSON protocols) after which the pump has something to look
#: at: a message sent or made visible again, an item written (a stream record), an event put on
#: a bus (its rules send to queues). Reads, receives and deletes are not in it: the pump's own
#: polling must not wake the pump.
_WAKES_THE_PUMP = re.compile(
    r"AmazonSQS\.(SendMessage|ChangeMessageVisibility)(Batch)?"
    r"|DynamoDB_20120810\.(PutItem|UpdateItem|DeleteItem|BatchWriteItem|TransactWriteItems"
    r"|ExecuteStatement|BatchExecuteStatement|ExecuteTransaction)"
    r"|AWSEvents\.PutEvents"
)


class SesTextTap:
    """Text parts of sent e-mails by SES message id, for the local mailbox (moto keeps only HTML)."""

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}
        self._lock = threading.Lock()

    def put(self, message_id: str, text: str) -> None:
        with self._lock:
            if len(self._texts) >= _TAP_LIMIT:
                self._texts.pop(next(iter(self._texts)))
            self._texts[message_id] = text

    def pop(self, message_id: str) -> str | None:
        with self._lock:
            return self._texts.pop(message_id, None)


class SerialisingMiddleware:
    """WSGI middleware: runs each request to moto under one lock (see the module docstring).

    ``activity`` is signalled after each write that can make work for the event pump.

    ``lose_transact_reply`` arms the fault knob :data:`ENV_LOSE_TRANSACT_REPLY`: the first
    ``TransactWriteItems`` carrying a ``ClientRequestToken`` whose request contains that text is
    applied by moto, and its client gets an ``InternalServerError`` (500) instead of the reply.
    botocore retries a 500 with the same request, token included, which is what a read timeout
    on a slow transaction leads to in AWS: the retry must not apply the transaction twice.
    """

    def __init__(
        self,
        app: WsgiApp,
        lock: threading.RLock,
        tap: SesTextTap | None = None,
        activity: Activity | None = None,
        lose_transact_reply: str | None = None,
    ) -> None:
        self._app = app
        self._lock = lock
        self._tap = tap
        self._activity = activity
        self._lose_reply = lose_transact_reply.encode() if lose_transact_reply else None

    def __call__(self, environ: WsgiEnviron, start_response: StartResponse) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target == _SQS_RECEIVE_TARGET:
            status, headers, body = self._receive(environ)
        elif target == _TRANSACT_WRITE_TARGET and self._lose_reply is not None:
            status, headers, body = self._transact(environ)
        elif self._tap is not None and _SES_SCOPE in environ.get("HTTP_AUTHORIZATION", ""):
            status, headers, body = self._ses(environ)
        else:
            status, headers, body = self._call(environ)
        if self._activity is not None and _WAKES_THE_PUMP.fullmatch(target):
            self._activity.signal()  # after the lock: the pump finds the write done
        start_response(status, headers)
        return [body]

    def _call(self, environ: WsgiEnviron) -> tuple[str, list[tuple[str, str]], bytes]:
        """One request under the lock, its body built completely before the lock is released."""
        captured: dict[str, Any] = {}
        written: list[bytes] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            captured["status"], captured["headers"] = status, headers
            return written.append  # the legacy write() callable

        with self._lock:
            result = self._app(environ, capture)
            try:
                written.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return captured["status"], captured["headers"], b"".join(written)

    def _receive(self, environ: WsgiEnviron) -> tuple[str, list[tuple[str, str]], bytes]:
        raw = _read_body(environ)
        try:
            request = json.loads(raw or b"{}")
            wait = float(request.get("WaitTimeSeconds") or 0)
        except (ValueError, TypeError, AttributeError):
            wait = 0.0  # let moto answer the malformed request itself
        if wait <= 0:
            _set_body(environ, raw)
            return self._call(environ)
        request["WaitTimeSeconds"] = 0
        short = json.dumps(request).encode()
        deadline = time.monotonic() + wait
        while True:
            _set_body(environ, short)
            status, headers, body = self._call(environ)
            if not status.startswith("200") or time.monotonic() >= deadline or _has_messages(body):
                return status, headers, body
            time.sleep(_LONG_POLL_STEP)  # outside the lock: senders get their turn

    def _transact(self, environ: WsgiEnviron) -> tuple[str, list[tuple[str, str]], bytes]:
        raw = _read_body(environ)
        _set_body(environ, raw)
        marker = self._lose_reply
        status, headers, body = self._call(environ)
        if (
            marker is None
            or marker not in raw
            or b"ClientRequestToken" not in raw
            or not status.startswith("200")
        ):
            return status, headers, body
        self._lose_reply = None  # once
        logger.warning("%s: TransactWriteItems applied, its reply replaced by a 500", ENV_LOSE_TRANSACT_REPLY)
        kept = [
            (name, value) for name, value in headers if name.lower() not in {"content-length", "x-amz-crc32"}
        ]
        return (
            "500 Internal Server Error",
            [*kept, ("Content-Length", str(len(_LOST_REPLY_BODY)))],
            _LOST_REPLY_BODY,
        )

    def _ses(self, environ: WsgiEnviron) -> tuple[str, list[tuple[str, str]], bytes]:
        raw = _read_body(environ)
        _set_body(environ, raw)
        status, headers, body = self._call(environ)
        if self._tap is not None and status.startswith("200") and raw:
            form = parse_qs(raw.decode("utf-8", "replace"))
            text = form.get("Message.Body.Text.Data")
            found = _MESSAGE_ID.search(body)
            if form.get("Action") == ["SendEmail"] and text and found:
                self._tap.put(found.group(1).decode(), text[0])
        return status, headers, body


def _read_body(environ: WsgiEnviron) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return environ["wsgi.input"].read(length) if length > 0 else b""


def _set_body(environ: WsgiEnviron, body: bytes) -> None:
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))


def _has_messages(body: bytes) -> bool:
    try:
        return bool(json.loads(body).get("Messages"))
    except (ValueError, AttributeError):
        return True  # not the JSON we expect: hand it to the client rather than loop on it


# -- moto patches ---------------------------------------------------------------------------------
#
# Each patch below replaces or wraps one moto 5.2.5 function; tests/integration/test_moto_patches.py
# pins the source of every function a patch replaces or relies on, so that upgrading moto fails a
# test until the patch has been checked against the new version.

#: DynamoDB keeps a ClientRequestToken for 10 minutes after the request that used it.
CLIENT_TOKEN_WINDOW_SECONDS = 600.0
#: DynamoDB Streams keeps a record for 24 hours.
STREAM_RETENTION = timedelta(hours=24)
#: A DynamoDB Streams shard iterator expires 15 minutes after it is issued.
SHARD_ITERATOR_LIFETIME_SECONDS = 900.0


def _now() -> float:
    """The clock of the token window and of shard iterators (a test moves it)."""
    return time.monotonic()


def apply_moto_patches() -> None:
    """Make moto's DynamoDB behave like DynamoDB where the service depends on it. Idempotent.

    * :func:`_transact_write_items`: a transaction costs what it touches (an undo log instead of
      moto's deep copy of every touched table, stream included, before each transaction).
    * :func:`_transact_write_items_response`: ``ClientRequestToken`` makes a transaction
      idempotent for 10 minutes, as in DynamoDB.
    * :func:`_add_stream_record` and :func:`_get_records`: the stream keeps a record for 24 hours
      or until every reader is past it, and shard iterators expire; moto keeps both for ever.
    * :func:`_query`: a ``Query`` on the table reads the items of its partition key only (moto
      sorted the whole table for each one); a ``Query`` on an index reads the items carrying its
      partition key value, from a map kept per table (:class:`IndexKeys`) that every write marks
      (:func:`_table_put_item`, :func:`_table_delete_item`, :func:`_update_item`,
      :func:`_execute_statement`, the undo log's restore).
    * :func:`_new_model`: moto's models are no longer all kept for its dashboard (every stream
      record, queue message, e-mail and shard iterator ever created, for ever).
    * :class:`RecentReceiptHandles`: a queue remembers the receipt handles of the last 10,000
      deleted messages, not of every message ever deleted.
    * :func:`_apply_change_set`: executing a CloudFormation change set gives the stack the change
      set's template and outputs, as CloudFormation does (``make deploy-check`` deploys through
      change sets; moto updated only the resources, so such a stack had no outputs).

    The local stack applies them when its moto server starts; the integration tests' conftest
    applies them for ``mock_aws``.
    """
    from moto.cloudformation.models import ChangeSet
    from moto.core.common_models import BaseModel
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import StreamShard, Table
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend
    from moto.sqs.models import Queue

    if getattr(DynamoDBBackend.transact_write_items, "_oms_patched", False):
        return
    _mark(_transact_write_items)
    for owner, attribute, replacement in (
        (DynamoDBBackend, "transact_write_items", _transact_write_items),
        (DynamoHandler, "transact_write_items", _transact_write_items_response),
        (StreamShard, "add", _add_stream_record),
        (DynamoDBStreamsBackend, "get_records", _get_records),
        (Table, "all_items", _all_items),
        (Table, "query", _query),
        (Table, "put_item", _table_put_item),
        (Table, "delete_item", _table_delete_item),
        (DynamoDBBackend, "update_item", _update_item),
        (DynamoDBBackend, "execute_statement", _execute_statement),
        (Queue, "__init__", _queue_init),
        (BaseModel, "__new__", _new_model),
        (ChangeSet, "apply", _apply_change_set),
    ):
        # Kept under "Class.attribute": the patches call moto's own code through _ORIGINALS.
        _ORIGINALS[f"{owner.__name__}.{attribute}"] = getattr(owner, attribute)
        setattr(owner, attribute, replacement)


_ORIGINALS: dict[str, Callable[..., Any]] = {}


def _mark(function: Callable[..., Any]) -> None:
    function._oms_patched = True  # type: ignore[attr-defined]


def _apply_change_set(self: Any) -> None:
    _ORIGINALS["ChangeSet.apply"](self)
    self.stack.template, self.stack.template_dict = self.template, self.template_dict
    self.stack.output_map = self.stack._create_output_map()


# -- transactions: an undo log instead of whole-table copies ------------------------------------


class UndoLog:
    """What one transaction changed, to put back if it does not commit.

    For each item the transaction touches, the item as it was (a copy: moto updates items in
    place) or ``None`` if it did not exist; for each table, its stream's end (a sequence number,
    not a length, so that trimming old records meanwhile changes nothing). Restoring puts every
    item back and cuts the stream where it ended: the table, its indexes (moto derives them from
    the items) and its readers see nothing of the cancelled transaction, as in DynamoDB. It costs
    O(touched items), whatever the size of the table.
    """

    def __init__(self) -> None:
        self._items: list[tuple[Any, Any, Any, Any, bool]] = []
        self._seen: set[tuple[int, Any, Any]] = set()
        self._streams: dict[int, tuple[Any, Any, int]] = {}

    def touch(self, table: Any, hash_key: Any, range_key: Any) -> None:
        """Remember the item at this key (and the table's stream end) before it is changed."""
        slot = (id(table), hash_key, range_key)
        if slot in self._seen:
            return
        self._seen.add(slot)
        had_bucket = hash_key in table.items  # a range table keeps a dict per hash key
        previous = table.get_item(hash_key, range_key) if had_bucket else None
        self._items.append((table, hash_key, range_key, copy.deepcopy(previous), had_bucket))
        shard = table.stream_shard
        if shard is not None and id(table) not in self._streams:
            self._streams[id(table)] = (table, shard, shard.starting_sequence_number + len(shard.items))

    def restore(self) -> None:
        for table, hash_key, range_key, previous, had_bucket in reversed(self._items):
            mark_item_changed(table, hash_key, range_key)  # put back behind moto's write paths
            if table.has_range_key:
                bucket = table.items[hash_key]
                if previous is None:
                    bucket.pop(range_key, None)
                else:
                    bucket[range_key] = previous
                if not bucket and not had_bucket:
                    del table.items[hash_key]
            elif previous is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = previous
        for table, shard, end in self._streams.values():
            table.stream_shard = shard
            del shard.items[max(end - shard.starting_sequence_number, 0) :]


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto 5.2.5's ``DynamoDBBackend.transact_write_items`` with an :class:`UndoLog`.

    The same checks, in the same order, with the same errors; what changes is the rollback:
    moto deep-copied every table the transaction names before running it, so each transaction
    cost O(table) in time and memory, and replaced the tables with the copies on failure. Here
    each item is remembered just before it is touched, and put back on any failure (a condition
    that does not hold, a validation error, an exception thrown midway).
    """
    from moto.dynamodb.exceptions import TooManyTransactionsException, TransactionCanceledException

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    undo = UndoLog()
    target_items: set[tuple[str, str]] = set()
    errors: list[_CancellationReason] = []
    try:
        for item in transact_items:
            errors.append(_transact_write_one(self, item, undo, target_items))
        if any(code is not None for code, _, _ in errors):
            raise TransactionCanceledException(errors)
    except BaseException:
        undo.restore()
        raise


#: (code, message, the item's old attributes) of one operation; all None when it succeeded.
_CancellationReason = tuple[str | None, str | None, dict[str, Any] | None]


def _transact_write_one(
    self: Any, item: dict[str, Any], undo: UndoLog, target_items: set[tuple[str, str]]
) -> _CancellationReason:
    """One operation of ``_transact_write_items``: applied (undo remembers what it touched), or
    the reason it cancels the transaction. A malformed transaction raises instead."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TransactWriteSingleOpException,
    )

    original_item: dict[str, Any] | None = None
    if len(list(item.keys())) > 1:
        raise TransactWriteSingleOpException
    try:
        op_type, op = next(iter(item.items()))
        if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
            raise ValueError("Unsupported transaction operation")
        table_name = op["TableName"]
        key = _transact_key(self, op_type, op)
        target = (str(table_name), str(dict(sorted(key.items()))))  # moto's check_unicity
        if target in target_items:
            raise MultipleTransactionsException()
        target_items.add(target)
        current = self.get_item(table_name, key)
        condition_expression = op.get("ConditionExpression")
        if condition_expression is not None:
            condition_op = get_filter_expression(
                condition_expression, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            )
            if not condition_op.expr(current):
                if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    original_item = current.to_json()["Attributes"]
                raise ConditionalCheckFailed(item=original_item)
        if op_type != "ConditionCheck":
            table = self.get_table(table_name)
            undo.touch(table, *self.get_keys_value(table, key))
            _apply_transact_op(self, op_type, op, key)
        return (None, None, None)
    except (MultipleTransactionsException, MockValidationException):
        raise
    except ConditionalCheckFailed as error:
        return ("ConditionalCheckFailed", str(error.message), original_item)
    except Exception as error:
        return (type(error).__name__, str(error), original_item)


def _transact_key(self: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    """The key of the item an operation touches (a Put names its item, the others their key)."""
    if op_type != "Put":
        key: dict[str, Any] = op["Key"]
        return key
    attrs = op["Item"]
    table = self.get_table(op["TableName"])
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def _apply_transact_op(self: Any, op_type: str, op: dict[str, Any], key: dict[str, Any]) -> None:
    condition = {
        "condition_expression": op.get("ConditionExpression"),
        "expression_attribute_names": op.get("ExpressionAttributeNames"),
        "expression_attribute_values": op.get("ExpressionAttributeValues"),
    }
    if op_type == "Put":
        self.put_item(op["TableName"], op["Item"], **condition)
    elif op_type == "Delete":
        self.delete_item(op["TableName"], key, **condition)
    elif op_type == "Update":
        self.update_item(op["TableName"], key, update_expression=op["UpdateExpression"], **condition)


# -- transactions: ClientRequestToken -------------------------------------------------------------


def _mismatch_error() -> Exception:
    from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException

    return DynamodbException(
        ERROR_TYPE_PREFIX + "IdempotentParameterMismatchException",
        "The request uses the same client token as a previous, but non-identical request.",
    )


def _transact_write_items_response(self: Any) -> Any:
    """``TransactWriteItems`` honouring ``ClientRequestToken`` as DynamoDB does.

    A token is remembered for 10 minutes after the request that used it succeeded, with a
    fingerprint of the request (everything but the token). The same token with the same request
    meanwhile succeeds again without writing anything: a client that retries a call whose reply
    it lost (a read timeout, a 5xx) does not apply its transaction twice. The same token with
    another request is ``IdempotentParameterMismatchException``. A cancelled transaction leaves
    no token behind: its retry runs again, and has nothing to undo. Tokens are kept on the
    DynamoDB backend, so ``mock_aws`` forgets them with the tables.
    """
    original = _ORIGINALS["DynamoHandler.transact_write_items"]
    token = self.body.get("ClientRequestToken")
    if not token:
        return original(self)
    backend = self.dynamodb_backend
    tokens: dict[str, tuple[float, str]] = backend.__dict__.setdefault("_oms_client_tokens", {})
    now = _now()
    while tokens:  # oldest first (insertion order): drop the expired ones
        oldest = next(iter(tokens))
        if tokens[oldest][0] > now:
            break
        del tokens[oldest]
    fingerprint = json.dumps(
        {k: v for k, v in self.body.items() if k != "ClientRequestToken"}, sort_keys=True
    )
    seen = tokens.get(token)
    if seen is not None:
        if seen[1] != fingerprint:
            raise _mismatch_error()
        from moto.core.responses import ActionResult

        return ActionResult({"ConsumedCapacity": [], "ItemCollectionMetrics": {}})
    result = original(self)
    tokens[token] = (now + CLIENT_TOKEN_WINDOW_SECONDS, fingerprint)
    return result


# -- streams: 24-hour retention, records no reader needs, iterators that expire --------------------


def trim_stream(shard: Any, before_sequence: int) -> int:
    """Drop the shard's records older than ``before_sequence``; returns how many were dropped.

    Sequence numbers stay what they were: moto numbers a record ``starting_sequence_number +
    its index``, so dropping the first ``n`` records moves ``starting_sequence_number`` on by
    ``n`` (it is then the oldest record kept, what DescribeStream reports and ``TRIM_HORIZON``
    starts from, as in DynamoDB).
    """
    drop = min(before_sequence - shard.starting_sequence_number, len(shard.items))
    if drop <= 0:
        return 0
    del shard.items[:drop]
    shard.starting_sequence_number += drop
    return drop


def _add_stream_record(self: Any, old: Any, new: Any) -> None:
    """``StreamShard.add``, then the records older than :data:`STREAM_RETENTION` are dropped."""
    _ORIGINALS["StreamShard.add"](self, old, new)
    if not self.items:
        return
    cutoff = datetime.now(UTC).replace(tzinfo=None) - STREAM_RETENTION
    expired = 0
    for record in self.items:  # oldest first; usually stops at the first record
        created = record.record["dynamodb"]["ApproximateCreationDateTime"]
        if not isinstance(created, datetime) or created.replace(tzinfo=None) >= cutoff:
            break
        expired += 1
    if expired:
        trim_stream(self, self.starting_sequence_number + expired)


def _get_records(self: Any, iterator_arn: str, limit: int) -> dict[str, Any]:
    """``GetRecords``: iterators expire; records every reader is past are dropped.

    moto keeps every shard iterator it ever issued (each ``GetRecords`` issues one, an idle
    poller several a second) and every record for ever. Here:

    * an iterator is good for 15 minutes and, unlike DynamoDB's, for one read: ``GetRecords``
      hands out its successor and retires it. A retired or expired iterator gets
      ``ExpiredIteratorException``, which readers handle by asking for a new one after the last
      record they read (the event pump does). The backend then holds only the iterators not yet
      used.
    * once the records below every live iterator's position have been read, nobody can ask for
      them again (a new iterator starts at ``TRIM_HORIZON``, ``LATEST`` or a sequence number
      from a record already read), so they are dropped; DynamoDB would keep them for 24 hours.
      With no reader at all, only the 24-hour retention applies.
    """
    iterators: dict[str, Any] = self.shard_iterators
    now = _now()
    for arn in [
        arn for arn, it in iterators.items() if _issued_at(it) + SHARD_ITERATOR_LIFETIME_SECONDS <= now
    ]:
        del iterators[arn]
    iterator = iterators.pop(iterator_arn, None)
    if iterator is None:
        raise _expired_iterator_error()
    shard = iterator.stream_shard
    if iterator.sequence_number < shard.starting_sequence_number:
        raise _trimmed_error()
    result: dict[str, Any] = iterator.get(limit)  # registers its successor in ``iterators``
    _issued_at(iterators[result["NextShardIterator"]])
    positions = [it.sequence_number for it in iterators.values() if it.stream_shard is shard]
    if positions:
        trim_stream(shard, min(positions))
    return result


def _issued_at(iterator: Any) -> float:
    issued: float | None = iterator.__dict__.get("_oms_issued_at")
    if issued is None:
        issued = iterator.__dict__["_oms_issued_at"] = _now()
    return issued


def _expired_iterator_error() -> Exception:
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError("ExpiredIteratorException", "Iterator expired or already used; get a new one.")


def _trimmed_error() -> Exception:
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError("TrimmedDataAccessException", "The requested records were trimmed from the stream.")


# -- queries on the table: the partition, not the whole table ------------------------------------

_QUERY_SCOPE = threading.local()


def _all_items(self: Any) -> list[Any]:
    """``Table.all_items``, or only the items :func:`_query` narrowed it to in this thread."""
    scope = getattr(_QUERY_SCOPE, "items", None)
    if scope is not None and scope[0] is self:
        return list(scope[1])
    items: list[Any] = _ORIGINALS["Table.all_items"](self)
    return items


def _query(self: Any, *args: Any, **kwargs: Any) -> Any:
    """``Table.query``; on the table itself (no index), moto looks at that partition only.

    moto answers every ``Query`` from ``all_items()``, the whole table sorted, then keeps the
    items with the partition key asked for: each read cost O(n log n) in the table's size
    (a second at 20,000 items). Those items are exactly one entry of ``Table.items``, so the
    query runs on that entry alone; the rest of moto's query (key conditions, sorting, paging,
    filters) is unchanged. A query on a secondary index reads the items :class:`IndexKeys`
    holds under its partition key (:func:`_index_candidates`).
    """
    original = _ORIGINALS["Table.query"]
    hash_key = args[0] if args else kwargs.get("hash_key")
    index_name = args[7] if len(args) > 7 else kwargs.get("index_name")
    if index_name:
        conditions = args[10] if len(args) > 10 else kwargs.get("hash_key_conditions")
        candidates = _index_candidates(self, index_name, conditions)
        if candidates is None:
            return original(self, *args, **kwargs)
        return _query_scoped(self, candidates, original, args, kwargs)
    if hash_key is None:
        return original(self, *args, **kwargs)
    bucket = self.items.get(hash_key)  # .get: moto's defaultdict would add an empty partition
    if bucket is None:
        partition: list[Any] = []
    elif self.range_key_attr:
        partition = list(bucket.values())
    else:
        partition = [bucket]
    return _query_scoped(self, partition, original, args, kwargs)


def _query_scoped(
    table: Any, items: list[Any], original: Callable[..., Any], args: Any, kwargs: dict[str, Any]
) -> Any:
    """moto's ``Table.query``, with ``all_items()`` answering ``items`` in this thread."""
    outer = getattr(_QUERY_SCOPE, "items", None)
    _QUERY_SCOPE.items = (table, items)
    try:
        return original(table, *args, **kwargs)
    finally:
        _QUERY_SCOPE.items = outer


# -- queries on an index: the items under its partition key, not the whole table -----------------

#: A primary key of a table: (hash key, range key or None), moto's ``DynamoType`` values.
PrimaryKey = tuple[Any, Any]


class IndexKeys:
    """For one table: each index's partition-key values, and the primary keys of the items carrying them.

    moto answers a ``Query`` on an index by walking every item of the table. This map lets
    :func:`_query` hand it only the items whose index partition key (the first ``HASH``
    attribute of the index) has the value asked for. It is kept exact lazily: every write path
    of moto's DynamoDB marks the primary key it touches as dirty (:func:`mark_item_changed`), or
    the whole table when it cannot name the key (:func:`mark_table_changed`), and the next index
    query first refreshes those keys (drops the key's old entries, re-reads the item, adds its
    current ones). A table whose indexes changed since the map was built is rebuilt.

    Invariant: after :meth:`refresh`, every item of the table that carries an index's partition
    key attribute is listed under that attribute's value. Entries may be stale (an item since
    removed or changed, when a write path marks too much); they are harmless, because moto's own
    query loop checks the key conditions of every candidate again. A missing entry would lose an
    item from the answer, which is why every write marks before the map is read again.
    """

    def __init__(self, signature: tuple[tuple[str, str], ...]) -> None:
        self.signature = signature
        self.by_value: dict[str, dict[Any, set[PrimaryKey]]] = {name: {} for name, _ in signature}
        #: Items whose index key value cannot be hashed: candidates of every query on that index.
        self.unhashable: dict[str, set[PrimaryKey]] = {name: set() for name, _ in signature}
        self.entries: dict[PrimaryKey, list[tuple[str, Any]]] = {}
        self.dirty: set[PrimaryKey] = set()
        self.stale = True  # everything: built from the table's items at the next refresh

    def refresh(self, table: Any) -> None:
        if self.stale:
            self.stale = False
            self.dirty.clear()
            self.entries.clear()
            for name, _ in self.signature:
                self.by_value[name].clear()
                self.unhashable[name].clear()
            for item in _every_item(table):
                self._add((item.hash_key, item.range_key), item)
            return
        dirty, self.dirty = self.dirty, set()
        for primary_key in dirty:
            for name, value in self.entries.pop(primary_key, ()):
                if value is None:
                    self.unhashable[name].discard(primary_key)
                else:
                    keys = self.by_value[name].get(value)
                    if keys is not None:
                        keys.discard(primary_key)
                        if not keys:
                            del self.by_value[name][value]
            item = _item_at(table, primary_key)
            if item is not None:
                self._add(primary_key, item)

    def _add(self, primary_key: PrimaryKey, item: Any) -> None:
        entries: list[tuple[str, Any]] = []
        for name, attribute in self.signature:
            value = item.attrs.get(attribute)
            if value is None:
                continue
            try:
                self.by_value[name].setdefault(value, set()).add(primary_key)
                entries.append((name, value))
            except TypeError:  # a list, map or set: moto compares it, we cannot hash it
                self.unhashable[name].add(primary_key)
                entries.append((name, None))
        if entries:
            self.entries[primary_key] = entries

    def candidates(self, name: str, value: Any) -> set[PrimaryKey]:
        return self.by_value[name].get(value, set()) | self.unhashable[name]


def _index_signature(table: Any) -> tuple[tuple[str, str], ...]:
    """Each index of the table by name, with the first attribute of its partition key."""
    signature: list[tuple[str, str]] = []
    for index in table.all_indexes():
        hash_attributes = [key["AttributeName"] for key in index.schema if key["KeyType"] == "HASH"]
        if hash_attributes:
            signature.append((index.name, hash_attributes[0]))
    return tuple(signature)


def _every_item(table: Any) -> Iterable[Any]:
    for bucket in list(table.items.values()):
        if table.range_key_attr:
            yield from list(bucket.values())
        else:
            yield bucket


def _item_at(table: Any, primary_key: PrimaryKey) -> Any:
    hash_key, range_key = primary_key
    bucket = table.items.get(hash_key)  # .get: moto's defaultdict would add an empty partition
    if bucket is None or not table.range_key_attr:
        return bucket
    return bucket.get(range_key)


def index_keys(table: Any) -> IndexKeys:
    """The table's :class:`IndexKeys`, refreshed: exact for every item now in the table."""
    signature = _index_signature(table)
    keys: IndexKeys | None = table.__dict__.get("_oms_index_keys")
    if keys is None or keys.signature != signature:
        keys = table.__dict__["_oms_index_keys"] = IndexKeys(signature)
    keys.refresh(table)
    return keys


def mark_item_changed(table: Any, hash_key: Any, range_key: Any) -> None:
    """The item at this key may have changed: the next index query re-reads it."""
    keys: IndexKeys | None = table.__dict__.get("_oms_index_keys")
    if keys is not None and not keys.stale:
        keys.dirty.add((hash_key, range_key))


def mark_table_changed(table: Any) -> None:
    """Any item may have changed: the next index query rebuilds the table's map."""
    keys: IndexKeys | None = table.__dict__.get("_oms_index_keys")
    if keys is not None:
        keys.stale = True


def _index_candidates(table: Any, index_name: str, conditions: Any) -> list[Any] | None:
    """The items an index query on ``table`` has to look at, or None to let moto walk them all.

    None when the index is unknown (moto raises its own error), or the query names no value for
    the index's partition key. The items come in no particular order: moto sorts them by the
    index's key attributes and then the table's primary key, which no two items share, so the
    order of its answer does not depend on the order it is handed them.
    """
    hash_attribute = dict(_index_signature(table)).get(index_name)
    if hash_attribute is None or not conditions:
        return None
    wanted = [value for name, value in conditions if name == hash_attribute]
    if not wanted:
        return None
    keys = index_keys(table)
    try:
        primary_keys = keys.candidates(index_name, wanted[0])
    except TypeError:  # an unhashable value asked for: let moto compare it with every item
        return None
    return [item for item in map(lambda key: _item_at(table, key), primary_keys) if item is not None]


def _table_put_item(self: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
    """``Table.put_item``, which every put goes through (``PutItem``, transactions, batches,
    ``UpdateItem`` creating an item, PartiQL, imports), marking the item's key changed."""
    try:
        return _ORIGINALS["Table.put_item"](self, item_attrs, *args, **kwargs)
    finally:
        _mark_written(self, lambda: _key_of_attributes(self, item_attrs))


def _table_delete_item(self: Any, hash_key: Any, range_key: Any = None) -> Any:
    """``Table.delete_item``, which every delete goes through, marking the item's key changed."""
    try:
        return _ORIGINALS["Table.delete_item"](self, hash_key, range_key)
    finally:
        mark_item_changed(self, hash_key, range_key)


def _update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
    """``DynamoDBBackend.update_item``, which changes the item in place, marking its key changed.

    Marked whether it succeeds or fails (a failure midway may have changed the item already);
    the key is read from ``key`` as moto reads it.
    """
    try:
        return _ORIGINALS["DynamoDBBackend.update_item"](self, table_name, key, *args, **kwargs)
    finally:
        table = self.tables.get(table_name)
        if table is not None:
            _mark_written(table, lambda: _key_of_update(table, key))


def _execute_statement(self: Any, *args: Any, **kwargs: Any) -> Any:
    """``DynamoDBBackend.execute_statement`` (PartiQL; its transactions and batches call it):
    it may write any table, so every table's map is rebuilt at its next index query."""
    try:
        return _ORIGINALS["DynamoDBBackend.execute_statement"](self, *args, **kwargs)
    finally:
        for table in list(self.tables.values()):
            mark_table_changed(table)


def _mark_written(table: Any, key: Callable[[], PrimaryKey]) -> None:
    try:
        hash_key, range_key = key()
    except Exception:  # a request moto refused before it could name the key: mark them all
        mark_table_changed(table)
    else:
        mark_item_changed(table, hash_key, range_key)


def _key_of_attributes(table: Any, attributes: dict[str, Any]) -> PrimaryKey:
    from moto.dynamodb.models.dynamo_type import DynamoType

    hash_key = DynamoType(attributes[table.hash_key_attr])
    range_key = DynamoType(attributes[table.range_key_attr]) if table.range_key_attr is not None else None
    return hash_key, range_key


def _key_of_update(table: Any, key: dict[str, Any]) -> PrimaryKey:
    """The key ``DynamoDBBackend.update_item`` reads from its ``key`` argument (same cases)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    if table.hash_key_attr in key and table.range_key_attr in key:
        return DynamoType(key[table.hash_key_attr]), DynamoType(key[table.range_key_attr])
    if table.hash_key_attr in key:
        return DynamoType(key[table.hash_key_attr]), None
    return DynamoType(key), None


# -- what moto keeps of every request ------------------------------------------------------------

#: Receipt handles of deleted messages a queue remembers (deleting one again is not an error).
DELETED_RECEIPTS_KEPT = 10_000


def _new_model(cls: type[Any], *args: Any, **kwargs: Any) -> Any:
    """``BaseModel.__new__`` without the bookkeeping for moto's dashboard (except S3's).

    moto appends every instance of every model to ``cls.instances_tracked``, for its web
    dashboard, and only a reset empties those lists: every stream record, queue message, e-mail
    and shard iterator the local stack ever created stayed in memory. The local stack does not
    serve the dashboard. S3 still tracks its keys and uploads: its reset closes their buffers.
    """
    from moto.core.common_models import BaseModel

    instance = super(BaseModel, cls).__new__(cls)  # what moto's own __new__ does, minus the list
    if cls.__module__.startswith("moto.s3."):
        cls.instances_tracked.append(instance)  # type: ignore[attr-defined]
    return instance


class RecentReceiptHandles:
    """The set of deleted messages' receipt handles a queue checks, bounded to the newest ones.

    moto keeps every receipt handle of every deleted message, so that deleting a message twice
    is not an error; only the last :data:`DELETED_RECEIPTS_KEPT` are kept here (in SQS a receipt
    handle is only good until its message becomes visible again anyway).
    """

    def __init__(self, limit: int = DELETED_RECEIPTS_KEPT) -> None:
        self._handles: dict[str, None] = {}
        self._limit = limit

    def __contains__(self, handle: object) -> bool:
        return handle in self._handles

    def __len__(self) -> int:
        return len(self._handles)

    def update(self, handles: Iterable[str]) -> None:
        for handle in handles:
            self._handles[handle] = None
        while len(self._handles) > self._limit:
            del self._handles[next(iter(self._handles))]


def _queue_init(self: Any, *args: Any, **kwargs: Any) -> None:
    _ORIGINALS["Queue.__init__"](self, *args, **kwargs)
    self.deleted_messages = RecentReceiptHandles()


class _QuietRequestHandler(MotoRequestHandler):
    """moto's handler without werkzeug's access log line per request (one per pump request, when it polls)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class SerialisedMotoServer(ThreadedMotoServer):
    """``ThreadedMotoServer`` whose WSGI app is wrapped in :class:`SerialisingMiddleware`.

    ``_server_entry`` mirrors moto 5.2.5's own (the app, werkzeug's threaded server, moto's
    request handler); it also reports a failure to bind instead of leaving ``start()`` waiting.
    """

    def __init__(
        self, ip_address: str = "127.0.0.1", port: int = 0, lose_transact_reply: str | None = None
    ) -> None:
        super().__init__(ip_address=ip_address, port=port, verbose=False)
        self.lose_transact_reply = lose_transact_reply or os.environ.get(ENV_LOSE_TRANSACT_REPLY) or None
        self.lock = threading.RLock()
        self.ses_text = SesTextTap()
        #: Signalled after each write that can make work for the event pump.
        self.activity = Activity()
        self._startup_error: BaseException | None = None

    def _server_entry(self) -> None:
        # The meter (OMS_METER=1, for the benchmark) runs inside the lock: it sizes items around a write.
        backend_app = wrap_if_enabled(DomainDispatcherApplication(create_backend_app))
        app = SerialisingMiddleware(
            backend_app,
            self.lock,
            self.ses_text,
            activity=self.activity,
            lose_transact_reply=self.lose_transact_reply,
        )
        try:
            self._server = make_server(
                self._ip_address, self._port, app, threaded=True, request_handler=_QuietRequestHandler
            )
        except BaseException as error:  # e.g. the port is taken: start() re-raises it
            self._startup_error = error
            self._server_ready_event.set()
            return
        self._server_ready_event.set()
        self._server.serve_forever()

    def start(self) -> None:
        apply_moto_patches()
        super().start()
        if self._startup_error is not None:
            error, self._startup_error = self._startup_error, None
            self._thread = None
            raise error

    def stop(self) -> None:
        if self._thread is None:
            return
        super().stop()
        if self._server is not None:
            self._server.server_close()
        self._thread = None

    @property
    def url(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"
