"""Calling a handler as Lambda does: its context, injected faults, duplicates, batchItemFailures."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chalice.app import Chalice
from chalice.local import LambdaContext

from infra.local.faults import FaultInjector, InjectedFault
from infra.local.pump.shapes import JsonDict, order_suffix, present

logger = logging.getLogger("oms.pump")


class PumpContext(LambdaContext):
    """Chalice's own local Lambda context, plus the function ARN real Lambda fills in."""

    def __init__(
        self, function_name: str, *, memory_size: int, timeout_seconds: int, function_arn: str
    ) -> None:
        super().__init__(function_name, memory_size=memory_size, max_runtime_ms=timeout_seconds * 1000)
        self.invoked_function_arn = function_arn
        self.log_group_name = f"/aws/lambda/{function_name}"


@dataclass
class Outcome:
    result: Any
    raised: bool


@dataclass
class Invoker:
    """Invokes the app's handlers by name, the way ``chalice.test.Client`` does.

    ``faults`` may fail some invocations and deliver some records twice (None: never);
    ``report_failures`` False reads handler results the way Lambda does without
    ``FunctionResponseTypes: [ReportBatchItemFailures]``.
    """

    app: Chalice
    region: str
    account_id: str
    stage: str
    memory_size: int
    timeout_seconds: int
    report_failures: bool
    faults: FaultInjector | None

    def function_name(self, handler: str) -> str:
        # The name `chalice deploy` gives the handler's Lambda function.
        return f"{self.app.app_name}-{self.stage}-{handler}"

    def context(self, handler: str) -> PumpContext:
        function_name = self.function_name(handler)
        return PumpContext(
            function_name,
            memory_size=self.memory_size,
            timeout_seconds=self.timeout_seconds,
            function_arn=f"arn:aws:lambda:{self.region}:{self.account_id}:function:{function_name}",
        )

    def invoke(
        self, name: str, event: JsonDict, order_ids: Sequence[str | None], *, injectable: bool = True
    ) -> Outcome:
        # A JSON round trip hands the handler plain JSON values, as Lambda does.
        payload = json.loads(json.dumps(event))
        fault = self.faults.failure_for(name) if self.faults is not None and injectable else None
        if fault is InjectedFault.BEFORE:
            logger.info(
                "fault injection: handler %s failed before it ran%s",
                name,
                order_suffix(order_ids),
                extra={"handler": name, "order_ids": present(order_ids)},
            )
            return Outcome(result=None, raised=True)
        started = time.monotonic()
        try:
            result = self.app.handler_map[name](payload, self.context(name))
        except Exception:
            records = payload.get("Records")
            logger.exception(
                "handler %s raised on %s%s",
                name,
                f"a batch of {len(records)} record(s)" if isinstance(records, list) else "its event",
                order_suffix(order_ids),
                extra={"handler": name, "order_ids": present(order_ids)},
            )
            return Outcome(result=None, raised=True)
        self._warn_if_past_timeout(name, time.monotonic() - started)
        if fault is InjectedFault.AFTER:
            # The handler's work is done and stays done; its messages are not acknowledged.
            logger.info(
                "fault injection: handler %s ran, then failed before acknowledging%s",
                name,
                order_suffix(order_ids),
                extra={"handler": name, "order_ids": present(order_ids)},
            )
            return Outcome(result=result, raised=True)
        return Outcome(result=result, raised=False)

    def _warn_if_past_timeout(self, name: str, elapsed: float) -> None:
        if elapsed > self.timeout_seconds:
            logger.warning(
                "handler %s ran %.1fs, past its %ds Lambda timeout (Lambda would have killed it)",
                name,
                elapsed,
                self.timeout_seconds,
                extra={"handler": name},
            )

    def deliver_duplicates(
        self, name: str, records: Sequence[JsonDict], order_id_of: Callable[[JsonDict], str | None]
    ) -> None:
        """Deliver the injector's share of ``records`` once more (at-least-once delivery).

        The extra invocation's outcome is ignored: the original delivery decides what is
        acknowledged, and the duplicate itself is never failed, so it really reaches the handler.
        """
        if self.faults is None:
            return
        duplicates = self.faults.duplicates_of(records)
        if duplicates:
            self.invoke(name, {"Records": duplicates}, [order_id_of(r) for r in duplicates], injectable=False)

    def failed_positions(self, name: str, result: Any, identifiers: Sequence[str]) -> list[int]:
        """Positions of the records a ReportBatchItemFailures response names; all of them if it is invalid."""
        if not self.report_failures or not isinstance(result, dict):
            return []
        failures = result.get("batchItemFailures")
        if not failures:
            return []  # a missing, null or empty list means the whole batch succeeded
        position = {identifier: i for i, identifier in enumerate(identifiers)}
        positions: list[int] = []
        if isinstance(failures, list):
            for failure in failures:
                identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
                if not isinstance(identifier, str) or identifier not in position:
                    break
                positions.append(position[identifier])
            else:
                return sorted(set(positions))
        # Lambda's rule: an unparseable response or an unknown, empty or null
        # itemIdentifier fails the whole batch.
        logger.error(
            "handler %s returned an invalid batchItemFailures response %r; the whole batch failed",
            name,
            failures,
            extra={"handler": name},
        )
        return list(range(len(identifiers)))
