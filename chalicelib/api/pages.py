"""HTML pages: the customer's pages reached from links in e-mails, and the operator console's.

Jinja2 files under ``chalicelib/templates/pages`` (and ``templates/console``); everything
autoescaped, and an undefined name is an error rather than an empty string.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

PAGES_DIR = Path(__file__).resolve().parent.parent / "templates" / "pages"


def page_csp(nonce: str) -> str:
    """The Content-Security-Policy of every HTML page (the console's, the customer's): no script
    anywhere; styles from this origin or carrying this response's nonce (inline SVG chart styles,
    a page's one stylesheet); images from here or data: SVG; forms post only here."""
    return (
        "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
        f"style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; font-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


def headers_for(nonce: str, content_type: str = "text/html; charset=utf-8") -> dict[str, str | list[str]]:
    """The headers of every HTML page. ``Referrer-Policy: same-origin``: a page's URL (a signed
    link is a credential) is never told to another site; not ``no-referrer``, with which a
    browser sends ``Origin: null`` and a page's own form is refused as cross-site."""
    return {
        "Content-Type": content_type,
        "Content-Security-Policy": page_csp(nonce),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


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
