"""Quota windows: a day and a month, starting at midnight and the 1st in the guild's time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
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
    return _day_window(now.astimezone(zone(tz_name)).date(), tz_name)


def month_window(now: datetime, tz_name: str = "UTC") -> Window:
    return _month_window(now.astimezone(zone(tz_name)).date().replace(day=1), tz_name)


# Every enqueue asks for both windows; they change once a day per time zone.
@lru_cache(maxsize=256)
def _day_window(day: date, tz_name: str) -> Window:
    # The next calendar day's midnight, not start + 24 h, so DST days get their real length.
    return Window(_midnight(day, tz_name), _midnight(day + timedelta(days=1), tz_name))


@lru_cache(maxsize=256)
def _month_window(first: date, tz_name: str) -> Window:
    following = (
        first.replace(year=first.year + 1, month=1) if first.month == 12 else first.replace(month=first.month + 1)
    )
    return Window(_midnight(first, tz_name), _midnight(following, tz_name))


def _midnight(day: date, tz_name: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone(tz_name)).astimezone(UTC)
