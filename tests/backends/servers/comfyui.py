"""ComfyUI's server routes, as in its server.py: /prompt, /queue, /history, /view, /ws...

Like core ComfyUI (0.3.64), a duplicate prompt_id is queued again, not refused; the
adapter must avoid it. A refusal is a 400 with `error` and per-node `node_errors`;
an execution error names its node id and type; the queue and history live in memory,
so a test clears them to restart the server. Each GET /history/<id> moves that job one step: pending (two steps),
running (two steps, with websocket progress), then done.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from .base import FakeProvider, HarnessTraits, Kind, Reply


class ComfyFake(FakeProvider):
    def __init__(self, video: bytes) -> None:
        super().__init__(video, expected_auth=None)
        self.queue: dict[str, dict[str, Any]] = {}  # prompt_id -> {number, prompt, client_id, stage}
        self.history: dict[str, Any] = {}
        self.prompt_posts: list[str] = []
        self.uploads: list[tuple[str, str, bytes]] = []
        self.interrupted: list[str] = []
        self.deleted: list[str] = []
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self.outbox: dict[str, list[str]] = {}
        self.outcome = "success"  # or "failed"
        self.number = 0
        routes = self.app.router
        routes.add_post("/prompt", self.post_prompt)
        routes.add_get("/queue", self.get_queue)
        routes.add_post("/queue", self.post_queue)
        routes.add_get("/history/{id}", self.get_history)
        routes.add_post("/interrupt", self.interrupt)
        routes.add_post("/upload/image", self.upload)
        routes.add_get("/view", self.view)
        routes.add_get("/ws", self.websocket)
        routes.add_get("/system_stats", self.system_stats)
        routes.add_get("/object_info", self.get_object_info)
        # What /object_info lists, as 0.3.64 does for the example workflow's nodes (combo
        # inputs as [[choices], {...}]); tests remove classes or files to see doctor notice.
        self.object_info: dict[str, Any] = _object_info_for(WORKFLOW)

    async def system_stats(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("system_stats", request)) is not None:
            return scripted
        system = {"os": "posix", "comfyui_version": "0.3.64", "python_version": "3.12.3", "embedded_python": False}
        return web.json_response({"system": system, "devices": [{"name": "cpu", "type": "cpu", "index": None}]})

    async def get_object_info(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("object_info", request)) is not None:
            return scripted
        return web.json_response(self.object_info)

    async def post_prompt(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("submit", request)) is not None:
            return scripted
        body = await request.json()
        graph = body.get("prompt")
        if not isinstance(graph, dict) or not all("class_type" in node for node in graph.values()):
            error = {"type": "prompt_no_outputs", "message": "Prompt has no outputs", "details": ""}
            return web.json_response({"error": error, "node_errors": {}}, status=400)
        prompt_id = str(body.get("prompt_id") or uuid.uuid4())
        self.bodies.append(body)
        self.prompt_posts.append(prompt_id)
        self.accepted_submits += 1
        self.number += 1
        self.queue[prompt_id] = {
            "number": self.number,
            "prompt": graph,
            "client_id": body.get("client_id"),
            "stage": 0,
        }
        # An accepted-but-slow answer: queued first, answered late (a scripted delay).
        if (late := await self.intercept("submit-answer", request)) is not None:
            return late
        return web.json_response({"prompt_id": prompt_id, "number": self.number, "node_errors": {}})

    def _entry(self, prompt_id: str, job: dict[str, Any]) -> list[Any]:
        return [job["number"], prompt_id, job["prompt"], {"client_id": job["client_id"]}, ["51"]]

    async def get_queue(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("queue", request)) is not None:
            return scripted
        running = [self._entry(pid, job) for pid, job in self.queue.items() if job["stage"] >= 2]
        pending = [self._entry(pid, job) for pid, job in self.queue.items() if job["stage"] < 2]
        return web.json_response({"queue_running": running, "queue_pending": pending})

    async def _advance(self, prompt_id: str) -> None:
        """Stages: 0-1 pending, 2-3 running (progress 3/10 then 7/10 on the socket), 4 done."""
        job = self.queue[prompt_id]
        job["stage"] += 1
        if job["stage"] in (2, 3):
            value = 3 if job["stage"] == 2 else 7
            data = {"value": value, "max": 10, "prompt_id": prompt_id, "node": "3"}
            await self._send(job["client_id"], {"type": "progress", "data": data})
        if job["stage"] < 4:
            return
        del self.queue[prompt_id]
        if self.outcome == "failed":
            error = {
                "prompt_id": prompt_id,
                "node_id": "3",
                "node_type": "KSampler",
                "exception_type": "RuntimeError",
                "exception_message": "mat1 and mat2 shapes cannot be multiplied",
            }
            messages = [["execution_start", {"prompt_id": prompt_id}], ["execution_error", error]]
            self._finish(prompt_id, job, "error", messages, {})
            return
        prefix = job["prompt"]["51"]["inputs"]["filename_prefix"]
        video = {"filename": f"{prefix.split('/')[-1]}_00001_.mp4", "subfolder": "video", "type": "output"}
        outputs = {"51": {"images": [video], "animated": [True]}}
        self._finish(prompt_id, job, "success", [["execution_start", {"prompt_id": prompt_id}]], outputs)

    def _finish(
        self, prompt_id: str, job: dict[str, Any], status: str, messages: list[Any], outputs: dict[str, Any]
    ) -> None:
        self.history[prompt_id] = {
            "prompt": self._entry(prompt_id, job),
            "outputs": outputs,
            "status": {"status_str": status, "completed": status == "success", "messages": messages},
        }

    async def _send(self, client_id: str, event: dict[str, Any]) -> None:
        text = json.dumps(event)
        socket = self.sockets.get(client_id)
        if socket is None or socket.closed:
            self.outbox.setdefault(client_id, []).append(text)
        else:
            await socket.send_str(text)

    async def post_queue(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("dequeue", request)) is not None:
            return scripted
        body = await request.json()
        for prompt_id in body.get("delete", []):
            if prompt_id in self.queue and self.queue[prompt_id]["stage"] < 2:
                del self.queue[prompt_id]
                self.deleted.append(prompt_id)
        return web.Response(status=200)

    async def get_history(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("history", request)) is not None:
            return scripted
        prompt_id = request.match_info["id"]
        entry = self.history.get(prompt_id)
        answer = web.json_response({prompt_id: entry} if entry else {})
        # Each look at a job's history moves that job on by one step (after answering).
        if prompt_id in self.queue and prompt_id in self.prompt_posts:
            await self._advance(prompt_id)
        return answer

    async def interrupt(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("interrupt", request)) is not None:
            return scripted
        body = await request.json()
        prompt_id = body.get("prompt_id")
        job = self.queue.pop(prompt_id, None)
        if job is not None:
            self.interrupted.append(prompt_id)
            messages = [
                ["execution_start", {"prompt_id": prompt_id}],
                ["execution_interrupted", {"prompt_id": prompt_id}],
            ]
            self._finish(prompt_id, job, "error", messages, {})
        return web.Response(status=200)

    async def upload(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("upload", request)) is not None:
            return scripted
        form = await request.post()
        image = form.get("image")
        if not isinstance(image, web.FileField):
            return web.Response(status=400)
        subfolder = str(form.get("subfolder", ""))
        self.uploads.append((image.filename, subfolder, image.file.read()))
        return web.json_response({"name": image.filename, "subfolder": subfolder, "type": "input"})

    async def view(self, request: web.Request) -> web.StreamResponse:
        self.received["view"] += 1
        if request.query.get("type") != "output" or not request.query.get("filename"):
            return web.Response(status=400)
        if self.result_file == "gone.mp4":
            return web.Response(status=404)
        # Serve the chosen variant for any output file name.
        return await self.send_file(request, self.result_file)

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        client_id = request.query.get("clientId", "")
        self.sockets[client_id] = socket
        await socket.send_str(
            json.dumps(
                {
                    "type": "status",
                    "data": {"status": {"exec_info": {"queue_remaining": len(self.queue)}}, "sid": client_id},
                }
            )
        )
        for text in self.outbox.pop(client_id, []):
            await socket.send_str(text)
        async for message in socket:
            if message.type == WSMsgType.ERROR:
                break
        return socket


FAKE = ComfyFake
WORKFLOW = Path(__file__).resolve().parents[3] / "examples" / "comfyui" / "wan_t2v_api.json"
PROVIDER_MODEL = ""
TRAITS = HarnessTraits(
    queue_position=0,
    progress=0.3,
    # A local server has no moderation: a failing workflow is the closest case.
    rejected_kind=Kind.GENERATION_FAILED,
    out_of_credit=None,
    invalid=Reply(
        400,
        {
            "error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation"},
            "node_errors": {
                "1": {
                    "errors": [
                        {
                            "type": "value_not_in_list",
                            "message": "Value not in list",
                            "details": "unet_name: 'missing.safetensors' not in []",
                            "extra_info": {"input_name": "unet_name"},
                        }
                    ],
                    "dependent_outputs": ["51"],
                    "class_type": "UNETLoader",
                }
            },
        },
    ),
    idempotent=True,
)


def settings_for(base_url: str) -> dict[str, object]:
    return {"comfyui_url": base_url, "comfyui_workflow": WORKFLOW}


def _object_info_for(path: Path) -> dict[str, Any]:
    """Every class of the workflow, each string input a combo holding the workflow's value plus another."""
    info: dict[str, Any] = {}
    for node in json.loads(path.read_text()).values():
        required: dict[str, Any] = {}
        for name, value in node["inputs"].items():
            if isinstance(value, str) and not name.endswith(("text", "prefix")):
                required[name] = [[value, f"other_{name}.safetensors"], {}]
            else:
                required[name] = ["*", {}]
        info[node["class_type"]] = {"input": {"required": required, "optional": {}}, "name": node["class_type"]}
    return info
