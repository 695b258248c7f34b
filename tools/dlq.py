"""Dead-letter queues: list what failed and why, and send it back for another try.

    python -m tools.dlq list    [--queue receipt|notify|...|all] [--json]
    python -m tools.dlq redrive [--queue receipt|notify|...|all] [--message-id ID ...]
    (both take --stage (default local), --endpoint-url, --region, --limit)

A worker queue ``oms-<stage>-<name>`` moves a message to ``oms-<stage>-<name>-dlq`` after its
redrive policy's maxReceiveCount. SQS keeps the message (same id, body, attributes) but not the
reason, so the workers record the last error per message id in the table (``FailureLog``); the
listing shows it beside each dead letter, with the order id from the EventBridge envelope.

Listing has to *receive* the messages (SQS has no peek): they are held invisible for a few seconds
while the page is read and then made visible again, and each listing adds one to their
``ApproximateReceiveCount``, so the count shown is the one the worker recorded at its last failure.

Redrive, all messages of a queue against AWS: SQS's own ``StartMessageMoveTask`` (server-side,
keeps everything). Against moto, which does not implement it, or for chosen ``--message-id`` s: each
message is sent to its source queue with its body and attributes and then deleted from the DLQ.
The source queue gives a redriven message a new id and a fresh receive count.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.dynamodb.failures import FailureLog
from tools import Target, add_target_arguments, resolve_target

_HOLD_SECONDS = 30  # how long listed messages stay invisible while the page is read
_RECEIVE_MAX = 10
_UNSUPPORTED = {"UnsupportedOperation", "InvalidAction", "AWS.SimpleQueueService.UnsupportedOperation"}


@dataclass
class DeadLetter:
    queue: str
    message_id: str
    order_id: str | None
    receive_count: int | None
    handler: str | None
    error: str | None
    failed_at: str | None
    sent_at: str | None
    body: str


class DlqError(RuntimeError):
    pass


def worker_queues(target: Target) -> list[str]:
    """Short names of the stage's queues that have a DLQ (``receipt``, ``notify``, ...).

    Found by name rather than listed here, so that a queue added to infra/template.yaml is covered
    without touching this tool. A DLQ without a source queue of the same name (the stream's
    on-failure destination, which holds stream coordinates rather than messages) is left out.
    """
    sqs = target.client("sqs")
    prefix = target.queue_name("")
    names: set[str] = set()
    request: dict[str, Any] = {"QueueNamePrefix": prefix, "MaxResults": 1000}
    while True:
        response = sqs.list_queues(**request)
        names.update(url.rsplit("/", 1)[-1] for url in response.get("QueueUrls", []))
        if not response.get("NextToken"):
            break
        request["NextToken"] = response["NextToken"]
    short = {name.removeprefix(prefix) for name in names}
    return sorted(name for name in short if f"{name}-dlq" in short)


def _queue_url(sqs: Any, name: str) -> str:
    try:
        url: str = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as error:
        raise DlqError(
            f"queue {name} not found ({_code(error)}): is the stage deployed (or started)?"
        ) from error
    return url


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "error"))


def _utc_text(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _order_id(body: str) -> str | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    detail = document.get("detail")  # EventBridge envelope
    for source in (detail, document):
        if isinstance(source, dict) and isinstance(source.get("order_id"), str):
            return str(source["order_id"])
    return None


def receive_all(sqs: Any, url: str, *, limit: int, wait_seconds: int) -> list[dict[str, Any]]:
    """Every message of a queue (up to ``limit``), each held invisible for ``_HOLD_SECONDS``."""
    found: dict[str, dict[str, Any]] = {}
    while len(found) < limit:
        response = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(_RECEIVE_MAX, limit - len(found)),
            VisibilityTimeout=_HOLD_SECONDS,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            break
        for message in messages:
            found[message["MessageId"]] = message
    return list(found.values())


def release(sqs: Any, url: str, messages: Iterable[dict[str, Any]]) -> None:
    """Make held messages visible again at once."""
    batch = list(messages)
    for start in range(0, len(batch), _RECEIVE_MAX):
        chunk = batch[start : start + _RECEIVE_MAX]
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(chunk)
            ],
        )


def _wait_seconds(target: Target) -> int:
    # Real SQS short polling samples a subset of servers and may answer empty while messages
    # wait; a one-second long poll does not. The local stack answers from one place.
    return 0 if target.endpoint_url else 1


def _describe(queue: str, message: dict[str, Any], failures: FailureLog) -> DeadLetter:
    attributes = message.get("Attributes", {})
    failure = failures.get(message["MessageId"]) or {}
    body = message.get("Body", "")
    recorded = failure.get("receive_count")
    sqs_count = attributes.get("ApproximateReceiveCount")
    failed_at = failure.get("failed_at")
    return DeadLetter(
        queue=queue,
        message_id=message["MessageId"],
        order_id=failure.get("order_id") or _order_id(body),
        receive_count=int(recorded) if recorded is not None else (int(sqs_count) if sqs_count else None),
        handler=failure.get("handler"),
        error=failure.get("error"),
        failed_at=_utc_text(float(failed_at)) if failed_at else None,
        sent_at=_utc_text(int(attributes["SentTimestamp"]) / 1000) if "SentTimestamp" in attributes else None,
        body=body,
    )


def list_dead_letters(target: Target, queues: Sequence[str], *, limit: int = 100) -> list[DeadLetter]:
    sqs = target.client("sqs")
    failures = FailureLog(target.client("dynamodb"), target.table)
    letters: list[DeadLetter] = []
    for queue in queues:
        url = _queue_url(sqs, target.queue_name(f"{queue}-dlq"))
        messages = receive_all(sqs, url, limit=limit, wait_seconds=_wait_seconds(target))
        try:
            letters += [_describe(queue, message, failures) for message in messages]
        finally:
            release(sqs, url, messages)
    return letters


@dataclass
class Redriven:
    queue: str
    message_id: str
    new_message_id: str | None  # None when SQS's move task does the moving


def _copyable_attributes(message: dict[str, Any]) -> dict[str, Any]:
    attributes = {}
    for name, value in message.get("MessageAttributes", {}).items():
        # ReceiveMessage fills in empty list fields that SendMessage refuses.
        attributes[name] = {k: v for k, v in value.items() if v not in ([], None)}
    return attributes


def _redrive_by_copy(
    sqs: Any, queue: str, dlq_url: str, source_url: str, messages: list[dict[str, Any]]
) -> list[Redriven]:
    done: list[Redriven] = []
    for message in messages:
        request: dict[str, Any] = {"QueueUrl": source_url, "MessageBody": message["Body"]}
        attributes = _copyable_attributes(message)
        if attributes:
            request["MessageAttributes"] = attributes
        trace = message.get("Attributes", {}).get("AWSTraceHeader")
        if trace:
            request["MessageSystemAttributes"] = {
                "AWSTraceHeader": {"DataType": "String", "StringValue": trace}
            }
        try:
            sent = sqs.send_message(**request)
        except ClientError:
            release(sqs, dlq_url, [message])  # not sent: leave it where it was
            raise
        # Deleted only once it is safely in the source queue: a crash in between duplicates the
        # message rather than losing it, and the workers are idempotent.
        sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
        done.append(Redriven(queue=queue, message_id=message["MessageId"], new_message_id=sent["MessageId"]))
    return done


def redrive(
    target: Target, queues: Sequence[str], *, message_ids: Sequence[str] = (), limit: int = 100
) -> tuple[list[Redriven], list[str]]:
    """Send dead letters back to their source queues; returns what moved and notes for the user."""
    sqs = target.client("sqs")
    moved: list[Redriven] = []
    notes: list[str] = []
    wanted = set(message_ids)
    for queue in queues:
        dlq_url = _queue_url(sqs, target.queue_name(f"{queue}-dlq"))
        source_url = _queue_url(sqs, target.queue_name(queue))
        if not wanted and not target.endpoint_url:
            arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]
            try:
                task = sqs.start_message_move_task(SourceArn=arn["QueueArn"])
            except ClientError as error:
                if _code(error) not in _UNSUPPORTED:
                    raise
                notes.append(f"{queue}: StartMessageMoveTask unavailable ({_code(error)}); copying instead")
            else:
                notes.append(f"{queue}: SQS is moving the messages back (task {task['TaskHandle']})")
                continue
        messages = receive_all(sqs, dlq_url, limit=limit, wait_seconds=_wait_seconds(target))
        chosen = [m for m in messages if not wanted or m["MessageId"] in wanted]
        others = [m for m in messages if m not in chosen]
        try:
            moved += _redrive_by_copy(sqs, queue, dlq_url, source_url, chosen)
        finally:
            release(sqs, dlq_url, others)
    missing = wanted - {r.message_id for r in moved}
    if missing:
        notes.append(f"not found in the chosen DLQs: {', '.join(sorted(missing))}")
    return moved, notes


def _print_letters(letters: list[DeadLetter], queues: Sequence[str], target: Target) -> None:
    for queue in queues:
        mine = [letter for letter in letters if letter.queue == queue]
        print(f"{target.queue_name(queue + '-dlq')}: {len(mine)} message(s)")
        for letter in mine:
            print(f"  message  {letter.message_id}")
            print(f"    order     {letter.order_id or '-'}")
            print(f"    receives  {letter.receive_count if letter.receive_count is not None else '-'}")
            print(f"    sent      {letter.sent_at or '-'}")
            if letter.error:
                print(f"    handler   {letter.handler or '-'} (last failure {letter.failed_at or '-'})")
                lines = letter.error.splitlines() or [""]
                print(f"    error     {lines[0]}")
                for line in lines[1:]:
                    print(f"              {line}")
            else:
                print("    error     (no failure recorded for this message id)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.dlq", description=__doc__.split("\n\n")[0])
    add_target_arguments(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("list", "show dead letters and their errors"),
        ("redrive", "retry dead letters"),
    ):
        command = commands.add_parser(name, help=help_text)
        add_target_arguments(command, suppress_defaults=True)
        command.add_argument(
            "--queue", default="all", help="a worker queue's short name (receipt, notify, ...) or all"
        )
        command.add_argument("--limit", type=int, default=100, help="at most this many messages per queue")
        if name == "list":
            command.add_argument("--json", action="store_true", help="one JSON document instead of text")
        else:
            command.add_argument(
                "--message-id", action="append", default=[], help="only this message (repeatable)"
            )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        target = resolve_target(args)
        known = worker_queues(target)
        if not known:
            raise DlqError(f"no queues with a DLQ named {target.queue_name('*')}: is the stage deployed?")
        if args.queue != "all" and args.queue not in known:
            raise DlqError(
                f"no queue {args.queue!r} with a DLQ on stage {target.stage}; known: {', '.join(known)}"
            )
        queues = known if args.queue == "all" else [args.queue]
        if args.command == "list":
            letters = list_dead_letters(target, queues, limit=args.limit)
            if args.json:
                print(json.dumps([asdict(letter) for letter in letters], indent=2))
            else:
                _print_letters(letters, queues, target)
            return 0
        moved, notes = redrive(target, queues, message_ids=args.message_id, limit=args.limit)
        for item in moved:
            print(f"redriven {item.queue} {item.message_id} -> {item.new_message_id}")
        for note in notes:
            print(note)
        print(f"{len(moved)} message(s) sent back to their queue")
        return 0
    except (DlqError, FileNotFoundError) as error:
        print(f"tools.dlq: {error}", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as error:
        print(f"tools.dlq: AWS error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
