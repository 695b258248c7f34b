"""What the benchmarks share: percentiles, the order body, and a local stack in a child process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0


def stop_on_sigterm() -> None:
    """Make SIGTERM unwind like Ctrl-C, so that a stack this process started is stopped too."""

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, on_term)


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0.5 is the median); NaN for no samples."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def order_body(external_id: str, sku: str = "TEE-ORG-BLK-M", quantity: int = 1) -> dict[str, Any]:
    """The README's first order (one line), with its own external id."""
    return {
        "external_id": external_id,
        "currency": "USD",
        "customer": {"email": "ada@example.com", "name": "Ada Lovelace"},
        "shipping_address": {
            "name": "Ada Lovelace",
            "line1": "1 Main St",
            "city": "Springfield",
            "region": "IL",
            "postal_code": "62701",
            "country": "US",
        },
        "lines": [{"sku": sku, "quantity": quantity, "unit_price": "19.99"}],
    }


@dataclass
class StackProcess:
    """``python -m infra.local`` run by the benchmark (``process`` None when it was already running)."""

    config: dict[str, Any]
    process: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return str(self.config["api_url"])

    @property
    def endpoint_url(self) -> str:
        return str(self.config["aws_endpoint_url"])

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def channel_key(self, channel: str = "web") -> str:
        return str(self.config["keys"]["channels"][channel])

    @property
    def admin_key(self) -> str:
        return str(self.config["keys"]["admin"])


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any AWS or OMS setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OMS_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def _read_output(process: subprocess.Popen[str], sink: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        sink.append(line.rstrip("\n"))
        if len(sink) > 2000:
            del sink[:1000]


@contextmanager
def local_stack(
    config_path: Path | None = None, extra_env: Mapping[str, str] | None = None
) -> Iterator[StackProcess]:
    """A running local stack: the one ``config_path`` (its local.json) describes, or a new one.

    A new one listens on free ports with a temporary state folder and is stopped (SIGINT) on exit.
    """
    if config_path is not None:
        yield StackProcess(config=json.loads(config_path.read_text(encoding="utf-8")))
        return
    with tempfile.TemporaryDirectory(prefix="oms-bench-") as state:
        env = clean_environment(
            {"OMS_STATE_DIR": state, "OMS_AWS_PORT": "0", "OMS_API_PORT": "0", **(extra_env or {})}
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "infra.local"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        stack = StackProcess(config={}, process=process)
        reader = threading.Thread(target=_read_output, args=(process, stack.output), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + READY_TIMEOUT
            while "ready" not in stack.output:
                if process.poll() is not None:
                    raise RuntimeError("the local stack exited:\n" + "\n".join(stack.output[-40:]))
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        "the local stack was not ready in time:\n" + "\n".join(stack.output[-40:])
                    )
                time.sleep(0.05)
            stack.config = json.loads((Path(state) / "local.json").read_text(encoding="utf-8"))
            yield stack
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            reader.join(5)


def process_rss_mib(pid: int) -> float:
    """Resident memory of a process (Linux /proc), MiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")
