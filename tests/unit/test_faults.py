"""The fault injector fails and duplicates the shares it is told to, reproducibly, and says so."""

from __future__ import annotations

import logging
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.local.faults import FaultInjector, FaultSettings, InjectedFault

TRIALS = 20_000


def test_injection_is_off_by_default_and_off_when_the_variables_are_empty() -> None:
    assert not FaultSettings().enabled
    settings = FaultSettings.from_env({"OMS_FAULT_RATE": "", "OMS_DUPLICATE_RATE": " "})
    assert settings == FaultSettings()
    injector = FaultInjector(settings)
    assert [injector.failure_for("receipt_worker") for _ in range(100)] == [None] * 100
    assert injector.duplicates_of(list(range(100))) == []


def test_the_settings_are_read_from_the_environment() -> None:
    settings = FaultSettings.from_env(
        {"OMS_FAULT_RATE": "0.2", "OMS_DUPLICATE_RATE": "0.3", "OMS_FAULT_SEED": "7"}
    )
    assert settings == FaultSettings(fault_rate=0.2, duplicate_rate=0.3, seed=7)
    assert settings.enabled


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OMS_FAULT_RATE", "1.5"),
        ("OMS_FAULT_RATE", "-0.1"),
        ("OMS_DUPLICATE_RATE", "lots"),
        ("OMS_FAULT_SEED", "0.5"),
    ],
)
def test_an_invalid_setting_is_refused_with_its_name(variable: str, value: str) -> None:
    with pytest.raises(ValueError, match=variable):
        FaultSettings.from_env({variable: value})


def test_the_fault_rate_is_honoured_with_half_the_failures_before_and_half_after() -> None:
    injector = FaultInjector(FaultSettings(fault_rate=0.2, seed=12))
    outcomes = [injector.failure_for("notify_worker") for _ in range(TRIALS)]
    before = outcomes.count(InjectedFault.BEFORE)
    after = outcomes.count(InjectedFault.AFTER)
    assert abs((before + after) / TRIALS - 0.2) < 0.015
    assert abs(before / (before + after) - 0.5) < 0.04
    assert (injector.failures_before, injector.failures_after, injector.failures) == (
        before,
        after,
        before + after,
    )


def test_the_duplicate_rate_is_honoured_and_counted() -> None:
    injector = FaultInjector(FaultSettings(duplicate_rate=0.3, seed=5))
    records = list(range(TRIALS))
    chosen = injector.duplicates_of(records)
    assert abs(len(chosen) / TRIALS - 0.3) < 0.015
    assert chosen == sorted(set(chosen)), "each record at most once, in delivery order"
    assert injector.duplicates == len(chosen)


def test_the_same_seed_makes_the_same_choices() -> None:
    settings = FaultSettings(fault_rate=0.4, duplicate_rate=0.4, seed=99)

    def run(injector: FaultInjector) -> list[object]:
        return [(injector.failure_for("h"), tuple(injector.duplicates_of(range(5)))) for _ in range(200)]

    assert run(FaultInjector(settings)) == run(FaultInjector(settings))


@given(rate=st.sampled_from([0.0, 1.0]), seed=st.integers(0, 2**32))
def test_rates_of_zero_and_one_are_never_and_always(rate: float, seed: int) -> None:
    injector = FaultInjector(FaultSettings(fault_rate=rate, duplicate_rate=rate, seed=seed))
    failed = [injector.failure_for("h") is not None for _ in range(50)]
    assert failed == [rate == 1.0] * 50
    assert len(injector.duplicates_of(range(50))) == (50 if rate == 1.0 else 0)


def test_the_summary_is_logged_periodically_and_once_more_on_stop(caplog: pytest.LogCaptureFixture) -> None:
    injector = FaultInjector(FaultSettings(fault_rate=1.0, duplicate_rate=1.0, seed=1), log_interval=0.02)
    caplog.set_level(logging.INFO, logger="oms.local.faults")
    injector.start()
    injector.failure_for("h")
    injector.duplicates_of([1, 2])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and sum("deliveries" in m for m in caplog.messages) < 2:
        time.sleep(0.01)
    injector.stop()
    lines = [m for m in caplog.messages if m.startswith("fault injection: ")]
    assert len(lines) >= 3, caplog.messages  # at least two periodic lines and the final one
    assert lines[-1] == "fault injection: 1 failures injected, 2 duplicate deliveries (final)"


def test_nothing_is_logged_when_injection_is_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="oms.local.faults")
    injector = FaultInjector(FaultSettings(), log_interval=0.01)
    injector.start()
    injector.stop()
    assert caplog.messages == []


def test_the_local_stack_refuses_an_invalid_rate_before_starting_anything() -> None:
    from infra.local.stack import LocalOptions, LocalStackError

    with pytest.raises(LocalStackError, match="OMS_DUPLICATE_RATE"):
        LocalOptions.from_env({"OMS_DUPLICATE_RATE": "2"})
    options = LocalOptions.from_env({"OMS_FAULT_RATE": "0.25", "OMS_FAULT_SEED": "4"})
    assert options.faults == FaultSettings(fault_rate=0.25, seed=4)
    assert not LocalOptions.from_env({}).faults.enabled
