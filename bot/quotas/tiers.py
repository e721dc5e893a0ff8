"""Quota tiers: what a member may use, and which tier a member gets."""

from __future__ import annotations

from dataclasses import dataclass

from bot.settings import Settings

DEFAULT_TIER = "default"


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    daily_seconds: int
    monthly_seconds: int
    max_running: int
    max_queued: int
    max_clip_seconds: int
    weight: float = 1.0
    relax_allowed: bool = False

    def rank(self) -> tuple[int, int, float, int, int]:
        """Higher is better; used when a member's roles map to several tiers."""
        return (
            self.daily_seconds,
            self.monthly_seconds,
            self.weight,
            self.max_running,
            self.max_clip_seconds,
        )


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
