"""Kling's own API: `POST /v1/videos/text2video` (or `image2video`), then the task.

Auth is a short-lived HS256 JWT (issuer = access key, signed with the secret key,
made with PyJWT), sent as `Authorization: Bearer <token>` and made again before it
expires. Input: model_name, prompt, negative_prompt, duration as a string of seconds,
aspect_ratio, sound "on"/"off" where the model makes audio, and the image as raw
base64 under `image`; `params` add mode, cfg_scale...; no seed.

Every submit carries `external_task_id` (unique per account) made from the job id,
and looks that id up first: a submit interrupted by a crash or a lost answer finds
its task and continues, and is sent again only when Kling has no such task. This is
what makes the submit idempotent.

Poll `GET /v1/videos/<kind>/<task_id>`: task_status submitted, processing, succeed
(`task_result.videos[0].url`) or failed (`task_status_msg`). Errors carry a numeric
`code` (see `KIND_BY_CODE`).
"""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING, Any, ClassVar

import jwt
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
    doctor_answer,
    mentions_content_policy,
    provider_input,
    sends_sound_flag,
)

if TYPE_CHECKING:
    from bot.models import ModelCatalog
    from bot.settings import Settings

Kind = BackendErrorKind
DEFAULT_BASE_URL = "https://api.klingai.com"
DEFAULT_MODEL = "kling-v2-6"
TOKEN_LIFETIME = 1800.0
# A token is made again when less than this is left, so none expires in flight.
TOKEN_MARGIN = 300.0

CAPABILITIES = BackendCapabilities(
    text_to_video=True,
    image_to_video=True,
    seed=False,
    negative_prompt=True,
    cancel=False,  # Kling has no cancel call
    idempotent_submit=True,  # by external_task_id, looked up before every send
    audio=True,
    audio_optional=True,
    durations=(5, 10),
    aspects=("16:9", "9:16", "1:1"),
)

# Kling's documented error codes.
KIND_BY_CODE: dict[int, Kind] = {
    1000: Kind.AUTH,  # authentication failed
    1001: Kind.AUTH,  # Authorization is empty
    1002: Kind.AUTH,  # Authorization is invalid
    1003: Kind.AUTH,  # token not yet valid
    1004: Kind.AUTH,  # token expired
    1100: Kind.AUTH,  # account exception
    1101: Kind.OUT_OF_CREDIT,  # account in arrears
    1102: Kind.OUT_OF_CREDIT,  # resource pack used up or expired
    1103: Kind.MODEL_UNAVAILABLE,  # no permission for this resource (model)
    1200: Kind.INVALID_REQUEST,
    1201: Kind.INVALID_REQUEST,
    1202: Kind.INVALID_REQUEST,
    1203: Kind.MODEL_UNAVAILABLE,  # the model or task does not exist
    1300: Kind.CONTENT_POLICY,  # platform policy triggered
    1301: Kind.CONTENT_POLICY,  # content security policy
    1302: Kind.RATE_LIMITED,  # requests too fast
    1303: Kind.RATE_LIMITED,  # concurrency or QPS over the package's limit
    1304: Kind.AUTH,  # IP allow-list
    5000: Kind.UNAVAILABLE,
    5001: Kind.UNAVAILABLE,
    5002: Kind.TIMEOUT,
}
_NO_SUCH_TASK = 1203


def _code(body: Any) -> int | None:
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, int) else None


def kind_of(status: int, body: Any) -> Kind | None:
    return KIND_BY_CODE.get(_code(body) or 0)


class TokenMaker:
    """Bearer tokens signed with the secret key, remade shortly before they expire."""

    def __init__(self, access_key: str, secret_key: str, clock: Any = time.time) -> None:
        self._access_key = access_key
        self._secret_key = secret_key
        self._clock = clock
        self._token = ""
        self._expires = 0.0

    def token(self) -> str:
        now = float(self._clock())
        if now > self._expires - TOKEN_MARGIN:
            self._expires = now + TOKEN_LIFETIME
            claims = {"iss": self._access_key, "exp": int(self._expires), "nbf": int(now) - 5}
            self._token = jwt.encode(claims, self._secret_key, algorithm="HS256", headers={"typ": "JWT"})
        return self._token


def external_task_id(job_id: str) -> str:
    return f"footage-{job_id}"


