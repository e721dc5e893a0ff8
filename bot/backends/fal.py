"""fal.ai queue API: submit to `<queue>/<model>`, poll the returned status URL, fetch `video.url`.

The status, response and cancel URLs are stored exactly as fal returns them: they
carry only the owner/app part of the model path, so they cannot be rebuilt later.
Input mapping (the common schema of fal's video models; `params` add model-specific
fields): prompt, duration as a string of seconds ("5"), aspect_ratio ("16:9"), seed,
negative_prompt, the image as a data URI under `image_url` (override the key with
`footage_image_input`, e.g. "start_image_url"), and sound as `generate_audio` true/false
on models that have sound (override the key with `footage_audio_input`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any, ClassVar

import httpx
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
    adapter_option,
    data_uri,
    doctor_answer,
    error_message,
    mentions_content_policy,
    provider_input,
    sends_sound_flag,
    unknown_state,
)

if TYPE_CHECKING:
    from bot.models import ModelCatalog
    from bot.settings import Settings

Kind = BackendErrorKind
DEFAULT_QUEUE_URL = "https://queue.fal.run"
DEFAULT_API_URL = "https://api.fal.ai/v1"


def _error_types(body: Any) -> list[str]:
    """fal puts `type`/`error_type` on the body or on each item of `detail`."""
    found: list[str] = []
    items = body.get("detail") if isinstance(body, dict) else body
    for item in [body, *(items if isinstance(items, list) else [])]:
        if isinstance(item, dict):
            found += [str(item[key]) for key in ("type", "error_type") if item.get(key)]
    return found


def is_content_policy(body: Any, message: str) -> bool:
    types = _error_types(body)
    if types:
        return any("content_policy" in kind or "moderat" in kind or "nsfw" in kind for kind in types)
    return mentions_content_policy(message)


# fal's video models with sound take a `generate_audio` switch (Veo 3, Kling 2.6, LTX-2, Seedance...);
# a model without one is given `audio_optional = false` in the catalog.
CAPABILITIES = BackendCapabilities(
    text_to_video=True,
    image_to_video=True,
    seed=True,
    negative_prompt=True,
    cancel=True,
    audio=True,
    audio_optional=True,
)


class FalBackend(UrlResultBackend):
    name = "fal"
    capabilities = CAPABILITIES

    def __init__(
        self,
        key: SecretStr,
        model: str,
        *,
        queue_url: str = DEFAULT_QUEUE_URL,
        wait: ExternalWait = await_directly,
        timeouts: HttpTimeouts | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        secret = key.get_secret_value()
        self.model = model
        # Cleared when the status stream does not answer as documented; polls take over.
        self.streams = True
        self.http = ProviderHttp(
            "fal",
            base_url=queue_url,
            url_setting="FAL_QUEUE_URL",
            wait=wait,
            auth_headers={"Authorization": f"Key {secret}"},
            secrets=[secret],
            timeouts=timeouts,
            retry=retry,
            content_policy=is_content_policy,
        )

    def build_input(self, request: GenerationRequest) -> dict[str, Any]:
        params = request.model.params
        fields: dict[str, Any] = {
            "prompt": request.prompt,
            "duration": str(request.seconds),
            "aspect_ratio": request.aspect,
            "seed": request.seed,
            "negative_prompt": request.negative_prompt,
        }
        if request.image is not None:
            fields[adapter_option(params, "image_input", "image_url")] = data_uri(request.image)
        if sends_sound_flag(request):
            fields[adapter_option(params, "audio_input", "generate_audio")] = request.audio
        return provider_input(params, fields)

    async def submit(self, request: GenerationRequest) -> BackendJob:
        model = request.model.provider_model or self.model
        body = await self.http.send_json(
            "POST", model, json=self.build_input(request), reason="submit", retry=Retry.UNDELIVERED
        )
        try:
            data = {key: str(body[key]) for key in ("status_url", "response_url", "cancel_url")}
            return BackendJob(id=str(body["request_id"]), data=data)
        except (KeyError, TypeError):
            raise BackendError(Kind.UNAVAILABLE, "fal accepted the job but its answer lacks the job URLs") from None

    async def poll(self, job: BackendJob) -> PollResult:
        status = await self.http.send_json(
            "GET",
            job.data["status_url"],
            params={"logs": "1"},
            reason="poll",
            retry=Retry.IDEMPOTENT,
            not_found=Kind.GENERATION_FAILED,
        )
        return await self._outcome(job, status)

    async def status_stream(self, job: BackendJob) -> AsyncGenerator[PollResult, None]:
        """fal's documented `<status_url>/stream`: a status event on each change, closed after COMPLETED."""
        if not self.streams:
            return
        try:
            async for status in self.http.events(f"{job.data['status_url']}/stream", reason="status stream"):
                result = await self._outcome(job, status)
                yield result
                if result.state not in ("queued", "running"):
                    return
        except BackendError as error:
            if not error.retryable:
                # Not served here (a gateway without it, an old API): poll this backend's jobs from now on.
                self.streams = False
            raise

    async def _outcome(self, job: BackendJob, status: dict[str, Any]) -> PollResult:
        state = status.get("status")
        if state == "IN_QUEUE":
            return PollResult("queued", queue_position=status.get("queue_position"))
        if state == "IN_PROGRESS":
            return PollResult("running")
        if state != "COMPLETED":
            raise unknown_state("fal", state, status)
        if status.get("error") or status.get("error_type"):
            return PollResult("failed", error=self._completed_error(status))
        return await self._result(job)

    def _completed_error(self, status: dict[str, Any]) -> BackendError:
        message = error_message(status.get("error"), "fal reported an error")
        content = is_content_policy({"error_type": status.get("error_type") or ""}, message)
        return BackendError(Kind.CONTENT_POLICY if content else Kind.GENERATION_FAILED, message)

    async def _result(self, job: BackendJob) -> PollResult:
        try:
            output = await self.http.send_json(
                "GET",
                job.data["response_url"],
                reason="result",
                retry=Retry.IDEMPOTENT,
                not_found=Kind.RESULT_EXPIRED,
            )
        except BackendError as error:
            if error.retryable:
                raise
            # A model that failed while running answers its result URL with the error
            # (422 for validation or content policy): that is the job's outcome.
            return PollResult("failed", error=error)
        url = _video_url(output)
        if url is None:
            return PollResult("failed", error=BackendError(Kind.BAD_OUTPUT, "fal's result has no video URL"))
        return PollResult("succeeded", progress=1.0, result_url=url)

    async def cancel(self, job: BackendJob) -> None:
        # 400 ALREADY_COMPLETED and 404 NOT_FOUND both mean there is nothing left to stop.
        await self.http.send(
            "PUT",
            job.data["cancel_url"],
            reason="cancel",
            retry=Retry.IDEMPOTENT,
            accept=lambda response: response.status_code in (400, 404),
        )


