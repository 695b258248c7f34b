"""The orders page: the listing by status, channel, tag and creation day, the search by order id,
external id, e-mail or the words of a staff note, and the count of orders in each status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from chalice.app import Response

from chalicelib.api import console_data as data
from chalicelib.api.console.visit import Visit, console_route, parse_day
from chalicelib.domain.models import Channel, Order
from chalicelib.domain.notes import InvalidTag, normalise_tag
from chalicelib.domain.status import OrderStatus
from chalicelib.service.ports import InvalidCursor

PAGE_SIZE = 25
#: An e-mail or note search filters the listing one window at a time (there is no index by e-mail,
#: nor by the words of notes).
EMAIL_WINDOW = 100


@dataclass(frozen=True)
class _Filters:
    """The listing's filters as the page shows them (the invalid ones emptied), and what was
    wrong with the ones asked for."""

    status: str
    channel: str
    tag: str
    day_from: date | None
    day_to: date | None
    errors: list[str]

    @property
    def created_from(self) -> str | None:
        return f"{self.day_from.isoformat()}T00:00:00.000Z" if self.day_from else None

    @property
    def created_to(self) -> str | None:
        return f"{self.day_to.isoformat()}T23:59:59.999Z" if self.day_to else None

    def query(self) -> dict[str, str]:
        """The filters as query parameters of the page's links."""
        return {
            "status": self.status,
            "channel": self.channel,
            "tag": self.tag,
            "from": self.day_from.isoformat() if self.day_from else "",
            "to": self.day_to.isoformat() if self.day_to else "",
        }


def _read_filters(visit: Visit, channels: list[Channel]) -> _Filters:
    errors: list[str] = []
    status = visit.arg("status", 40)
    if status and status not in OrderStatus.__members__.values():
        errors.append(f"There is no status {status!r}.")
        status = ""
    channel = visit.arg("channel", 64)
    if channel and channel not in {c.id for c in channels}:
        errors.append(f"There is no channel {channel!r}.")
        channel = ""
    tag = visit.arg("tag", 64)
    if tag:
        try:
            tag = normalise_tag(tag)
        except InvalidTag as exc:
            errors.append(f"That is not a tag: {exc}.")
            tag = ""
    day_from = parse_day(visit.arg("from", 10), "From", errors)
    day_to = parse_day(visit.arg("to", 10), "To", errors)
    if day_from and day_to and day_to < day_from:
        errors.append("To must not be before From.")
        day_to = None
    return _Filters(status=status, channel=channel, tag=tag, day_from=day_from, day_to=day_to, errors=errors)


def _find_orders(
    visit: Visit, filters: _Filters, channels: list[Channel], search: str, cursor: str | None
) -> tuple[list[Order], str | None, str]:
    """The orders to show, the cursor of the next page, and a note on how they were found.

    Raises ``InvalidCursor`` for a cursor that belongs to other filters."""
    svc = visit.svc
    channel = filters.channel
    if search and "@" not in search:
        # An order id, or an external id: exact matches by key, never a listing.
        uow = svc.uow_factory()
        ids = [search] if search.startswith("ord_") else []
        ids += data.orders_by_external_id(svc, search, [channel] if channel else [c.id for c in channels])
        found = [uow.get_order(order_id) for order_id in dict.fromkeys(ids)]
        exact = [aggregate.order for aggregate in found if aggregate is not None]
        if exact or search.startswith("ord_"):
            note = "Exact match on the order id, or the external id in " + (
                f"channel {channel}." if channel else "every channel."
            )
            return exact, None, note
        # No order by that id: the words may be in a staff note (looked for like an e-mail, below).
    orders, next_cursor = svc.queries.list_orders(
        status=filters.status or None,
        channel_id=channel or None,
        created_from=filters.created_from,
        created_to=filters.created_to,
        limit=EMAIL_WINDOW if search else PAGE_SIZE,
        cursor=cursor,
        tag=filters.tag or None,
    )
    if not search:
        return orders, next_cursor, ""
    wanted = search.lower()
    if "@" not in search:
        note = (
            f"No order has that id or external id. Looking for the words in staff notes, through "
            f"{EMAIL_WINDOW} orders at a time (newest first, within the filters); use “Search the "
            "next orders” to go on."
        )
        return [o for o in orders if any(wanted in n.text.lower() for n in o.notes)], next_cursor, note
    note = (
        f"E-mail search looks through {EMAIL_WINDOW} orders at a time (newest first, "
        "within the filters); use “Search the next orders” to go on."
    )
    return [o for o in orders if o.customer.email.lower() == wanted], next_cursor, note


@console_route("/console/orders", "GET", "orders: filters, search, counts per status")
def console_orders(visit: Visit) -> Response:
    svc = visit.svc
    channels = data.list_channels(svc)
    filters = _read_filters(visit, channels)
    search = visit.arg("q", 254)
    cursor = visit.arg("cursor", 512) or None
    query = filters.query()
    try:
        orders, next_cursor, note = _find_orders(visit, filters, channels, search, cursor)
    except InvalidCursor:
        # A cursor from other filters (an edited URL): start again from the first page.
        return visit.redirect("/console/orders", q=search, **query)
    counted = data.status_counts(
        svc,
        [s.value for s in OrderStatus],
        channel_id=filters.channel or None,
        created_from=filters.created_from,
        created_to=filters.created_to,
    )
    counts = [
        {"status": s, "count": n, "url": visit.url("/console/orders", **{**query, "status": s})}
        for s, n in counted.items()
    ]
    return visit.page(
        "orders",
        200 if not filters.errors else 422,
        title="Orders",
        section="orders",
        orders=orders,
        counts=counts,
        count_cap=data.COUNT_CAP,
        channels=channels,
        statuses=[s.value for s in OrderStatus],
        filters=query,
        search=search,
        note=note,
        error=" ".join(filters.errors),
        paged=cursor is not None,
        next_url=visit.url("/console/orders", q=search, cursor=next_cursor, **query) if next_cursor else "",
        first_url=visit.url("/console/orders", q=search, **query),
    )
