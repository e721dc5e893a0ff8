"""A quota tier: what a member may use. Which tier a member gets is decided in `bot.quotas.tiers`."""

from __future__ import annotations

from dataclasses import dataclass

# Upper bounds for every tier number, from settings or set by an admin: generous, and far
# inside SQLite's 64-bit integers (a larger one overflowed at the first enqueue).
MAX_QUOTA_SECONDS = 1_000_000_000
MAX_RUNNING = 100
MAX_QUEUED = 1_000_000  # bench queue fills backlogs this deep
MAX_CLIP_SECONDS = 3600


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
