"""Operating policies the sensors read, as resources (their values come from Settings)."""

from __future__ import annotations

import dagster as dg
from pydantic import Field


class RetrainPolicy(dg.ConfigurableResource):
    """When new data alone asks for a retrain (STATMUSE_RETRAIN_AFTER_DAYS)."""

    after_days: int = Field(
        default=14, description="new game days after a production model's data that retrain it"
    )
