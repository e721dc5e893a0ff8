"""fal's status stream: followed where it answers, polls where it does not or where it breaks off."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.backends.base import PollResult
from bot.backends.fal import FalBackend
from bot.jobs.polling import poll_until_done

from .harness import Harness, start_harness
from .servers.base import Reply
from .servers.fal import FalFake


@pytest.fixture
async def fal(mp4_bytes: bytes) -> AsyncIterator[Harness]:
    async with start_harness("fal", mp4_bytes) as started:
        yield started


def parts(harness: Harness) -> tuple[FalFake, FalBackend]:
    assert isinstance(harness.server, FalFake) and isinstance(harness.backend, FalBackend)
    return harness.server, harness.backend


async def follow(harness: Harness, job_id: str) -> tuple[PollResult, list[str]]:
    job = await harness.backend.submit(harness.request(job_id=job_id))
    seen: list[PollResult] = []
    result = await poll_until_done(harness.backend, job, on_update=seen.append, timeout=20, first_delay=0.01)
    return result, [each.state for each in seen]


async def test_the_stream_brings_every_change_and_the_result_on_one_request(fal: Harness) -> None:
    server, _ = parts(fal)
    result, states = await follow(fal, "streamed")

    assert result.state == "succeeded" and result.result_url == server.file_url()
    assert states == ["queued", "running", "succeeded"]
    assert server.received["stream"] == 1 and server.received["poll"] == 0


async def test_a_server_without_the_stream_is_polled_and_not_asked_again(fal: Harness) -> None:
    server, backend = parts(fal)
    server.streaming = False

    for job_id in ("first", "second"):
        result, _ = await follow(fal, job_id)
        assert result.state == "succeeded"

    assert server.received["stream"] == 1  # the 404 is remembered for the backend's later jobs
    assert server.received["poll"] >= 6 and backend.streams is False


async def test_an_answer_that_is_not_an_event_stream_falls_back_to_polls(fal: Harness) -> None:
    server, backend = parts(fal)
    server.queue_replies("stream", Reply(200, {"status": "IN_QUEUE"}))

    result, _ = await follow(fal, "json")

    assert result.state == "succeeded" and server.received["poll"] >= 3 and backend.streams is False


async def test_a_stream_cut_by_a_passing_failure_is_continued_by_polls_and_tried_again_next_time(
    fal: Harness,
) -> None:
    server, backend = parts(fal)
    server.queue_replies("stream", Reply(503, {"detail": "upstream unavailable"}))

    cut, _ = await follow(fal, "cut")
    again, _ = await follow(fal, "again")

    assert cut.state == again.state == "succeeded"
    assert server.received["stream"] == 2 and backend.streams is True
    assert server.received["poll"] >= 3  # only the cut job was polled


async def test_a_failure_reported_on_the_stream_is_the_jobs_outcome(fal: Harness) -> None:
    server, _ = parts(fal)
    fal.set_outcome("rejected")
    server.rejection = "status"

    result, _ = await follow(fal, "refused")

    assert result.state == "failed" and result.error is not None
    assert result.error.kind.value == "content_policy"
    assert server.received["poll"] == 0
