"""The simulated server the preview opens on: one guild, #footage, three members to switch between.

SimCord's world lives in memory and is new on every run, while the preview database
persists. Ids therefore have to come out the same each run: the guild id is pinned,
and everything else is created in a fixed order on a fresh SimCord backend before the
bot connects, so its snowflakes repeat too. Tier settings are upserts, so seeding the
database again on the next run changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import discord
import simcord

from bot.core import Core
from bot.domain.tiers import Tier

GUILD_ID = 1_300_000_000_000_000_001
GUILD_NAME = "Footage Studio (preview)"
CHANNEL_NAME = "footage"
PRO_TIER = Tier(
    name="pro",
    daily_seconds=600,
    monthly_seconds=6000,
    max_running=2,
    max_queued=10,
    max_clip_seconds=10,
    weight=3.0,
)


@dataclass(frozen=True, slots=True)
class PreviewWorld:
    guild: Any
    channel: Any
    you: Any
    teammate: Any
    admin: Any
    pro_role: Any

    @property
    def viewers(self) -> tuple[Any, ...]:
        """The members the page can switch between, "you" first (the page opens as them)."""
        return (self.you, self.teammate, self.admin)


def build_world(env: simcord.Env) -> PreviewWorld:
    """Create the simulated server; call before `env.start()` so the ids repeat every run."""
    guild = env.create_guild(GUILD_NAME, id=GUILD_ID)
    channel = guild.create_text_channel(CHANNEL_NAME, topic="Order clips with /generate")
    pro_role = guild.create_role("Pro", color=0x5865F2)
    admin_role = guild.create_role(
        "Admin", permissions=discord.Permissions(manage_guild=True, manage_messages=True), color=0xED4245
    )
    return PreviewWorld(
        guild=guild,
        channel=channel,
        you=guild.add_member(env.create_user("you", global_name="You")),
        teammate=guild.add_member(env.create_user("teammate", global_name="Teammate (pro)"), roles=[pro_role]),
        admin=guild.add_member(env.create_user("admin", global_name="Admin"), roles=[admin_role]),
        pro_role=pro_role,
    )


async def seed_database(core: Core, world: PreviewWorld) -> None:
    """Give the Pro role its tier in the preview database (idempotent)."""
    await core.guilds.set_tier(world.guild.id, PRO_TIER)
    await core.guilds.set_role_tier(world.guild.id, world.pro_role.id, PRO_TIER.name)
