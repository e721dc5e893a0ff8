"""ComfyUI: the workflow marking scheme, idempotent submits, uploads, interrupt, outputs."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.backends.base import BackendError, BackendErrorKind
from bot.backends.comfyui import (
    ComfyUIBackend,
    JobInputs,
    Workflow,
    WorkflowError,
    _execution_error,
    _find_output,
    _ws_url,
    frame_size,
    prompt_id_for,
)
from bot.commands.doctor import Check, run_checks
from bot.settings import Settings

from .harness import FAST_RETRY, PNG, TIMEOUTS, WORKFLOW, Harness, make_request, start_harness
from .servers.base import Reply
from .servers.comfyui import ComfyFake

Kind = BackendErrorKind


def _graph() -> dict[str, Any]:
    graph: dict[str, Any] = json.loads(WORKFLOW.read_text())
    return graph


def _write(tmp_path: Path, graph: Any) -> Path:
    path = tmp_path / "workflow.json"
    path.write_text(json.dumps(graph))
    return path


def test_the_example_workflow_is_valid() -> None:
    workflow = Workflow.load(WORKFLOW)
    assert workflow.has == {"prompt", "negative", "seed", "width", "height", "frames", "fps", "prefix"}


def test_fill_sets_every_marked_input() -> None:
    workflow = Workflow.load(WORKFLOW)
    inputs = JobInputs(
        prompt="a fox",
        negative=None,
        seed=42,
        seconds=5,
        aspect="9:16",
        prefix="video/footage-j1",
        params={"3.steps": 12},
    )
    graph = workflow.fill(inputs)

    assert graph["6"]["inputs"]["text"] == "a fox"
    assert graph["7"]["inputs"]["text"] == workflow.graph["7"]["inputs"]["text"]  # default negative kept
    assert graph["3"]["inputs"]["seed"] == 42
    assert graph["3"]["inputs"]["steps"] == 12
    assert graph["40"]["inputs"]["length"] == 5 * 16 + 1
    assert (graph["40"]["inputs"]["width"], graph["40"]["inputs"]["height"]) == (480, 848)
    assert graph["51"]["inputs"]["filename_prefix"] == "video/footage-j1"
    assert workflow.graph["3"]["inputs"]["seed"] != 42  # the loaded template is untouched


def test_frame_size_keeps_the_area_and_snaps_only_when_asked() -> None:
    assert frame_size("16:9", 832, 480, 16) == (848, 480)
    assert frame_size("1:1", 832, 480, 16) == (624, 624)
    assert frame_size("16:9", 640, 360) == (640, 360)  # a pixel-space workflow's own size, unchanged
    assert frame_size("1:1", 640, 360) == (480, 480)


def test_fps_is_left_as_the_workflow_says_and_frames_follow_it(tmp_path: Path) -> None:
    graph = _graph()
    graph["50"]["inputs"]["fps"] = 12.5
    workflow = Workflow.load(_write(tmp_path, graph))
    filled = workflow.fill(JobInputs(prompt="a fox", negative=None, seed=1, seconds=5, aspect="16:9", prefix="p"))

    assert filled["50"]["inputs"]["fps"] == 12.5
    assert filled["40"]["inputs"]["length"] == 64  # 62.5 frames, rounded half up, plus the first


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda g: g["51"]["_meta"].update(title="Save Video"), "footage:prefix"),
        (lambda g: g["3"]["_meta"].update(title="footage:sede"), "unknown marking footage:sede"),
        (lambda g: g["8"]["_meta"].update(title="footage:seed"), "needs an input named seed or noise_seed"),
        (lambda g: g["3"]["_meta"].update(title="footage:seed=model"), "wired to another node"),
        (lambda g: g["40"]["_meta"].update(title="footage:width"), "footage:width and footage:height"),
    ],
)
def test_bad_markings_are_named(tmp_path: Path, change: Any, message: str) -> None:
    graph = _graph()
    change(graph)
    path = _write(tmp_path, graph)
    with pytest.raises(WorkflowError, match=message) as caught:
        Workflow.load(path)
    assert str(path) in str(caught.value)


def test_missing_and_ui_format_files(tmp_path: Path) -> None:
    with pytest.raises(WorkflowError, match="not found"):
        Workflow.load(tmp_path / "nope.json")
    with pytest.raises(WorkflowError, match="Export \\(API\\)"):
        Workflow.load(_write(tmp_path, {"nodes": [], "links": [], "version": 0.4}))
    with pytest.raises(WorkflowError, match="API-format"):
        Workflow.load(_write(tmp_path, {"1": {"inputs": {}}}))


def test_outputs_from_save_video_and_video_helper_suite() -> None:
    core = {
        "51": {"images": [{"filename": "a_00001_.mp4", "subfolder": "video", "type": "output"}], "animated": [True]}
    }
    vhs = {"9": {"gifs": [{"filename": "b_00001.mp4", "subfolder": "", "type": "output", "format": "video/h264-mp4"}]}}
    still = {"5": {"images": [{"filename": "c_00001_.png", "subfolder": "", "type": "output"}]}}
    preview = {"6": {"images": [{"filename": "d.webm", "subfolder": "", "type": "temp"}]}}
    assert _find_output(core, ["51"]) == core["51"]["images"][0]
    assert _find_output(vhs | still, ["51"]) == vhs["9"]["gifs"][0]
    assert _find_output(still | preview, ["51"]) is None


def test_execution_errors() -> None:
    assert _execution_error({"exception_type": "torch.OutOfMemoryError"}).kind is Kind.UNAVAILABLE
    failed = _execution_error(
        {"exception_type": "RuntimeError", "exception_message": "shapes", "node_id": "3", "node_type": "KSampler"}
    )
    assert failed.kind is Kind.GENERATION_FAILED
    assert failed.provider_message == "node 3 (KSampler) failed: RuntimeError: shapes"


def test_websocket_url() -> None:
    assert _ws_url("https://gpu.example/comfy", "abc") == "wss://gpu.example/comfy/ws?clientId=abc"
    assert _ws_url("http://127.0.0.1:8188", "abc") == "ws://127.0.0.1:8188/ws?clientId=abc"


@pytest.fixture
async def comfy(mp4_bytes: bytes) -> AsyncIterator[Harness]:
    async with start_harness("comfyui", mp4_bytes) as started:
        yield started


async def test_capabilities_follow_the_markings(comfy: Harness) -> None:
    caps = comfy.backend.capabilities
    assert caps.idempotent_submit
    assert caps.negative_prompt
    assert not caps.image_to_video


async def test_resubmitting_a_job_never_queues_it_twice(comfy: Harness) -> None:
    server = comfy.server
    assert isinstance(server, ComfyFake)
    first = await comfy.backend.submit(comfy.request("job-7"))
    # The bot crashed before saving the answer, restarts and submits the job again.
    again = ComfyUIBackend(WORKFLOW, base_url=server.base_url, timeouts=TIMEOUTS, retry=FAST_RETRY)
    try:
        second = await again.submit(comfy.request("job-7"))
    finally:
        await again.aclose()

    assert first.id == second.id == prompt_id_for("job-7")
    assert server.prompt_posts == [first.id]
    body = server.bodies[0]
    assert body["prompt_id"] == first.id
    assert body["client_id"] == comfy.backend.client_id  # type: ignore[attr-defined]
    assert body["prompt"]["51"]["inputs"]["filename_prefix"] == "video/footage-job-7"
    assert body["prompt"]["3"]["inputs"]["seed"] == 1234


async def test_a_validation_refusal_says_which_node_input_and_file(comfy: Harness) -> None:
    """ComfyUI 0.3.64's answer when a model file is missing; its list of files says 'already' and 'exists'."""
    details = "unet_name: 'wan2.2_ti2v_5B_fp16.safetensors' not in ['already_exists_test.safetensors']"
    refusal = {
        "error": {
            "type": "prompt_outputs_failed_validation",
            "message": "Prompt outputs failed validation",
            "details": "",
            "extra_info": {},
        },
        "node_errors": {
            "37": {
                "errors": [
                    {
                        "type": "value_not_in_list",
                        "message": "Value not in list",
                        "details": details,
                        "extra_info": {"input_name": "unet_name", "received_value": "wan2.2_ti2v_5B_fp16.safetensors"},
                    }
                ],
                "dependent_outputs": ["51"],
                "class_type": "UNETLoader",
            }
        },
    }
    comfy.server.queue_replies("submit", Reply(400, refusal))
    with pytest.raises(BackendError) as caught:
        await comfy.backend.submit(comfy.request("job-8"))

    assert caught.value.kind is Kind.INVALID_REQUEST  # not "already queued", not "unavailable"
    message = caught.value.provider_message
    assert "node 37 (UNETLoader), input unet_name: Value not in list" in message
    assert "wan2.2_ti2v_5B_fp16.safetensors" in message
    assert comfy.server.accepted_submits == 0


