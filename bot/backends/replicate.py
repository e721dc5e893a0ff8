"""Replicate predictions API.

`model` is "owner/name" (an official model: `POST /models/owner/name/predictions`) or
"owner/name:version" (`POST /predictions` with that version). Input: prompt, duration
(int seconds), aspect_ratio, seed, negative_prompt, and the image as a data URI under
`image` (set `footage_image_input`, e.g. "first_frame_image", for models that differ).
Outputs of API predictions are deleted after about an hour: fetch as soon as a poll
says `succeeded`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import AnyHttpUrl, Field, SecretStr

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
    adapter_option,
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

Kind = BackendErrorKind
DEFAULT_BASE_URL = "https://api.replicate.com/v1"
# Video models print tqdm bars to their logs: "45%|████▌     | 9/20".
_PERCENT = re.compile(r"(\d{1,3})%\|")


CAPABILITIES = BackendCapabilities(
    text_to_video=True, image_to_video=True, seed=True, negative_prompt=True, cancel=True
)


class ReplicateBackend(UrlResultBackend):
    name = "replicate"
    capabilities = CAPABILITIES

    def __init__(
        self,
        token: SecretStr,
        model: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        wait: ExternalWait = await_directly,
        timeouts: HttpTimeouts | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        secret = token.get_secret_value()
        self.model = model
        self.http = ProviderHttp(
            "replicate",
            base_url=base_url,
            url_setting="REPLICATE_BASE_URL",
            wait=wait,
            auth_headers={"Authorization": f"Bearer {secret}"},
            secrets=[secret],
            timeouts=timeouts,
            retry=retry,
            content_policy=content_words_rule,
        )

    def build_input(self, request: GenerationRequest) -> dict[str, Any]:
        params = request.model.params
        fields: dict[str, Any] = {
            "prompt": request.prompt,
            "duration": request.seconds,
            "aspect_ratio": request.aspect,
            "seed": request.seed,
            "negative_prompt": request.negative_prompt,
        }
        if request.image is not None:
            fields[adapter_option(params, "image_input", "image")] = data_uri(request.image)
        return provider_input(params, fields)

    async def submit(self, request: GenerationRequest) -> BackendJob:
        model = request.model.provider_model or self.model
        payload: dict[str, Any] = {"input": self.build_input(request)}
        if ":" in model:
            payload["version"] = model.split(":", 1)[1]
            path = "predictions"
        else:
            path = f"models/{model}/predictions"
        prediction = await self.http.send_json("POST", path, json=payload, reason="submit", retry=Retry.UNDELIVERED)
        if not prediction.get("id"):
            raise BackendError(Kind.UNAVAILABLE, "Replicate accepted the job but its answer has no id")
        return BackendJob(id=str(prediction["id"]))

    async def poll(self, job: BackendJob) -> PollResult:
        prediction = await self.http.send_json(
            "GET",
            f"predictions/{job.id}",
            reason="poll",
            retry=Retry.IDEMPOTENT,
            not_found=Kind.GENERATION_FAILED,
        )
        status = prediction.get("status")
        if status == "starting":
            return PollResult("queued")
        if status == "processing":
            return PollResult("running", progress=_progress(prediction.get("logs")))
        if status == "canceled":
            return PollResult("canceled")
        if status == "failed":
            message = str(prediction.get("error") or "the prediction failed")
            kind = Kind.CONTENT_POLICY if mentions_content_policy(message) else Kind.GENERATION_FAILED
            return PollResult("failed", error=BackendError(kind, message))
        if status == "succeeded":
            url = _output_url(prediction.get("output"))
            if url is None:
                return PollResult("failed", error=BackendError(Kind.BAD_OUTPUT, "the prediction has no output URL"))
            return PollResult("succeeded", progress=1.0, result_url=url)
        raise unknown_state("Replicate", status, prediction)

    async def cancel(self, job: BackendJob) -> None:
        await self.http.send(
            "POST",
            f"predictions/{job.id}/cancel",
            reason="cancel",
            retry=Retry.IDEMPOTENT,
            accept=lambda response: response.status_code == 404,
        )


def _progress(logs: Any) -> float | None:
    if not isinstance(logs, str):
        return None
    found = _PERCENT.findall(logs)
    return min(int(found[-1]), 100) / 100 if found else None


def _output_url(output: Any) -> str | None:
    if isinstance(output, list):
        output = output[0] if output else None
    if isinstance(output, dict):
        output = output.get("video") or output.get("url")
    return output if isinstance(output, str) and output else None


async def _check_account(settings: Settings, catalog: ModelCatalog) -> tuple[bool, str]:
    """`GET /account` costs nothing and proves the token."""
    account = await doctor_answer(_build(BuildContext(settings, catalog)).http, "account")
    if isinstance(account, str):
        return False, account
    return True, f"REPLICATE_API_TOKEN works (account {account.get('username', '?')})"


class ReplicateSettings(BackendSettings):
    backend_name: ClassVar[str] = "replicate"
    replicate_api_token: SecretStr | None = None
    replicate_model: str | None = Field(default=None, pattern=r"^[\w.-]+/[\w.-]+$")
    replicate_base_url: AnyHttpUrl = AnyHttpUrl(DEFAULT_BASE_URL)


_KEY = KeyRule("replicate_api_token", prefix="r8_")


def _build(context: BuildContext) -> ReplicateBackend:
    settings = context.settings
    return ReplicateBackend(
        SecretStr(_KEY.read(settings)),
        settings.replicate_model or "",
        base_url=str(settings.replicate_base_url),
        **context.http_options(),
    )


def _provider_model(settings: Settings) -> str:
    return settings.replicate_model or ""


ENTRY = BackendEntry(
    name="replicate",
    settings=ReplicateSettings,
    capabilities=CAPABILITIES,
    build=_build,
    provider_model=_provider_model,
    keys=(_KEY,),
    online_checks=(_check_account,),
    model_variable="REPLICATE_MODEL",
    defaults=ModelDefaults(cost_per_second=0.1),
)
