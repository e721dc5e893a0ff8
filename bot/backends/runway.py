"""Runway API (version 2024-11-06): `text_to_video` or `image_to_video`, then `/v1/tasks/<id>`.

Input: model, promptText, ratio (pixel size for the aspect, e.g. "16:9" -> "1280:720"),
duration, seed; with an image, `promptImage` as a data URI (Runway takes up to 5 MB).
No negative prompt. `params` add model-specific fields.
"""

from __future__ import annotations

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
    provider_input,
    unknown_state,
)

if TYPE_CHECKING:
    from bot.models import ModelCatalog
    from bot.settings import Settings

Kind = BackendErrorKind
DEFAULT_BASE_URL = "https://api.dev.runwayml.com"
API_VERSION = "2024-11-06"

# The output sizes Runway's gen4 models accept, by aspect.
RATIOS: dict[str, str] = {
    "16:9": "1280:720",
    "9:16": "720:1280",
    "1:1": "960:960",
    "4:3": "1104:832",
    "3:4": "832:1104",
    "21:9": "1584:672",
}


def failure_kind(code: str) -> Kind:
    """`SAFETY.*` (and `INPUT_PREPROCESSING.SAFETY.*`) is moderation; `INTERNAL.BAD_OUTPUT.*` may pass on retry."""
    parts = code.upper().split(".")
    if "SAFETY" in parts:
        return Kind.CONTENT_POLICY
    if code.upper().startswith("INTERNAL.BAD_OUTPUT"):
        return Kind.UNAVAILABLE
    if code.upper().startswith("ASSET.INVALID"):
        return Kind.INVALID_REQUEST
    return Kind.GENERATION_FAILED


CAPABILITIES = BackendCapabilities(
    text_to_video=True,
    image_to_video=True,
    seed=True,
    negative_prompt=False,
    cancel=True,
    durations=(5, 10),
    aspects=("16:9", "9:16"),
    min_poll_gap=5.0,  # Runway asks clients not to poll more often than every 5 seconds
)


class RunwayBackend(UrlResultBackend):
    name = "runway"
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
            "runway",
            base_url=base_url,
            url_setting="RUNWAY_BASE_URL",
            wait=wait,
            auth_headers={"Authorization": f"Bearer {secret}", "X-Runway-Version": API_VERSION},
            secrets=[secret],
            timeouts=timeouts,
            retry=retry,
            content_policy=content_words_rule,
        )

    def build_input(self, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        ratio = RATIOS.get(request.aspect)
        if ratio is None:
            raise BackendError(Kind.INVALID_REQUEST, f"Runway has no output size for aspect {request.aspect}")
        fields: dict[str, Any] = {
            "model": request.model.provider_model or self.model,
            "promptText": request.prompt,
            "ratio": ratio,
            "duration": request.seconds,
            "seed": request.seed,
        }
        if request.image is not None:
            fields["promptImage"] = data_uri(request.image)
            return "v1/image_to_video", provider_input(request.model.params, fields)
        return "v1/text_to_video", provider_input(request.model.params, fields)

    async def submit(self, request: GenerationRequest) -> BackendJob:
        path, payload = self.build_input(request)
        task = await self.http.send_json("POST", path, json=payload, reason="submit", retry=Retry.UNDELIVERED)
        if not task.get("id"):
            raise BackendError(Kind.UNAVAILABLE, "Runway accepted the job but its answer has no id")
        return BackendJob(id=str(task["id"]))

    async def poll(self, job: BackendJob) -> PollResult:
        task = await self.http.send_json(
            "GET", f"v1/tasks/{job.id}", reason="poll", retry=Retry.IDEMPOTENT, not_found=Kind.GENERATION_FAILED
        )
        status = task.get("status")
        if status in ("PENDING", "THROTTLED"):
            return PollResult("queued")
        if status == "RUNNING":
            progress = task.get("progress")
            return PollResult(
                "running",
                progress=float(progress) if isinstance(progress, int | float) else None,
            )
        if status == "CANCELLED":
            return PollResult("canceled")
        if status == "FAILED":
            code = str(task.get("failureCode") or "")
            message = str(task.get("failure") or "the task failed") + (f" [{code}]" if code else "")
            return PollResult("failed", error=BackendError(failure_kind(code), message))
        if status == "SUCCEEDED":
            output = task.get("output")
            if isinstance(output, list) and output and isinstance(output[0], str):
                return PollResult("succeeded", progress=1.0, result_url=output[0])
            return PollResult("failed", error=BackendError(Kind.BAD_OUTPUT, "the task has no output URL"))
        raise unknown_state("Runway", status, task)

    async def cancel(self, job: BackendJob) -> None:
        await self.http.send(
            "DELETE",
            f"v1/tasks/{job.id}",
            reason="cancel",
            retry=Retry.IDEMPOTENT,
            accept=lambda response: response.status_code == 404,
        )


async def _check_organization(settings: Settings, catalog: ModelCatalog) -> tuple[bool, str]:
    """`GET /v1/organization` costs nothing: it proves the key and shows the credit balance."""
    organization = await doctor_answer(_build(BuildContext(settings, catalog)).http, "v1/organization")
    if isinstance(organization, str):
        return False, organization
    credits = organization.get("creditBalance")
    if isinstance(credits, int | float) and credits <= 0:
        return False, "RUNWAYML_API_SECRET works, but the organization has no credits left: buy credits first"
    return True, f"RUNWAYML_API_SECRET works ({credits} credits left)"


class RunwaySettings(BackendSettings):
    backend_name: ClassVar[str] = "runway"
    runwayml_api_secret: SecretStr | None = None
    runway_model: str = "gen4.5"
    runway_base_url: AnyHttpUrl = AnyHttpUrl(DEFAULT_BASE_URL)


_KEY = KeyRule("runwayml_api_secret", prefix="key_")


def _build(context: BuildContext) -> RunwayBackend:
    settings = context.settings
    return RunwayBackend(
        SecretStr(_KEY.read(settings)),
        settings.runway_model,
        base_url=str(settings.runway_base_url),
        **context.http_options(),
    )


def _provider_model(settings: Settings) -> str:
    return settings.runway_model


ENTRY = BackendEntry(
    name="runway",
    settings=RunwaySettings,
    capabilities=CAPABILITIES,
    build=_build,
    provider_model=_provider_model,
    keys=(_KEY,),
    online_checks=(_check_organization,),
    defaults=ModelDefaults(cost_per_second=0.12),
)
