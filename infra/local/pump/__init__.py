"""The local event pump: Lambda's event-source semantics for a Chalice app, without AWS.

``chalice local`` serves only HTTP routes (aws/chalice#899), so on a laptop
nothing would call the app's ``@app.on_sqs_message``, ``@app.on_dynamodb_record``
and ``@app.schedule`` handlers. The pump plays the part of Lambda's event source
mappings and EventBridge schedules against any SQS / DynamoDB Streams endpoint
(moto in-process or in server mode):

* SQS (``queues.py``): batches of up to ``batch_size`` honouring the batching
  window, events in Lambda's exact shape with the real SQS ``MessageId``, and
  ``ReportBatchItemFailures`` result handling; failed messages stay invisible
  for the queue's visibility timeout (or ``visibility_timeout_override``) and the
  queue's own RedrivePolicy moves poison messages to the DLQ (moto does this on
  receive, like SQS).
* DynamoDB Streams (``streams.py``, the outbox relay's source): shard iterators
  from ``starting_position``, parents before children, records in Lambda's
  shape, per-shard order, checkpointing on ``batchItemFailures`` and at most
  ``stream_max_retries`` retries of a failing batch before it is dropped
  (Lambda's MaximumRetryAttempts).
* Schedules (``schedules.py``): ``rate(...)`` and AWS ``cron(...)`` on a clock
  running ``clock_speed`` times faster than real time.

Between passes the background thread sleeps (``event_pump.py``). Given an
``activity`` signal (the local stack's moto server raises it after every write
that can make work: a message sent, an item written, an event put), it sleeps
until that signal or until the next thing it knows is due (a schedule, a held
message's release, a batching window closing, a failed message's visibility
timeout, a stream batch to retry), with a slow fallback poll for what no signal
announces: an idle stack costs next to nothing, and a message reaches its
handler at once. Without one it polls every ``poll_interval``.

Handlers are called exactly as ``chalice.test.Client`` calls them
(``invoker.py``): ``app.handler_map[name](event_dict, context)``, with events
converted to Lambda's JSON shapes (``shapes.py``). A handler's exception is
logged on the ``oms.pump`` logger and never stops the pump.
"""

from infra.local.pump.event_pump import EventPump, EventSourceError
from infra.local.pump.invoker import PumpContext

__all__ = ["EventPump", "EventSourceError", "PumpContext"]
