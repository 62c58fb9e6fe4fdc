"""Alerts: a row in the `alerts` table and, when configured, a signed POST to a webhook.

The POST body is JSON; the header `X-Statmuse-Signature: sha256=<hex>` is the HMAC-SHA256 of the
body with STATMUSE_ALERT_SECRET, so the receiver can verify who sent it (without a secret the
alert goes out unsigned and its status says so). Delivery is retried with backoff (three
attempts, 5 s timeout each, 12 s in all whatever the webhook does) and never raises: a webhook
that is down costs a few seconds and a note in the table, never a pipeline run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import requests

from statmuse_pipelines.core.deadline import DeadlineExceeded, call_within

SIGNATURE_HEADER = "X-Statmuse-Signature"
ATTEMPTS = 3
TIMEOUT_SECONDS = 5.0
BACKOFF_SECONDS = 1.0
DEADLINE_SECONDS = 12.0  # one alert's delivery in all, retries included


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
    deadline_seconds: float = DEADLINE_SECONDS,
) -> str:
    """POST the alert; returns what happened (for the alerts table). Never raises, and never
    takes longer than `deadline_seconds` in all (a webhook that hangs or trickles included)."""
    if not url:
        return "not configured"
    body = json.dumps(alert.payload(), sort_keys=True).encode()
    headers = {"Content-Type": "application/json"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    unsigned = "" if secret else "; unsigned: STATMUSE_ALERT_SECRET is not set"
    end = time.monotonic() + deadline_seconds
    last = ""
    for attempt in range(1, ATTEMPTS + 1):
        left = end - time.monotonic()
        if left <= 0:
            last = f"{last + ', ' if last else ''}out of time ({deadline_seconds:g}s)"
            break
        try:
            response = call_within(
                left,
                lambda left=left: post(
                    url, data=body, headers=headers, timeout=min(TIMEOUT_SECONDS, left)
                ),
            )
            if 200 <= response.status_code < 300:
                return f"delivered ({response.status_code}){unsigned}"
            last = f"HTTP {response.status_code}"
        except (requests.RequestException, DeadlineExceeded) as exc:
            last = type(exc).__name__
        if attempt < ATTEMPTS:
            sleep(min(BACKOFF_SECONDS * 2 ** (attempt - 1), max(end - time.monotonic(), 0)))
    return f"failed after {attempt} attempt(s) ({last}){unsigned}"
