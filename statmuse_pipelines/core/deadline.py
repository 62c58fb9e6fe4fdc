"""A deadline on a whole call, for network calls whose library only times out per read."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class DeadlineExceeded(TimeoutError):
    """The call did not finish within its deadline."""


def call_within(seconds: float, call: Callable[[], T]) -> T:
    """`call()`, or DeadlineExceeded after `seconds` (an answer trickled a byte at a time never
    trips a per-read timeout). A call past its deadline is left to finish in a daemon thread."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(max(seconds, 0.0))
    if worker.is_alive():
        raise DeadlineExceeded(f"no complete answer within {seconds:g}s (deadline per call)")
    if "error" in box:
        raise box["error"]
    return box["value"]
