"""Unauthenticated routes: health and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint
from pydantic import BaseModel

from chalicelib.api.framework import PUBLIC, Call, endpoint
from chalicelib.api.openapi import build_openapi

meta_api = Blueprint(__name__)


class Health(BaseModel):
    status: str


@endpoint(
    meta_api,
    "/v1/health",
    "GET",
    summary="Liveness check",
    roles=None,
    access=PUBLIC,
    response=Health,
    tags=("meta",),
)
def health(call: Call) -> Health:
    return Health(status="ok")


@endpoint(
    meta_api,
    "/v1/openapi.json",
    "GET",
    summary="This API's OpenAPI 3.1 document",
    roles=None,
    access=PUBLIC,
    tags=("meta",),
    raw_response=True,
)
def openapi(call: Call) -> dict[str, Any]:
    return build_openapi()
