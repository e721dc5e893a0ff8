"""`/footage ...`: server admins set tiers, limits, channels, the blocklist, models; see usage.

`default_permissions` only hides the group from non-admins (admins can change
that); `interaction_check` enforces Manage Server on every subcommand.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_glue import text
from bot.discord_glue.limits import CHOICE_NAME, CHOICE_VALUE, cut
from bot.discord_glue.names import display_name
from bot.discord_glue.replies import acknowledge, answer, say_ephemeral
from bot.discord_glue.services import services_of
from bot.discord_glue.sync import sync_commands
from bot.domain.money import format_money, to_micros
from bot.domain.records import GuildConfig
from bot.domain.tiers import Tier
from bot.guilds import MAX_TIER_NAME
from bot.jobs.blocklist import MAX_PATTERN_CHARS
from bot.jobs.refusal import Refusal
from bot.quotas.service import Spending
from bot.reports import UsageReport
from bot.usage_chart import render_usage_chart

REPORT_ROWS = 25
TierName = app_commands.Range[str, 1, MAX_TIER_NAME]
BlockPattern = app_commands.Range[str, 1, MAX_PATTERN_CHARS]
MODEL_LIST_MAX = 1000  # comma-separated model names
TIMEZONE_MAX = 64  # the longest IANA zone names are about 30 characters
MONEY_BUDGET_MAX = 1_000_000_000.0  # bot.domain.money.MAX_AMOUNT_MICROS, in whole units


def usage_text(report: UsageReport, names: dict[int, str], spending: Spending, unpriced: set[str]) -> str:
    """The report's rows under the server's spending; `unpriced`: models without a price, counted at 0."""
    lines = [*text.spending_lines(spending), ""]
    if not report.rows:
        return "\n".join([*lines, f"No usage since {report.since:%Y-%m-%d}."])
    lines += [f"Since {report.since:%Y-%m-%d}: {report.total_seconds} s, estimated {report.money(report.total_micros)}"]
    for row in sorted(report.rows, key=lambda r: -r.seconds)[:REPORT_ROWS]:
        who = names.get(row.user_id, f"<@{row.user_id}>")
        cost = "no price set, counted as 0" if row.model in unpriced else report.money(row.cost_micros)
        lines.append(f"{who} · {row.model}: {row.seconds} s in {row.jobs} jobs, {cost}")
    if len(report.rows) > REPORT_ROWS:
        lines.append(f"… and {len(report.rows) - REPORT_ROWS} more rows")
    return "\n".join(lines)


def budget_text(config: GuildConfig, currency: str) -> str:
    """The server's caps as they stand now."""
    seconds = config.daily_budget_seconds
    amounts = [
        f"{period}: {format_money(micros, currency)}" if micros is not None else f"{period}: no cap"
        for period, micros in (("Money a day", config.daily_budget_micros),
                               ("Money a month", config.monthly_budget_micros))
    ]  # fmt: skip
    return "\n".join([f"Seconds a day: {seconds} s" if seconds is not None else "Seconds a day: no cap", *amounts])


