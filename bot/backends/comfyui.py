"""ComfyUI (local server): fill the user's API-format workflow per job, queue it, follow it.

Marking scheme. The admin exports the workflow with "Export (API)" and puts markers
in the title of the nodes the bot must fill (`_meta.title`, set by renaming the node
in the editor). A marker is `footage:<role>` or `footage:<role>=<input name>`; one
title may hold several, separated by spaces or commas, next to any other text:

    "Positive  footage:prompt"                 CLIPTextEncode.text
    "Negative  footage:negative"               CLIPTextEncode.text (optional)
    "footage:seed"                             KSampler.seed (or noise_seed)
    "footage:width footage:height footage:frames"   EmptyHunyuanLatentVideo
    "footage:fps"                              CreateVideo.fps (optional)
    "footage:image"                            LoadImage.image (optional: image-to-video)
    "footage:prefix"                           SaveVideo.filename_prefix

prompt, seed and prefix are required; width and height go together. Without
`=<input>`, the first of the role's usual input names found on the node is used
(see ROLES). Per job the bot sets the seed and a per-job filename prefix, so ComfyUI's
cache never answers with an earlier job's file; frames = seconds x fps + 1 (the 4k+1
and 8k+1 lengths Wan, HunyuanVideo and LTX-Video expect at their usual frame rates);
width and height keep the workflow's pixel area at the requested aspect. A model's
`params` set other inputs directly: {"3.steps": 20} sets input `steps` of node 3.

Idempotent submit: the prompt id is a uuid5 of the job id. Core ComfyUI does not
refuse a duplicate id (it queues it again), so every submit attempt first looks for
that id in `/queue` and `/history` and treats a hit as accepted; a 400 is always the
server refusing the graph, and says which node and input.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlencode, urlsplit, urlunsplit

import websockets
from pydantic import AnyHttpUrl
from websockets.asyncio.client import ClientConnection, connect

from bot.backends.base import (
    BackendCapabilities,
    BackendError,
    BackendErrorKind,
    BackendJob,
    ExternalWait,
    GenerationRequest,
    InputImage,
    PollResult,
    await_directly,
)
from bot.backends.entry import BackendEntry, BackendSettings, BuildContext, ModelDefaults
from bot.backends.http import HttpTimeouts, ProviderHttp, Retry, RetryPolicy, UrlResultBackend
from bot.models import CatalogError

if TYPE_CHECKING:
    from bot.models import ModelCatalog
    from bot.settings import Settings

log = logging.getLogger(__name__)
Kind = BackendErrorKind
DEFAULT_URL = "http://127.0.0.1:8188"
_PROMPT_IDS = uuid.UUID("6f0c1d2e-5b7a-4c47-9a5e-f007a6e0b075")  # namespace for uuid5(job id)
_SOCKET_RETRY = 30.0
_VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".gif", ".webp")

ROLES: dict[str, tuple[str, ...]] = {
    "prompt": ("text", "prompt", "positive_prompt"),
    "negative": ("text", "negative_prompt", "prompt"),
    "seed": ("seed", "noise_seed"),
    "width": ("width",),
    "height": ("height",),
    "frames": ("length", "num_frames", "frames", "frame_count", "video_frames"),
    "fps": ("fps", "frame_rate"),
    "image": ("image",),
    "prefix": ("filename_prefix",),
}
REQUIRED_ROLES = ("prompt", "seed", "prefix")
_MARKER = re.compile(r"footage:([a-z]+)(?:=([A-Za-z0-9_]+))?(?:/(\d{1,3}))?")


class WorkflowError(Exception):
    """The workflow file is missing, not API format, or its markings are wrong."""


@dataclass(frozen=True, slots=True)
class Slot:
    node: str
    input: str
    multiple: int = 1  # `footage:width/16`: the value is snapped to a multiple of 16


@dataclass(frozen=True, slots=True)
class JobInputs:
    prompt: str
    negative: str | None
    seed: int
    seconds: int
    aspect: str
    prefix: str
    image: str | None = None
    params: Mapping[str, Any] | None = None


class Workflow:
    """A validated API-format workflow and where its markings point."""

    def __init__(self, path: Path, graph: dict[str, Any], slots: dict[str, list[Slot]]) -> None:
        self.path = path
        self.graph = graph
        self.slots = slots

    @classmethod
    def load(cls, path: Path) -> Workflow:
        try:
            graph = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise WorkflowError(f"{path}: workflow file not found (COMFYUI_WORKFLOW)") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise WorkflowError(f"{path}: not a readable JSON workflow: {error}") from None
        if isinstance(graph, dict) and "nodes" in graph and "links" in graph:
            raise WorkflowError(f"{path}: this is a UI-format save; export it with 'Export (API)' instead")
        if not isinstance(graph, dict) or not graph or not all(_is_node(node) for node in graph.values()):
            raise WorkflowError(f"{path}: not an API-format workflow (expected {{node id: {{class_type, inputs}}}})")
        slots = _find_slots(path, graph)
        return cls(path, graph, slots)

    @property
    def has(self) -> frozenset[str]:
        return frozenset(self.slots)

    def value(self, role: str) -> Any:
        slot = self.slots[role][0]
        return self.graph[slot.node]["inputs"][slot.input]

    def fill(self, job: JobInputs) -> dict[str, Any]:
        graph: dict[str, Any] = json.loads(json.dumps(self.graph))  # deep copy of plain JSON
        fps = self._fps(job.params or {})
        values: dict[str, Any] = {
            "prompt": job.prompt,
            "seed": job.seed,
            "prefix": job.prefix,
            "frames": math.floor(job.seconds * fps + 0.5) + 1,
        }
        if job.negative:
            values["negative"] = job.negative
        if job.image is not None:
            values["image"] = job.image
        if "width" in self.slots:
            values["width"], values["height"] = frame_size(
                job.aspect, int(self.value("width")), int(self.value("height")), self.slots["width"][0].multiple
            )
        for role, value in values.items():
            for slot in self.slots.get(role, []):
                graph[slot.node]["inputs"][slot.input] = value
        for key, value in (job.params or {}).items():
            node, _, name = key.partition(".")
            if node in graph and name:
                graph[node]["inputs"][name] = value
        return graph

    def _fps(self, params: Mapping[str, Any]) -> float:
        """The workflow's own frame rate (left as it is in the graph), else `footage_fps`."""
        if "fps" in self.slots:
            return max(1.0, float(self.value("fps")))
        return float(params.get("footage_fps", 16))

    @property
    def save_nodes(self) -> list[str]:
        return [slot.node for slot in self.slots["prefix"]]

    def missing_on(self, object_info: Mapping[str, Any]) -> list[str]:
        """What a server's `/object_info` lacks for this workflow: node classes, listed values (model files)."""
        filled = {(slot.node, slot.input) for slots in self.slots.values() for slot in slots}
        problems: list[str] = []
        for node_id, node in self.graph.items():
            kind = node["class_type"]
            if kind not in object_info:
                problems.append(
                    f"node {node_id} is a {kind}, which the server does not have (a custom node not installed?)"
                )
                continue
            spec = object_info[kind].get("input", {}) if isinstance(object_info[kind], dict) else {}
            declared = {**(spec.get("optional") or {}), **(spec.get("required") or {})}
            for name, value in node["inputs"].items():
                choices = _choices(declared.get(name))
                if (node_id, name) in filled or not isinstance(value, str) or choices is None or value in choices:
                    continue
                problems.append(f"node {node_id} ({kind}) names {name} {value!r}, which is not in the server's list")
        return problems


