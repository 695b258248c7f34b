"""Operations hear once when a store refuses a channel's credentials, and see it in the console.

Any worker that calls a store's API (the order write-back, the stock push) reports a
``CredentialsRejected`` outcome here. The first report of a channel records the failure (one
item per channel, ``StoreAlerts``) and publishes one alert on the operations topic; later reports
while it lasts publish nothing, so a revoked token does not turn every queued message into an
e-mail. The console's needs-attention page lists the failing channels with the store's reason.
A change of the channel's store connection (``channel.store_api_changed``: new credentials or
URL) clears the failure (``credentials_fixed``), and the next refusal alerts again.
"""

from __future__ import annotations

from chalicelib.domain.models import format_timestamp
from chalicelib.service.ports import Clock, Notifier, StoreAlerts

SUBJECT = "Store API credentials rejected"


def report_credentials_rejected(
    alerts: StoreAlerts, notifier: Notifier, *, channel_id: str, reason: str, clock: Clock
) -> None:
    """Records that the channel's store refuses its credentials; alerts operations the first time."""
    now = clock.now()
    if not alerts.start_alert(channel_id, reason=reason, at=now):
        return  # already reported: one alert per channel until it is fixed
    try:
        notifier.publish_operations(
            subject=f"{SUBJECT}: channel {channel_id}"[:100],
            message={
                "type": "store_api_credentials_rejected",
                "channel_id": channel_id,
                "reason": reason,
                "since": format_timestamp(now),
                "action": f"PATCH /v1/channels/{channel_id} with new store_api credentials; "
                "the write-backs parked meanwhile are then sent",
            },
        )
    except Exception:
        # No alert went out: forget the failure, so that the next report (the message is kept
        # and retried) publishes it.
        alerts.clear_alert(channel_id)
        raise


def credentials_fixed(alerts: StoreAlerts, *, channel_id: str) -> bool:
    """The channel's store connection changed: its failure, if any, is over. True when it had one."""
    return alerts.clear_alert(channel_id)
