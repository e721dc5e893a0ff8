"""A quota tier: what a member may use. Which tier a member gets is decided in `bot.quotas.tiers`."""

from __future__ import annotations

from dataclasses import dataclass


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