def _choices(spec: Any) -> list[str] | None:
    """A combo input's allowed values: `[[...], {...}]`, or `["COMBO", {"options": [...]}]` in newer servers."""
    if not isinstance(spec, list) or not spec:
        return None
    if isinstance(spec[0], list):
        return [str(choice) for choice in spec[0]]
    if spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict) and isinstance(spec[1].get("options"), list):
        return [str(choice) for choice in spec[1]["options"]]
    return None


def _is_node(node: Any) -> bool:
    return isinstance(node, dict) and isinstance(node.get("class_type"), str) and isinstance(node.get("inputs"), dict)


def _find_slots(path: Path, graph: dict[str, Any]) -> dict[str, list[Slot]]:
    slots: dict[str, list[Slot]] = {}
    for node_id, node in graph.items():
        title = str((node.get("_meta") or {}).get("title", ""))
        for role, explicit, multiple in _MARKER.findall(title):
            where = f"{path}: node {node_id} ({title!r})"
            if role not in ROLES:
                raise WorkflowError(f"{where}: unknown marking footage:{role} (known: {', '.join(ROLES)})")
            candidates = (explicit,) if explicit else ROLES[role]
            name = next((name for name in candidates if name in node["inputs"]), None)
            if name is None:
                raise WorkflowError(f"{where}: footage:{role} needs an input named {' or '.join(candidates)}")
            if isinstance(node["inputs"][name], list):
                raise WorkflowError(f"{where}: input {name!r} is wired to another node; mark that node instead")
            slots.setdefault(role, []).append(Slot(str(node_id), name, int(multiple or 1)))
    missing = [f"footage:{role}" for role in REQUIRED_ROLES if role not in slots]
    if missing:
        raise WorkflowError(f"{path}: no node is marked {', '.join(missing)} (put it in the node's title)")
    if ("width" in slots) != ("height" in slots):
        raise WorkflowError(f"{path}: mark both footage:width and footage:height, or neither")
    return slots


