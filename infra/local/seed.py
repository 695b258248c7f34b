"""Demo data for the local stack: warehouses, products and stock, boxes, channels, keys and secrets.

The data is plain Python below so that it reads like a catalogue. Stock is chosen to show the
service's rules on the first few orders: most SKUs are plentiful, some are low (a few units, in one
warehouse only) and one is sold out everywhere (``MUG-ENM-GRN``), so a web order for it is
backordered and a marketplace order for it is rejected.

Secrets (API keys, webhook secrets) are generated on every start and never written anywhere but
the stack itself and the git-ignored state file (``.oms/local.json``).
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from chalicelib.adapters.api_keys import ApiKeyStore
from chalicelib.adapters.reference import ReferenceData
from chalicelib.domain.auth import Role
from chalicelib.domain.models import Box, Channel, Product, Warehouse

__all__ = [
    "BOXES",
    "CHANNELS",
    "SKUS",
    "WAREHOUSES",
    "DemoSku",
    "Seeded",
    "describe",
    "secret_parameter_name",
    "seed",
    "webhook_parameter_name",
]

WAREHOUSES: list[Warehouse] = [
    Warehouse(
        id="wh-east",
        name="Newark fulfillment center",
        priority=1,
        timezone="America/New_York",
        cutoff="15:00",
        country="US",
    ),
    Warehouse(
        id="wh-west",
        name="Reno fulfillment center",
        priority=2,
        timezone="America/Los_Angeles",
        cutoff="14:00",
        country="US",
    ),
]

CHANNELS: list[Channel] = [
    Channel(id="web", name="Web store", kind="api", backorder_policy="backorder"),
    Channel(id="mobile", name="Mobile app", kind="api", backorder_policy="backorder"),
    # A marketplace will not take a backorder: an order it cannot ship now is rejected.
    Channel(id="marketplace", name="Marketplace", kind="api", backorder_policy="reject"),
    Channel(id="shopify-demo", name="Shopify demo store", kind="shopify", backorder_policy="backorder"),
    Channel(
        id="woocommerce-demo", name="WooCommerce demo store", kind="woocommerce", backorder_policy="backorder"
    ),
]


@dataclass(frozen=True)
class DemoSku:
    sku: str
    name: str
    length_mm: int
    width_mm: int
    height_mm: int
    weight_grams: int
    #: warehouse id -> (units on hand, bin location as aisle-bay-shelf)
    stock: dict[str, tuple[int, str]] = field(default_factory=dict)

    def product(self) -> Product:
        return Product(
            sku=self.sku,
            name=self.name,
            weight_grams=self.weight_grams,
            length_mm=self.length_mm,
            width_mm=self.width_mm,
            height_mm=self.height_mm,
        )


# fmt: off
SKUS: list[DemoSku] = [
    DemoSku("TEE-ORG-BLK-M", "Organic cotton tee, black, M", 300, 250, 20, 180,
            {"wh-east": (120, "A-01-1"), "wh-west": (60, "B-02-1")}),
    DemoSku("TEE-ORG-BLK-L", "Organic cotton tee, black, L", 300, 250, 20, 195,
            {"wh-east": (95, "A-01-2"), "wh-west": (40, "B-02-2")}),
    # The SKU of the README's and the banner's first order.
    DemoSku("TSHIRT-M", "Classic cotton T-shirt, white, M", 300, 250, 20, 170,
            {"wh-east": (80, "A-01-3"), "wh-west": (35, "B-02-3")}),
    DemoSku("HOOD-FLC-GRY-L", "Fleece hoodie, heather grey, L", 350, 300, 60, 620,
            {"wh-east": (45, "A-03-1"), "wh-west": (25, "B-04-1")}),
    DemoSku("SOCK-MRN-3PK", "Merino hiking socks, 3-pack", 200, 120, 40, 210,
            {"wh-east": (200, "A-05-4"), "wh-west": (150, "B-01-4")}),
    DemoSku("CAP-CANV-OLV", "Canvas cap, olive", 270, 200, 120, 110,
            {"wh-east": (60, "A-06-2")}),
    DemoSku("BAG-TOTE-NAT", "Heavy canvas tote bag, natural", 400, 380, 15, 340,
            {"wh-east": (70, "A-07-1"), "wh-west": (30, "B-05-1")}),
    DemoSku("MUG-ENM-GRN", "Enamel camp mug, green", 110, 90, 80, 240,
            {"wh-east": (0, "C-02-3"), "wh-west": (0, "D-01-3")}),  # sold out everywhere
    DemoSku("MUG-CER-WHT", "Stoneware mug, white, 350 ml", 120, 95, 100, 390,
            {"wh-east": (48, "C-02-1"), "wh-west": (60, "D-01-1")}),
    DemoSku("BTL-STL-750", "Insulated steel bottle, 750 ml", 280, 80, 80, 410,
            {"wh-east": (3, "C-03-2"), "wh-west": (40, "D-02-2")}),  # low in the east
    DemoSku("LAMP-DSK-BRS", "Brass desk lamp", 450, 220, 220, 2100,
            {"wh-west": (4, "E-01-1")}),  # low, west only
    DemoSku("CNDL-SOY-CDR", "Soy candle, cedar, 220 g", 90, 90, 100, 380,
            {"wh-east": (2, "C-04-1"), "wh-west": (1, "D-03-1")}),  # low everywhere
    DemoSku("BLKT-WOOL-GRY", "Wool throw blanket, grey", 400, 300, 120, 1450,
            {"wh-east": (18, "E-02-2"), "wh-west": (12, "F-01-2")}),
    DemoSku("NTBK-A5-DOT", "A5 dotted notebook", 210, 150, 15, 260,
            {"wh-east": (300, "A-08-3"), "wh-west": (180, "B-06-3")}),
    DemoSku("PEN-FTN-BLK", "Fountain pen, black", 160, 40, 30, 45,
            {"wh-east": (5, "A-08-1")}),  # low, east only
    DemoSku("BKND-OAK-PR", "Oak bookends, pair", 180, 120, 160, 1300,
            {"wh-east": (9, "E-03-1"), "wh-west": (7, "F-02-1")}),
    DemoSku("PLNT-POT-TER", "Terracotta plant pot, 15 cm", 160, 160, 140, 900,
            {"wh-west": (26, "F-03-2")}),
    DemoSku("CHRG-USBC-65W", "USB-C charger, 65 W", 70, 70, 30, 130,
            {"wh-east": (75, "G-01-1"), "wh-west": (50, "H-01-1")}),
    DemoSku("CBL-USBC-2M", "USB-C cable, 2 m", 120, 90, 20, 60,
            {"wh-east": (250, "G-01-2"), "wh-west": (220, "H-01-2")}),
    DemoSku("HDPH-WRL-BLK", "Wireless headphones, black", 220, 190, 90, 320,
            {"wh-east": (14, "G-02-1"), "wh-west": (6, "H-02-1")}),
]
# fmt: on


def _box(code: str, length: int, width: int, height: int, max_grams: int, cost: str) -> Box:
    return Box(
        code=code,
        inner_length_mm=length,
        inner_width_mm=width,
        inner_height_mm=height,
        max_weight_grams=max_grams,
        cost=Decimal(cost),
    )


#: warehouse id -> its box catalogue: code, inside length x width x height (mm), weight limit (g),
#: cost per box (USD). The two catalogues differ on purpose: west has a cheap poly mailer and no
#: extra-large box, so the same order may pack differently in each warehouse.
# fmt: off
BOXES: dict[str, list[Box]] = {
    "wh-east": [
        _box("MAILER-S", 230, 160, 50, 1000, "0.45"),
        _box("BOX-S", 250, 200, 100, 5000, "0.70"),
        _box("BOX-M", 350, 300, 150, 10000, "1.10"),
        _box("BOX-L", 450, 400, 250, 20000, "1.85"),
        _box("BOX-XL", 600, 450, 400, 30000, "2.90"),
    ],
    "wh-west": [
        _box("POLY-M", 350, 300, 40, 1500, "0.30"),
        _box("BOX-S", 250, 200, 100, 5000, "0.75"),
        _box("BOX-M", 350, 300, 150, 10000, "1.15"),
        _box("BOX-L", 500, 400, 300, 25000, "2.10"),
    ],
}
# fmt: on

#: Webhook secrets that are one value for the whole stage, named as local.json and SSM name them.
#: (Shippo's is the token in the webhook URL rather than a signing key.)
SINGLE_SECRETS = ("easypost", "aftership", "shippo_token", "standard_webhooks")
#: Providers with one secret per channel (each store signs with its own): provider -> channel kind.
CHANNEL_SECRET_PROVIDERS = {"shopify": "shopify", "woocommerce": "woocommerce"}
#: Under the stage's secrets prefix: the key that signs links in e-mails (not a webhook secret).
LINK_SIGNING_SECRET = "signing/links"


def secret_parameter_name(stage: str, name: str) -> str:
    """An SSM Parameter Store name (SecureString) in the layout chalicelib/adapters/secrets.py reads."""
    return f"/oms/{stage}/{name}"


def webhook_parameter_name(stage: str, provider: str, channel_id: str | None = None) -> str:
    """``/oms/<stage>/webhooks/<provider>[/<channel id>]``: where a webhook secret lives, as in AWS."""
    name = f"webhooks/{provider}/{channel_id}" if channel_id else f"webhooks/{provider}"
    return secret_parameter_name(stage, name)


@dataclass
class Seeded:
    """What seeding created that the user needs: raw keys and secrets, shown once."""

    admin_key: str
    channel_keys: dict[str, str]
    warehouse_keys: dict[str, str]
    webhook_secrets: dict[str, Any]


def _standard_webhooks_secret() -> str:
    # Standard Webhooks secrets are "whsec_" + base64 of the raw key (24 to 64 bytes).
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def seed(*, dynamodb: Any, ssm: Any, ses: Any, table: str, stage: str, sender_email: str) -> Seeded:
    """Write the demo data into a freshly created stack; returns the generated keys and secrets."""
    ref = ReferenceData(dynamodb, table)
    for warehouse in WAREHOUSES:
        ref.put_warehouse(warehouse)
        for box in BOXES[warehouse.id]:
            ref.put_box(warehouse.id, box)
    for channel in CHANNELS:
        ref.put_channel(channel)
    for demo in SKUS:
        ref.put_product(demo.product())
        for warehouse_id, (on_hand, bin_location) in demo.stock.items():
            ref.put_stock(warehouse_id, demo.sku, on_hand, bin_location=bin_location)

    store = ApiKeyStore(dynamodb, table)
    admin = store.mint(Role.ADMIN, None, label="local admin").raw_key
    channel_keys = {c.id: store.mint(Role.CHANNEL, c.id, label=f"local {c.id}").raw_key for c in CHANNELS}
    warehouse_keys = {
        w.id: store.mint(Role.WAREHOUSE, w.id, label=f"local {w.id}").raw_key for w in WAREHOUSES
    }

    single = {name: secrets.token_urlsafe(32) for name in SINGLE_SECRETS}
    single["standard_webhooks"] = _standard_webhooks_secret()
    per_channel = {
        provider: {c.id: secrets.token_urlsafe(32) for c in CHANNELS if c.kind == kind}
        for provider, kind in CHANNEL_SECRET_PROVIDERS.items()
    }
    for name, value in single.items():
        _put_secret(ssm, webhook_parameter_name(stage, name), value)
    for provider, by_channel in per_channel.items():
        for channel_id, value in by_channel.items():
            _put_secret(ssm, webhook_parameter_name(stage, provider, channel_id), value)
    _put_secret(ssm, secret_parameter_name(stage, LINK_SIGNING_SECRET), secrets.token_urlsafe(32))

    # SES (in its sandbox, and moto too) sends only from a verified identity.
    ses.verify_email_identity(EmailAddress=sender_email)

    return Seeded(
        admin_key=admin,
        channel_keys=channel_keys,
        warehouse_keys=warehouse_keys,
        webhook_secrets={**single, **per_channel},
    )


def _put_secret(ssm: Any, name: str, value: str) -> None:
    ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)


def describe() -> dict[str, Any]:
    """The seeded reference data as local.json lists it (channels, warehouses, stock per SKU)."""
    return {
        "channels": [{"id": c.id, "kind": c.kind, "backorder_policy": c.backorder_policy} for c in CHANNELS],
        "warehouses": [{"id": w.id, "priority": w.priority, "timezone": w.timezone} for w in WAREHOUSES],
        "skus": [
            {"sku": s.sku, "stock": {wh: on_hand for wh, (on_hand, _) in s.stock.items()}} for s in SKUS
        ],
    }
