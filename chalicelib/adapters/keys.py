"""The single-table key design (docs/architecture.md has the full table).

All key formats live here so that no other module builds a key string.
"""

from __future__ import annotations

import hashlib

#: Number of shards of the order-listing GSIs: spreads a busy day's writes
#: over ten partitions instead of one hot one; readers merge the shards.
SHARDS = 10

ENTITY_ORDER = "order"
ENTITY_FULFILLMENT = "fulfillment"
ENTITY_EVENT = "event"
ENTITY_STOCK = "stock"
ENTITY_PRODUCT = "product"
ENTITY_WAREHOUSE = "warehouse"
ENTITY_CHANNEL = "channel"
ENTITY_DEDUP = "dedup"
ENTITY_CLAIM = "claim"
ENTITY_API_KEY = "api_key"

ORDER_SK = "ORDER"
EVENT_PREFIX = "EVENT#"
FULFILLMENT_PREFIX = "FUL#"


def order_pk(order_id: str) -> str:
    return f"ORDER#{order_id}"


def event_sk(version: int) -> str:
    return f"{EVENT_PREFIX}{version:08d}"


def fulfillment_sk(fulfillment_id: str) -> str:
    return f"{FULFILLMENT_PREFIX}{fulfillment_id}"


def sku_pk(sku: str) -> str:
    return f"SKU#{sku}"


def stock_sk(warehouse_id: str) -> str:
    return f"WH#{warehouse_id}"


PRODUCT_SK = "PRODUCT"
WAREHOUSES_PK = "WAREHOUSE"
CHANNELS_PK = "CHANNEL"


def dedup_pk(scope: str, key: str) -> str:
    return f"DEDUP#{scope}#{key}"


DEDUP_SK = "DEDUP"


def claim_pk(key: str) -> str:
    return f"CLAIM#{key}"


CLAIM_SK = "CLAIM"


def api_key_pk(key_hash: str) -> str:
    return f"KEY#{key_hash}"


API_KEY_SK = "KEY"


def shard_of(ident: str) -> int:
    return int(hashlib.sha256(ident.encode()).hexdigest()[:8], 16) % SHARDS


def created_sort_key(created_at: str, order_id: str) -> str:
    return f"{created_at}#{order_id}"


def _status_partition(status: str, shard: int) -> str:
    return f"STATUS#{status}#{shard}"


def _channel_partition(channel_id: str, shard: int) -> str:
    return f"CHANNEL#{channel_id}#{shard}"


def _channel_status_partition(channel_id: str, status: str) -> str:
    return f"CHANNEL#{channel_id}#STATUS#{status}"


def _orders_partition(shard: int) -> str:
    return f"ORDERS#{shard}"


def order_index_keys(order_id: str, channel_id: str, status: str, created_at: str) -> dict[str, str]:
    """GSI attributes of an order item (see infra/template.yaml for the indexes)."""
    shard = shard_of(order_id)
    sort = created_sort_key(created_at, order_id)
    return {
        "gsi1pk": _status_partition(status, shard),
        "gsi1sk": sort,
        "gsi2pk": _channel_partition(channel_id, shard),
        "gsi2sk": sort,
        "gsi3pk": _channel_status_partition(channel_id, status),
        "gsi3sk": sort,
        "gsi4pk": _orders_partition(shard),
        "gsi4sk": sort,
    }


def order_listing(status: str | None, channel_id: str | None) -> tuple[str, list[str]]:
    """The index, and its partitions (every shard), that hold the orders of a status and/or a
    channel, as ``order_index_keys`` writes them; their sort keys are ``created_sort_key``."""
    if status and channel_id:
        return "gsi3", [_channel_status_partition(channel_id, status)]
    if status:
        return "gsi1", [_status_partition(status, n) for n in range(SHARDS)]
    if channel_id:
        return "gsi2", [_channel_partition(channel_id, n) for n in range(SHARDS)]
    return "gsi4", [_orders_partition(n) for n in range(SHARDS)]


ENTITY_ORDER_TAG = "order_tag"
TAG_PREFIX = "TAG#"