def frame_size(aspect: str, base_width: int, base_height: int, multiple: int = 1) -> tuple[int, int]:
    """The workflow's pixel area at `aspect`, both sides rounded (half up) to a multiple of `multiple`.

    The workflow's own size at its own aspect comes back unchanged.
    """
    across, down = (int(part) for part in aspect.split(":"))
    if base_width * down == base_height * across:
        width, height = float(base_width), float(base_height)
    else:
        width = math.sqrt(base_width * base_height * across / down)
        height = width * down / across

    def snap(side: float) -> int:
        return max(multiple, math.floor(side / multiple + 0.5) * multiple)

    return snap(width), snap(height)


def prompt_id_for(job_id: str) -> str:
    return str(uuid.uuid5(_PROMPT_IDS, job_id))


class ProgressSocket:
    """Follows `/ws?clientId=` for `progress {value, max}` of this client's prompts.

    Optional: when the socket is down, polls still work from /queue and /history, and
    the next poll tries to reconnect (at most every `_SOCKET_RETRY` seconds).
    """

    def __init__(self, url: str, wait: ExternalWait, open_timeout: float) -> None:
        self._url = url
        self._wait = wait
        self._open_timeout = open_timeout
        self._task: asyncio.Task[None] | None = None
        self._retry_at = 0.0
        self._progress: dict[str, float] = {}
        self._current: str | None = None

    def ensure_running(self) -> None:
        if (self._task is None or self._task.done()) and time.monotonic() >= self._retry_at:
            self._task = asyncio.create_task(self._run(), name="comfyui-progress")

    def progress(self, prompt_id: str) -> float | None:
        return self._progress.get(prompt_id)

    def forget(self, prompt_id: str) -> None:
        self._progress.pop(prompt_id, None)

    async def _run(self) -> None:
        try:
            socket: ClientConnection = await self._wait(
                connect(self._url, open_timeout=self._open_timeout, max_size=2**22), "comfyui: progress socket"
            )
            async with socket:
                while True:
                    message = await self._wait(socket.recv(), "comfyui: progress")
                    if isinstance(message, str):  # binary frames are preview images
                        self._handle(message)
        except (OSError, TimeoutError, websockets.WebSocketException) as error:
            log.debug("comfyui: progress socket unavailable (%s); polling only", type(error).__name__)
            self._retry_at = time.monotonic() + _SOCKET_RETRY

    def _handle(self, message: str) -> None:
        try:
            event = json.loads(message)
            kind, data = event["type"], event.get("data") or {}
        except (ValueError, KeyError, TypeError):
            return
        prompt_id = data.get("prompt_id") or self._current
        if kind == "execution_start":
            self._current = data.get("prompt_id")
        elif kind == "progress" and prompt_id and data.get("max"):
            self._progress[prompt_id] = max(0.0, min(1.0, float(data["value"]) / float(data["max"])))

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class ComfyUIBackend(UrlResultBackend):
    name = "comfyui"

    def __init__(
        self,
        workflow: Path,
        *,
        base_url: str = DEFAULT_URL,
        wait: ExternalWait = await_directly,
        timeouts: HttpTimeouts | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.workflow = Workflow.load(workflow)
        self._workflows = {str(workflow): self.workflow}
        self.capabilities = capabilities_of(self.workflow)
        self.client_id = uuid.uuid4().hex
        self._dequeued: set[str] = set()
        self.http = ProviderHttp(
            "comfyui", base_url=base_url, wait=wait, timeouts=timeouts, retry=retry, url_setting="COMFYUI_URL"
        )
        self.socket = ProgressSocket(
            _ws_url(self.http.base_url, self.client_id), wait, (timeouts or HttpTimeouts()).connect
        )

    def _workflow_for(self, request: GenerationRequest) -> Workflow:
        path = request.model.provider_model or str(self.workflow.path)
        if path not in self._workflows:
            try:
                self._workflows[path] = Workflow.load(Path(path))
            except WorkflowError as error:
                raise BackendError(Kind.INVALID_REQUEST, str(error)) from None
        return self._workflows[path]

    async def submit(self, request: GenerationRequest) -> BackendJob:
        workflow = self._workflow_for(request)
        prompt_id = prompt_id_for(request.job_id)
        image = await self._upload(request.image, prompt_id) if request.image is not None else None
        base_prefix = str(workflow.value("prefix")) or "footage"
        inputs = JobInputs(
            prompt=request.prompt,
            negative=request.negative_prompt,
            seed=request.seed,
            seconds=request.seconds,
            aspect=request.aspect,
            prefix=f"{base_prefix}-{_safe(request.job_id)}",
            image=image,
            params=request.model.params,
        )
        payload = {"prompt": workflow.fill(inputs), "client_id": self.client_id, "prompt_id": prompt_id}
        job = BackendJob(id=prompt_id, data={"save_nodes": ",".join(workflow.save_nodes)})
        self.socket.ensure_running()
        # Safe to resend: each attempt first asks the server whether an earlier one got through
        # (core ComfyUI queues a duplicate prompt_id again rather than refusing it). The one
        # retry layer is this loop: the requests inside it are sent once each.
        try:
            async for attempt in self.http.retrying(Retry.IDEMPOTENT, "submit"):
                with attempt:
                    if await self._known(prompt_id, retry=Retry.NEVER):
                        return job
                    response = await self.http.send(
                        "POST", "prompt", json=payload, reason="submit", retry=Retry.NEVER, accept=_refused
                    )
                    if response.status_code == 400:
                        raise _refusal(response.json() if _is_json(response) else response.text)
        except BackendError as error:
            raise self._where(error) from None
        return job

    def _where(self, error: BackendError) -> BackendError:
        """A server that cannot be reached is named, with the setting that points at it."""
        if error.status_code is not None or error.kind not in (Kind.UNAVAILABLE, Kind.TIMEOUT):
            return error
        detail = f"cannot reach ComfyUI at {self.http.base_url} (COMFYUI_URL): {error.provider_message}"
        return BackendError(error.kind, detail, retry_after=error.retry_after)

    async def _upload(self, image: InputImage, prompt_id: str) -> str:
        suffix = Path(image.filename).suffix or ".png"
        files = {"image": (f"footage-{prompt_id}{suffix}", image.data, image.content_type)}
        uploaded = await self.http.send_json(
            "POST",
            "upload/image",
            files=files,
            data={"overwrite": "true", "type": "input", "subfolder": "footage"},
            reason="upload image",
            retry=Retry.IDEMPOTENT,  # same name, overwrite=true: a resend replaces the same file
        )
        name, subfolder = str(uploaded.get("name", "")), str(uploaded.get("subfolder", ""))
        if not name:
            raise BackendError(Kind.UNAVAILABLE, "ComfyUI's upload answer has no file name")
        return f"{subfolder}/{name}" if subfolder else name

    async def _queue(self, retry: Retry = Retry.IDEMPOTENT) -> tuple[list[str], list[str]]:
        queue = await self.http.send_json("GET", "queue", reason="queue", retry=retry)
        running = [str(item[1]) for item in queue.get("queue_running", [])]
        pending = [str(item[1]) for item in sorted(queue.get("queue_pending", []), key=lambda item: item[0])]
        return running, pending

    async def _history(self, prompt_id: str, retry: Retry = Retry.IDEMPOTENT) -> dict[str, Any] | None:
        history = await self.http.send_json("GET", f"history/{prompt_id}", reason="history", retry=retry)
        entry = history.get(prompt_id) if isinstance(history, dict) else None
        return entry if isinstance(entry, dict) else None

    async def _known(self, prompt_id: str, *, retry: Retry) -> bool:
        # Queue before history: a prompt moves queue -> history, never back.
        running, pending = await self._queue(retry)
        return prompt_id in running or prompt_id in pending or await self._history(prompt_id, retry) is not None

    async def poll(self, job: BackendJob) -> PollResult:
        try:
            return await self._poll(job)
        except BackendError as error:
            raise self._where(error) from None

    async def _poll(self, job: BackendJob) -> PollResult:
        self.socket.ensure_running()
        entry = await self._history(job.id)
        if entry is None:
            running, pending = await self._queue()
            if job.id in running:
                return PollResult("running", progress=self.socket.progress(job.id))
            if job.id in pending:
                ahead = len(running) + pending.index(job.id)
                return PollResult("queued", queue_position=ahead)
            # It may have finished between the two reads.
            entry = await self._history(job.id)
        self.socket.forget(job.id)
        if entry is not None:
            return self._finished(job, entry)
        if job.id in self._dequeued:
            return PollResult("canceled")
        # ComfyUI keeps its queue in memory: a prompt that vanished was lost in a restart.
        lost = (
            f"the ComfyUI server at {self.http.base_url} lost the job: it is in neither its queue nor its "
            "history, which happens when ComfyUI restarts (it keeps its queue in memory)"
        )
        return PollResult("failed", error=BackendError(Kind.GENERATION_FAILED, lost))

    def _finished(self, job: BackendJob, entry: dict[str, Any]) -> PollResult:
        status = entry.get("status") or {}
        messages = status.get("messages") or []
        events = {str(message[0]): message[1] for message in messages if isinstance(message, list) and message}
        if "execution_interrupted" in events:
            return PollResult("canceled")
        if status.get("status_str") == "error" or "execution_error" in events:
            return PollResult("failed", error=_execution_error(events.get("execution_error")))
        output = _find_output(entry.get("outputs") or {}, job.data.get("save_nodes", "").split(","))
        if output is None:
            return PollResult("failed", error=BackendError(Kind.BAD_OUTPUT, "the workflow saved no video"))
        query = urlencode({"filename": output["filename"], "subfolder": output.get("subfolder", ""), "type": "output"})
        return PollResult("succeeded", progress=1.0, result_url=self.http.url(f"view?{query}"))

    async def cancel(self, job: BackendJob) -> None:
        running, pending = await self._queue()
        if job.id in running:
            await self.http.send(
                "POST", "interrupt", json={"prompt_id": job.id}, reason="interrupt", retry=Retry.IDEMPOTENT
            )
        elif job.id in pending:
            await self.http.send("POST", "queue", json={"delete": [job.id]}, reason="dequeue", retry=Retry.IDEMPOTENT)
            # A deleted prompt leaves no trace in ComfyUI; remember it to report `canceled`.
            self._dequeued.add(job.id)

    async def aclose(self) -> None:
        await self.socket.aclose()
        await self.http.aclose()

    async def check_server(self, workflows: list[Workflow]) -> tuple[bool, str]:
        """For `doctor`: the server answers, has every node class and every listed value the workflows use."""
        try:
            stats = await self.http.send_json("GET", "system_stats", reason="doctor", retry=Retry.NEVER)
            info = await self.http.send_json("GET", "object_info", reason="doctor", retry=Retry.NEVER)
        except BackendError as error:
            return False, self._where(error).provider_message or error.plain
        system = stats.get("system") if isinstance(stats.get("system"), dict) else {}
        version = str((system or {}).get("comfyui_version") or "of unknown version")
        problems = [f"{workflow.path}: {problem}" for workflow in workflows for problem in workflow.missing_on(info)]
        if problems:
            return False, f"ComfyUI {version} at {self.http.base_url}: " + "; ".join(problems)
        return True, f"ComfyUI {version} at {self.http.base_url} has every node and file the workflow uses"


def _refused(response: Any) -> bool:
    """A 400 is ComfyUI refusing the graph: read here for which node and input."""
    return bool(response.status_code == 400)


def _is_json(response: Any) -> bool:
    try:
        response.json()
    except ValueError:
        return False
    return True


def _refusal(body: Any) -> BackendError:
    """ComfyUI's 400: `error.message` plus, per node, which input is wrong and why."""
    if not isinstance(body, dict):
        return BackendError(Kind.INVALID_REQUEST, f"ComfyUI refused the workflow: {str(body)[:300]}", status_code=400)
    found = body.get("error")
    error: dict[str, Any] = found if isinstance(found, dict) else {}
    parts: list[str] = []
    node_errors = body.get("node_errors")
    for node_id, node in node_errors.items() if isinstance(node_errors, dict) else []:
        if not isinstance(node, dict):
            continue
        for item in node.get("errors") or []:
            if not isinstance(item, dict):
                continue
            info = item.get("extra_info")
            extra: dict[str, Any] = info if isinstance(info, dict) else {}
            where = f"node {node_id} ({node.get('class_type', '?')})"
            if extra.get("input_name"):
                where += f", input {extra['input_name']}"
            said = str(item.get("message", "invalid"))
            if item.get("details"):
                said += f": {item['details']}"
            parts.append(f"{where}: {said}")
    summary = str(error.get("message") or "the workflow was refused")
    if error.get("details"):
        summary += f" ({error['details']})"
    text = f"ComfyUI refused the workflow: {summary}" + ("; " + "; ".join(parts) if parts else "")
    return BackendError(Kind.INVALID_REQUEST, text, status_code=400)


def _execution_error(data: Any) -> BackendError:
    data = data if isinstance(data, dict) else {}
    kind_name = str(data.get("exception_type", ""))
    message = f"{kind_name}: {data.get('exception_message', 'the workflow failed')}".strip(": ")
    if data.get("node_type") or data.get("node_id"):
        message = f"node {data.get('node_id', '?')} ({data.get('node_type', '?')}) failed: {message}"
    # Out of GPU memory is the machine being busy, not the request being wrong.
    kind = Kind.UNAVAILABLE if "OutOfMemory" in kind_name else Kind.GENERATION_FAILED
    return BackendError(kind, message)


def _find_output(outputs: dict[str, Any], save_nodes: list[str]) -> dict[str, Any] | None:
    """Core SaveVideo lists under `images` (with `animated`), VideoHelperSuite under `gifs`."""
    ordered = [node for node in save_nodes if node in outputs] + [node for node in outputs if node not in save_nodes]
    for node in ordered:
        result = outputs[node] if isinstance(outputs[node], dict) else {}
        animated = result.get("animated") or []
        for key in ("gifs", "videos", "images"):
            for index, item in enumerate(result.get(key) or []):
                if not isinstance(item, dict) or item.get("type", "output") != "output" or "filename" not in item:
                    continue
                is_animated = index < len(animated) and bool(animated[index])
                if key != "images" or is_animated or str(item["filename"]).lower().endswith(_VIDEO_SUFFIXES):
                    return item
    return None


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)[:64]


