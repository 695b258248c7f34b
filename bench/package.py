"""A deployment package's size and cold start, as Lambda starts it (docs/performance.md, "The package").

For each zip given: its zipped and unpacked size, the time to unpack it (into memory when
``/dev/shm`` exists), and, in a fresh interpreter with nothing but the unpacked package and the
standard library on its path (``python -S``) and no bytecode written (Lambda's code folder is
read-only), the time of ``import app`` and of ``import app`` + ``GET /v1/health`` + a DynamoDB
client. Medians of ``--runs``. Not part of ``make bench``: it needs packages built first::

    make package && cp out/deployment.zip /tmp/now.zip
    .venv/bin/python -m bench.package /tmp/now.zip
    .venv/bin/python -m bench.package --sdk-from-venv /tmp/without-boto3.zip

``--sdk-from-venv`` puts this environment's boto3 and botocore (and their dependencies) after the
package on the path: a stand-in for the SDK of the Lambda runtime, for a package built without it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from pathlib import Path

from bench.imports import api_gateway_event

RUNTIME_SDK = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3")
_ENV = {
    "OMS_STAGE": "dev",
    "OMS_TABLE_NAME": "oms-dev",
    "OMS_EVENT_BUS_NAME": "oms-dev",
    **{f"OMS_{queue}_QUEUE": queue.lower() for queue in ("RECEIPT", "NOTIFY", "ALLOCATION", "TRACKING")},
    **{f"OMS_{queue}_QUEUE": queue.lower() for queue in ("WEBHOOKS", "INTAKE", "KPI")},
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x",
    "PATH": "/usr/bin:/bin",
    "PYTHONDONTWRITEBYTECODE": "1",
}
_CHILD = """import sys
sys.path[:0] = {paths!r}
import json, time
started = time.perf_counter()
import app
imported = time.perf_counter()
response = app.app(json.loads({event!r}), None)
assert response["statusCode"] == 200, response
import chalicelib.adapters.aws
chalicelib.adapters.aws.client("dynamodb")
print(imported - started, time.perf_counter() - started)
"""


def _scratch() -> str | None:
    return "/dev/shm" if Path("/dev/shm").is_dir() else None


def _runtime_sdk(into: Path) -> Path:
    site = Path(sysconfig.get_paths()["purelib"])
    for name in RUNTIME_SDK:
        (into / name).symlink_to(site / name)
    return into


def measure(package: Path, runs: int, sdk: Path | None) -> dict[str, float]:
    with zipfile.ZipFile(package) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
    unpack_s: list[float] = []
    with tempfile.TemporaryDirectory(dir=_scratch()) as scratch:
        for attempt in range(3):
            target = Path(scratch, str(attempt))
            started = time.perf_counter()
            with zipfile.ZipFile(package) as archive:
                archive.extractall(target)
            unpack_s.append(time.perf_counter() - started)
        code = _CHILD.format(
            paths=[str(target)] + ([str(sdk)] if sdk else []),
            event=json.dumps(api_gateway_event("/v1/health")),
        )
        samples = []
        for _ in range(runs):
            out = subprocess.run(
                [sys.executable, "-S", "-c", code],
                cwd=target,
                env=_ENV,
                capture_output=True,
                text=True,
                check=True,
            )
            samples.append([float(value) for value in out.stdout.split()])
    return {
        "zipped_mb": package.stat().st_size / 1e6,
        "unpacked_mb": unpacked / 1e6,
        "unpack_ms": statistics.median(unpack_s) * 1000,
        "import_ms": statistics.median(s[0] for s in samples) * 1000,
        "first_request_ms": statistics.median(s[1] for s in samples) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages", type=Path, nargs="+", help="deployment.zip files")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sdk-from-venv", action="store_true", help="this venv's SDK after each package")
    args = parser.parse_args()
    print("| package | zipped | unpacked | unpack | `import app` | + first request and a DynamoDB client |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as sdk_folder:
        sdk = _runtime_sdk(Path(sdk_folder)) if args.sdk_from_venv else None
        for package in args.packages:
            m = measure(package, args.runs, sdk)
            print(
                f"| {package.name} | {m['zipped_mb']:.1f} MB | {m['unpacked_mb']:.1f} MB "
                f"| {m['unpack_ms']:,.0f} ms | {m['import_ms']:,.0f} ms | {m['first_request_ms']:,.0f} ms |"
            )


if __name__ == "__main__":
    main()
