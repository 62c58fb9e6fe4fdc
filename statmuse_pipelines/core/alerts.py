"""Alerts: a row in the `alerts` table and, when configured, a signed POST to a webhook.

The POST body is JSON; the header `X-Statmuse-Signature: sha256=<hex>` is the HMAC-SHA256 of the
body with STATMUSE_ALERT_SECRET, so the receiver can verify who sent it. Delivery is retried with
backoff (three attempts, 5 s timeout each) and never raises: a webhook that is down costs a few
seconds and a note in the table, never a pipeline run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import requests

SIGNATURE_HEADER = "X-Statmuse-Signature"
ATTEMPTS = 3
TIMEOUT_SECONDS = 5.0
BACKOFF_SECONDS = 1.0


@dataclass(frozen=True)
class Alert:
    alert_id: str
    created_at: str
    kind: str  # check_failed, run_failed, rollback
    severity: str  # ERROR, WARN
    subject: str
    message: str
    run_id: str = ""

    def payload(self) -> dict:
        return {"source": "statmuse-pipelines", **asdict(self)}


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(
    alert: Alert,
    url: str | None,
    secret: str | None,
    post: Callable = requests.post,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """POST the alert; returns what happened (for the alerts table). Never raises."""
    if not url:
        return "not configured"
    body = json.dumps(alert.payload(), sort_keys=True).encode()
    headers = {"Content-Type": "application/json"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    last = ""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            response = post(url, data=body, headers=headers, timeout=TIMEOUT_SECONDS)
            if 200 <= response.status_code < 300:
                return f"delivered ({response.status_code})"
            last = f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        if attempt < ATTEMPTS:
            sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
    return f"failed after {ATTEMPTS} attempts ({last})"
