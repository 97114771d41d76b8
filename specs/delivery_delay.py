"""The landed-batch schema of the shipped delivery-delay example (`delivery_delay.yaml`).

Types and the column set only: the value rules (ranges, allowed carriers, null proportions, shift)
live in the spec, one asset check per rule family, so the UI shows which family failed.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

__all__ = ["DeliveryBatch"]


class DeliveryBatch(pa.DataFrameModel):
    """One day of parcel pickups as the carrier feed delivers them, before outcomes are known."""

    tracking_id: Series[str] = pa.Field(nullable=True)
    event_time: Series[pd.Timestamp] = pa.Field(nullable=True)
    carrier_code: Series[str] = pa.Field(nullable=True)
    service_level: Series[str] = pa.Field(nullable=True)
    origin_region: Series[str] = pa.Field(nullable=True)
    weight_kg: Series[float] = pa.Field(nullable=True)
    distance_km: Series[float] = pa.Field(nullable=True)
    package_count: Series[int] = pa.Field(nullable=True)
    hour_of_day: Series[int] = pa.Field(nullable=True)
    day_of_week: Series[int] = pa.Field(nullable=True)
    weather_severity: Series[float] = pa.Field(nullable=True)

    class Config:
        name = "DeliveryBatch"
        strict = True