class KlingBackend(UrlResultBackend):
    name = "kling"
    capabilities = CAPABILITIES

    def __init__(
        self,
        access_key: SecretStr,
        secret_key: SecretStr,
        model: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        wait: ExternalWait = await_directly,
        timeouts: HttpTimeouts | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.model = model
        self.tokens = TokenMaker(access_key.get_secret_value(), secret_key.get_secret_value())
        self.http = ProviderHttp(
            "kling",
            base_url=base_url,
            url_setting="KLING_BASE_URL",
            wait=wait,
            secrets=[access_key.get_secret_value(), secret_key.get_secret_value()],
            timeouts=timeouts,
            retry=retry,
            kind_rule=kind_of,
        )

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens.token()}"}

    def build_input(self, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        fields: dict[str, Any] = {
            "model_name": request.model.provider_model or self.model,
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "duration": str(request.seconds),
            "aspect_ratio": request.aspect,
            "external_task_id": external_task_id(request.job_id),
        }
        if sends_sound_flag(request):
            fields["sound"] = "on" if request.audio else "off"
        if request.image is not None:
            fields["image"] = base64.b64encode(request.image.data).decode("ascii")
            return "image2video", provider_input(request.model.params, fields)
        return "text2video", provider_input(request.model.params, fields)

    async def submit(self, request: GenerationRequest) -> BackendJob:
        kind, payload = self.build_input(request)
        # Safe to resend: each attempt first asks whether an earlier one got through.
        async for attempt in self.http.retrying(Retry.IDEMPOTENT, "submit"):
            with attempt:
                known = await self._find(kind, payload["external_task_id"])
                if known is not None:
                    return known
                answer = await self.http.send_json(
                    "POST", f"v1/videos/{kind}", json=payload, headers=self.auth(), reason="submit", retry=Retry.NEVER
                )
                return _job(kind, answer)
        raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover

    async def _find(self, kind: str, external_id: str) -> BackendJob | None:
        """The task an earlier submit of this job created, if Kling has one."""
        try:
            answer = await self.http.send_json(
                "GET", f"v1/videos/{kind}/{external_id}", headers=self.auth(), reason="look up", retry=Retry.NEVER
            )
        except BackendError as error:
            if error.status_code == 404 or error.kind is Kind.MODEL_UNAVAILABLE:
                return None  # no such task: this job was never taken
            raise
        return _job(kind, answer)

    async def poll(self, job: BackendJob) -> PollResult:
        answer = await self.http.send_json(
            "GET",
            f"v1/videos/{job.data.get('kind', 'text2video')}/{job.id}",
            headers=self.auth(),
            reason="poll",
            retry=Retry.IDEMPOTENT,
            not_found=Kind.GENERATION_FAILED,
        )
        task = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(task, dict):
            raise BackendError(Kind.UNAVAILABLE, "Kling answered a poll without task data")
        status = task.get("task_status")
        if status == "submitted":
            return PollResult("queued")
        if status == "processing":
            return PollResult("running")
        if status == "failed":
            message = str(task.get("task_status_msg") or "the task failed")
            kind = Kind.CONTENT_POLICY if _is_refusal(message) else Kind.GENERATION_FAILED
            return PollResult("failed", error=BackendError(kind, message))
        if status == "succeed":
            return _succeeded(task)
        raise BackendError(Kind.UNAVAILABLE, f"Kling reported an unknown task status {status!r}")

    async def cancel(self, job: BackendJob) -> None:
        """Nothing to call: Kling runs a task to its end."""


def _is_refusal(message: str) -> bool:
    lowered = message.lower()
    return mentions_content_policy(message) or "risk" in lowered or "violat" in lowered


def _job(kind: str, answer: Any) -> BackendJob:
    task = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(task, dict) or not task.get("task_id"):
        raise BackendError(Kind.UNAVAILABLE, "Kling accepted the job but its answer has no task_id")
    return BackendJob(id=str(task["task_id"]), data={"kind": kind})


def _succeeded(task: dict[str, Any]) -> PollResult:
    result = task.get("task_result")
    videos = result.get("videos") if isinstance(result, dict) else None
    if isinstance(videos, list) and videos and isinstance(videos[0], dict) and isinstance(videos[0].get("url"), str):
        return PollResult("succeeded", progress=1.0, result_url=str(videos[0]["url"]))
    return PollResult("failed", error=BackendError(Kind.BAD_OUTPUT, "the finished task has no video URL"))


# How far back `doctor` asks for resource packs: a pack bought within the year may still hold units.
PACK_WINDOW_SECONDS = 365 * 24 * 3600


async def _check_packs(settings: Settings, catalog: ModelCatalog) -> tuple[bool, str]:
    """`GET /account/costs` costs nothing: it proves both keys and lists the prepaid resource packs."""
    backend = _build(BuildContext(settings, catalog))
    now_ms = int(time.time() * 1000)
    window = {"start_time": str(now_ms - PACK_WINDOW_SECONDS * 1000), "end_time": str(now_ms)}
    answer = await doctor_answer(backend.http, "account/costs", params=window, headers=backend.auth())
    if isinstance(answer, str):
        return False, answer
    data = answer.get("data")
    packs = data.get("resource_pack_subscribe_infos") if isinstance(data, dict) else None
    if not isinstance(packs, list):
        return True, "KLING_ACCESS_KEY and KLING_SECRET_KEY work (Kling did not list the resource packs)"
    left = sum(
        float(pack.get("remaining_quantity") or 0)
        for pack in packs
        if isinstance(pack, dict) and pack.get("status") == "online"
    )
    if left <= 0:
        return False, "KLING_ACCESS_KEY and KLING_SECRET_KEY work, but no resource pack has units left: buy one first"
    return True, f"KLING_ACCESS_KEY and KLING_SECRET_KEY work ({left:g} units left in resource packs)"


class KlingSettings(BackendSettings):
    backend_name: ClassVar[str] = "kling"
    kling_access_key: SecretStr | None = None
    kling_secret_key: SecretStr | None = None
    kling_model: str = Field(default=DEFAULT_MODEL, pattern=r"^[a-z0-9][a-z0-9.-]{2,63}$")
    kling_base_url: AnyHttpUrl = AnyHttpUrl(DEFAULT_BASE_URL)


_ACCESS = KeyRule("kling_access_key")
_SECRET = KeyRule("kling_secret_key")


def _build(context: BuildContext) -> KlingBackend:
    settings = context.settings
    return KlingBackend(
        SecretStr(_ACCESS.read(settings)),
        SecretStr(_SECRET.read(settings)),
        settings.kling_model,
        base_url=str(settings.kling_base_url),
        **context.http_options(),
    )


def _provider_model(settings: Settings) -> str:
    return settings.kling_model


ENTRY = BackendEntry(
    name="kling",
    settings=KlingSettings,
    capabilities=CAPABILITIES,
    build=_build,
    provider_model=_provider_model,
    keys=(_ACCESS, _SECRET),
    online_checks=(_check_packs,),
    defaults=ModelDefaults(cost_per_second=0.14, max_concurrency=2),
)
