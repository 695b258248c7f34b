"""``make chaos`` in small: one order per plan through the local stack under injected faults and
duplicate deliveries, and every invariant holds (docs/reliability.md)."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.e2e.conftest import ROOT, _clean_environment

ORDERS = 7  # one of each plan: delivery, split, short pick, hold/release, hold/cancel, cancel, return


def test_a_short_chaos_run_keeps_every_promise() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.chaos",
            "--orders",
            str(ORDERS),
            "--fault-rate",
            "0.1",
            "--duplicate-rate",
            "0.2",
            "--seed",
            "3",
            "--timeout",
            "600",
        ],
        cwd=ROOT,
        env=_clean_environment(),
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert "BREACH" not in run.stdout
    summary = re.search(r"chaos: 7 orders, (\d+) failures injected, (\d+) duplicate deliveries", run.stdout)
    assert summary is not None, run.stdout[-3000:]
    assert int(summary.group(1)) > 0 and int(summary.group(2)) > 0, "faults were really injected"
    for invariant in ("final state", "exactly once", "stock conserved", "KPI counts"):
        assert invariant in run.stdout, invariant
