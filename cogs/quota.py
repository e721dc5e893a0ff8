"""/quota: your tier, what you used and have left, and when it resets."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_glue import text
from bot.discord_glue.members import member_info
from bot.discord_glue.replies import answer
from bot.discord_glue.services import services_of


class Quota(commands.Cog):
    @app_commands.command(name="quota", description="Your video seconds used and left, and your limits")
    @app_commands.guild_only()
    async def quota(self, interaction: discord.Interaction[Any]) -> None:
        services = services_of(interaction.client)
        assert interaction.guild_id is not None
        member = member_info(interaction)
        status = await services.core.quotas.status(interaction.guild_id, member)
        tier = status.tier
        embed = discord.Embed(title=f"Your quota · tier {tier.name}")
        if status.exempt:
            embed.description = "As a server admin you are exempt from quotas here."
        day_left = max(tier.daily_seconds - status.day_used, 0)
        month_left = max(tier.monthly_seconds - status.month_used, 0)
        embed.add_field(
            name="Today",
            value=f"`{text.usage_bar(status.day_used, tier.daily_seconds)}`\n"
            f"{day_left} s left · resets {text.relative(status.day_resets_at)}",
            inline=False,
        )
        embed.add_field(
            name="This month",
            value=f"`{text.usage_bar(status.month_used, tier.monthly_seconds)}`\n"
            f"{month_left} s left · resets {text.relative(status.month_resets_at)}",
            inline=False,
        )
        embed.add_field(name="Running", value=f"{status.running} of {tier.max_running}")
        embed.add_field(name="Waiting", value=f"{status.queued} of {tier.max_queued}")
        embed.add_field(name="Longest clip", value=f"{tier.max_clip_seconds} s")
        if member.is_admin:
            spending = await services.core.quotas.spending(interaction.guild_id)
            embed.add_field(name="Server spending", value="\n".join(text.spending_lines(spending)), inline=False)
        if tier.relax_allowed:
            embed.set_footer(text="Past your quota, new jobs wait at low priority instead of being refused.")
        await answer(interaction, embed=embed, ephemeral=True)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Quota())
