"""Write-back to the stores: make a store's order show what the OMS did with it.

One run handles one write-back message, for one order:

1. the channel: an API channel, or a store whose API is not connected, is skipped; while the
   channel's credentials are known to be refused (``StoreAlerts``) the order is parked at once,
   without calling the store;
2. a short claim on the order (``WriteBackLedger.claim_order``): one run per order at a time,
   because two runs could both create what neither sees yet (a Shopify fulfillment, a note);
   a run that finds the claim taken is retried a few seconds later;
3. the order and its fulfillments are read *now* (never the event's body) and
   ``chalicelib.domain.writeback`` says which store requests the event calls for, prerequisites
   first; they are sent one after the other through the ``StoreApi`` port, and each outcome
   decides what happens next:

   * ``Done``: the next request;
   * ``Rejected``: recorded for operations (``StoreRejection``, listed on the console's
     needs-attention page), and the next request;
   * ``RetryAfter``: the run stops; the message is sent again after the store's wait (the worker
     re-sends it, so waiting never counts towards the queue's dead-letter limit);
   * ``CredentialsRejected``: the run stops; the order is parked (one item per channel and
     order), operations are alerted once per channel (``service/store_alerts.py``) and the
     message is acknowledged: nothing is lost, the parked orders are re-driven when the
     channel's store connection changes (``channel.store_api_changed``).

Every request is idempotent in the store clients (each reads the store first), so a re-run after
a retry, a duplicate message or a re-drive sends only what is missing. Store calls per message are
bounded (see ``chalicelib.domain.writeback``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from chalicelib.domain.events import DomainEvent
from chalicelib.domain.models import Channel, ChannelKind, format_timestamp
from chalicelib.domain.promise import DeliveryWindow, order_promise
from chalicelib.domain.store_api import (
    CustomerNoteAdded,
    Done,
    MilestoneReached,
    OrderCancelled,
    ParcelShipped,
    Rejected,
    RetryAfter,
    StoreCallOutcome,
    StoreRequest,
)
from chalicelib.domain.transit import TransitTable
from chalicelib.domain.writeback import (
    CHANNEL_STORE_API_CHANGED,
    CUSTOMER_VISIBILITY,
    ORDER_EVENT_TYPES,
    ORDER_NOTE_ADDED,
    requests_for_event,
    requests_for_order,
)
from chalicelib.service.channels import store_credentials
from chalicelib.service.ports import (
    ChannelRepository,
    Clock,
    Notifier,
    OrderAggregate,
    ParkedOrder,
    Secrets,
    StoreAlerts,
    StoreApi,
    StoreApis,
    StoreRejection,
    UnitOfWorkFactory,
    WriteBackLedger,
    WriteBackQueue,
)
from chalicelib.service.store_alerts import credentials_fixed, report_credentials_rejected

#: How long a run may hold an order's claim; longer than the worker's own time limit.
CLAIM_SECONDS = 90
#: A message that found the order claimed by another run is tried again after this.
CLAIMED_RETRY_SECONDS = 3
#: The channel's stored credentials do not match it yet (a change under way): try again after.
CREDENTIALS_PENDING_RETRY_SECONDS = 30
#: Time a request may take at worst: a read and two writes of the store, 10 s each at most.
REQUEST_RESERVE_SECONDS = 30.0
#: Parked orders re-driven per ``channel.store_api_changed`` message; more continue in the next.
REDRIVE_PAGE = 50


class RunStatus(StrEnum):
    #: Every request ended Done or Rejected (or there was nothing to send).
    WRITTEN = "written"
    #: Nothing to write to: an API channel or a store not connected, an order not found.
    SKIPPED = "skipped"
    #: The store (or the order's claim) asks to try again in ``retry_seconds``.
    RETRY = "retry"
    #: The channel's credentials are refused: the order waits for them to be fixed.
    PARKED = "parked"


@dataclass
class RunResult:
    status: RunStatus
    retry_seconds: int = 0
    reason: str = ""
    #: Each request sent and how it ended, in order.
    sent: list[tuple[StoreRequest, StoreCallOutcome]] = field(default_factory=list)


@dataclass(frozen=True)
class WriteBackContext:
    uow_factory: UnitOfWorkFactory
    secrets: Secrets
    stores: StoreApis
    ledger: WriteBackLedger
    alerts: StoreAlerts
    notifier: Notifier
    queue: WriteBackQueue
    clock: Clock
    #: Channels read as they are now: the unit of work's reads are cached per process for
    #: seconds, and a store connected a moment ago must not be taken for one not connected.
    channels: ChannelRepository
    #: The transit table (cached per process), for the promised delivery window told to stores.
    transit_table: Callable[[], TransitTable] = TransitTable


# --- messages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Redrive:
    """Write the whole order again (it was parked), with the customer notes parked with it."""

    channel_id: str
    order_id: str
    notes: tuple[tuple[str, str], ...] = ()


def redrive_message(redrive: Redrive) -> str:
    notes = [{"note_id": n, "text": t} for n, t in redrive.notes]
    return json.dumps(
        {"redrive": {"channel_id": redrive.channel_id, "order_id": redrive.order_id, "notes": notes}}
    )


def parse_message(body: str) -> tuple[DomainEvent | Redrive, int, datetime | None]:
    """A queue message: the event (an EventBridge envelope) or a re-drive, the number of times it
    was re-sent already, and the time before which it must not run (a wait longer than SQS can
    delay a message)."""
    envelope = json.loads(body)
    resent = int(envelope.get("resent", 0)) if isinstance(envelope, dict) else 0
    not_before = envelope.get("not_before") if isinstance(envelope, dict) else None
    when = datetime.fromisoformat(not_before) if isinstance(not_before, str) else None
    if isinstance(envelope, dict) and isinstance(envelope.get("redrive"), dict):
        raw = envelope["redrive"]
        notes = tuple((str(n["note_id"]), str(n["text"])) for n in raw.get("notes") or [])
        return Redrive(str(raw["channel_id"]), str(raw["order_id"]), notes), resent, when
    detail = envelope.get("detail", envelope)
    return DomainEvent.model_validate(detail), resent, when


def resend_message(body: str, *, resent: int, not_before: str | None) -> str:
    """The same message, counted as re-sent once more (and held until ``not_before``)."""
    envelope = json.loads(body)
    envelope["resent"] = resent
    if not_before is None:
        envelope.pop("not_before", None)
    else:
        envelope["not_before"] = not_before
    return json.dumps(envelope)


#: SQS delays a message by at most 15 minutes.
MAX_DELAY_SECONDS = 900
#: Re-sends of one message before it is failed (and, after the queue's receives, dead-lettered).
MAX_RESENDS = 500


class TooManyRetries(RuntimeError):
    """The store kept asking to wait; the message now fails like an error (towards the DLQ)."""


def backoff_seconds(resent: int) -> int:
    """The least wait before the next try of a message re-sent ``resent`` times already: 0 for the
    first two, then doubling up to SQS's 15 minutes. The store's own wait covers the request it
    refused; a run makes several requests (one per parcel group, milestone...), so a run that keeps
    being throttled part-way (other messages share the store's budget) waits longer each time until
    the budget holds the whole run."""
    return 0 if resent < 2 else min(2 ** (resent - 1), MAX_DELAY_SECONDS)


def handle_message(
    ctx: WriteBackContext, body: str, *, time_left: Callable[[], float] | None = None
) -> RunResult:
    """One queue message, start to end: held back while its ``not_before`` is ahead, otherwise
    written back; a run asked to wait is sent again delayed (never failed: waiting for a store
    does not count towards the dead-letter queue) until :data:`MAX_RESENDS`, then raises
    :class:`TooManyRetries`."""
    message, resent, not_before = parse_message(body)
    now = ctx.clock.now()
    if not_before is not None and not_before > now:
        wait = (not_before - now).total_seconds()
        _resend(ctx, body, resent, wait, count=False)
        return RunResult(RunStatus.RETRY, int(wait), "not due yet: held back again")
    result = write_back(ctx, message, time_left=time_left)
    if result.status == RunStatus.RETRY:
        if resent >= MAX_RESENDS:
            raise TooManyRetries(f"still asked to wait after {resent} re-sends: {result.reason}")
        _resend(ctx, body, resent, max(result.retry_seconds, backoff_seconds(resent)), count=True)
    return result


def _resend(ctx: WriteBackContext, body: str, resent: int, seconds: float, *, count: bool) -> None:
    """Send the message again after ``seconds`` (held with ``not_before`` past what SQS delays)."""
    wait = max(0, int(seconds + 0.999))
    not_before = None
    if wait > MAX_DELAY_SECONDS:
        not_before = format_timestamp(ctx.clock.now() + timedelta(seconds=wait))
    ctx.queue.send_later(
        resend_message(body, resent=resent + 1 if count else resent, not_before=not_before),
        delay_seconds=min(wait, MAX_DELAY_SECONDS),
    )


# --- runs ---------------------------------------------------------------------------------------


def write_back(
    ctx: WriteBackContext, message: DomainEvent | Redrive, *, time_left: Callable[[], float] | None = None
) -> RunResult:
    """Handle one message (see the module docstring). ``time_left``: seconds the caller may still
    run; a request is started only with :data:`REQUEST_RESERVE_SECONDS` left, otherwise the run
    stops and asks to be run again at once (the requests already sent are no-ops then)."""
    if isinstance(message, Redrive):
        return _run(ctx, message.channel_id, message.order_id, redrive=message, time_left=time_left)
    if message.type == CHANNEL_STORE_API_CHANGED:
        return _credentials_changed(ctx, str(message.channel_id or ""))
    if message.type not in ORDER_EVENT_TYPES or not message.order_id or not message.channel_id:
        return RunResult(RunStatus.SKIPPED, reason=f"{message.type} is not written back")
    return _run(ctx, message.channel_id, message.order_id, event=message, time_left=time_left)


def _run(
    ctx: WriteBackContext,
    channel_id: str,
    order_id: str,
    *,
    event: DomainEvent | None = None,
    redrive: Redrive | None = None,
    time_left: Callable[[], float] | None = None,
) -> RunResult:
    channel = ctx.channels.get(channel_id)
    if channel is None or channel.kind == ChannelKind.API or channel.store_api is None:
        return RunResult(RunStatus.SKIPPED, reason="the channel has no store API connected")
    note = _note_of(event)
    if ctx.alerts.alert_of(channel_id) is not None:
        parked = _park(ctx, channel_id, order_id, note, "the store refuses the channel's credentials")
        if ctx.alerts.alert_of(channel_id) is None:
            # Fixed between the two reads: the re-drive may have listed the parked orders before
            # this one was parked, so run again rather than wait for the next fix.
            return RunResult(RunStatus.RETRY, CLAIMED_RETRY_SECONDS, "the channel was fixed meanwhile")
        return parked
    credentials = store_credentials(ctx.secrets, channel)
    if credentials is None:
        return RunResult(
            RunStatus.RETRY, CREDENTIALS_PENDING_RETRY_SECONDS, "the channel's credentials are being changed"
        )
    token = ctx.ledger.claim_order(order_id, seconds=CLAIM_SECONDS)
    if token is None:
        return RunResult(RunStatus.RETRY, CLAIMED_RETRY_SECONDS, "another run holds the order")
    try:
        requests = _requests(ctx, channel, order_id, event=event, redrive=redrive)
        if requests is None:
            return RunResult(RunStatus.SKIPPED, reason=f"order {order_id} of channel {channel_id} not found")
        api = ctx.stores.for_credentials(credentials)
        return _send(ctx, api, channel_id, order_id, requests, note, time_left)
    finally:
        ctx.ledger.release_order(order_id, token)


def _requests(
    ctx: WriteBackContext,
    channel: Channel,
    order_id: str,
    *,
    event: DomainEvent | None,
    redrive: Redrive | None,
) -> list[StoreRequest] | None:
    aggregate = ctx.uow_factory().get_order(order_id)
    if aggregate is None or aggregate.order.channel_id != channel.id:
        return None
    order, fulfillments = aggregate.order, list(aggregate.fulfillments)
    windows = _delivery_windows(ctx, aggregate)
    if event is not None:
        return requests_for_event(
            event.type, event.data, order=order, fulfillments=fulfillments, kind=channel.kind, windows=windows
        )
    requests = requests_for_order(order, fulfillments, kind=channel.kind, windows=windows)
    notes = dict(redrive.notes if redrive else ())  # one request per note id
    return requests + [CustomerNoteAdded(order.external_id, note_id, text) for note_id, text in notes.items()]


def _delivery_windows(ctx: WriteBackContext, aggregate: OrderAggregate) -> dict[str, DeliveryWindow]:
    """The promised delivery window per fulfillment, as the order's API response shows it."""
    promise = order_promise(
        aggregate.order,
        aggregate.fulfillments,
        warehouses=ctx.uow_factory().list_warehouses(),
        transit=ctx.transit_table(),
        now=ctx.clock.now(),
    )
    return {p.fulfillment_id: p.delivery_window for p in promise.fulfillments if p.delivery_window}


def _note_of(event: DomainEvent | None) -> tuple[str, str] | None:
    """The customer note an ``order.note_added`` event carries (kept with a parked order: the
    order's state does not hold it)."""
    if event is None or event.type != ORDER_NOTE_ADDED:
        return None
    data = event.data
    text = str(data.get("text") or "").strip()
    if data.get("visibility") != CUSTOMER_VISIBILITY or not text:
        return None
    return (str(data.get("note_id") or ""), text)


def _send(
    ctx: WriteBackContext,
    api: StoreApi,
    channel_id: str,
    order_id: str,
    requests: list[StoreRequest],
    note: tuple[str, str] | None,
    time_left: Callable[[], float] | None,
) -> RunResult:
    result = RunResult(RunStatus.WRITTEN)
    for request in requests:
        if result.sent and time_left is not None and time_left() < REQUEST_RESERVE_SECONDS:
            result.status, result.reason = RunStatus.RETRY, "out of time; the rest in the next run"
            return result
        outcome = call_store(api, request)
        result.sent.append((request, outcome))
        if isinstance(outcome, Done):
            continue
        if isinstance(outcome, Rejected):
            ctx.ledger.record_rejection(
                StoreRejection(channel_id, order_id, describe(request), outcome.reason, ctx.clock.now())
            )
            continue
        if isinstance(outcome, RetryAfter):
            result.status, result.retry_seconds = RunStatus.RETRY, outcome.seconds
            result.reason = outcome.reason
            return result
        parked = _park(ctx, channel_id, order_id, note, outcome.reason)
        report_credentials_rejected(
            ctx.alerts, ctx.notifier, channel_id=channel_id, reason=outcome.reason, clock=ctx.clock
        )
        parked.sent = result.sent
        return parked
    return result


def _park(
    ctx: WriteBackContext, channel_id: str, order_id: str, note: tuple[str, str] | None, reason: str
) -> RunResult:
    ctx.ledger.park(channel_id, order_id, reason=reason, at=ctx.clock.now(), note=note)
    return RunResult(RunStatus.PARKED, reason=reason)


def _credentials_changed(ctx: WriteBackContext, channel_id: str) -> RunResult:
    """The channel's store connection changed: its failure is over, and the orders parked while
    it lasted are re-driven (a page per message; the event is sent again for the rest)."""
    credentials_fixed(ctx.alerts, channel_id=channel_id)
    channel = ctx.channels.get(channel_id)
    if channel is None or channel.store_api is None:
        # Disconnected: there is nothing to re-drive to; the parked orders wait for a connection.
        return RunResult(RunStatus.SKIPPED, reason="the channel has no store API connected")
    parked = ctx.ledger.parked(channel_id, limit=REDRIVE_PAGE)
    for item in parked:
        ctx.queue.send_later(redrive_message(_redrive_of(item)), delay_seconds=0)
        # Conditional: an order parked again since it was read (a run that failed meanwhile)
        # stays parked.
        ctx.ledger.unpark(item)
    if len(parked) == REDRIVE_PAGE:
        return RunResult(RunStatus.RETRY, 0, "more parked orders to re-drive")
    return RunResult(RunStatus.WRITTEN, reason=f"{len(parked)} parked order(s) re-driven")


def _redrive_of(item: ParkedOrder) -> Redrive:
    return Redrive(item.channel_id, item.order_id, item.notes)


# --- the port, by request type -----------------------------------------------------------------


def call_store(api: StoreApi, request: StoreRequest) -> StoreCallOutcome:
    if isinstance(request, ParcelShipped):
        return api.parcel_shipped(request)
    if isinstance(request, MilestoneReached):
        return api.milestone_reached(request)
    if isinstance(request, OrderCancelled):
        return api.order_cancelled(request)
    if isinstance(request, CustomerNoteAdded):
        return api.customer_note_added(request)
    return api.stock_level_changed(request)


def describe(request: StoreRequest) -> str:
    """A short, credential-free description of a request for operations."""
    if isinstance(request, ParcelShipped):
        return f"shipment {', '.join(request.tracking_numbers)} of store order {request.store_order_id}"
    if isinstance(request, MilestoneReached):
        numbers = ", ".join(request.tracking_numbers)
        return f"{request.milestone.value} of {numbers} (store order {request.store_order_id})"
    if isinstance(request, OrderCancelled):
        what = "cancellation" if request.whole_order else "cancelled lines"
        return f"{what} of store order {request.store_order_id}"
    if isinstance(request, CustomerNoteAdded):
        return f"customer note {request.note_id} on store order {request.store_order_id}"
    return f"stock of {request.sku}"
