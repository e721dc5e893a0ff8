"""The same provider-facing scenarios against every adapter and its fake server."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from bot.backends.base import BackendError, BackendErrorKind

from .harness import Harness
from .servers.base import Reply

Kind = BackendErrorKind
MAX_BYTES = 10 * 1024 * 1024


async def test_success_with_progress(harness: Harness, tmp_path: Path) -> None:
    job = await harness.backend.submit(harness.request())
    results = await harness.run(job)

    states = [result.state for result in results]
    distinct = [state for index, state in enumerate(states) if states[index - 1 : index] != [state]]
    assert tuple(distinct) == harness.traits.states
    assert results[0].queue_position == harness.traits.queue_position
    running = results[states.index("running")]
    assert running.progress == (pytest.approx(harness.traits.progress) if harness.traits.progress else None)
    clip = await harness.backend.fetch(job, results[-1], tmp_path / "clip.mp4", MAX_BYTES)
    assert (clip.info.width, clip.info.height) == (64, 64)
    assert clip.path.read_bytes() == harness.server.video
    assert clip.source_url == results[-1].result_url
    assert harness.server.accepted_submits == 1


async def test_rate_limited_submit_waits_for_retry_after(harness: Harness) -> None:
    harness.server.queue_replies(
        "submit", Reply(429, {"detail": "Request was throttled."}, headers={"Retry-After": "0.3"})
    )
    started = time.monotonic()
    job = await harness.backend.submit(harness.request())

    assert time.monotonic() - started >= 0.3
    assert job.id
    assert harness.server.received["submit"] == 2
    assert harness.server.accepted_submits == 1


async def test_server_error_on_poll_is_retried(harness: Harness) -> None:
    job = await harness.backend.submit(harness.request())
    poll_route = "queue" if harness.name == "comfyui" else "poll"
    harness.server.queue_replies(poll_route, Reply(503, {"detail": "upstream unavailable"}))

    results = await harness.run(job)

    assert results[-1].state == "succeeded"
    assert harness.server.accepted_submits == 1


async def test_server_error_on_submit_is_resent_only_when_idempotent(harness: Harness) -> None:
    harness.server.queue_replies("submit", Reply(502, "<html>Bad gateway</html>"))
    if harness.traits.idempotent:
        job = await harness.backend.submit(harness.request())
        assert (await harness.run(job))[-1].state == "succeeded"
        assert harness.server.received["submit"] == 2
    else:
        # A 502 may come from a proxy after the provider took (and billed) the job.
        with pytest.raises(BackendError) as caught:
            await harness.backend.submit(harness.request())
        assert caught.value.kind is Kind.UNAVAILABLE
        assert caught.value.retryable
        assert harness.server.received["submit"] == 1


async def test_slow_submit_times_out_and_is_never_sent_twice(harness: Harness) -> None:
    # The provider takes the job but answers after the client's read timeout.
    harness.server.queue_replies("submit-answer", Reply(delay=0.6))
    if harness.traits.idempotent:
        job = await harness.backend.submit(harness.request())
        assert (await harness.run(job))[-1].state == "succeeded"
    else:
        with pytest.raises(BackendError) as caught:
            await harness.backend.submit(harness.request())
        assert caught.value.kind is Kind.TIMEOUT
    assert harness.server.received["submit"] == 1
    assert harness.server.accepted_submits == 1


async def test_content_rejected(harness: Harness) -> None:
    harness.set_outcome("rejected")
    job = await harness.backend.submit(harness.request(prompt="something the moderation refuses"))
    results = await harness.run(job)

    assert results[-1].state == "failed"
    assert results[-1].error is not None
    assert results[-1].error.kind is harness.traits.rejected_kind
    assert not results[-1].error.retryable


async def test_invalid_request(harness: Harness) -> None:
    request = harness.request()
    if harness.traits.invalid is not None:
        harness.server.queue_replies("submit", harness.traits.invalid)
    else:
        request = harness.request(prompt="")  # the fake refuses it like the provider does
    with pytest.raises(BackendError) as caught:
        await harness.backend.submit(request)

    assert caught.value.kind is Kind.INVALID_REQUEST
    assert caught.value.provider_message
    assert harness.server.received["submit"] == 1
    assert harness.server.accepted_submits == 0


async def test_auth_error_names_no_secret(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong_key = "wrong-key-0123456789abcdef0123456789"
    backend = harness.make_backend(wrong_key)
    if harness.name == "comfyui":
        # ComfyUI has no keys; behind an authenticating proxy it answers 401.
        harness.server.queue_replies("queue", Reply(401, {"error": "Unauthorized"}))
    try:
        with pytest.raises(BackendError) as caught:
            await backend.submit(harness.request())
    finally:
        await backend.aclose()

    assert caught.value.kind is Kind.AUTH
    assert harness.server.accepted_submits == 0
    for secret in [wrong_key, *harness.keys]:
        assert secret not in str(caught.value)
        assert secret not in caplog.text


async def test_out_of_credit(harness: Harness) -> None:
    if harness.traits.out_of_credit is None:
        pytest.skip("a local ComfyUI server has no account balance")
    harness.server.queue_replies("submit", harness.traits.out_of_credit)
    with pytest.raises(BackendError) as caught:
        await harness.backend.submit(harness.request())

    assert caught.value.kind is Kind.OUT_OF_CREDIT
    assert harness.server.received["submit"] == 1


@pytest.mark.parametrize(
    ("result_file", "kind"),
    [("gone.mp4", Kind.RESULT_EXPIRED), ("truncated.mp4", Kind.BAD_OUTPUT), ("text.mp4", Kind.BAD_OUTPUT)],
)
async def test_bad_result_file(harness: Harness, tmp_path: Path, result_file: str, kind: Kind) -> None:
    harness.server.result_file = result_file
    job = await harness.backend.submit(harness.request())
    result = (await harness.run(job))[-1]
    dest = tmp_path / "clip.mp4"

    with pytest.raises(BackendError) as caught:
        await harness.backend.fetch(job, result, dest, MAX_BYTES)

    assert caught.value.kind is kind
    assert not dest.exists()


async def test_cancel(harness: Harness) -> None:
    job = await harness.backend.submit(harness.request())
    await harness.backend.cancel(job)

    if not harness.backend.capabilities.cancel:
        assert harness.server.received["cancel"] == 0  # Luma: nothing to call
        return
    if harness.name == "fal":
        # fal only records the request; the job then completes or fails on its side.
        assert harness.server.received["cancel"] == 1
        assert job.id in harness.server.jobs.canceled  # type: ignore[attr-defined]
        return
    assert (await harness.backend.poll(job)).state == "canceled"
