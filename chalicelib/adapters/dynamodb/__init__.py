"""DynamoDB adapters, one module per seam: ``items`` (serialisation and item shapes), ``reader``,
``unit_of_work``, ``queries``, ``claims``, ``failures``, ``stream``. Reference data (channels,
warehouses, products, boxes, API keys) has its own adapter, ``chalicelib.adapters.reference``."""
