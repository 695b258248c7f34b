"""HTML pages: the customer's pages reached from links in e-mails, and the operator console's.

Jinja2 files under ``chalicelib/templates/pages`` (and ``templates/console``); everything
autoescaped, and an undefined name is an error rather than an empty string.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

PAGES_DIR = Path(__file__).resolve().parent.parent / "templates" / "pages"


class PageRenderer:
    """Small HTML pages the customer reaches from links in e-mails; everything autoescaped."""

    def __init__(self, directory: Path = PAGES_DIR) -> None:
        self.env = Environment(
            loader=FileSystemLoader(str(directory)),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, template: str, context: dict[str, Any]) -> str:
        return self.env.get_template(f"{template}.html.j2").render(context)