def order_tag_sk(tag: str) -> str:
    return f"{TAG_PREFIX}{tag}"


def _tag_partition(tag: str) -> str:
    return f"TAG#{tag}"


def _channel_tag_partition(channel_id: str, tag: str) -> str:
    # Tags are [a-z0-9-]: never "STATUS#...", so these partitions of gsi3 never meet a status's.
    return f"CHANNEL#{channel_id}#TAG#{tag}"


def order_tag_index_keys(order_id: str, channel_id: str, created_at: str, tag: str) -> dict[str, str]:
    """The index attributes of one tag of an order (``ORDER#<id>``/``TAG#<tag>``): gsi4 under
    ``TAG#<tag>`` (every channel's orders carrying it) and gsi3 under ``CHANNEL#<c>#TAG#<tag>``
    (one channel's), both sorted like the order listings (``created_sort_key``). The entry is
    written and deleted with the order's tag change, and an order's channel and creation time
    never change, so the entry never goes stale.

    Not sharded, unlike the order listings: people put tags on one order at a time, so a tag's
    partition never sees the write rate a status or a channel does."""
    sort = created_sort_key(created_at, order_id)
    return {
        "gsi3pk": _channel_tag_partition(channel_id, tag),
        "gsi3sk": sort,
        "gsi4pk": _tag_partition(tag),
        "gsi4sk": sort,
    }


def tag_listing(tag: str, channel_id: str | None) -> tuple[str, str]:
    """The index and the one partition that list the orders carrying ``tag`` (in a channel)."""
    if channel_id:
        return "gsi3", _channel_tag_partition(channel_id, tag)
    return "gsi4", _tag_partition(tag)


def created_bounds(created_from: str | None, created_to: str | None) -> tuple[str, str]:
    """Inclusive sort-key bounds of a listing's creation-date range (RFC 3339 prefixes)."""
    low = created_from or "0000"  # key values cannot be empty; every timestamp sorts after it
    high = (created_to or "9999") + "~"  # '~' sorts after every character of an id: inclusive end
    return low, high


def fulfillment_index_keys(
    warehouse_id: str | None, status: str, ship_by: str, fulfillment_id: str, *, sku: str, created_at: str
) -> dict[str, str]:
    """gsi5: a warehouse's work by status and ship-by date; a backorder (no warehouse yet) is
    filed under its SKU by creation time, which is the first-come, first-served queue.
    gsi6: any fulfillment by its id (a warehouse reports work by fulfillment id alone)."""
    work: dict[str, str]
    if warehouse_id is None:
        # A cancelled backorder leaves the queue (a sparse index: no key, no entry).
        work = (
            {}
            if status == "cancelled"
            else {"gsi5pk": backorder_partition(sku), "gsi5sk": f"{created_at}#{fulfillment_id}"}
        )
    else:
        work = {"gsi5pk": work_partition(warehouse_id, status), "gsi5sk": f"{ship_by}#{fulfillment_id}"}
    return {**work, "gsi6pk": fulfillment_id}


def work_partition(warehouse_id: str, status: str) -> str:
    return f"WH#{warehouse_id}#{status}"


def backorder_partition(sku: str) -> str:
    return f"BACKORDER#{sku}"


def inventory_event_sk(warehouse_id: str, event_id: str) -> str:
    # Event ids are ULIDs: a stock level's events sort by time under its SKU.
    return f"{EVENT_PREFIX}{warehouse_id}#{event_id}"


def tracking_pk(number: str) -> str:
    """A shipment's partition: the tracking index item and every update received for it.

    Keyed by number alone: providers spell carriers differently ("dhl", "dhl_express",
    "DHLExpress"), while a tracking number is unique among the carriers that matter."""
    return f"TRACK#{number}"


def tracking_event_sk(event_id: str) -> str:
    return f"{EVENT_PREFIX}{event_id}"


def counter_pk(day: str) -> str:
    return f"KPI#{day}"


TRACKING_SK = "TRACK"
ENTITY_TRACKING = "tracking"


