"""``make run``: the whole service on 127.0.0.1 until Ctrl-C (``python -m infra.local``).

Options are environment variables (docs/local-stack.md): OMS_AWS_PORT (4566), OMS_API_PORT (8000;
0 picks a free port, as does 0 for OMS_AWS_PORT), OMS_CLOCK_SPEED (1; 60 makes the five-minute
schedules fire every five seconds), OMS_STATE_DIR (.oms), OMS_VISIBILITY_TIMEOUT (the queues'
own; a fraction of a second makes retries of failed messages quick).

The last line printed once everything runs is ``ready``: scripts and the e2e tests wait for it.
SIGINT and SIGTERM stop everything and exit with status 0.
"""

from __future__ import annotations

import time

_MODULE_STARTED = time.time()  # before the heavy imports, in case the process start is unknown

import logging  # noqa: E402 - the clock above starts first on purpose
import os  # noqa: E402
import shlex  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from types import FrameType  # noqa: E402

from infra.local.stack import LocalOptions, LocalStack, LocalStackError  # noqa: E402

logger = logging.getLogger("oms.local")


class _Shutdown(Exception):
    """Raised in the main thread by SIGINT/SIGTERM."""


def _process_started() -> float:
    """When this process started (wall clock), so that the time printed includes Python's own start."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            # Field 22, after the parenthesised command name (which may contain spaces).
            ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as uptime:
            up = float(uptime.read().split()[0])
        started = time.time() - up + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return _MODULE_STARTED
    # Tick rounding can put it a hair after the module's own clock; never report it as later.
    return min(started, _MODULE_STARTED)


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # Chalice gives the app's logger (named after the app: "oms") a stdout handler at ERROR and
    # stops its propagation, which would also silence every "oms.*" logger below it: the pump's
    # warnings, the mailbox, the SNS log, the workers' Powertools loggers. Chalice leaves a logger
    # alone that already has a stdout handler, so it gets ours first, at INFO.
    oms = logging.getLogger("oms")
    oms.addHandler(handler)
    oms.setLevel(logging.INFO)
    oms.propagate = False
    # The AWS SDK and moto log every request at INFO or DEBUG: only their problems are news here.
    for noisy in ("botocore", "boto3", "urllib3", "werkzeug", "moto"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _curl_line(stack: LocalStack) -> str:
    config = shlex.quote(str(stack.config_path))
    key = (
        f"$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))"
        f'["keys"]["channels"]["web"])\' {config})'
    )
    body = (
        '{"external_id": "WEB-1001", "currency": "USD",'
        ' "customer": {"email": "ada@example.com", "name": "Ada Lovelace"},'
        ' "shipping_address": {"name": "Ada Lovelace", "line1": "1 Main St", "city": "Springfield",'
        ' "region": "IL", "postal_code": "62701", "country": "US"},'
        ' "lines": [{"sku": "TSHIRT-M", "quantity": 2, "unit_price": "19.99"}]}'
    )
    return (
        f"curl -s -X POST {stack.api_url}/v1/orders \\\n"
        f'    -H "x-api-key: {key}" \\\n'
        f"    -H 'content-type: application/json' \\\n"
        f"    -d '{body}'"
    )


def _banner(stack: LocalStack, seconds: float) -> str:
    opts = stack.options
    clock = (
        f"schedules run {opts.clock_speed:g}x real time" if opts.clock_speed != 1 else "real-time schedules"
    )
    return "\n".join(
        [
            "",
            "Order Management Service, local stack",
            f"  API           {stack.api_url}   (GET {stack.api_url}/v1/openapi.json)",
            f"  console       {stack.api_url}/console   (sign in with keys.admin from the file below)",
            f"  AWS (moto)    {stack.endpoint_url}   region {stack.region}, stage {opts.stage}",
            f"  keys, secrets {stack.config_path}",
            f"  e-mail        {stack.outbox_dir}{os.sep}*.eml",
            f"  event pump    queues, stream and {clock}",
            "",
            "Place a first order with the web channel's key:",
            _curl_line(stack),
            "",
            f"then GET {stack.api_url}/v1/orders/<id> with the same key. Ctrl-C stops everything.",
            f"ready in {seconds:.1f} s",
            "ready",
        ]
    )


def main() -> int:
    started = _process_started()
    _configure_logging()
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set():
            return  # already on the way out; a second Ctrl-C must not interrupt the clean stop
        stopping.set()
        raise _Shutdown(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    try:
        options = LocalOptions.from_env()
    except LocalStackError as error:
        print(f"infra.local: {error}", file=sys.stderr)
        return 2
    stack = LocalStack(options)
    try:
        stack.start()
        print(_banner(stack, time.time() - started), flush=True)
        while True:
            time.sleep(3600)  # the signal handler ends this wait
    except _Shutdown as reason:
        logger.info("%s received: stopping", reason)
    except LocalStackError as error:
        print(f"infra.local: {error}", file=sys.stderr)
        stack.stop()
        return 1
    stopping.set()
    stack.stop()
    logger.info("stopped")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is stopped and flushed. Skip the interpreter's final garbage collection: after a
    # busy session moto's in-memory AWS holds millions of objects and tearing them down one by one
    # takes many seconds for nothing (the state dies with the process anyway).
    os._exit(code)
