from __future__ import annotations

from datetime import UTC, datetime

from bot.quotas.service import describe_wait
from bot.quotas.windows import day_window, is_valid_zone, month_window


def test_utc_day_and_month() -> None:
    now = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    day = day_window(now)
    assert (day.start, day.end) == (datetime(2026, 12, 31, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    month = month_window(now)
    assert (month.start, month.end) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def test_guild_time_zone_moves_midnight() -> None:
    # 23:30 UTC on 24 Nov is already 25 Nov in Berlin (UTC+1).
    day = day_window(datetime(2026, 11, 24, 23, 30, tzinfo=UTC), "Europe/Berlin")
    assert day.start == datetime(2026, 11, 24, 23, 0, tzinfo=UTC)
    assert day.end == datetime(2026, 11, 25, 23, 0, tzinfo=UTC)


def test_daylight_saving_day_has_its_real_length() -> None:
    day = day_window(datetime(2026, 3, 29, 12, 0, tzinfo=UTC), "Europe/Berlin")
    assert (day.end - day.start).total_seconds() == 23 * 3600


def test_unknown_zone_falls_back_to_utc_and_is_reported_invalid() -> None:
    assert not is_valid_zone("Mars/Olympus")
    assert day_window(datetime(2026, 5, 5, 5, tzinfo=UTC), "Mars/Olympus").start == datetime(2026, 5, 5, tzinfo=UTC)


def test_describe_wait() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert describe_wait(datetime(2026, 1, 1, 5, 12, tzinfo=UTC), now) == "in 5 h 12 min"
    assert describe_wait(datetime(2026, 1, 3, tzinfo=UTC), now) == "in 2 d"
