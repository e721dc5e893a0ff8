"""Luma Dream Machine API: `POST /generations/video`, poll `GET /generations/<id>`.

Input: model, prompt, aspect_ratio, duration as "5s"; `params` add resolution, loop...
Luma has no seed and no cancel (DELETE removes a generation, it does not stop one).
An input image goes in `keyframes.frame0` as a data URI. Limitation: Luma documents
that field as an image URL, so a deployment that Luma refuses data URIs from needs an
image host; the refusal comes back as an invalid request.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import AnyHttpUrl, SecretStr

from bot.backends.base import (
    BackendCapabilities,
    BackendError,
    BackendErrorKind,
    BackendJob,
    ExternalWait,
    GenerationRequest,
    PollResult,
    await_directly,
)
from bot.backends.entry import BackendEntry, BackendSettings, BuildContext, KeyRule, ModelDefaults
from bot.backends.http import (
    HttpTimeouts,
    ProviderHttp,
    Retry,
    RetryPolicy,
    UrlResultBackend,
    content_words_rule,
    data_uri,
    doctor_answer,
    mentions_content_policy,
    provider_input,
    unknown_state,
)

if TYPE_CHECKING:
    from bot.models import ModelCatalog
    from bot.settings import Settings

log = logging.getLogger(__name__)
Kind = BackendErrorKind
DEFAULT_BASE_URL = "https://api.lumalabs.ai/dream-machine/v1"
_REFUSAL_WORDS = ("prompt not allowed", "not allowed", "blocked", "violat", "inappropriate")


def is_refusal(reason: str) -> bool:
    lowered = reason.lower()
    return mentions_content_policy(reason) or any(word in lowered for word in _REFUSAL_WORDS)


CAPABILITIES = BackendCapabilities(
    text_to_video=True,
    image_to_video=True,
    seed=False,
    negative_prompt=False,
    cancel=False,
    durations=(5, 9),
    aspects=("16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "9:21"),
)


class LumaBackend(UrlResultBackend):
    name = "luma"
    capabilities = CAPABILITIES

    def __init__(
        self,
        key: SecretStr,
        model: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        wait: ExternalWait = await_directly,
        timeouts: HttpTimeouts | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        secret = key.get_secret_value()
        self.model = model
        self.http = ProviderHttp(
            "luma",
            base_url=base_url,
            url_setting="LUMA_BASE_URL",
            wait=wait,
            auth_headers={"Authorization": f"Bearer {secret}"},
            secrets=[secret],
            timeouts=timeouts,
            retry=retry,
            content_policy=content_words_rule,
        )

    def build_input(self, request: GenerationRequest) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "model": request.model.provider_model or self.model,
            "prompt": request.prompt,
            "aspect_ratio": request.aspect,
            "duration": f"{request.seconds}s",
        }
        if request.image is not None:
            fields["keyframes"] = {"frame0": {"type": "image", "url": data_uri(request.image)}}
        return provider_input(request.model.params, fields)

    async def submit(self, request: GenerationRequest) -> BackendJob:
        generation = await self.http.send_json(
            "POST", "generations/video", json=self.build_input(request), reason="submit", retry=Retry.UNDELIVERED
        )
        if not generation.get("id"):
            raise BackendError(Kind.UNAVAILABLE, "Luma accepted the job but its answer has no id")
        return BackendJob(id=str(generation["id"]))

    async def poll(self, job: BackendJob) -> PollResult:
        generation = await self.http.send_json(
            "GET", f"generations/{job.id}", reason="poll", retry=Retry.IDEMPOTENT, not_found=Kind.GENERATION_FAILED
        )
        state = generation.get("state")
        if state == "queued":
            return PollResult("queued")
        if state == "dreaming":
            return PollResult("running")
        if state == "failed":
            reason = str(generation.get("failure_reason") or "the generation failed")
            kind = Kind.CONTENT_POLICY if is_refusal(reason) else Kind.GENERATION_FAILED
            return PollResult("failed", error=BackendError(kind, reason))
        if state == "completed":
            assets = generation.get("assets") or {}
            url = assets.get("video") if isinstance(assets, dict) else None
            if isinstance(url, str) and url:
                return PollResult("succeeded", progress=1.0, result_url=url)
            return PollResult("failed", error=BackendError(Kind.BAD_OUTPUT, "the generation has no video URL"))
        raise unknown_state("Luma", state, generation)

    async def cancel(self, job: BackendJob) -> None:
        # Luma cannot stop a generation; the job runs out and is simply not fetched.
        log.info("luma: generation %s cannot be cancelled; it will finish unused", job.id)


async def _check_credits(settings: Settings, catalog: ModelCatalog) -> tuple[bool, str]:
    """`GET /credits` costs nothing: it proves the key and gives the balance (in US cents)."""
    credits = await doctor_answer(_build(BuildContext(settings, catalog)).http, "credits")
    if isinstance(credits, str):
        return False, credits
    cents = credits.get("credit_balance")
    if not isinstance(cents, int | float):
        return True, "LUMAAI_API_KEY works (Luma did not say the balance)"
    if cents <= 0:
        return False, "LUMAAI_API_KEY works, but the account has no credit left: add credit first"
    return True, f"LUMAAI_API_KEY works (${cents / 100:,.2f} of credit left)"


class LumaSettings(BackendSettings):
    backend_name: ClassVar[str] = "luma"
    lumaai_api_key: SecretStr | None = None
    luma_model: str = "ray-2"
    luma_base_url: AnyHttpUrl = AnyHttpUrl(DEFAULT_BASE_URL)


_KEY = KeyRule("lumaai_api_key", prefix="luma-")


def _build(context: BuildContext) -> LumaBackend:
    settings = context.settings
    return LumaBackend(
        SecretStr(_KEY.read(settings)),
        settings.luma_model,
        base_url=str(settings.luma_base_url),
        **context.http_options(),
    )


def _provider_model(settings: Settings) -> str:
    return settings.luma_model


ENTRY = BackendEntry(
    name="luma",
    settings=LumaSettings,
    capabilities=CAPABILITIES,
    build=_build,
    provider_model=_provider_model,
    keys=(_KEY,),
    online_checks=(_check_credits,),
    defaults=ModelDefaults(cost_per_second=0.1),
)