def tier_line(tier: Tier) -> str:
    relax = ", relax lane" if tier.relax_allowed else ""
    return (
        f"**{tier.name}**: {tier.daily_seconds} s/day, {tier.monthly_seconds} s/month, "
        f"{tier.max_running} running, {tier.max_queued} waiting, clips up to {tier.max_clip_seconds} s, "
        f"weight {tier.weight:g}{relax}"
    )


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class FootageAdmin(
    commands.GroupCog,
    group_name="footage",
    group_description="Set up the video bot for this server (Manage Server)",
):
    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        if not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        return True

    async def _apply(self, interaction: discord.Interaction[Any], change: Any, done: str) -> None:
        """Run one config change and answer with `done` (a refusal is answered by the shared handler)."""
        await change
        await say_ephemeral(interaction, done)

    @app_commands.command(name="tiers", description="List this server's quota tiers and role mappings")
    async def tiers(self, interaction: discord.Interaction[Any]) -> None:
        guilds = services_of(interaction.client).core.guilds
        assert interaction.guild_id is not None
        tiers = await guilds.list_tiers(interaction.guild_id)
        roles = await guilds.role_tiers(interaction.guild_id)
        lines = [tier_line(tier) for tier in tiers]
        if roles:
            lines.append("")
            lines.extend(f"<@&{role_id}> → {name}" for role_id, name in sorted(roles.items()))
        await say_ephemeral(interaction, "\n".join(lines) or "No tiers yet.")

    @app_commands.command(name="tier-set", description="Create or change a quota tier")
    @app_commands.describe(
        name="Tier name",
        daily_seconds="Seconds of video per day",
        monthly_seconds="Seconds of video per month",
        max_running="Jobs running at once",
        max_queued="Jobs waiting at once",
        max_clip_seconds="Longest clip",
        weight="Share of the queue (2 = twice the default)",
        relax="Past quota, wait at low priority instead of being refused",
    )
    async def tier_set(
        self,
        interaction: discord.Interaction[Any],
        name: TierName,
        daily_seconds: app_commands.Range[int, 0, 1_000_000],
        monthly_seconds: app_commands.Range[int, 0, 100_000_000],
        max_running: app_commands.Range[int, 1, 100] = 1,
        max_queued: app_commands.Range[int, 1, 1000] = 3,
        max_clip_seconds: app_commands.Range[int, 1, 60] = 10,
        weight: app_commands.Range[float, 0.1, 100.0] = 1.0,
        relax: bool = False,
    ) -> None:
        assert interaction.guild_id is not None
        tier = Tier(name, daily_seconds, monthly_seconds, max_running, max_queued, max_clip_seconds, weight, relax)
        guilds = services_of(interaction.client).core.guilds
        await self._apply(interaction, guilds.set_tier(interaction.guild_id, tier), f"Saved: {tier_line(tier)}")

    @app_commands.command(name="tier-remove", description="Delete a quota tier")
    async def tier_remove(self, interaction: discord.Interaction[Any], name: TierName) -> None:
        assert interaction.guild_id is not None
        guilds = services_of(interaction.client).core.guilds
        await self._apply(interaction, guilds.remove_tier(interaction.guild_id, name), f"Removed tier {name}.")

    @app_commands.command(name="role-tier", description="Give a role a tier (leave tier empty to clear)")
    async def role_tier(
        self, interaction: discord.Interaction[Any], role: discord.Role, tier: TierName | None = None
    ) -> None:
        assert interaction.guild_id is not None
        guilds = services_of(interaction.client).core.guilds
        done = f"{role.mention} now gets tier {tier}." if tier else f"{role.mention} no longer maps to a tier."
        await self._apply(interaction, guilds.set_role_tier(interaction.guild_id, role.id, tier), done)

    @app_commands.command(name="user-tier", description="Override one member's tier (leave tier empty to clear)")
    async def user_tier(
        self, interaction: discord.Interaction[Any], member: discord.Member, tier: TierName | None = None
    ) -> None:
        assert interaction.guild_id is not None
        guilds = services_of(interaction.client).core.guilds
        done = f"{member.mention} now has tier {tier}." if tier else f"{member.mention} has no override now."
        await self._apply(interaction, guilds.set_user_tier(interaction.guild_id, member.id, tier), done)

    @tier_remove.autocomplete("name")
    @role_tier.autocomplete("tier")
    @user_tier.autocomplete("tier")
    async def tier_choices(self, interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        tiers = await services_of(interaction.client).core.guilds.list_tiers(interaction.guild_id)
        return [app_commands.Choice(name=t.name, value=t.name) for t in tiers if current.lower() in t.name.lower()][:25]

    @app_commands.command(name="channels", description="Limit /generate to these channels (none: everywhere)")
    async def channels(
        self,
        interaction: discord.Interaction[Any],
        first: discord.TextChannel | None = None,
        second: discord.TextChannel | None = None,
        third: discord.TextChannel | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        chosen = [channel for channel in (first, second, third) if channel is not None]
        ids = [channel.id for channel in chosen] or None
        guilds = services_of(interaction.client).core.guilds
        done = (
            "Videos can now be made in " + ", ".join(channel.mention for channel in chosen) + "."
            if chosen
            else "Videos can now be made in every channel."
        )
        await self._apply(interaction, guilds.set_allowed_channels(interaction.guild_id, ids), done)

    @app_commands.command(name="budget", description="Cap the whole server's seconds and spending (0: no cap)")
    @app_commands.describe(
        seconds="Seconds of video a day for the whole server (0: no cap)",
        daily="Money a day, in the currency the model prices are in (0: no cap)",
        monthly="Money a month, in the currency the model prices are in (0: no cap)",
    )
    async def budget(
        self,
        interaction: discord.Interaction[Any],
        seconds: app_commands.Range[int, 0, 10_000_000] | None = None,
        daily: app_commands.Range[float, 0.0, MONEY_BUDGET_MAX] | None = None,
        monthly: app_commands.Range[float, 0.0, MONEY_BUDGET_MAX] | None = None,
    ) -> None:
        """Change the caps given; with none given, show them."""
        assert interaction.guild_id is not None
        core = services_of(interaction.client).core
        changes: dict[str, int | None] = {}
        if seconds is not None:
            changes["daily_budget_seconds"] = seconds or None
        for name, amount in (("daily_budget_micros", daily), ("monthly_budget_micros", monthly)):
            if amount is not None:
                micros = to_micros(amount)
                if amount and not micros:  # not a cap of zero, which would read as "no cap"
                    raise Refusal("bad_budget", "A money budget must be at least 0.000001 (0 removes it).")
                changes[name] = micros or None
        if changes:
            config = await core.guilds.set_budgets(interaction.guild_id, **changes)
        else:
            config = await core.guilds.config(interaction.guild_id)
        heading = "Saved. This server's budgets:" if changes else "This server's budgets:"
        await say_ephemeral(interaction, f"{heading}\n{budget_text(config, core.catalog.currency)}")

    @app_commands.command(name="block-add", description="Refuse prompts containing a word or matching a pattern")
    @app_commands.describe(pattern="A word, or a regular expression when regex is on", regex="Treat as a regex")
    async def block_add(
        self, interaction: discord.Interaction[Any], pattern: BlockPattern, regex: bool = False
    ) -> None:
        assert interaction.guild_id is not None
        guilds = services_of(interaction.client).core.guilds
        await self._apply(interaction, guilds.add_block(interaction.guild_id, pattern, regex), f"Blocked `{pattern}`.")

    @app_commands.command(name="block-remove", description="Take a word or pattern off the blocklist")
    async def block_remove(self, interaction: discord.Interaction[Any], pattern: BlockPattern) -> None:
        assert interaction.guild_id is not None
        guilds = services_of(interaction.client).core.guilds
        await self._apply(interaction, guilds.remove_block(interaction.guild_id, pattern), f"Unblocked `{pattern}`.")

    @app_commands.command(name="blocklist", description="Show the blocked words and patterns")
    async def blocklist(self, interaction: discord.Interaction[Any]) -> None:
        assert interaction.guild_id is not None
        config = await services_of(interaction.client).core.guilds.config(interaction.guild_id)
        lines = [f"`{rule.pattern}`" + (" (regex)" if rule.is_regex else "") for rule in config.blocklist]
        await say_ephemeral(interaction, "\n".join(lines) or "Nothing is blocked.")

    @app_commands.command(name="pause", description="Stop starting new jobs in this server (waiting jobs stay)")
    async def pause(self, interaction: discord.Interaction[Any]) -> None:
        assert interaction.guild_id is not None
        guilds = services_of(interaction.client).core.guilds
        done = "Paused: waiting jobs stay queued until /footage resume."
        await self._apply(interaction, guilds.set_paused(interaction.guild_id, True), done)

    @app_commands.command(name="resume", description="Start running this server's queue again")
    async def resume(self, interaction: discord.Interaction[Any]) -> None:
        assert interaction.guild_id is not None
        guilds = services_of(interaction.client).core.guilds
        await self._apply(interaction, guilds.set_paused(interaction.guild_id, False), "Resumed.")

    @app_commands.command(name="models", description="Choose the models offered here (comma-separated, or all)")
    async def models(
        self, interaction: discord.Interaction[Any], names: app_commands.Range[str, 1, MODEL_LIST_MAX]
    ) -> None:
        assert interaction.guild_id is not None
        wanted = None if names.strip().lower() == "all" else [n.strip() for n in names.split(",") if n.strip()]
        guilds = services_of(interaction.client).core.guilds
        done = "Every configured model is offered." if wanted is None else f"Offered models: {', '.join(wanted)}."
        await self._apply(interaction, guilds.set_enabled_models(interaction.guild_id, wanted), done)

    @models.autocomplete("names")
    async def model_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        catalog = services_of(interaction.client).core.catalog
        head, _, last = current.rpartition(",")
        prefix = f"{head}," if head else ""
        choices = [prefix + name for name in catalog.names() if name.startswith(last.strip())] + ["all"]
        return [app_commands.Choice(name=cut(choice, CHOICE_NAME), value=choice[:CHOICE_VALUE]) for choice in choices][
            :25
        ]

    @app_commands.command(name="timezone", description="The time zone where daily quotas reset")
    async def timezone(
        self, interaction: discord.Interaction[Any], zone: app_commands.Range[str, 1, TIMEZONE_MAX]
    ) -> None:
        assert interaction.guild_id is not None
        guilds = services_of(interaction.client).core.guilds
        await self._apply(interaction, guilds.set_timezone(interaction.guild_id, zone), f"Days now reset in {zone}.")

    @app_commands.command(name="exempt-admins", description="Whether server admins skip quotas")
    async def exempt_admins(self, interaction: discord.Interaction[Any], exempt: bool) -> None:
        assert interaction.guild_id is not None
        guilds = services_of(interaction.client).core.guilds
        done = "Admins now skip quotas." if exempt else "Admins now have quotas like everyone."
        await self._apply(interaction, guilds.set_admins_exempt(interaction.guild_id, exempt), done)

    @app_commands.command(name="usage", description="Seconds and estimated cost per user and model, as text and chart")
    async def usage(self, interaction: discord.Interaction[Any], days: app_commands.Range[int, 1, 365] = 30) -> None:
        assert interaction.guild_id is not None
        # Drawing the chart takes a moment: acknowledge first.
        await acknowledge(interaction, ephemeral=True)
        core = services_of(interaction.client).core
        report = await core.reports.usage(interaction.guild_id, days)
        spending = await core.quotas.spending(interaction.guild_id)
        unpriced = {model.name for model in core.catalog if model.cost_per_second is None}
        names = {row.user_id: display_name(interaction, row.user_id) for row in report.rows}
        # The chart has no Discord markup: a member whose name is unknown is shown by id there.
        chart_names = {user_id: name for user_id, name in names.items() if not name.startswith("<@")}
        chart = await asyncio.to_thread(render_usage_chart, report, chart_names, title=f"Usage, last {days} days")
        await answer(
            interaction,
            usage_text(report, names, spending, unpriced),
            file=discord.File(io.BytesIO(chart), filename="usage.png"),
            ephemeral=True,
        )

    @app_commands.command(name="sync", description="Bot owner: push the slash command definitions to Discord now")
    async def sync(self, interaction: discord.Interaction[Any]) -> None:
        client = interaction.client
        if not await is_bot_owner(interaction):
            await say_ephemeral(interaction, "Only the bot's owner can force a command sync.")
            return
        await acknowledge(interaction, ephemeral=True)
        services = services_of(client)
        await sync_commands(client.tree, services.core, dev_guild_id=services.settings.dev_guild_id, force=True)
        await say_ephemeral(interaction, "Synced the command definitions.")

    @app_commands.command(name="pause-everywhere", description="Bot owner: stop or restart new jobs in every server")
    async def pause_everywhere(self, interaction: discord.Interaction[Any], paused: bool) -> None:
        if not await is_bot_owner(interaction):
            await say_ephemeral(interaction, "Only the bot's owner can pause every server.")
            return
        guilds = services_of(interaction.client).core.guilds
        done = (
            "No new job starts in any server until you run this again with paused: False. "
            "Waiting jobs keep their place."
            if paused
            else "Every server's queue runs again."
        )
        await self._apply(interaction, guilds.set_paused_everywhere(paused), done)


async def is_bot_owner(interaction: discord.Interaction[Any]) -> bool:
    client = interaction.client
    return isinstance(client, commands.Bot) and await client.is_owner(interaction.user)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(FootageAdmin())