def _ws_url(base_url: str, client_id: str) -> str:
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, f"{parts.path.rstrip('/')}/ws", f"clientId={client_id}", ""))


CAPABILITIES = BackendCapabilities(
    text_to_video=True,
    image_to_video=False,
    seed=True,
    negative_prompt=False,
    cancel=True,
    idempotent_submit=True,
    durations=(2, 3, 4, 5),
)


def capabilities_of(workflow: Workflow) -> BackendCapabilities:
    """What the markers in the workflow let a job set."""
    return dataclasses.replace(
        CAPABILITIES, image_to_video="image" in workflow.has, negative_prompt="negative" in workflow.has
    )


def _workflow_capabilities(path: str) -> BackendCapabilities:
    try:
        return capabilities_of(Workflow.load(Path(path)))
    except WorkflowError as error:
        raise CatalogError(str(error)) from None


class ComfyUISettings(BackendSettings):
    backend_name: ClassVar[str] = "comfyui"
    comfyui_url: AnyHttpUrl = AnyHttpUrl(DEFAULT_URL)
    comfyui_workflow: Path | None = None


def workflow_paths(settings: Settings, catalog: ModelCatalog) -> list[Path]:
    paths = [Path(model.provider_model) for model in catalog if model.backend == "comfyui" and model.provider_model]
    if not paths and settings.comfyui_workflow is not None:
        paths.append(settings.comfyui_workflow)
    return list(dict.fromkeys(paths))


