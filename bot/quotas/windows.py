"""Quota windows: a day and a month, starting at midnight and the 1st in the guild's time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime  # aware, UTC
    end: datetime


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def is_valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def day_window(now: datetime, tz_name: str = "UTC") -> Window:
    local = now.astimezone(zone(tz_name))
    start = _midnight(local, tz_name)
    # The next calendar day's midnight, not start + 24 h, so DST days get their real length.
    end = _midnight(local + timedelta(days=1), tz_name)
    return Window(start.astimezone(UTC), end.astimezone(UTC))


def month_window(now: datetime, tz_name: str = "UTC") -> Window:
    local = now.astimezone(zone(tz_name))
    start = _midnight(local.replace(day=1), tz_name)
    following = (
        start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    )
    return Window(start.astimezone(UTC), following.astimezone(UTC))


def _midnight(moment: datetime, tz_name: str) -> datetime:
    return datetime(moment.year, moment.month, moment.day, tzinfo=zone(tz_name))
