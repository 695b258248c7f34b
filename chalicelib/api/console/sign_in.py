"""Signing in and out of the console, and its stylesheet."""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

from chalice.app import Response

from chalicelib.api.console.visit import Visit, console_route
from chalicelib.api.console_session import cleared_cookie, issue_session, read_cookie, session_cookie
from chalicelib.api.pages import headers_for
from chalicelib.domain.auth import Role, hash_key

logger = logging.getLogger("oms.console")

STATIC = Path(__file__).resolve().parent.parent.parent / "static"
#: The only files the static route serves (no path from the URL ever reaches the file system).
STATIC_FILES = {"console.css": "text/css; charset=utf-8"}


@cache
def _static(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


@console_route("/console", "GET", "sign-in page, or the orders page when signed in", signed_in=False)
def console_home(visit: Visit) -> Response:
    if visit.authenticate():
        return visit.redirect("/console/orders")
    stale = read_cookie(visit.headers.get("cookie")) is not None  # expired, forged or revoked
    return visit.sign_in_page(200, cookie=cleared_cookie(secure=visit.secure) if stale else None)


@console_route("/console/signin", "POST", "sign in with an admin key (form field `key`)", signed_in=False)
def console_sign_in(visit: Visit) -> Response:
    raw_key = visit.form("key", 256)
    principal = visit.svc.api_keys.authenticate(raw_key) if raw_key else None
    if principal is None:
        return visit.sign_in_page(401, "That key is not valid: it is unknown or has been revoked.")
    if principal.role != Role.ADMIN:
        return visit.sign_in_page(
            403, f"The console needs an admin key; this is a {principal.role.value} key."
        )
    keys = visit.svc.link_keys()
    if not keys:
        logger.error("console sign-in impossible: no link-signing key (SSM signing/links)")
        return visit.sign_in_page(503, "The console cannot open sessions: no signing key is configured.")
    token = issue_session(hash_key(raw_key), keys=keys, now=visit.svc.clock.now())
    logger.info("console session opened by %s", principal.key_id)
    return visit.redirect("/console/orders", cookie=session_cookie(token, secure=visit.secure))


@console_route("/console/signout", "POST", "sign out (clears the session cookie)")
def console_sign_out(visit: Visit) -> Response:
    return visit.redirect("/console", cookie=cleared_cookie(secure=visit.secure))


@console_route("/console/static/{name}", "GET", "the console's stylesheet", signed_in=False)
def console_static(visit: Visit) -> Response:
    name = visit.call.params["name"]
    if name not in STATIC_FILES:
        return visit.message(404, "Not found", "There is no such file.")
    headers = headers_for(visit.nonce, STATIC_FILES[name])
    headers["Cache-Control"] = "public, max-age=300"
    return Response(body=_static(name), status_code=200, headers=headers)