def _workflow_problem(settings: Settings, catalog: ModelCatalog) -> str | None:
    paths = workflow_paths(settings, catalog)
    if not paths:
        users = ", ".join(repr(model.name) for model in catalog if model.backend == "comfyui")
        return f"COMFYUI_WORKFLOW is not set (needed by model {users})"
    for path in paths:
        try:
            Workflow.load(path)
        except WorkflowError as error:
            return str(error)
    return None


def _ready(settings: Settings, catalog: ModelCatalog) -> str:
    where = ", ".join(str(path) for path in workflow_paths(settings, catalog))
    return f"workflow {where} is valid; server {settings.comfyui_url}"


async def _check_server(settings: Settings, catalog: ModelCatalog) -> tuple[bool, str]:
    backend = _build(BuildContext(settings, catalog))
    try:
        return await backend.check_server([Workflow.load(path) for path in workflow_paths(settings, catalog)])
    finally:
        await backend.aclose()


def _build(context: BuildContext) -> ComfyUIBackend:
    try:
        return ComfyUIBackend(
            workflow_paths(context.settings, context.catalog)[0],
            base_url=str(context.settings.comfyui_url),
            **context.http_options(),
        )
    except WorkflowError as error:
        raise CatalogError(str(error)) from None


def _provider_model(settings: Settings) -> str:
    return str(settings.comfyui_workflow or "")


ENTRY = BackendEntry(
    name="comfyui",
    settings=ComfyUISettings,
    capabilities=CAPABILITIES,
    build=_build,
    provider_model=_provider_model,
    defaults=ModelDefaults(max_concurrency=1),
    capabilities_for=_workflow_capabilities,
    checks=(_workflow_problem,),
    online_checks=(_check_server,),
    ready=_ready,
)
