"""Which quota tier a member gets (the tier record itself is in `bot.domain.tiers`)."""

from __future__ import annotations

from bot.domain.tiers import Tier
from bot.settings import Settings

DEFAULT_TIER = "default"


def default_tier(settings: Settings) -> Tier:
    return Tier(
        name=DEFAULT_TIER,
        daily_seconds=settings.default_daily_seconds,
        monthly_seconds=settings.default_monthly_seconds,
        max_running=settings.default_max_running,
        max_queued=settings.default_max_queued,
        max_clip_seconds=settings.default_max_clip_seconds,
    )


def pick_tier(
    tiers: dict[str, Tier],
    fallback: Tier,
    *,
    override: str | None,
    role_tiers: list[str],
) -> Tier:
    """A per-user override wins; else the best tier among the member's roles; else the default."""
    if override is not None and override in tiers:
        return tiers[override]
    candidates = [tiers[name] for name in role_tiers if name in tiers]
    if candidates:
        return max(candidates, key=Tier.rank)
    return tiers.get(DEFAULT_TIER, fallback)
