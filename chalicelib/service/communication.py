"""Use cases of the customer's voice: satisfaction ratings, and per-order message preferences.

Links in e-mails carry signed, expiring tokens (``domain.tokens``): a token
proves which order it is for, so these routes need no API key. A bad,
forged or expired token is answered like an unknown page (404): it reveals
nothing about which orders exist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.event_payloads import FeedbackReceived, NotificationPreferencesChanged
from chalicelib.domain.models import Order
from chalicelib.domain.tokens import InvalidToken, TokenClaims, issue_token, verify_token
from chalicelib.service.changes import Change, load_order, stage_change
from chalicelib.service.ports import Clock, IdGenerator, OrderAggregate, UnitOfWork, UnitOfWorkFactory
from chalicelib.service.unit_of_work import Message, change_order, consume_once

FEEDBACK = "feedback"
UNSUBSCRIBE = "unsubscribe"
FEEDBACK_LIFETIME = timedelta(days=30)
UNSUBSCRIBE_LIFETIME = timedelta(days=365)


def link_token(purpose: str, order_id: str, *, keys: Sequence[str], clock: Clock) -> str | None:
    """A token for a link in an e-mail, signed with the newest key; None when no key is configured."""
    if not keys:
        return None
    lifetime = FEEDBACK_LIFETIME if purpose == FEEDBACK else UNSUBSCRIBE_LIFETIME
    return issue_token(purpose, order_id, key=keys[0], now=clock.now(), lifetime=lifetime)


def _claims(token: str, purpose: str, keys: Sequence[str], clock: Clock) -> TokenClaims:
    try:
        return verify_token(token, purpose, keys=keys, now=clock.now())
    except InvalidToken:
        raise NotFound("link", "(invalid or expired)") from None


def record_feedback(
    uow_factory: UnitOfWorkFactory,
    token: str,
    rating: int,
    comment: str | None,
    *,
    keys: Sequence[str],
    ids: IdGenerator,
    clock: Clock,
) -> OrderAggregate:
    """Store the one rating an order may get; a second one is a 409."""
    claims = _claims(token, FEEDBACK, keys, clock)

    def stage(uow: UnitOfWork) -> OrderAggregate:
        aggregate = load_order(uow, claims.order_id)
        change = Change(
            order=aggregate.order,
            fulfillments=aggregate.fulfillments,
            payload=FeedbackReceived(rating=rating, comment=comment),
        )
        return stage_change(uow, aggregate, change, actor="customer", ids=ids, clock=clock)

    def rated_already() -> OrderAggregate:
        raise Conflict("this order has been rated already; thank you")

    rating_once = Message(scope=FEEDBACK, key=claims.order_id, ref=claims.order_id, data={"rating": rating})
    return consume_once(uow_factory, rating_once, stage, replay=rated_already, clock=clock)


def change_preferences(
    uow_factory: UnitOfWorkFactory,
    order_id: str,
    *,
    email: bool | None,
    sms: bool | None,
    authorize: Callable[[Order], None],
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> OrderAggregate:
    """Opt an order in or out of e-mail and SMS; the same preferences again change nothing."""

    def decide(aggregate: OrderAggregate, uow: UnitOfWork) -> Change | None:
        authorize(aggregate.order)
        current = aggregate.order.notify
        wanted = current.model_copy(
            update={
                **({"email": email} if email is not None else {}),
                **({"sms": sms} if sms is not None else {}),
            }
        )
        if wanted == current:
            return None
        return Change(
            order=aggregate.order.model_copy(update={"notify": wanted}),
            fulfillments=aggregate.fulfillments,
            payload=NotificationPreferencesChanged(email=wanted.email, sms=wanted.sms),
        )

    return change_order(
        uow_factory, lambda uow: load_order(uow, order_id), decide, actor=actor, ids=ids, clock=clock
    )


def unsubscribe(
    uow_factory: UnitOfWorkFactory, token: str, *, keys: Sequence[str], ids: IdGenerator, clock: Clock
) -> OrderAggregate:
    """The one-click opt-out of an e-mail's footer: no more e-mail or SMS about this order."""
    claims = _claims(token, UNSUBSCRIBE, keys, clock)
    return change_preferences(
        uow_factory,
        claims.order_id,
        email=False,
        sms=False,
        authorize=lambda _: None,
        actor="customer",
        ids=ids,
        clock=clock,
    )
