"""``python -m tools.catalog``: see the package's docstring and docs/catalog-import.md."""

from __future__ import annotations

import sys

from tools.catalog.cli import main

if __name__ == "__main__":
    sys.exit(main())