def _video_url(output: Any) -> str | None:
    if not isinstance(output, dict):
        return None
    video = output.get("video")
    if video is None and isinstance(output.get("videos"), list) and output["videos"]:
        video = output["videos"][0]
    if isinstance(video, dict) and isinstance(video.get("url"), str):
        return str(video["url"])
    return None


# An id no request has: a status request for it proves the key and costs nothing.
_NO_REQUEST = "00000000-0000-0000-0000-000000000000"


def _platform(settings: Settings) -> ProviderHttp:
    """fal's Platform API (account, model search), a host apart from the queue."""
    secret = _KEY.read(settings)
    return ProviderHttp(
        "fal",
        base_url=str(settings.fal_api_url),
        url_setting="FAL_API_URL",
        wait=await_directly,
        auth_headers={"Authorization": f"Key {secret}"},
        secrets=[secret],
    )


async def _check_key(settings: Settings, catalog: ModelCatalog) -> tuple[bool, str]:
    """`GET /account/billing?expand=credits`: the key and the balance, for free. fal shows the balance
    to admin keys only; an API key without that access is proved on the queue instead, by the status
    of a request that does not exist (fal answers 404 to a key it accepts)."""
    platform = _platform(settings)
    try:
        billing = await platform.send_json(
            "GET", "account/billing", params={"expand": "credits"}, reason="doctor", retry=Retry.NEVER
        )
    except BackendError as error:
        if error.status_code != 403:
            return False, f"{error.plain}: {error.provider_message}"
        return await _check_key_on_queue(settings, catalog)
    finally:
        await platform.aclose()
    credits = billing.get("credits")
    balance = credits.get("current_balance") if isinstance(credits, dict) else None
    if not isinstance(balance, int | float):
        return True, "FAL_KEY works (fal did not say the balance)"
    currency = str(credits.get("currency") or "USD") if isinstance(credits, dict) else "USD"
    if balance <= 0:
        return False, f"FAL_KEY works, but the account has no credit left ({balance:g} {currency}): top it up first"
    return True, f"FAL_KEY works ({balance:,.2f} {currency} of credit left)"


