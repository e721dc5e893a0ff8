"""What is particular to fal, Replicate, Runway and Luma: input mapping and state mapping."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.backends.base import BackendError, BackendErrorKind
from bot.backends.http import data_uri
from bot.backends.luma import is_refusal
from bot.backends.registry import ENTRIES, contact_backends, resolve_model
from bot.backends.runway import failure_kind
from bot.models import ModelCatalog
from bot.settings import Settings

from .harness import PNG, Harness, _spec, server_module, start_harness
from .servers.base import Reply

Kind = BackendErrorKind


@pytest.fixture
async def fal(mp4_bytes: bytes) -> AsyncIterator[Harness]:
    async with start_harness("fal", mp4_bytes) as started:
        yield started


@pytest.fixture
async def replicate(mp4_bytes: bytes) -> AsyncIterator[Harness]:
    async with start_harness("replicate", mp4_bytes) as started:
        yield started


@pytest.fixture
async def runway(mp4_bytes: bytes) -> AsyncIterator[Harness]:
    async with start_harness("runway", mp4_bytes) as started:
        yield started


@pytest.fixture
async def luma(mp4_bytes: bytes) -> AsyncIterator[Harness]:
    async with start_harness("luma", mp4_bytes) as started:
        yield started


class Recorder:
    def __init__(self) -> None:
        self.reasons: list[str] = []

    async def __call__(self, awaitable: Any, reason: str) -> Any:
        self.reasons.append(reason)
        return await awaitable


# -- fal -------------------------------------------------------------------
async def test_fal_input_and_job_urls(fal: Harness) -> None:
    model = _spec("fal", params={"resolution": "720p", "footage_image_input": "start_image_url"})
    job = await fal.backend.submit(fal.request(model=model, negative_prompt="blur", image=PNG))

    body = fal.server.bodies[0]
    assert body == {
        "prompt": "a red fox running through snow",
        "duration": "5",
        "aspect_ratio": "16:9",
        "seed": 1234,
        "negative_prompt": "blur",
        "start_image_url": data_uri(PNG),
        "resolution": "720p",
    }
    # The URLs fal returned, as given: they hold only owner/app, not the full model id.
    assert job.data["status_url"] == f"{fal.server.base_url}/fal-ai/wan/requests/{job.id}/status"
    assert job.data["response_url"] == f"{fal.server.base_url}/fal-ai/wan/requests/{job.id}"


async def test_fal_sends_the_sound_switch_to_models_that_have_one(fal: Harness) -> None:
    switchable = resolve_model(_spec("fal"))
    await fal.backend.submit(fal.request(job_id="on", model=switchable, audio=True))
    await fal.backend.submit(fal.request(job_id="off", model=switchable))
    renamed = resolve_model(_spec("fal", params={"footage_audio_input": "enable_audio"}))
    await fal.backend.submit(fal.request(job_id="renamed", model=renamed, audio=True))
    await fal.backend.submit(fal.request(job_id="silent", model=resolve_model(_spec("fal", audio_optional=False))))

    sent = [{key: body.get(key) for key in ("generate_audio", "enable_audio")} for body in fal.server.bodies]
    assert sent == [
        {"generate_audio": True, "enable_audio": None},
        {"generate_audio": False, "enable_audio": None},  # sound that can be switched off starts off
        {"generate_audio": None, "enable_audio": True},
        {"generate_audio": None, "enable_audio": None},  # a model without the switch is not sent it
    ]


@pytest.mark.parametrize(("outcome", "kind"), [("rejected", Kind.CONTENT_POLICY), ("failed", Kind.GENERATION_FAILED)])
async def test_fal_completed_with_error_is_a_failure(fal: Harness, outcome: str, kind: Kind) -> None:
    fal.server.rejection = "status"  # type: ignore[attr-defined]
    fal.set_outcome(outcome)
    job = await fal.backend.submit(fal.request())
    result = (await fal.run(job))[-1]
    assert result.state == "failed"
    assert result.error is not None
    assert result.error.kind is kind
    assert fal.server.received["result"] == 0


async def test_every_network_wait_goes_through_the_hook(fal: Harness, tmp_path: Any) -> None:
    from pydantic import SecretStr

    from bot.backends.fal import FalBackend

    from .harness import FAST_RETRY, TIMEOUTS
    from .servers.fal import KEY

    wait = Recorder()
    backend = FalBackend(
        SecretStr(KEY), "", queue_url=fal.server.base_url, wait=wait, timeouts=TIMEOUTS, retry=FAST_RETRY
    )
    try:
        job = await backend.submit(fal.request())
        for _ in range(3):
            result = await backend.poll(job)
        await backend.fetch(job, result, tmp_path / "a.mp4", 10_000_000)
        await backend.cancel(job)
    finally:
        await backend.aclose()
    assert set(wait.reasons) == {"fal: submit", "fal: poll", "fal: result", "fal: download", "fal: cancel"}
    requests = sum(fal.server.received[key] for key in ("submit", "poll", "result", "cancel"))
    assert wait.reasons.count("fal: download") >= 1
    # Each request waits for its answer, then for each part of its body.
    assert len(wait.reasons) - wait.reasons.count("fal: download") >= 2 * requests


# -- Replicate ---------------------------------------------------------------
async def test_replicate_official_model_and_version_paths(replicate: Harness) -> None:
    await replicate.backend.submit(replicate.request())
    versioned = _spec(
        "replicate", provider_model="owner/model:5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa"
    )
    await replicate.backend.submit(replicate.request(model=versioned, image=PNG))

    paths = replicate.server.paths  # type: ignore[attr-defined]
    assert paths == ["/v1/models/wan-video/wan-2.2-t2v-fast/predictions", "/v1/predictions"]
    first, second = replicate.server.bodies
    assert first["input"] == {
        "prompt": "a red fox running through snow",
        "duration": 5,
        "aspect_ratio": "16:9",
        "seed": 1234,
    }
    assert second["version"].startswith("5c7d5dc6")
    assert second["input"]["image"] == data_uri(PNG)


async def test_replicate_throttle_words_give_the_wait(replicate: Harness) -> None:
    throttled = {"detail": "Request was throttled. Your rate limit resets in ~0.3s."}
    replicate.server.queue_replies("submit", Reply(429, throttled))
    started = time.monotonic()
    await replicate.backend.submit(replicate.request())
    assert time.monotonic() - started >= 0.3
    assert replicate.server.accepted_submits == 1


# -- Runway ------------------------------------------------------------------
async def test_runway_endpoints_and_ratio(runway: Harness) -> None:
    await runway.backend.submit(runway.request(aspect="9:16"))
    await runway.backend.submit(runway.request(image=PNG))

    assert runway.server.paths == ["/v1/text_to_video", "/v1/image_to_video"]  # type: ignore[attr-defined]
    text, image = runway.server.bodies
    assert text == {
        "model": "gen4.5",
        "promptText": "a red fox running through snow",
        "ratio": "720:1280",
        "duration": 5,
        "seed": 1234,
    }
    assert image["ratio"] == "1280:720"
    assert image["promptImage"] == data_uri(PNG)


async def test_runway_refuses_an_aspect_it_has_no_size_for(runway: Harness) -> None:
    with pytest.raises(BackendError) as caught:
        await runway.backend.submit(runway.request(aspect="5:4"))
    assert caught.value.kind is Kind.INVALID_REQUEST
    assert runway.server.received["submit"] == 0


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("SAFETY.INPUT.TEXT", Kind.CONTENT_POLICY),
        ("SAFETY.OUTPUT.VIDEO", Kind.CONTENT_POLICY),
        ("INPUT_PREPROCESSING.SAFETY.TEXT", Kind.CONTENT_POLICY),
        ("INTERNAL.BAD_OUTPUT.CODE01", Kind.UNAVAILABLE),
        ("ASSET.INVALID", Kind.INVALID_REQUEST),
        ("INTERNAL", Kind.GENERATION_FAILED),
    ],
)
def test_runway_failure_codes(code: str, kind: Kind) -> None:
    assert failure_kind(code) is kind


async def test_runway_bad_output_failure_is_retryable(runway: Harness) -> None:
    runway.set_outcome("failed")
    job = await runway.backend.submit(runway.request())
    result = (await runway.run(job))[-1]
    assert result.error is not None
    assert result.error.retryable


# -- Luma --------------------------------------------------------------------
async def test_luma_input(luma: Harness) -> None:
    await luma.backend.submit(luma.request(seconds=9, image=PNG))
    body = luma.server.bodies[0]
    assert body["duration"] == "9s"
    assert body["model"] == "ray-2"
    assert body["keyframes"] == {"frame0": {"type": "image", "url": data_uri(PNG)}}
    assert "seed" not in body
    assert not luma.backend.capabilities.seed


def test_luma_refusal_words() -> None:
    assert is_refusal("400: prompt not allowed because advanced moderation failed")
    assert not is_refusal("Job failed")


# -- doctor's free checks ----------------------------------------------------
async def _contact_all(harness: Harness, key: str | None = None, **model: Any) -> list[tuple[bool, str]]:
    values = server_module(harness.name).settings_for(harness.server.base_url)
    if key is not None:
        values |= {rule.field: key for rule in ENTRIES[harness.name].keys}
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    report = await contact_backends(settings, ModelCatalog([_spec(harness.name, **model)]))
    assert all(name == harness.name and line.endswith("(contacted the provider)") for name, _, line in report)
    return [(ok, line) for _, ok, line in report]


async def _contact(harness: Harness, key: str | None = None) -> tuple[bool, str]:
    [(ok, line)] = await _contact_all(harness, key)
    return ok, line


async def test_doctor_checks_replicate_and_runway_keys_for_free(replicate: Harness, runway: Harness) -> None:
    wrong = "wrong-key-0123456789abcdef0123456789"
    assert await _contact(replicate) == (
        True,
        "REPLICATE_API_TOKEN works (account footage-tests) (contacted the provider)",
    )
    assert (await _contact(replicate, wrong))[0] is False
    assert (await _contact(runway))[1].startswith("RUNWAYML_API_SECRET works (2500 credits left)")
    bad_key = await _contact(runway, "key_" + wrong)
    assert bad_key[0] is False and "API key" in bad_key[1]
    runway.server.credit_balance = 0  # type: ignore[attr-defined]
    empty = await _contact(runway)
    assert empty[0] is False and "no credits left" in empty[1]
    assert replicate.server.accepted_submits == runway.server.accepted_submits == 0


WRONG_KEY = "wrong-key-0123456789abcdef0123456789"


async def test_doctor_checks_the_fal_key_balance_and_models_for_free(fal: Harness) -> None:
    key, models = await _contact_all(fal)
    assert key == (True, "FAL_KEY works (24.50 USD of credit left) (contacted the provider)")
    assert models == (True, "fal lists fal-ai/wan/v2.2-5b/text-to-video (contacted the provider)")

    bad_key, _ = await _contact_all(fal, WRONG_KEY)
    assert bad_key[0] is False and "API key" in bad_key[1]
    _, unknown = await _contact_all(fal, provider_model="fal-ai/no-such-model")
    assert unknown == (
        False,
        "fal has no model fal-ai/no-such-model: check FAL_MODEL or the catalog's provider_model "
        "(contacted the provider)",
    )
    fal.server.balance = 0  # type: ignore[attr-defined]
    empty, _ = await _contact_all(fal)
    assert empty[0] is False and "no credit left" in empty[1]
    assert fal.server.accepted_submits == 0


async def test_a_fal_key_without_billing_access_is_proved_on_the_queue(fal: Harness) -> None:
    fal.server.admin_key = False  # type: ignore[attr-defined]

    key, _ = await _contact_all(fal)
    bad_key, _ = await _contact_all(fal, WRONG_KEY)

    assert key == (
        True,
        "FAL_KEY works (an API key without billing access, so fal does not show it the balance) "
        "(contacted the provider)",
    )
    assert bad_key[0] is False and "API key" in bad_key[1]
    assert fal.server.received["poll"] == 1 and fal.server.accepted_submits == 0  # a refused key never gets there


async def test_doctor_checks_the_luma_key_and_credit_for_free(luma: Harness) -> None:
    assert await _contact(luma) == (True, "LUMAAI_API_KEY works ($12.34 of credit left) (contacted the provider)")
    bad_key = await _contact(luma, "luma-" + WRONG_KEY)
    assert bad_key[0] is False and "API key" in bad_key[1]
    luma.server.credit_cents = 0  # type: ignore[attr-defined]
    empty = await _contact(luma)
    assert empty[0] is False and "no credit left" in empty[1]
    assert luma.server.accepted_submits == 0
