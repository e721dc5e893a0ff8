"""Per-guild configuration that admins change: tiers, roles, channels, budget, blocklist, pause, models."""

from __future__ import annotations

import re
from typing import Protocol

from bot.domain.money import MAX_AMOUNT_MICROS
from bot.domain.records import BlockRule, GuildConfig
from bot.domain.tiers import MAX_CLIP_SECONDS, MAX_QUEUED, MAX_QUOTA_SECONDS, MAX_RUNNING, Tier
from bot.jobs.blocklist import check_pattern
from bot.jobs.refusal import Refusal
from bot.models import ModelCatalog
from bot.quotas.tiers import DEFAULT_TIER
from bot.quotas.windows import is_valid_zone
from bot.store.store import Store
from bot.store.transaction import Tx

PAUSED_EVERYWHERE = "paused"
MAX_TIER_NAME = 24
_TIER_NAME = re.compile(rf"^[a-z0-9][a-z0-9_-]{{0,{MAX_TIER_NAME - 1}}}$")
# The server-wide caps, each with the largest value it takes.
_BUDGET_LIMITS = {
    "daily_budget_seconds": MAX_QUOTA_SECONDS,
    "daily_budget_micros": MAX_AMOUNT_MICROS,
    "monthly_budget_micros": MAX_AMOUNT_MICROS,
}


class PauseTarget(Protocol):
    """Told when a guild, or the whole bot, is paused or resumed: the runner."""

    paused: bool
    paused_guilds: set[int]

    def wake(self) -> None: ...


