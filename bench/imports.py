"""The cold ``import app`` against a bare Chalice + boto3 app, each in a fresh interpreter.

The time is measured inside the child, around the import only (the interpreter's own start is
the same for both and left out); the median of a few runs is reported.
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
_TIMED_IMPORT = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
_BARE_APP = """import boto3
from chalice import Chalice

app = Chalice(app_name="bare")
dynamodb = boto3.client("dynamodb", region_name="us-east-1")


@app.route("/")
def index():
    return {"hello": "world"}
"""


def _app_environment() -> dict[str, str]:
    """The dev stage's environment from .chalice/config.json: what the app reads at import."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
    env = clean_environment(config["stages"]["dev"]["environment_variables"])
    env.update({"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"})
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _time_import(module: str, cwd: Path, env: dict[str, str]) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _TIMED_IMPORT.format(module=module)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1]) * 1000


def run(runs: int = RUNS) -> dict[str, float]:
    env = _app_environment()
    with tempfile.TemporaryDirectory(prefix="oms-bare-") as bare:
        Path(bare, "bare_app.py").write_text(_BARE_APP, encoding="utf-8")
        _time_import("bare_app", Path(bare), env)  # compile to bytecode once, as for app below
        _time_import("app", ROOT, env)
        app_ms = [_time_import("app", ROOT, env) for _ in range(runs)]
        bare_ms = [_time_import("bare_app", Path(bare), env) for _ in range(runs)]
    app_p50, bare_p50 = percentile(app_ms, 0.5), percentile(bare_ms, 0.5)
    return {"app_ms": app_p50, "bare_ms": bare_p50, "ratio": app_p50 / bare_p50 if bare_p50 else float("nan")}


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    print(run())
