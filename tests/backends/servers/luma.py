"""Luma Dream Machine API, as documented: generations under /dream-machine/v1."""

from __future__ import annotations

import uuid

from aiohttp import web

from .base import FakeProvider, HarnessTraits, JobBook, Kind, Reply

KEY = "luma-7c1e9a2b-3d4f-4e5a-8b6c-0d1e2f3a4b5c-9f8e7d6c5b4a"
PREFIX = "/dream-machine/v1"
ASPECTS = {"1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21"}


class LumaFake(FakeProvider):
    def __init__(self, video: bytes) -> None:
        super().__init__(video, expected_auth=f"Bearer {KEY}")
        self.jobs = JobBook()
        routes = self.app.router
        routes.add_post(f"{PREFIX}/generations/video", self.submit)
        routes.add_get(f"{PREFIX}/generations/{{id}}", self.get)
        routes.add_delete(f"{PREFIX}/generations/{{id}}", self.delete)
        routes.add_get(f"{PREFIX}/credits", self.credits)
        self.credit_cents = 1234  # the account's balance, in US cents as Luma gives it

    async def credits(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("credits", request)) is not None:
            return scripted
        return web.json_response({"credit_balance": self.credit_cents})

    def unauthorized(self) -> web.Response:
        return web.json_response({"detail": "Invalid API key"}, status=401)

    async def submit(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("submit", request)) is not None:
            return scripted
        body = await request.json()
        self.bodies.append(body)
        problems = []
        if not body.get("prompt"):
            problems.append("prompt is required")
        if body.get("model") not in ("ray-2", "ray-flash-2"):
            problems.append("model must be ray-2 or ray-flash-2")
        if body.get("aspect_ratio", "16:9") not in ASPECTS:
            problems.append("invalid aspect_ratio")
        if body.get("duration", "5s") not in ("5s", "9s"):
            problems.append("duration must be 5s or 9s")
        if problems:
            return web.json_response({"detail": "; ".join(problems)}, status=400)
        self.accepted_submits += 1
        if (late := await self.intercept("submit-answer", request)) is not None:
            return late
        job_id = str(uuid.uuid4())
        return web.json_response({"id": job_id, "state": "queued", "assets": None}, status=201)

    async def get(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("poll", request)) is not None:
            return scripted
        job_id = request.match_info["id"]
        step = self.jobs.step(job_id)
        if step == 1:
            return web.json_response({"id": job_id, "state": "queued"})
        if step == 2:
            return web.json_response({"id": job_id, "state": "dreaming"})
        if self.jobs.outcome == "rejected":
            reason = "400: prompt not allowed because advanced moderation failed"
            return web.json_response({"id": job_id, "state": "failed", "failure_reason": reason})
        if self.jobs.outcome == "failed":
            return web.json_response({"id": job_id, "state": "failed", "failure_reason": "Job failed"})
        return web.json_response({"id": job_id, "state": "completed", "assets": {"video": self.file_url()}})

    async def delete(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("cancel", request)) is not None:
            return scripted
        return web.Response(status=204)


FAKE = LumaFake
PROVIDER_MODEL = "ray-2"
TRAITS = HarnessTraits(
    queue_position=None,
    progress=None,
    rejected_kind=Kind.CONTENT_POLICY,
    out_of_credit=Reply(402, {"detail": "Insufficient credits. Please add credits to your account."}),
)


def settings_for(base_url: str) -> dict[str, object]:
    return {"lumaai_api_key": KEY, "luma_base_url": f"{base_url}{PREFIX}"}
