"""Platform exports carry China local time without zone: read them as Asia/Shanghai, store UTC."""

from zoneinfo import ZoneInfo

PLATFORM_TZ = ZoneInfo("Asia/Shanghai")