async def _check_key_on_queue(settings: Settings, catalog: ModelCatalog) -> tuple[bool, str]:
    # Every fal model has an id by now: doctor's offline check refuses one without.
    model = next(spec.provider_model or settings.fal_model or "" for spec in catalog if spec.backend == "fal")
    owner_app = "/".join(model.split("/")[:2])
    backend = _build(BuildContext(settings, catalog))
    try:
        await backend.http.send(
            "GET",
            f"{owner_app}/requests/{_NO_REQUEST}/status",
            reason="doctor",
            retry=Retry.NEVER,
            accept=lambda response: response.status_code == 404,
        )
    except BackendError as error:
        return False, f"{error.plain}: {error.provider_message}"
    finally:
        await backend.aclose()
    return True, "FAL_KEY works (an API key without billing access, so fal does not show it the balance)"


async def _check_models(settings: Settings, catalog: ModelCatalog) -> tuple[bool, str]:
    """fal's model search (`GET /models?endpoint_id=...`), free: every fal model the catalog names exists."""
    wanted = {spec.provider_model or settings.fal_model or "" for spec in catalog if spec.backend == "fal"} - {""}
    asked = httpx.QueryParams([("endpoint_id", model) for model in sorted(wanted)])
    found = await doctor_answer(_platform(settings), "models", params=asked)
    if isinstance(found, str):
        return False, found
    listed = found.get("models")
    entries = listed if isinstance(listed, list) else []
    known = {str(model.get("endpoint_id")) for model in entries if isinstance(model, dict)}
    missing = sorted(wanted - known)
    if missing:
        return False, f"fal has no model {', '.join(missing)}: check FAL_MODEL or the catalog's provider_model"
    return True, f"fal lists {', '.join(sorted(wanted))}"


class FalSettings(BackendSettings):
    backend_name: ClassVar[str] = "fal"
    fal_key: SecretStr | None = None
    fal_model: str | None = None
    fal_queue_url: AnyHttpUrl = AnyHttpUrl(DEFAULT_QUEUE_URL)
    # The Platform API: doctor's free checks (the key, the balance, the models).
    fal_api_url: AnyHttpUrl = AnyHttpUrl(DEFAULT_API_URL)


_KEY = KeyRule("fal_key")


def _build(context: BuildContext) -> FalBackend:
    settings = context.settings
    return FalBackend(
        SecretStr(_KEY.read(settings)),
        settings.fal_model or "",
        queue_url=str(settings.fal_queue_url),
        **context.http_options(),
    )


def _provider_model(settings: Settings) -> str:
    return settings.fal_model or ""


ENTRY = BackendEntry(
    name="fal",
    settings=FalSettings,
    capabilities=CAPABILITIES,
    build=_build,
    provider_model=_provider_model,
    keys=(_KEY,),
    online_checks=(_check_key, _check_models),
    model_variable="FAL_MODEL",
    defaults=ModelDefaults(cost_per_second=0.05),
)
