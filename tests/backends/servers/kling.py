"""Kling's video API, as documented: JWT auth, text2video/image2video, tasks by either id.

Each request's Bearer token is verified like Kling does (HS256, issuer = access key,
`exp`/`nbf`); `external_task_id` is unique per account. A task is found by its
task_id or its external_task_id; an unknown id answers code 1203. Each poll of a
task moves it one step: submitted, processing, then succeed or failed.
"""

from __future__ import annotations

import uuid
from typing import Any

import jwt
from aiohttp import web

from .base import FakeProvider, HarnessTraits, JobBook, Kind, Reply

ACCESS_KEY = "AKfootage0123456789abcdefghij"
SECRET_KEY = "SKfootage0123456789abcdefghijklmnopqrstuv"
MODELS = ("kling-v2-6", "kling-v3")


def kling_error(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "request_id": uuid.uuid4().hex}


class KlingFake(FakeProvider):
    def __init__(self, video: bytes) -> None:
        super().__init__(video, expected_auth=None)  # tokens are checked below
        self.jobs = JobBook()
        self.tasks: dict[str, dict[str, Any]] = {}  # task_id -> {kind, external_task_id, body}
        self.by_external: dict[str, str] = {}
        self.paths: list[str] = []
        self.tokens: list[dict[str, Any]] = []
        routes = self.app.router
        routes.add_post("/v1/videos/{kind}", self.submit)
        routes.add_get("/v1/videos/{kind}/{id}", self.task)
        routes.add_get("/account/costs", self.costs)
        self.pack_units = 118.0  # left in the account's one resource pack

    def _refuse_token(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return web.json_response(kling_error(1001, "Authorization is empty"), status=401)
        try:
            claims = jwt.decode(header.removeprefix("Bearer "), SECRET_KEY, algorithms=["HS256"], leeway=0)
        except jwt.ExpiredSignatureError:
            return web.json_response(kling_error(1004, "Authorization token has expired"), status=401)
        except jwt.InvalidTokenError:
            return web.json_response(kling_error(1002, "Authorization is invalid"), status=401)
        if claims.get("iss") != ACCESS_KEY:
            return web.json_response(kling_error(1002, "Authorization is invalid"), status=401)
        self.tokens.append(claims)
        return None

    def create_task(self, kind: str, body: dict[str, Any]) -> str:
        """Take a task as Kling does; also how a test puts one there 'before a crash'."""
        task_id = uuid.uuid4().hex[:16]
        self.tasks[task_id] = {"kind": kind, "external_task_id": body.get("external_task_id", ""), "body": body}
        if body.get("external_task_id"):
            self.by_external[body["external_task_id"]] = task_id
        self.accepted_submits += 1
        return task_id

    async def submit(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("submit", request)) is not None:
            return scripted
        if (refused := self._refuse_token(request)) is not None:
            return refused
        kind = request.match_info["kind"]
        if kind not in ("text2video", "image2video"):
            return web.json_response(kling_error(1202, "invalid request method"), status=404)
        body = await request.json()
        self.bodies.append(body)
        self.paths.append(request.path)
        if body.get("model_name") not in MODELS:
            return web.json_response(kling_error(1203, "model not found"), status=404)
        required = "image" if kind == "image2video" else "prompt"
        if not body.get(required):
            return web.json_response(kling_error(1201, f"{required} is required"), status=400)
        if body.get("duration") not in ("5", "10"):
            return web.json_response(kling_error(1201, "duration value is invalid"), status=400)
        external = body.get("external_task_id")
        if external and external in self.by_external:
            return web.json_response(kling_error(1201, "external_task_id already exists"), status=400)
        task_id = self.create_task(kind, body)
        if (late := await self.intercept("submit-answer", request)) is not None:
            return late
        data = {"task_id": task_id, "task_status": "submitted", "task_info": {"external_task_id": external}}
        return web.json_response({"code": 0, "message": "SUCCEED", "request_id": uuid.uuid4().hex, "data": data})

    async def task(self, request: web.Request) -> web.Response:
        given = request.match_info["id"]
        looking_up = given not in self.tasks
        if (scripted := await self.intercept("lookup" if looking_up else "poll", request)) is not None:
            return scripted
        if (refused := self._refuse_token(request)) is not None:
            return refused
        task_id = self.by_external.get(given, given)
        task = self.tasks.get(task_id)
        if task is None or task["kind"] != request.match_info["kind"]:
            return web.json_response(kling_error(1203, "task not found"), status=404)
        data: dict[str, Any] = {"task_id": task_id, "task_info": {"external_task_id": task["external_task_id"]}}
        if looking_up:
            return self._answer(data | {"task_status": "submitted"})
        step = self.jobs.step(task_id)
        if step == 1:
            return self._answer(data | {"task_status": "submitted"})
        if step == 2:
            return self._answer(data | {"task_status": "processing"})
        if self.jobs.outcome == "rejected":
            message = "Failure to pass the risk control system: the content violates the platform's policy"
            return self._answer(data | {"task_status": "failed", "task_status_msg": message})
        if self.jobs.outcome == "failed":
            return self._answer(data | {"task_status": "failed", "task_status_msg": "internal error"})
        videos = [{"id": uuid.uuid4().hex[:8], "url": self.file_url(), "duration": task["body"].get("duration")}]
        return self._answer(data | {"task_status": "succeed", "task_result": {"videos": videos}})

    async def costs(self, request: web.Request) -> web.Response:
        """The account's resource packs within [start_time, end_time] (Unix milliseconds)."""
        if (refused := self._refuse_token(request)) is not None:
            return refused
        try:
            start, end = int(request.query["start_time"]), int(request.query["end_time"])
        except (KeyError, ValueError):
            return web.json_response(kling_error(1201, "start_time and end_time are required"), status=400)
        if start > end:
            return web.json_response(kling_error(1201, "start_time is after end_time"), status=400)
        pack = {
            "resource_pack_name": "Video generation - 200 units",
            "resource_pack_id": "pack-1",
            "resource_pack_type": "decreasing_total",
            "total_quantity": 200.0,
            "remaining_quantity": self.pack_units,
            "purchase_time": end - 86_400_000,
            "effective_time": end - 86_400_000,
            "invalid_time": end + 86_400_000 * 30,
            "status": "online" if self.pack_units > 0 else "runOut",
        }
        return self._answer({"code": 0, "msg": "", "resource_pack_subscribe_infos": [pack]})

    @staticmethod
    def _answer(data: dict[str, Any]) -> web.Response:
        return web.json_response({"code": 0, "message": "SUCCEED", "request_id": uuid.uuid4().hex, "data": data})


FAKE = KlingFake
PROVIDER_MODEL = "kling-v2-6"
TRAITS = HarnessTraits(
    queue_position=None,
    progress=None,
    rejected_kind=Kind.CONTENT_POLICY,
    out_of_credit=Reply(429, kling_error(1102, "Account balance not enough: the resource pack is used up")),
    idempotent=True,
)


def settings_for(base_url: str) -> dict[str, object]:
    return {"kling_access_key": ACCESS_KEY, "kling_secret_key": SECRET_KEY, "kling_base_url": base_url}
