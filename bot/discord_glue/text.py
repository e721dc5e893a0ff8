"""Small text renderers shared by status messages, results and commands (no discord imports)."""

from __future__ import annotations

from datetime import datetime

from bot.domain.money import format_money
from bot.quotas.service import Spending

BAR_FULL = "█"
BAR_EMPTY = "░"


def bar(fraction: float, width: int = 20) -> str:
    """A text progress bar; `fraction` is clamped to 0..1."""
    clamped = min(max(fraction, 0.0), 1.0)
    filled = round(clamped * width)
    return BAR_FULL * filled + BAR_EMPTY * (width - filled)


def usage_bar(used: int, limit: int, width: int = 20) -> str:
    """`█████░░░ 30 / 60 s` — how much of a limit is used."""
    fraction = used / limit if limit > 0 else 1.0
    return f"{bar(fraction, width)} {used} / {limit} s"


def duration(seconds: float) -> str:
    """`45 s`, `3 min 05 s`, `2 h 10 min`: short and unambiguous."""
    total = max(round(seconds), 0)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def shorten(text: str, limit: int) -> str:
    """One line, at most `limit` characters, with an ellipsis when cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def relative(moment: datetime) -> str:
    """Discord's relative timestamp markup (`in 3 hours`), rendered by each client."""
    return f"<t:{int(moment.timestamp())}:R>"


def absolute(moment: datetime) -> str:
    """Discord's date-and-time markup, rendered in each reader's time zone."""
    return f"<t:{int(moment.timestamp())}:f>"


def message_link(guild_id: int | None, channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


def spending_lines(spending: Spending) -> list[str]:
    """The server's money spent today and this month, and what its budgets leave (for admins)."""
    periods = (
        ("Today", spending.day_spent, spending.daily_budget, spending.day_resets_at),
        ("This month", spending.month_spent, spending.monthly_budget, spending.month_resets_at),
    )
    lines = []
    for name, spent, budget, resets in periods:
        line = f"{name}: {format_money(spent, spending.currency)} spent"
        if budget is None:
            line += ", no spending budget"
        else:
            left = format_money(max(budget - spent, 0), spending.currency)
            line += f", {left} of {format_money(budget, spending.currency)} left · resets {relative(resets)}"
        lines.append(line)
    return lines
