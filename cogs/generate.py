"""/generate: queue a clip and answer at once with a public status message."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_glue.answers import announce
from bot.discord_glue.limits import CHOICE_NAME, cut
from bot.discord_glue.members import member_info
from bot.discord_glue.replies import say_ephemeral
from bot.discord_glue.services import Services, services_of
from bot.domain.jobs import JobRequest, Origin
from bot.jobs.refusal import Refusal
from bot.jobs.service import MAX_NEGATIVE_CHARS
from bot.models import ModelSpec

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})
MAX_CHOICES = 25
# The longest a prompt may be under any PROMPT_MAX_CHARS; the setting itself is checked in the core.
PROMPT_OPTION_MAX = 4000
MODEL_OPTION_MAX = 100  # as long as an autocomplete value may be
ASPECT_OPTION_MAX = 16
# The audio option's values, as autocomplete offers them on models that can switch sound.
SOUND_CHOICES = {"on": True, "off": False}
SOUND_NAMES = {"on": "on: with sound", "off": "off: no sound"}


async def enabled_models(services: Services, guild_id: int | None) -> list[ModelSpec]:
    """Configured models this server has not switched off."""
    models = list(services.core.catalog)
    if guild_id is None:
        return models
    enabled = (await services.core.guilds.config(guild_id)).enabled_models
    return models if enabled is None else [model for model in models if model.name in enabled]


def chosen_model(services: Services, interaction: discord.Interaction[Any]) -> ModelSpec:
    """The model typed so far in this command (for seconds/aspect choices), else the default."""
    name = getattr(interaction.namespace, "model", None)
    return (services.core.catalog.get(name) if isinstance(name, str) else None) or services.core.catalog.default


def image_problem(image: discord.Attachment, max_bytes: int) -> str | None:
    content_type = (image.content_type or "").split(";")[0].strip().lower()
    if content_type not in IMAGE_TYPES:
        return "The start image must be a PNG, JPEG or WebP picture. Attach one of those and try again."
    if image.size > max_bytes:
        return (
            f"The start image is {image.size / 1048576:.1f} MB; the limit is "
            f"{max_bytes / 1048576:.1f} MB. Attach a smaller picture and try again."
        )
    return None


class Generate(commands.Cog):
    @app_commands.command(name="generate", description="Make a short video clip from a prompt")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="What the clip should show",
        model="Video model (default: the server's first)",
        seconds="Clip length in seconds",
        aspect="Shape, e.g. 16:9",
        seed="Fix the randomness to repeat a result",
        negative="What the clip should avoid",
        image="A start picture for image-to-video (PNG, JPEG or WebP)",
        audio="Sound on or off, on models that can switch it",
    )
    async def generate(
        self,
        interaction: discord.Interaction[Any],
        prompt: app_commands.Range[str, 1, PROMPT_OPTION_MAX],
        model: app_commands.Range[str, 1, MODEL_OPTION_MAX] | None = None,
        seconds: int | None = None,
        aspect: app_commands.Range[str, 1, ASPECT_OPTION_MAX] | None = None,
        seed: app_commands.Range[int, 0, 2**31 - 1] | None = None,
        negative: app_commands.Range[str, 1, MAX_NEGATIVE_CHARS] | None = None,
        image: discord.Attachment | None = None,
        audio: app_commands.Range[str, 1, 8] | None = None,
    ) -> None:
        services = services_of(interaction.client)
        if interaction.guild_id is None or interaction.channel_id is None:
            await say_ephemeral(interaction, "Use /generate in a server channel.")
            return
        spec = services.core.jobs.model_spec(model)
        if image is not None and (problem := image_problem(image, services.settings.image_max_bytes)):
            raise Refusal("image_unusable", problem)
        sound = None if audio is None else SOUND_CHOICES.get(audio.strip().lower())
        if audio is not None and sound is None:
            raise Refusal("audio_unknown", "The audio option takes on or off.")
        request = JobRequest(
            prompt=prompt,
            model=spec.name,
            seconds=seconds if seconds is not None else spec.seconds_default,
            aspect=aspect if aspect is not None else spec.aspect_default,
            seed=seed,
            negative_prompt=negative,
            image_url=image.url if image is not None else None,
            audio=sound,
        )
        # The limit Discord gave this interaction (boosts included), recorded with the job.
        origin = Origin(interaction.guild_id, interaction.channel_id, interaction.user.id, interaction.filesize_limit)
        await announce(interaction, await services.core.jobs.enqueue(origin, request, member_info(interaction)))

    @generate.autocomplete("model")
    async def model_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        services = services_of(interaction.client)
        typed = current.lower()
        return [
            app_commands.Choice(name=cut(f"{model.name} — {model.description}", CHOICE_NAME), value=model.name)
            for model in await enabled_models(services, interaction.guild_id)
            if typed in model.name.lower() or typed in model.description.lower()
        ][:MAX_CHOICES]

    @generate.autocomplete("seconds")
    async def seconds_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[int]]:
        spec = chosen_model(services_of(interaction.client), interaction)
        return [
            app_commands.Choice(name=f"{seconds} s", value=seconds)
            for seconds in spec.durations
            if str(seconds).startswith(str(current).strip())
        ][:MAX_CHOICES]

    @generate.autocomplete("aspect")
    async def aspect_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        spec = chosen_model(services_of(interaction.client), interaction)
        return [
            app_commands.Choice(name=aspect, value=aspect)
            for aspect in spec.aspects
            if aspect.startswith(current.strip())
        ][:MAX_CHOICES]

    @generate.autocomplete("audio")
    async def audio_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        """On and off, on models that can switch sound; nothing where it does not apply."""
        spec = chosen_model(services_of(interaction.client), interaction)
        if not spec.audio_optional:
            return []
        typed = current.strip().lower()
        return [
            app_commands.Choice(name=SOUND_NAMES[value], value=value)
            for value in SOUND_CHOICES
            if value.startswith(typed)
        ]


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Generate())
