"""Runway API (X-Runway-Version 2024-11-06), as documented: two submit endpoints, tasks."""

from __future__ import annotations

import uuid

from aiohttp import web

from .base import FakeProvider, HarnessTraits, JobBook, Kind, Reply

KEY = "key_5f2a9c8e7d6b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b"
VERSION = "2024-11-06"


class RunwayFake(FakeProvider):
    def __init__(self, video: bytes) -> None:
        super().__init__(video, expected_auth=f"Bearer {KEY}")
        self.jobs = JobBook()
        self.paths: list[str] = []
        routes = self.app.router
        routes.add_post("/v1/text_to_video", self.submit)
        routes.add_post("/v1/image_to_video", self.submit)
        routes.add_get("/v1/tasks/{id}", self.task)
        routes.add_delete("/v1/tasks/{id}", self.delete)
        routes.add_get("/v1/organization", self.organization)
        self.credit_balance = 2500

    async def organization(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("organization", request)) is not None:
            return scripted
        tier = {"maxMonthlyCreditSpend": 100000, "models": {}}
        return web.json_response({"creditBalance": self.credit_balance, "tier": tier, "usage": {"models": {}}})

    def unauthorized(self) -> web.Response:
        return web.json_response({"error": "Invalid API key."}, status=401)

    async def submit(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("submit", request)) is not None:
            return scripted
        if request.headers.get("X-Runway-Version") != VERSION:
            return web.json_response({"error": "API version header is missing or invalid."}, status=400)
        body = await request.json()
        self.bodies.append(body)
        self.paths.append(request.path)
        required = ["model", "ratio", "promptText"]
        if request.path.endswith("image_to_video"):
            required = ["model", "ratio", "promptImage"]
        missing = [name for name in required if not body.get(name)]
        if missing:
            issues = [{"path": [name], "message": "Required"} for name in missing]
            return web.json_response({"error": "Validation of body failed", "issues": issues}, status=400)
        self.accepted_submits += 1
        if (late := await self.intercept("submit-answer", request)) is not None:
            return late
        return web.json_response({"id": str(uuid.uuid4())})

    async def task(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("poll", request)) is not None:
            return scripted
        job_id = request.match_info["id"]
        if job_id in self.jobs.canceled:
            return web.json_response({"id": job_id, "status": "CANCELLED"})
        step = self.jobs.step(job_id)
        if step == 1:
            return web.json_response({"id": job_id, "status": "PENDING"})
        if step == 2:
            return web.json_response({"id": job_id, "status": "RUNNING", "progress": 0.42})
        if self.jobs.outcome == "rejected":
            failure = {"failure": "Prompt rejected by content moderation", "failureCode": "SAFETY.INPUT.TEXT"}
            return web.json_response({"id": job_id, "status": "FAILED"} | failure)
        if self.jobs.outcome == "failed":
            failure = {"failure": "An unexpected error occurred", "failureCode": "INTERNAL.BAD_OUTPUT.CODE01"}
            return web.json_response({"id": job_id, "status": "FAILED"} | failure)
        return web.json_response({"id": job_id, "status": "SUCCEEDED", "output": [self.file_url()]})

    async def delete(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("cancel", request)) is not None:
            return scripted
        self.jobs.canceled.add(request.match_info["id"])
        return web.Response(status=204)


FAKE = RunwayFake
PROVIDER_MODEL = "gen4.5"
TRAITS = HarnessTraits(
    queue_position=None,
    progress=0.42,
    rejected_kind=Kind.CONTENT_POLICY,
    out_of_credit=Reply(400, {"error": "You do not have enough credits to run this task."}),
)


def settings_for(base_url: str) -> dict[str, object]:
    return {"runwayml_api_secret": KEY, "runway_base_url": base_url}
