"""Message templates: Jinja2 files under ``chalicelib/templates`` (text and HTML per message).

Each message has ``<name>.subject.j2``, ``<name>.txt.j2`` and, for e-mail,
``<name>.html.j2``. HTML is autoescaped: customer-supplied names and
addresses can never inject markup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, select_autoescape

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "messages"


class JinjaRenderer:
    def __init__(self, directory: Path = TEMPLATE_DIR) -> None:
        self.env = Environment(
            loader=FileSystemLoader(str(directory)),
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, template: str, context: dict[str, Any]) -> tuple[str, str, str]:
        subject = self.env.get_template(f"{template}.subject.j2").render(context).strip()
        text = self.env.get_template(f"{template}.txt.j2").render(context)
        try:
            html = self.env.get_template(f"{template}.html.j2").render(context)
        except TemplateNotFound:
            html = ""
        return subject, text, html
