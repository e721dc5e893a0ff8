"""SimCord fixtures: the real bot from `create_bot`, on a temporary database, driven as users would.

`env` builds SimCord's `Env` itself (like the plugin's `simcord_env`) so the bot's
external-wait hook knows the environment before the bot logs in: the core's runner
starts inside `setup_hook` and parks on that hook from its first moment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord
import pytest
import simcord
from discord.ext import commands

from bot.discord_glue.app import create_bot
from bot.discord_glue.errors import is_refusal
from bot.discord_glue.simcord_host import SimcordWait, detach_and_close
from bot.settings import Settings
from tests.discord.gated import GatedBackend, gated_catalog
from tests.discord.simworld import World, write_clip

# Fast edits keep tests quick; the throttle test sets its own interval.
TEST_EDIT_INTERVAL = 0.05


@pytest.fixture(scope="session")
def small_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("discord-clips") / "small.mp4")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_path=tmp_path / "footage.db",
        media_dir=tmp_path / "clips",
        footage_backend="demo",
        default_daily_seconds=20,
        default_monthly_seconds=100,
        default_max_running=1,
        default_max_queued=5,
        default_max_clip_seconds=8,
        # Fixed, not from the machine: x264's output depends on its thread count.
        fit_parallel=1,
        fit_threads=2,
    )


@pytest.fixture
def wait_hook() -> SimcordWait:
    return SimcordWait()


class BotMaker:
    """Builds bots on the same database (a restart is a second bot) and remembers them for closing."""

    def __init__(self, settings: Settings, database_path: Path, wait: SimcordWait) -> None:
        self.settings = settings
        self.database_path = database_path
        self.wait = wait
        self.made: list[commands.Bot] = []

    def __call__(self, **overrides: Any) -> commands.Bot:
        settings = overrides.pop("settings", self.settings)
        options: dict[str, Any] = {
            "database_path": self.database_path,
            "wait": self.wait,
            "edit_interval": TEST_EDIT_INTERVAL,
            **overrides,
        }
        bot = create_bot(settings, **options)
        self.made.append(bot)
        return bot


@pytest.fixture
def make_bot(settings: Settings, tmp_path: Path, wait_hook: SimcordWait) -> BotMaker:
    return BotMaker(settings, tmp_path / "footage.db", wait_hook)


@pytest.fixture
def gated(small_clip: Path, wait_hook: SimcordWait) -> GatedBackend:
    return GatedBackend(small_clip, wait_hook)


@pytest.fixture
def simcord_bot(make_bot: BotMaker) -> commands.Bot:
    """The real bot on the demo backend (FOOTAGE_BACKEND=demo)."""
    return make_bot()


@pytest.fixture
def gated_bot(make_bot: BotMaker, gated: GatedBackend) -> commands.Bot:
    return make_bot(backends={"gated": gated}, catalog=gated_catalog())


@pytest.fixture
async def env(
    simcord_bot: commands.Bot, make_bot: BotMaker, wait_hook: SimcordWait, request: pytest.FixtureRequest
) -> AsyncIterator[simcord.Env]:
    marker = request.node.get_closest_marker("simcord")
    # Demo renders are real work in worker processes: give settling room for them.
    options = {"settle_timeout": 60.0, **(marker.kwargs if marker else {})}
    env = simcord.Env(simcord_bot, **options)
    wait_hook.env = env
    await env.start()
    try:
        yield env
    finally:
        await detach_and_close(env, wait_hook, *make_bot.made)
        # A refusal reaches the tree's handler as an exception, but it is an answer.
        faults = [error for error in env.errors_since(env._errors_acknowledged) if not is_refusal(error)]
        if env.check_errors and faults:
            raise ExceptionGroup("the bot raised during the test", faults)


@pytest.fixture
def world(env: simcord.Env) -> World:
    guild = env.create_guild("Studio")
    channel = guild.create_text_channel("footage")
    admins = guild.create_role("Admins", permissions=discord.Permissions(manage_guild=True, manage_messages=True))
    mods = guild.create_role("Mods", permissions=discord.Permissions(manage_messages=True))
    return World(
        env=env,
        guild=guild,
        channel=channel,
        alice=guild.add_member(env.create_user("alice")),
        bob=guild.add_member(env.create_user("bob")),
        admin=guild.add_member(env.create_user("boss"), roles=[admins]),
        mod=guild.add_member(env.create_user("moddy"), roles=[mods]),
    )
