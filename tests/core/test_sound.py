"""Sound per job: the requester's choice where the model can switch it, kept with the job, sent to the backend."""

from __future__ import annotations

import pytest

from bot.domain.jobs import JobState
from bot.jobs.refusal import Refusal
from bot.models import ModelCatalog
from bot.quotas.service import Member
from tests.core.conftest import CoreHarness, catalog, origin, request


def with_sound(*, audio: bool, audio_optional: bool) -> ModelCatalog:
    model = catalog().default.model_copy(update={"audio": audio, "audio_optional": audio_optional})
    return ModelCatalog([model])


async def test_the_choice_is_kept_with_the_job_and_reaches_the_backend(harness: CoreHarness) -> None:
    core = await harness.open(models=with_sound(audio=False, audio_optional=True), default_max_running=3)
    chosen = await core.jobs.enqueue(origin(1), request(audio=True), Member(1))
    default = await core.jobs.enqueue(origin(1), request(), Member(1))
    for queued in (chosen, default):
        await harness.until(queued.job.id, JobState.DELIVERED)

    assert chosen.job.request.audio is True
    assert default.job.request.audio is False  # the model's default, recorded when queued
    assert harness.backend.sent[chosen.job.id].audio is True
    assert harness.backend.sent[default.job.id].audio is False
    retried = await core.jobs.retry(chosen.job.id, Member(1), channel_id=chosen.job.origin.channel_id, upload_limit=1)
    assert retried.job.request.audio is True


@pytest.mark.parametrize(
    ("always", "asked", "says"),
    [(True, False, "always makes its clips with sound"), (False, True, "makes clips without sound")],
)
async def test_a_choice_the_model_cannot_honour_is_refused_in_plain_words(
    harness: CoreHarness, always: bool, asked: bool, says: str
) -> None:
    core = await harness.open(start=False, models=with_sound(audio=always, audio_optional=False))
    with pytest.raises(Refusal) as refused:
        await core.jobs.enqueue(origin(1), request(audio=asked), Member(1))
    assert refused.value.code == "audio_not_switchable"
    assert says in refused.value.message and "audio option" in refused.value.message
    # Asking for what the model does anyway is no contradiction.
    same = await core.jobs.enqueue(origin(1), request(audio=always), Member(1))
    assert same.job.request.audio is always
