"""What is particular to Veo through the Gemini API: input, Google's errors, the keyed download."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.backends.base import BackendError, BackendErrorKind
from bot.backends.veo import VeoBackend, classify_google_error
from bot.jobs.submitting import submit_when_allowed

from .harness import PNG, Harness, _spec, start_harness
from .servers.base import Reply
from .servers.veo import KEY, google_error

Kind = BackendErrorKind


@pytest.fixture
async def veo(mp4_bytes: bytes) -> AsyncIterator[Harness]:
    async with start_harness("veo", mp4_bytes) as started:
        yield started


async def test_input_follows_the_rest_api(veo: Harness) -> None:
    model = _spec("veo", params={"resolution": "1080p", "personGeneration": "allow_adult"})
    job = await veo.backend.submit(veo.request(model=model, negative_prompt="blur", image=PNG, aspect="9:16"))

    body = veo.server.bodies[0]
    assert body["instances"] == [
        {
            "prompt": "a red fox running through snow",
            "image": {"bytesBase64Encoded": base64.b64encode(PNG.data).decode(), "mimeType": "image/png"},
        }
    ]
    assert body["parameters"] == {
        "aspectRatio": "9:16",
        "durationSeconds": 8,
        "negativePrompt": "blur",
        "seed": 1234,
        "sampleCount": 1,
        "resolution": "1080p",
        "personGeneration": "allow_adult",
    }
    assert job.id.startswith("models/veo-3.1-generate-001/operations/")


async def test_the_key_goes_to_the_api_and_never_to_storage(veo: Harness, tmp_path: Path) -> None:
    job = await veo.backend.submit(veo.request())
    result = (await veo.run(job))[-1]
    assert result.result_url is not None and KEY not in result.result_url

    clip = await veo.backend.fetch(job, result, tmp_path / "clip.mp4", 10 * 1024 * 1024)

    assert clip.path.read_bytes() == veo.server.video
    assert veo.server.received["file"] == 1  # the keyed link on the API...
    assert veo.server.received["download"] == 1  # ...redirected to storage, which refuses any key


async def test_quota_exhausted_is_rate_limited(veo: Harness) -> None:
    quota = google_error(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"},
    )
    veo.server.queue_replies("submit", *[Reply(429, quota)] * 3)

    with pytest.raises(BackendError) as caught:
        await veo.backend.submit(veo.request())

    assert caught.value.kind is Kind.RATE_LIMITED
    assert veo.server.accepted_submits == 0


async def test_the_wait_a_429_gives_in_its_retry_info_is_the_wait_before_the_submit_is_sent_again(
    veo: Harness,
) -> None:
    quota = google_error(
        429,
        "RESOURCE_EXHAUSTED",
        "Resource has been exhausted (e.g. check quota).",
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"},
    )
    veo.server.queue_replies("submit", Reply(429, quota))
    waits: list[float] = []
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    job = await submit_when_allowed(veo.backend, veo.request(), on_wait=waits.append, sleep=sleep)

    assert job.id and waits == slept == [37.0]  # not the doubling backoff's 2 s
    assert veo.server.received["submit"] == 2 and veo.server.accepted_submits == 1


async def test_permission_denied_is_a_key_problem(veo: Harness) -> None:
    denied = google_error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers.")
    veo.server.queue_replies("submit", Reply(403, denied))

    with pytest.raises(BackendError) as caught:
        await veo.backend.submit(veo.request())

    assert caught.value.kind is Kind.AUTH
    assert "PERMISSION_DENIED" in caught.value.provider_message


async def test_an_unknown_model_is_unavailable(veo: Harness) -> None:
    with pytest.raises(BackendError) as caught:
        await veo.backend.submit(veo.request(model=_spec("veo", provider_model="veo-2.0-generate-001")))
    assert caught.value.kind is Kind.MODEL_UNAVAILABLE


async def test_safety_filtered_result_says_so_in_plain_words(veo: Harness) -> None:
    veo.set_outcome("rejected")
    job = await veo.backend.submit(veo.request())
    result = (await veo.run(job))[-1]

    assert result.error is not None and result.error.kind is Kind.CONTENT_POLICY
    assert "safety filter withheld the video" in result.error.provider_message
    assert "usage policies" in result.error.provider_message


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ({"code": 3, "message": "Unsupported aspect ratio"}, Kind.INVALID_REQUEST),
        ({"code": 8, "message": "Resource has been exhausted"}, Kind.RATE_LIMITED),
        ({"code": 7, "message": "The caller does not have permission"}, Kind.AUTH),
        ({"code": 13, "message": "Internal error encountered."}, Kind.UNAVAILABLE),
        ({"code": 3, "message": "The prompt was blocked by Responsible AI practices"}, Kind.CONTENT_POLICY),
    ],
)
def test_operation_errors_map_to_the_closed_set(error: dict[str, object], kind: Kind) -> None:
    assert classify_google_error(error, None).kind is kind


async def test_doctor_checks_the_key_and_the_model_for_free(veo: Harness) -> None:
    assert isinstance(veo.backend, VeoBackend)
    good = await veo.backend.check_model()
    wrong_key = veo.make_backend("AIzaWrongKey0123456789abcdefghij")
    retired = VeoBackend(SecretStr(KEY), "veo-2.0-generate-001", base_url=veo.server.base_url)
    try:
        bad_key = await wrong_key.check_model()  # type: ignore[attr-defined]
        missing = await retired.check_model()
    finally:
        await wrong_key.aclose()
        await retired.aclose()

    assert good == (True, "GEMINI_API_KEY works and model 'veo-3.1-generate-001' is available")
    assert bad_key[0] is False and "API key" in bad_key[1]
    assert missing == (False, "the Gemini API has no model 'veo-2.0-generate-001' (VEO_MODEL); Google retires Veo ids")
    assert veo.server.accepted_submits == 0  # never a paid call
