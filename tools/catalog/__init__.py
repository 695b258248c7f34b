"""Catalogue import and export for a stage: products, stock (goods receipts), store catalogues.

    python -m tools.catalog import products.csv|products.json [--dry-run]
    python -m tools.catalog import --from shopify products_export.csv --default-dimensions 300x200x100
    python -m tools.catalog import --from woocommerce wc-product-export.csv
    python -m tools.catalog import-stock stock.csv [--dry-run]    (or: import stock.csv --kind stock)
    python -m tools.catalog export [--out products.csv|products.json]
    (all take --stage (default local), --endpoint-url, --region)

A file with any bad row writes nothing and every bad row is reported by its line; ``--dry-run``
reports the same and what would be written, and writes nothing in any case. Importing a file
again changes nothing. docs/catalog-import.md describes the formats.
"""