async def test_a_server_that_is_down_is_tried_by_one_retry_layer_and_named(
    unused_tcp_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    reasons: list[str] = []

    async def recording(awaitable: Any, why: str) -> Any:
        reasons.append(why)
        return await awaitable

    url = f"http://127.0.0.1:{unused_tcp_port}"
    backend = ComfyUIBackend(WORKFLOW, base_url=url, wait=recording, timeouts=TIMEOUTS, retry=FAST_RETRY)
    try:
        with pytest.raises(BackendError) as caught:
            await backend.submit(make_request("comfyui"))
    finally:
        await backend.aclose()

    assert caught.value.kind is Kind.UNAVAILABLE
    assert f"cannot reach ComfyUI at {url} (COMFYUI_URL)" in caught.value.provider_message
    assert reasons.count("comfyui: queue") == FAST_RETRY.attempts  # not attempts squared
    warnings = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(warnings) == FAST_RETRY.attempts - 1, warnings  # one per resend, none of stamina's bare ones
    assert all(f"comfyui: submit at {url} (COMFYUI_URL) failed (" in warning for warning in warnings)
    assert warnings[-1].endswith(f"attempt {FAST_RETRY.attempts} of {FAST_RETRY.attempts}")


async def test_a_server_that_goes_down_while_polling_is_named_with_its_setting(
    comfy: Harness, unused_tcp_port: int
) -> None:
    job = await comfy.backend.submit(comfy.request())
    dead = f"http://127.0.0.1:{unused_tcp_port}"
    backend = ComfyUIBackend(WORKFLOW, base_url=dead, timeouts=TIMEOUTS, retry=FAST_RETRY)
    try:
        with pytest.raises(BackendError) as caught:
            await backend.poll(job)
    finally:
        await backend.aclose()

    assert caught.value.kind is Kind.UNAVAILABLE
    assert f"cannot reach ComfyUI at {dead} (COMFYUI_URL)" in caught.value.provider_message


async def test_a_restarted_server_that_lost_the_job_says_so(comfy: Harness) -> None:
    server = comfy.server
    assert isinstance(server, ComfyFake)
    job = await comfy.backend.submit(comfy.request())
    server.queue.clear()  # ComfyUI restarted: its queue lives in memory, the history too

    result = await comfy.backend.poll(job)

    assert result.state == "failed" and result.error is not None
    assert "lost the job" in result.error.provider_message
    assert "restarts" in result.error.provider_message


async def test_interrupt_a_running_prompt(comfy: Harness) -> None:
    server = comfy.server
    assert isinstance(server, ComfyFake)
    job = await comfy.backend.submit(comfy.request())
    while (await comfy.backend.poll(job)).state != "running":
        pass
    await comfy.backend.cancel(job)

    assert server.interrupted == [job.id]
    assert (await comfy.backend.poll(job)).state == "canceled"


async def test_image_is_uploaded_and_wired_in(tmp_path: Path, mp4_bytes: bytes) -> None:
    graph = _graph()
    graph["60"] = {"class_type": "LoadImage", "inputs": {"image": "example.png"}, "_meta": {"title": "footage:image"}}
    path = _write(tmp_path, graph)
    server = ComfyFake(mp4_bytes)
    base = await server.start()
    backend = ComfyUIBackend(path, base_url=base, timeouts=TIMEOUTS, retry=FAST_RETRY)
    try:
        assert backend.capabilities.image_to_video
        job = await backend.submit(make_request("comfyui", "job-9", image=PNG))
    finally:
        await backend.aclose()
        await server.stop()

    name = f"footage-{job.id}.png"
    assert server.uploads == [(name, "footage", PNG.data)]
    assert server.bodies[0]["prompt"]["60"]["inputs"]["image"] == f"footage/{name}"


def _online_lines(server_url: str, *, offline: bool = False) -> list[Check]:
    settings = Settings(_env_file=None, footage_backend="comfyui", comfyui_url=server_url, comfyui_workflow=WORKFLOW)  # type: ignore[call-arg]
    return [
        check for check in run_checks(settings, token_needed=False, offline=offline) if "backend comfyui" in check.name
    ]


async def test_doctor_asks_the_server_for_its_nodes_and_files(comfy: Harness) -> None:
    server = comfy.server
    assert isinstance(server, ComfyFake)
    good = await asyncio.to_thread(_online_lines, server.base_url)
    del server.object_info["CreateVideo"]
    server.object_info["UNETLoader"]["input"]["required"]["unet_name"] = [["other.safetensors"], {}]
    bad = await asyncio.to_thread(_online_lines, server.base_url)

    assert [(check.name, check.ok) for check in good] == [("backend comfyui", True), ("backend comfyui online", True)]
    assert "ComfyUI 0.3.64" in good[1].detail and "(contacted the provider)" in good[1].detail
    assert not bad[1].ok
    assert "node 50 is a CreateVideo, which the server does not have" in bad[1].detail
    assert "node 1 (UNETLoader) names unet_name 'wan2.1_t2v_1.3B_fp16.safetensors'" in bad[1].detail


async def test_doctor_names_a_dead_server_and_offline_skips_the_network(comfy: Harness, unused_tcp_port: int) -> None:
    dead = f"http://127.0.0.1:{unused_tcp_port}"
    lines = await asyncio.to_thread(_online_lines, dead)
    offline = await asyncio.to_thread(_online_lines, comfy.server.base_url, offline=True)

    assert not lines[1].ok
    assert f"cannot reach ComfyUI at {dead} (COMFYUI_URL)" in lines[1].detail
    assert [check.name for check in offline] == ["backend comfyui"]
    assert comfy.server.received["system_stats"] == 0
