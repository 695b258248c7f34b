"""The OpenAPI 3.1 document, built from the same pydantic models the routes validate with.

Every route registered through ``endpoint`` is in ``ROUTES``; a test fails
when the app has a route the document lacks.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from chalicelib.api import load_all_routes
from chalicelib.api.framework import PROBLEM_JSON, ROUTES, RouteSpec
from chalicelib.domain.auth import Role

REF = "#/components/schemas/{model}"

_STATUS_TEXT = {
    400: "Malformed request",
    401: "Missing or unknown API key",
    403: "The key may not do this",
    404: "Not found",
    409: "Conflicts with the current state",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Validation failed",
}


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None


def _schema(model: type[BaseModel], components: dict[str, Any], mode: str) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
    for name, definition in schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components.setdefault(model.__name__, schema)
    return {"$ref": REF.format(model=model.__name__)}


def _parameters(spec: RouteSpec, components: dict[str, Any]) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", spec.path)
    ]
    if spec.query is not None:
        schema = spec.query.model_json_schema(ref_template=REF)
        for name, definition in schema.pop("$defs", {}).items():
            components.setdefault(name, definition)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    if spec.idempotency_key:
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 255},
                "description": "same key and body: the original order again; same key, other body: 409",
            }
        )
    return params


def _operation(spec: RouteSpec, components: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": spec.summary,
        "tags": list(spec.tags),
        "operationId": f"{spec.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', spec.path.lower())}",
    }
    params = _parameters(spec, components)
    if params:
        op["parameters"] = params
    documented_body = spec.body or spec.body_schema
    if documented_body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _schema(documented_body, components, "validation")}},
        }
    success: dict[str, Any] = {"description": "OK" if spec.success_status < 300 else "Done"}
    if spec.response is not None:
        success["content"] = {
            "application/json": {"schema": _schema(spec.response, components, "serialization")}
        }
    responses: dict[str, Any] = {str(spec.success_status): success}
    problem_ref = {"$ref": REF.format(model="Problem")}
    for status in sorted(set(spec.errors)):
        responses[str(status)] = {
            "description": _STATUS_TEXT.get(status, "Error"),
            "content": {PROBLEM_JSON: {"schema": problem_ref}},
        }
    op["responses"] = responses
    op["x-oms-access"] = spec.access.as_dict()
    if spec.roles is None:
        op["security"] = []
    else:
        op["security"] = [{"ApiKey": []}]
        op["x-oms-roles"] = [r.value for r in spec.roles]
    return op


def build_openapi(version: str = "1.0.0") -> dict[str, Any]:
    load_all_routes()  # blueprints are imported on demand (chalicelib/lazy.py); the document lists all
    components: dict[str, Any] = {}
    _schema(Problem, components, "serialization")
    paths: dict[str, dict[str, Any]] = {}
    for spec in ROUTES:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Order Management Service",
            "version": version,
            "description": "Orders from every channel, from placement to delivery and return. "
            "Errors are RFC 9457 problem details (application/problem+json).",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "ApiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "x-api-key",
                    "description": "Roles: "
                    + ", ".join(r.value for r in Role)
                    + ". Channel and warehouse keys are scoped to one channel or warehouse.",
                },
            },
        },
        "security": [{"ApiKey": []}],
    }
