"""Google Veo through the Gemini API: `models/<model>:predictLongRunning`, then the operation.

Submit `POST /v1beta/models/<model>:predictLongRunning` with `x-goog-api-key` and
`{instances: [{prompt, image?}], parameters: {aspectRatio, durationSeconds,
negativePrompt, seed, ...}}` (`params` add e.g. `resolution` or `personGeneration`);
the answer is an operation `{name}`. Poll `GET /v1beta/<name>`: no `done` while it
runs; done with `error`, or with `response.generateVideoResponse.generatedSamples[]
.video.uri`. The file URI is on the API and needs the key (it redirects to storage,
which must not see it). Samples withheld by the safety filter come back as
`raiMediaFilteredCount`/`raiMediaFilteredReasons` and no samples.

Errors are `{"error": {code, message, status, details}}`: a wrong key is 400
INVALID_ARGUMENT with reason API_KEY_INVALID, a missing or unauthorised one 403
PERMISSION_DENIED, quota 429 RESOURCE_EXHAUSTED. The submit carries no id Google
deduplicates, so it is never resent after it may have arrived.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any, ClassVar

import httpx
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
    error_message,
    mentions_content_policy,
    provider_input,
)
from bot.safe_text import redact

if TYPE_CHECKING:
    from bot.models import ModelCatalog
    from bot.settings import Settings

Kind = BackendErrorKind
DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
DEFAULT_MODEL = "veo-3.1-generate-001"

CAPABILITIES = BackendCapabilities(
    text_to_video=True,
    image_to_video=True,
    seed=True,
    negative_prompt=True,
    cancel=False,  # the Gemini API offers no cancel for a video operation
    audio=True,  # Veo 3.x always generates sound through the Gemini API
    audio_optional=False,
    durations=(4, 6, 8),
    aspects=("16:9", "9:16"),
)

# google.rpc.Code names, as `status` in an HTTP error and by number in an operation's error.
_STATUS_BY_CODE = {
    3: "INVALID_ARGUMENT",
    5: "NOT_FOUND",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    16: "UNAUTHENTICATED",
}


def _reasons(details: Any) -> list[str]:
    if not isinstance(details, list):
        return []
    return [str(item["reason"]) for item in details if isinstance(item, dict) and item.get("reason")]


def _retry_delay(details: Any) -> float | None:
    """`RetryInfo.retryDelay` ("30s") in a RESOURCE_EXHAUSTED answer's details."""
    for item in details if isinstance(details, list) else []:
        delay = item.get("retryDelay") if isinstance(item, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return float(delay[:-1])
            except ValueError:
                return None
    return None


def retry_delay_of(body: Any) -> float | None:
    """The wait a 429 RESOURCE_EXHAUSTED body gives in `error.details` (no Retry-After header comes)."""
    error = body.get("error") if isinstance(body, dict) else None
    return _retry_delay(error.get("details")) if isinstance(error, dict) else None


def classify_google_error(error: Any, http_status: int | None, secrets: tuple[str, ...] = ()) -> BackendError:
    """Map a Google API error object to the closed set."""
    body = error if isinstance(error, dict) else {}
    code = body.get("code")
    status = str(body.get("status") or (_STATUS_BY_CODE.get(code, "") if isinstance(code, int) else ""))
    message = redact(error_message(body.get("message"), f"Gemini API error {status or http_status}"), secrets)
    reasons = _reasons(body.get("details"))
    kind: Kind
    if "API_KEY_INVALID" in reasons or status in ("PERMISSION_DENIED", "UNAUTHENTICATED"):
        kind = Kind.AUTH
    elif status == "RESOURCE_EXHAUSTED" or http_status == 429:
        kind = Kind.RATE_LIMITED
    elif http_status == 402 or "billing" in message.lower() or "prepaid" in message.lower():
        kind = Kind.OUT_OF_CREDIT
    elif mentions_content_policy(message) or "responsible ai" in message.lower():
        kind = Kind.CONTENT_POLICY
    elif status == "NOT_FOUND":
        kind = Kind.MODEL_UNAVAILABLE
    elif status in ("INVALID_ARGUMENT", "FAILED_PRECONDITION"):
        kind = Kind.INVALID_REQUEST
    elif status in ("UNAVAILABLE", "INTERNAL") or (http_status is not None and http_status >= 500):
        kind = Kind.UNAVAILABLE
    else:
        kind = Kind.GENERATION_FAILED
    detail = f"{message} [{status}{', ' + ', '.join(reasons) if reasons else ''}]" if status else message
    return BackendError(kind, detail, retry_after=_retry_delay(body.get("details")), status_code=http_status)


def _refused(response: httpx.Response) -> bool:
    """Answers whose body says more than the status code (a bad key is a 400): classified here.

    A 429 goes the shared way, so a refused submit is sent again after its wait.
    """
    return response.status_code in (400, 403)


class VeoBackend(UrlResultBackend):
    name = "veo"
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
        self._secret = key.get_secret_value()
        self.model = model
        self.http = ProviderHttp(
            "veo",
            base_url=base_url,
            url_setting="GEMINI_BASE_URL",
            wait=wait,
            auth_headers={"x-goog-api-key": self._secret},
            secrets=[self._secret],
            timeouts=timeouts,
            retry=retry,
            authenticated_downloads=True,
            follow_download_redirects=True,  # Gemini's file URIs may redirect to storage
            retry_after_rule=retry_delay_of,
        )

    def build_input(self, request: GenerationRequest) -> dict[str, Any]:
        instance: dict[str, Any] = {"prompt": request.prompt}
        if request.image is not None:
            instance["image"] = {
                "bytesBase64Encoded": base64.b64encode(request.image.data).decode("ascii"),
                "mimeType": request.image.content_type,
            }
        parameters = provider_input(
            request.model.params,
            {
                "aspectRatio": request.aspect,
                "durationSeconds": request.seconds,
                "negativePrompt": request.negative_prompt,
                "seed": request.seed,
                "sampleCount": 1,
            },
        )
        return {"instances": [instance], "parameters": parameters}

    async def _json(self, method: str, path: str, *, reason: str, retry: Retry, **kwargs: Any) -> Any:
        response = await self.http.send(method, path, reason=reason, retry=retry, accept=_refused, **kwargs)
        try:
            body = response.json()
        except ValueError:
            raise BackendError(Kind.UNAVAILABLE, f"the Gemini API answered {reason} with non-JSON") from None
        if response.is_success:
            return body
        error = body.get("error") if isinstance(body, dict) else None
        raise classify_google_error(error, response.status_code, (self._secret,))

    async def submit(self, request: GenerationRequest) -> BackendJob:
        model = request.model.provider_model or self.model
        operation = await self._json(
            "POST",
            f"v1beta/models/{model}:predictLongRunning",
            json=self.build_input(request),
            reason="submit",
            retry=Retry.UNDELIVERED,
        )
        if not isinstance(operation, dict) or not operation.get("name"):
            raise BackendError(Kind.UNAVAILABLE, "the Gemini API accepted the job but its answer has no operation name")
        return BackendJob(id=str(operation["name"]))

    async def poll(self, job: BackendJob) -> PollResult:
        operation = await self.http.send_json(
            "GET", f"v1beta/{job.id}", reason="poll", retry=Retry.IDEMPOTENT, not_found=Kind.GENERATION_FAILED
        )
        if not isinstance(operation, dict):
            raise BackendError(Kind.UNAVAILABLE, "the Gemini API answered a poll with something not an operation")
        if not operation.get("done"):
            return PollResult("running")
        if operation.get("error"):
            return PollResult("failed", error=classify_google_error(operation["error"], None, (self._secret,)))
        return _outcome(operation.get("response"))

    async def cancel(self, job: BackendJob) -> None:
        """Nothing to call: the operation runs to its end and the result is dropped."""

    async def check_model(self) -> tuple[bool, str]:
        """For `doctor`: `GET models/<model>` costs nothing and proves the key and the model id."""
        try:
            model = await self._json("GET", f"v1beta/models/{self.model}", reason="doctor", retry=Retry.NEVER)
        except BackendError as error:
            if error.kind is Kind.MODEL_UNAVAILABLE:
                return False, f"the Gemini API has no model {self.model!r} (VEO_MODEL); Google retires Veo ids"
            return False, f"{error.plain}: {error.provider_message}"
        methods = model.get("supportedGenerationMethods") or []
        if methods and "predictLongRunning" not in methods:
            return False, f"model {self.model!r} (VEO_MODEL) does not make videos (no predictLongRunning)"
        return True, f"GEMINI_API_KEY works and model {self.model!r} is available"


def _outcome(response: Any) -> PollResult:
    video_response = response.get("generateVideoResponse") if isinstance(response, dict) else None
    if not isinstance(video_response, dict):
        return PollResult("failed", error=BackendError(Kind.BAD_OUTPUT, "the finished operation has no video response"))
    samples = video_response.get("generatedSamples")
    if isinstance(samples, list) and samples:
        video = samples[0].get("video") if isinstance(samples[0], dict) else None
        uri = video.get("uri") if isinstance(video, dict) else None
        if isinstance(uri, str) and uri:
            return PollResult("succeeded", progress=1.0, result_url=uri)
        return PollResult("failed", error=BackendError(Kind.BAD_OUTPUT, "the generated sample has no video URI"))
    if video_response.get("raiMediaFilteredCount") or video_response.get("raiMediaFilteredReasons"):
        reasons = video_response.get("raiMediaFilteredReasons") or []
        said = "; ".join(str(reason) for reason in reasons) if isinstance(reasons, list) else str(reasons)
        message = "Google's safety filter withheld the video" + (f": {said}" if said else "")
        return PollResult("failed", error=BackendError(Kind.CONTENT_POLICY, message))
    return PollResult("failed", error=BackendError(Kind.BAD_OUTPUT, "the finished operation has no video"))


class VeoSettings(BackendSettings):
    backend_name: ClassVar[str] = "veo"
    gemini_api_key: SecretStr | None = None
    veo_model: str = Field(default=DEFAULT_MODEL, pattern=r"^[a-z0-9][a-z0-9.-]{2,63}$")
    gemini_base_url: AnyHttpUrl = AnyHttpUrl(DEFAULT_BASE_URL)


_KEY = KeyRule("gemini_api_key", prefix="AIza")


def _build(context: BuildContext) -> VeoBackend:
    settings = context.settings
    return VeoBackend(
        SecretStr(_KEY.read(settings)),
        settings.veo_model,
        base_url=str(settings.gemini_base_url),
        **context.http_options(),
    )


def _provider_model(settings: Settings) -> str:
    return settings.veo_model


async def _check_model(settings: Settings, catalog: ModelCatalog) -> tuple[bool, str]:
    backend = _build(BuildContext(settings, catalog))
    try:
        return await backend.check_model()
    finally:
        await backend.aclose()


ENTRY = BackendEntry(
    name="veo",
    settings=VeoSettings,
    capabilities=CAPABILITIES,
    build=_build,
    provider_model=_provider_model,
    keys=(_KEY,),
    online_checks=(_check_model,),
    # Veo 3.1 with sound, 720p/1080p: $0.40 per second (Gemini API price list, read 2026-12-01).
    defaults=ModelDefaults(cost_per_second=0.4, max_concurrency=2, default_seconds=8),
)