def failure_pk(message_id: str) -> str:
    return f"FAILURE#{message_id}"


FAILURE_SK = "FAILURE"
ENTITY_FAILURE = "failure"


def boxes_pk(warehouse_id: str) -> str:
    """A warehouse's box catalogue: one partition, one Query."""
    return f"BOXES#{warehouse_id}"


ENTITY_BOX = "box"


def endpoints_pk(channel_id: str) -> str:
    """A channel's outbound webhook endpoints: one partition, one Query."""
    return f"ENDPOINTS#{channel_id}"


def deliveries_pk(endpoint_id: str) -> str:
    return f"DELIVERIES#{endpoint_id}"


def delivered_pk(webhook_id: str) -> str:
    """Marks a webhook id its endpoint took (2xx), so that a redelivered job is not sent again."""
    return f"DELIVERED#{webhook_id}"


ENTITY_ENDPOINT = "webhook_endpoint"
ENTITY_DELIVERY = "webhook_delivery"


def channel_events_pk(channel_id: str) -> str:
    """A channel's own events (its configuration changes), sorted by event id (a ULID: by time)."""
    return f"CHANNEL#{channel_id}"


def inbound_pk(channel_id: str, key: str) -> str:
    """One store webhook delivery: its event item and its raw body (``PAYLOAD``)."""
    return f"INBOUND#{channel_id}#{key}"


INBOUND_PAYLOAD_SK = "PAYLOAD"
ENTITY_INBOUND = "inbound_payload"
#: Raw store payloads are kept this long (for replays and questions), then expire.
INBOUND_RETENTION_SECONDS = 30 * 24 * 3600


RETURN_PREFIX = "RMA#"


def return_sk(rma_id: str) -> str:
    return f"{RETURN_PREFIX}{rma_id}"


ENTITY_RETURN = "return"


def stock_index_keys(warehouse_id: str, sku: str) -> dict[str, str]:
    """gsi5 for stock levels: one warehouse's stock, by SKU (inventory listings, stock reports)."""
    return {"gsi5pk": f"STOCK#{warehouse_id}", "gsi5sk": sku}


# Reference data administration (adapters/reference.py).
#: The audit partition: every reference event (warehouse, product, box, API key changes) under
#: ``EVENT#<event id>``; event ids are ULIDs, so the partition reads newest first by key.
AUDIT_PK = "AUDIT"
#: The API key listing: one item per key under ``<key id>`` (role, scope, label, last use; the
#: hash that finds the ``KEY#`` item, never the key).
API_KEYS_PK = "APIKEYS"
ENTITY_API_KEY_LISTING = "api_key_listing"
#: gsi5 partition of product items, by SKU: the product listing without a scan.
PRODUCTS_INDEX_PK = "PRODUCTS"


def audit_event_sk(event_id: str) -> str:
    return f"{EVENT_PREFIX}{event_id}"


#: The transit table: one partition, read whole (``<carrier>#<service>`` sort keys).
TRANSIT_PK = "TRANSIT"
ENTITY_TRANSIT_TIME = "transit_time"


def transit_sk(carrier: str, service: str) -> str:
    return f"{carrier}#{service}"


#: The write-back's bookkeeping (chalicelib/adapters/dynamodb/writeback.py): orders parked per
#: channel while its store refuses the credentials, the channels whose credentials fail (one
#: partition, listed by the console), and the requests a store refused for good (newest first).
ENTITY_WRITEBACK_PARKED = "writeback_parked"
ENTITY_STORE_API_ALERT = "store_api_alert"
ENTITY_STORE_REJECTION = "store_rejection"
STORE_API_ALERTS_PK = "STOREAPI#ALERTS"
STORE_REJECTIONS_PK = "STOREAPI#REJECTED"


def writeback_parked_pk(channel_id: str) -> str:
    return f"STOREAPI#PARKED#{channel_id}"


def writeback_parked_sk(order_id: str) -> str:
    return f"ORDER#{order_id}"


def writeback_claim_key(order_id: str) -> str:
    return f"writeback#{order_id}"
