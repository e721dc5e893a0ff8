"""What is particular to Kling: the JWT, the input, its error codes, and recovery by external_task_id."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import pytest

from bot.backends.base import BackendError, BackendErrorKind
from bot.backends.kling import TOKEN_LIFETIME, TOKEN_MARGIN, TokenMaker, external_task_id
from bot.backends.registry import contact_backends, resolve_model
from bot.domain.jobs import JobState
from bot.jobs import polling
from bot.models import ModelCatalog
from bot.quotas.service import Member
from bot.settings import Settings
from tests.core.conftest import CoreHarness, origin, request

from .harness import PNG, Harness, _spec, start_harness
from .servers.base import Reply
from .servers.kling import ACCESS_KEY, SECRET_KEY, KlingFake, kling_error, settings_for

Kind = BackendErrorKind


@pytest.fixture
async def kling(mp4_bytes: bytes) -> AsyncIterator[Harness]:
    async with start_harness("kling", mp4_bytes) as started:
        yield started


def _fake(harness: Harness) -> KlingFake:
    assert isinstance(harness.server, KlingFake)
    return harness.server


async def test_input_and_external_task_id(kling: Harness) -> None:
    model = resolve_model(_spec("kling", audio=True, params={"mode": "pro", "cfg_scale": 0.5}))
    job = await kling.backend.submit(kling.request(job_id="j-42", model=model, negative_prompt="blur", image=PNG))

    body = _fake(kling).bodies[0]
    assert _fake(kling).paths == ["/v1/videos/image2video"]
    assert body == {
        "model_name": "kling-v2-6",
        "prompt": "a red fox running through snow",
        "negative_prompt": "blur",
        "duration": "5",
        "aspect_ratio": "16:9",
        "external_task_id": "footage-j-42",
        "sound": "on",  # the catalog turned the model's optional sound on
        "image": base64.b64encode(PNG.data).decode(),
        "mode": "pro",
        "cfg_scale": 0.5,
    }
    assert job.data == {"kind": "image2video"}


async def test_sound_is_off_unless_the_catalog_or_the_requester_turns_it_on(kling: Harness) -> None:
    switchable = resolve_model(_spec("kling"))
    await kling.backend.submit(kling.request(job_id="default", model=switchable))
    await kling.backend.submit(kling.request(job_id="asked", model=switchable, audio=True))
    silent = resolve_model(_spec("kling", audio_optional=False))  # an older Kling model without sound
    await kling.backend.submit(kling.request(job_id="silent", model=silent))
    assert [body.get("sound") for body in _fake(kling).bodies] == ["off", "on", None]


def test_tokens_are_short_lived_signed_and_remade_before_they_expire() -> None:
    now = [1_000_000.0]
    maker = TokenMaker(ACCESS_KEY, SECRET_KEY, clock=lambda: now[0])
    first = maker.token()
    claims = jwt.decode(first, SECRET_KEY, algorithms=["HS256"], options={"verify_exp": False, "verify_nbf": False})
    assert jwt.get_unverified_header(first) == {"alg": "HS256", "typ": "JWT"}
    assert claims == {"iss": ACCESS_KEY, "exp": 1_000_000 + int(TOKEN_LIFETIME), "nbf": 1_000_000 - 5}

    now[0] += TOKEN_LIFETIME - TOKEN_MARGIN - 1
    assert maker.token() == first  # still comfortably valid
    now[0] += 2
    assert maker.token() != first  # close to expiry: a new one


async def test_an_expired_token_is_a_key_problem(kling: Harness) -> None:
    _fake(kling).queue_replies("lookup", Reply(401, kling_error(1004, "Authorization token has expired")))
    with pytest.raises(BackendError) as caught:
        await kling.backend.submit(kling.request())
    assert caught.value.kind is Kind.AUTH


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (429, 1302, Kind.RATE_LIMITED),
        (429, 1102, Kind.OUT_OF_CREDIT),
        (400, 1301, Kind.CONTENT_POLICY),
        (403, 1103, Kind.MODEL_UNAVAILABLE),
        (500, 5000, Kind.UNAVAILABLE),
    ],
)
async def test_error_codes_map_to_the_closed_set(kling: Harness, status: int, code: int, kind: Kind) -> None:
    _fake(kling).queue_replies("submit", *[Reply(status, kling_error(code, "refused"))] * 3)
    with pytest.raises(BackendError) as caught:
        await kling.backend.submit(kling.request())
    assert caught.value.kind is kind


async def test_a_lost_answer_finds_its_task_instead_of_paying_twice(kling: Harness) -> None:
    """A new process (a restarted bot) submits the same job again after the first answer was lost."""
    first_life = await kling.backend.submit(kling.request(job_id="lost"))
    restarted = kling.make_backend(None)
    try:
        again = await restarted.submit(kling.request(job_id="lost"))
    finally:
        await restarted.aclose()

    assert again.id == first_life.id
    assert _fake(kling).accepted_submits == 1
    assert _fake(kling).received["submit"] == 1


@pytest.mark.parametrize("task_was_taken", [True, False])
async def test_a_restart_mid_submit_continues_the_job_at_kling(
    kling: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, task_was_taken: bool
) -> None:
    """The bot died inside submit: after the request reached Kling (the task is there: it goes
    on with that task) or before (no such task: it is sent, once)."""
    monkeypatch.setattr(polling, "DENSE_GAP", 0.02)
    catalog = ModelCatalog([resolve_model(_spec("kling", durations=(5,), run_seconds=0.05))])
    core_harness = CoreHarness(tmp_path, tmp_path / "unused.mp4")  # its scripted backend stays idle
    task_id = None
    try:
        core = await core_harness.open(start=False, models=catalog, backends={"kling": kling.backend})
        job = (await core.jobs.enqueue(origin(1), request(seconds=5, model="kling"), Member(1))).job
        if task_was_taken:
            left_behind = {"external_task_id": external_task_id(job.id), "duration": "5"}
            task_id = _fake(kling).create_task("text2video", left_behind)
        await core.store.write(lambda tx: tx.move_job(job, JobState.SUBMITTING, 0.0))
        await core_harness.close()

        await core_harness.open(models=catalog, backends={"kling": kling.make_backend(None)})
        done = await core_harness.until(job.id, JobState.DELIVERED, JobState.FAILED)
    finally:
        await core_harness.close()

    assert done.state is JobState.DELIVERED
    assert _fake(kling).accepted_submits == 1
    assert _fake(kling).received["submit"] == (0 if task_was_taken else 1)
    if task_id is not None:
        assert done.backend_job_id == task_id


async def test_doctor_checks_both_keys_and_the_resource_packs_for_free(kling: Harness) -> None:
    def settings(**keys: str) -> Settings:
        return Settings(_env_file=None, **(settings_for(kling.server.base_url) | keys))  # type: ignore[arg-type]

    catalog = ModelCatalog([_spec("kling")])
    [(_, ok, line)] = await contact_backends(settings(), catalog)
    assert (ok, line) == (
        True,
        "KLING_ACCESS_KEY and KLING_SECRET_KEY work (118 units left in resource packs) (contacted the provider)",
    )
    [(_, ok, line)] = await contact_backends(settings(kling_secret_key="SK-not-the-secret-0123456789abcdef"), catalog)
    assert not ok and "API key" in line
    _fake(kling).pack_units = 0
    [(_, ok, line)] = await contact_backends(settings(), catalog)
    assert not ok and "no resource pack has units left" in line
    assert _fake(kling).accepted_submits == 0
