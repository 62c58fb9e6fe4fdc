"""Where alerts go: the `alerts` table always, and a webhook when one is configured."""

from __future__ import annotations

import dagster as dg
import polars as pl
from pydantic import Field

from statmuse_pipelines.core.alerts import Alert, deliver
from statmuse_pipelines.core.schemas import ALERTS
from statmuse_pipelines.resources.warehouse import WarehouseResource


class AlertsResource(dg.ConfigurableResource):
    """The webhook alerts are POSTed to, and the secret that signs them (both read from
    STATMUSE_ALERT_WEBHOOK / STATMUSE_ALERT_SECRET as EnvVars: the UI shows names, not values)."""

    webhook_url: str | None = Field(default=None, description="URL alerts are POSTed to")
    secret: str | None = Field(default=None, description="HMAC-SHA256 key that signs each alert")

    def send(self, alert: Alert, deadline_seconds: float | None = None) -> str:
        """POST `alert` (never raises); what happened, for the table."""
        extra = {} if deadline_seconds is None else {"deadline_seconds": deadline_seconds}
        return deliver(alert, self.webhook_url, self.secret, **extra)

    def record(self, warehouse: WarehouseResource, alert: Alert) -> str:
        """Send the alert and write it with what happened."""
        status = self.send(alert)
        warehouse.upsert(ALERTS, pl.DataFrame([{**alert.__dict__, "webhook": status}]))
        return status
