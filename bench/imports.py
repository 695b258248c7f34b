"""Cold start: the app against a bare Chalice + boto3 app, each in a fresh interpreter.

Three figures, each the median of a few runs and each against the bare app in the same run:

- ``import app``: what every Lambda function of the app pays before its first event;
- ``import app`` and the API's first request (``GET /v1/health``, handed to the app as API
  Gateway hands it to the Lambda function), against the bare app's import and first request;
- ``import app`` and what the receipt worker's first invocation imports (its module, which is
  what the registered handler loads before it reads the first message), against the bare
  app's import.

The time is measured inside the child, around the import (and the request) only: the
interpreter's own start is the same for both and left out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import ROOT, clean_environment, percentile

RUNS = 5
#: The worker whose first invocation is measured, and the module its handler imports.
WORKER_MODULE = "chalicelib.workers.receipt"
_TIMED = "import time\nt = time.perf_counter()\n{body}\nprint(time.perf_counter() - t)\n"
_BARE_APP = """import boto3
from chalice import Chalice

app = Chalice(app_name="bare")
dynamodb = boto3.client("dynamodb", region_name="us-east-1")


@app.route("/")
def index():
    return {"hello": "world"}
"""


def api_gateway_event(path: str, method: str = "GET") -> dict[str, object]:
    """A REST API proxy event for ``path`` (a route without parameters), as Lambda receives it."""
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"host": "localhost"},
        "multiValueHeaders": {"host": ["localhost"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "body": None,
        "isBase64Encoded": False,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": "/api" + path,
            "stage": "api",
            "requestId": "bench",
        },
    }


def _request(module: str, path: str) -> str:
    """Import ``module`` and hand its app one request; fails the child if it is not a 200."""
    event = json.dumps(api_gateway_event(path))
    return (
        f"import {module}\n"
        f"response = {module}.app(__import__('json').loads({event!r}), None)\n"
        "assert response['statusCode'] == 200, response"
    )


def _app_environment() -> dict[str, str]:
    """The dev stage's environment from .chalice/config.json: what the app reads at import."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
    env = clean_environment(config["stages"]["dev"]["environment_variables"])
    env.update({"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"})
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _time(body: str, cwd: Path, env: dict[str, str]) -> float:
    """Milliseconds ``body`` takes in a fresh interpreter (started in ``cwd``)."""
    out = subprocess.run(
        [sys.executable, "-c", _TIMED.format(body=body)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1]) * 1000


def run(runs: int = RUNS) -> dict[str, float]:
    env = _app_environment()
    cases = {
        "app_ms": ("import app", ROOT),
        "api_first_ms": (_request("app", "/v1/health"), ROOT),
        "worker_first_ms": (f"import app\nimport {WORKER_MODULE}", ROOT),
    }
    with tempfile.TemporaryDirectory(prefix="oms-bare-") as bare:
        Path(bare, "bare_app.py").write_text(_BARE_APP, encoding="utf-8")
        cases |= {
            "bare_ms": ("import bare_app", Path(bare)),
            "bare_first_ms": (_request("bare_app", "/"), Path(bare)),
        }
        for body, cwd in cases.values():  # compile to bytecode once: every timed run finds it cached
            _time(body, cwd, env)
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(runs):  # interleaved, so a busier moment of the machine touches every figure
            for name, (body, cwd) in cases.items():
                samples[name].append(_time(body, cwd, env))
    p50 = {name: percentile(values, 0.5) for name, values in samples.items()}
    return p50 | {
        "ratio": _ratio(p50["app_ms"], p50["bare_ms"]),
        "api_ratio": _ratio(p50["api_first_ms"], p50["bare_first_ms"]),
        "worker_ratio": _ratio(p50["worker_first_ms"], p50["bare_ms"]),
    }


def _ratio(measured: float, floor: float) -> float:
    return measured / floor if floor else float("nan")


def summary(figures: dict[str, float]) -> str:
    return "\n".join(
        [
            f"import app / bare import:                          {figures['ratio']:.2f}x "
            f"({figures['app_ms']:.0f} ms / {figures['bare_ms']:.0f} ms)",
            f"import app + first GET /v1/health / bare + GET /:   {figures['api_ratio']:.2f}x "
            f"({figures['api_first_ms']:.0f} ms / {figures['bare_first_ms']:.0f} ms)",
            f"import app + receipt worker's imports / bare import: {figures['worker_ratio']:.2f}x "
            f"({figures['worker_first_ms']:.0f} ms / {figures['bare_ms']:.0f} ms)",
        ]
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    result = run()
    print(summary(result))
    print(json.dumps(result))
