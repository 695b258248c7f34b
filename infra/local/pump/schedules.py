"""EventBridge schedules: ``rate(...)`` and AWS ``cron(...)`` on the pump's (faster) clock."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalice.app import ScheduledEventConfig

from infra.local.pump.invoker import Invoker
from infra.local.pump.shapes import JsonDict, as_utc
from infra.local.schedule import Schedule, parse_schedule

logger = logging.getLogger("oms.pump")


@dataclass
class ScheduleSource:
    name: str
    expression: str
    schedule: Schedule
    rule_arn: str
    next_fire: datetime | None


class Schedules:
    """Every scheduled handler, fired when ``virtual_now`` (the pump's clock) passes its next time."""

    def __init__(
        self,
        invoker: Invoker,
        *,
        virtual_start: datetime,
        virtual_now: Callable[[], datetime],
        clock_speed: float,
    ) -> None:
        self._invoker = invoker
        self._virtual_start = virtual_start
        self._virtual_now = virtual_now
        self._clock_speed = clock_speed
        self.sources: dict[str, ScheduleSource] = {}

    def add(self, source: ScheduledEventConfig) -> None:
        raw = source.schedule_expression
        expression = raw if isinstance(raw, str) else raw.to_string()
        schedule = parse_schedule(expression, anchor=self._virtual_start)
        rule_name = self._invoker.function_name(source.name)
        logger.info(
            "scheduling handler %s at %s (clock speed %g)", source.name, expression, self._clock_speed
        )
        invoker = self._invoker
        self.sources[source.name] = ScheduleSource(
            name=source.name,
            expression=expression,
            schedule=schedule,
            rule_arn=f"arn:aws:events:{invoker.region}:{invoker.account_id}:rule/{rule_name}",
            next_fire=schedule.next_after(self._virtual_start),
        )

    def due_times(self, now: float) -> list[float]:
        """When (``time.monotonic``, ``now`` being the present) each schedule fires next."""
        virtual_now = self._virtual_now()
        return [
            now + (source.next_fire - virtual_now).total_seconds() / self._clock_speed
            for source in self.sources.values()
            if source.next_fire is not None
        ]

    def fire_due(self) -> int:
        """Fire every schedule whose time has come; returns how many fired."""
        fired = 0
        now = self._virtual_now()
        for source in self.sources.values():
            if source.next_fire is None or source.next_fire > now:
                continue
            self._invoker.invoke(source.name, self.event(source, source.next_fire), [])
            fired += 1
            # A clock too fast for the poll interval coalesces missed firings into this one
            # rather than replaying a backlog that would only grow.
            source.next_fire = source.schedule.next_after(now)
        return fired

    def fire(self, name: str, at: datetime) -> Any:
        """Invoke one scheduled handler with its event for ``at``; an exception propagates."""
        source = self.sources.get(name)
        if source is None:
            raise KeyError(f"no scheduled handler named {name!r}")
        event = self.event(source, at)
        return self._invoker.app.handler_map[name](event, self._invoker.context(name))

    def event(self, source: ScheduleSource, moment: datetime) -> JsonDict:
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self._invoker.account_id,
            "time": as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self._invoker.region,
            "resources": [source.rule_arn],
            "detail": {},
        }
