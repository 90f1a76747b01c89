"""Platform exports carry China local time without zone: read them as Asia/Shanghai, store UTC."""

from datetime import datetime
from zoneinfo import ZoneInfo

PLATFORM_TZ = ZoneInfo("Asia/Shanghai")


def as_platform_time(value: datetime | None) -> datetime | None:
    """A time given without zone (as the platforms and most shop systems send it) is China local time."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=PLATFORM_TZ)
