"""Property-based tests of every operation in the served OpenAPI document (schemathesis).

The schema is loaded from ``GET /v1/openapi.json`` of the app itself, served through a small
WSGI adapter over Chalice's test client on moto. For each operation, a few derandomized
examples generated from the document, valid ones and ones that break it, are sent with a key
of a role the operation lists; every answer must be below 500, and every 4xx an RFC 9457
problem document whose ``status`` is the HTTP status. The example count is small so the whole
run stays within a minute; ``OMS_API_EXAMPLES`` raises it for a deeper run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import schemathesis
from chalice.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from tests.integration.conftest import Stack

PROBLEM_JSON = "application/problem+json"
#: Examples per operation and mode; raise it for a deeper run (OMS_API_EXAMPLES=200).
EXAMPLES = settings(
    max_examples=int(os.environ.get("OMS_API_EXAMPLES", "3")),
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
#: Routes a person opens from an e-mail: their errors are HTML pages.
PAGES = ("/v1/feedback/", "/v1/unsubscribe/", "/orders/status/")
#: The key each role's operations are called with.
ROLE_KEYS = {"channel": "web", "warehouse": "wh-east", "admin": "admin"}

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def wsgi_adapter(client: Client) -> WsgiApp:
    """A WSGI application that hands each request to Chalice's local API Gateway."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # PATH_INFO arrives decoded (as latin-1 of the bytes); API Gateway gets it percent-encoded.
        path = quote(environ.get("PATH_INFO", "").encode("latin-1"), safe="/:@!$&'()*+,;=-._~")
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        headers = {
            name[5:].replace("_", "-").lower(): value
            for name, value in environ.items()
            if name.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        response = client.http.request(environ["REQUEST_METHOD"], path, headers=headers, body=body)
        status = f"{response.status_code} {HTTPStatus(response.status_code).phrase}"
        start_response(status, [(k, str(v)) for k, v in response.headers.items()])
        return [response.body]

    return app


def run_examples(operation: Any, headers: dict[str, str], breaches: list[str]) -> None:
    @EXAMPLES
    @given(
        case=operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(GenerationMode.NEGATIVE)
    )
    def examples(case: Any) -> None:
        response = case.call(headers=headers)
        where = f"{case.method} {case.formatted_path} -> {response.status_code}"
        if response.status_code >= 500:
            breaches.append(f"{where}: {response.text[:300]} (body {str(case.body)[:200]})")
        elif response.status_code >= 400:
            found = {name.lower(): value for name, value in response.headers.items()}.get("content-type", "")
            content_type = found[0] if isinstance(found, list) else found
            page = content_type.startswith("text/html") and operation.path.startswith(PAGES)
            if not (content_type.startswith(PROBLEM_JSON) or page):
                breaches.append(f"{where}: a {content_type} answer, not a problem document")
            elif content_type.startswith(PROBLEM_JSON):
                problem = json.loads(response.text)
                if problem.get("status") != response.status_code or not problem.get("title"):
                    breaches.append(f"{where}: problem document {problem}")

    examples()


def test_no_operation_answers_a_5xx_and_every_4xx_is_a_problem_document(client: Client, stack: Stack) -> None:
    schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", wsgi_adapter(client))
    breaches: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith("/console"):
            continue  # HTML pages behind a session cookie: tests/integration/test_console.py
        operations += 1
        roles: list[str] = operation.definition.raw.get("x-oms-roles") or []
        key = stack.keys[ROLE_KEYS[roles[0]]] if roles else None

        run_examples(operation, {"x-api-key": key} if key else {}, breaches)
    assert operations > 30
    assert not breaches, "\n".join(dict.fromkeys(breaches))