class GuildConfigService:
    def __init__(self, store: Store, catalog: ModelCatalog, default_tier: Tier) -> None:
        self._store = store
        self._catalog = catalog
        self._default_tier = default_tier
        self._on_pause: list[PauseTarget] = []

    def notify_pauses(self, target: PauseTarget) -> None:
        self._on_pause.append(target)

    async def config(self, guild_id: int) -> GuildConfig:
        return await self._store.read(lambda tx: tx.guild_config(guild_id))

    # Tiers

    async def list_tiers(self, guild_id: int) -> list[Tier]:
        tiers = await self._store.read(lambda tx: tx.tiers(guild_id))
        tiers.setdefault(DEFAULT_TIER, self._default_tier)
        return sorted(tiers.values(), key=Tier.rank)

    async def set_tier(self, guild_id: int, tier: Tier) -> Tier:
        if not _TIER_NAME.match(tier.name):
            raise Refusal("bad_tier_name", f"Tier names are 1-{MAX_TIER_NAME} lowercase letters, digits, - or _.")
        if min(tier.daily_seconds, tier.monthly_seconds) < 0 or min(tier.max_running, tier.max_queued) < 1:
            raise Refusal("bad_tier", "Seconds can't be negative, and running and waiting limits must be at least 1.")
        if tier.max_clip_seconds < 1 or not 0.1 <= tier.weight <= 100:
            raise Refusal("bad_tier", "The longest clip must be at least 1 s and the weight between 0.1 and 100.")
        if (
            max(tier.daily_seconds, tier.monthly_seconds) > MAX_QUOTA_SECONDS
            or tier.max_running > MAX_RUNNING
            or tier.max_queued > MAX_QUEUED
            or tier.max_clip_seconds > MAX_CLIP_SECONDS
        ):
            raise Refusal(
                "bad_tier",
                f"Limits go up to {MAX_QUOTA_SECONDS:,} s of quota, {MAX_RUNNING} running, "
                f"{MAX_QUEUED} waiting and {MAX_CLIP_SECONDS} s per clip.",
            )
        await self._store.write(lambda tx: tx.upsert_tier(guild_id, tier))
        return tier

    async def remove_tier(self, guild_id: int, name: str) -> None:
        if await self._store.write(lambda tx: tx.delete_tier(guild_id, name)) == 0:
            raise Refusal("unknown_tier", f"There is no tier {name!r} in this server.")

    async def _require_tier(self, guild_id: int, name: str) -> None:
        if name == DEFAULT_TIER:
            return
        if name not in await self._store.read(lambda tx: tx.tiers(guild_id)):
            raise Refusal("unknown_tier", f"There is no tier {name!r}; create it first with /footage tier-set.")

    async def set_role_tier(self, guild_id: int, role_id: int, tier_name: str | None) -> None:
        if tier_name is not None:
            await self._require_tier(guild_id, tier_name)
        await self._store.write(lambda tx: tx.set_role_tier(guild_id, role_id, tier_name))

    async def role_tiers(self, guild_id: int) -> dict[int, str]:
        return await self._store.read(lambda tx: tx.role_tiers(guild_id))

    async def set_user_tier(self, guild_id: int, user_id: int, tier_name: str | None) -> None:
        if tier_name is not None:
            await self._require_tier(guild_id, tier_name)
        await self._store.write(lambda tx: tx.set_user_tier(guild_id, user_id, tier_name))

    # Guild-wide settings

    async def set_allowed_channels(self, guild_id: int, channel_ids: list[int] | None) -> None:
        await self._store.write(lambda tx: tx.update_guild_config(guild_id, allowed_channels=channel_ids))

    async def set_budgets(self, guild_id: int, **budgets: int | None) -> GuildConfig:
        """Set the server-wide caps named (None: no cap) in one write; the configuration after it."""
        for name, value in budgets.items():
            if name not in _BUDGET_LIMITS:
                raise ValueError(f"{name} is not a budget")
            if value is not None and not 0 <= value <= _BUDGET_LIMITS[name]:
                raise Refusal("bad_budget", "A budget can't be negative or past a billion.")

        def change(tx: Tx) -> GuildConfig:
            tx.update_guild_config(guild_id, **budgets)
            return tx.guild_config(guild_id)

        return await self._store.write(change)

    async def set_timezone(self, guild_id: int, timezone: str) -> None:
        if not is_valid_zone(timezone):
            raise Refusal("bad_timezone", f"{timezone!r} is not a time zone name (try Europe/Berlin or UTC).")
        await self._store.write(lambda tx: tx.update_guild_config(guild_id, timezone=timezone))

    async def set_admins_exempt(self, guild_id: int, exempt: bool) -> None:
        await self._store.write(lambda tx: tx.update_guild_config(guild_id, admins_exempt=exempt))

    async def set_enabled_models(self, guild_id: int, names: list[str] | None) -> None:
        if names is not None:
            unknown = [name for name in names if self._catalog.get(name) is None]
            if unknown:
                raise Refusal(
                    "unknown_model",
                    f"Unknown model(s): {', '.join(unknown)}. Configured: {', '.join(self._catalog.names())}.",
                )
        await self._store.write(lambda tx: tx.update_guild_config(guild_id, enabled_models=names))

    async def set_paused(self, guild_id: int, paused: bool) -> None:
        """Pause or resume one guild's queue; once this returns, no job of the guild starts.

        The runner hears first: a dispatch already past its check has handed its write
        to the store ahead of ours, so it lands before we return, and none can follow.
        """
        previous = [guild_id in target.paused_guilds for target in self._on_pause]
        for target in self._on_pause:
            _mark_guild_paused(target, guild_id, paused)
        try:
            await self._store.write(lambda tx: tx.update_guild_config(guild_id, paused=paused))
        except BaseException:
            for target, was_paused in zip(self._on_pause, previous, strict=True):
                _mark_guild_paused(target, guild_id, was_paused)
            raise

    async def set_paused_everywhere(self, paused: bool) -> None:
        """The bot owner's switch: no new job starts in any guild while it is on (runner told first, as above)."""
        previous = [target.paused for target in self._on_pause]
        for target in self._on_pause:
            target.paused = paused
            target.wake()
        try:
            await self._store.write(lambda tx: tx.set_meta(PAUSED_EVERYWHERE, "1" if paused else "0"))
        except BaseException:
            for target, was_paused in zip(self._on_pause, previous, strict=True):
                target.paused = was_paused
            raise

    # Blocklist

    async def add_block(self, guild_id: int, pattern: str, is_regex: bool) -> BlockRule:
        rule = BlockRule(check_pattern(pattern, is_regex), is_regex)
        await self._store.write(lambda tx: tx.add_block(guild_id, rule))
        return rule

    async def remove_block(self, guild_id: int, pattern: str) -> None:
        if await self._store.write(lambda tx: tx.remove_block(guild_id, pattern.strip())) == 0:
            raise Refusal("unknown_pattern", f"{pattern!r} is not on the blocklist.")


def _mark_guild_paused(target: PauseTarget, guild_id: int, paused: bool) -> None:
    if paused:
        target.paused_guilds.add(guild_id)
    else:
        target.paused_guilds.discard(guild_id)
    target.wake()
