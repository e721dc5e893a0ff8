"""Replicate predictions API, as documented: official-model and version submits, poll, cancel."""

from __future__ import annotations

import uuid

from aiohttp import web

from .base import FakeProvider, HarnessTraits, JobBook, Kind, Reply

TOKEN = "r8_T3stT0kenF0rF00tageB0tAbCdEfGh1234"


class ReplicateFake(FakeProvider):
    def __init__(self, video: bytes) -> None:
        super().__init__(video, expected_auth=f"Bearer {TOKEN}")
        self.jobs = JobBook()
        self.paths: list[str] = []
        routes = self.app.router
        routes.add_post("/v1/models/{owner}/{name}/predictions", self.submit)
        routes.add_post("/v1/predictions", self.submit)
        routes.add_get("/v1/predictions/{id}", self.get)
        routes.add_post("/v1/predictions/{id}/cancel", self.cancel)
        routes.add_get("/v1/account", self.account)

    async def account(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("account", request)) is not None:
            return scripted
        return web.json_response({"type": "user", "username": "footage-tests", "name": "Footage Tests"})

    def unauthorized(self) -> web.Response:
        return web.json_response(
            {"title": "Unauthenticated", "detail": "You did not pass a valid authentication token", "status": 401},
            status=401,
        )

    async def submit(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("submit", request)) is not None:
            return scripted
        body = await request.json()
        self.bodies.append(body)
        self.paths.append(request.path)
        prompt = (body.get("input") or {}).get("prompt")
        if request.path == "/v1/predictions" and not body.get("version"):
            return web.json_response({"detail": "version is required", "status": 422}, status=422)
        if not isinstance(prompt, str) or not prompt:
            return web.json_response(
                {"title": "Input validation failed", "detail": "- input: prompt is required", "status": 422},
                status=422,
            )
        self.accepted_submits += 1
        if (late := await self.intercept("submit-answer", request)) is not None:
            return late
        job_id = uuid.uuid4().hex[:26]
        return web.json_response(self._prediction(job_id, "starting"), status=201)

    def _prediction(self, job_id: str, status: str, **extra: object) -> dict[str, object]:
        base = f"{self.base_url}/v1/predictions/{job_id}"
        urls = {"get": base, "cancel": f"{base}/cancel"}
        return {"id": job_id, "status": status, "output": None, "error": None, "logs": "", "urls": urls} | extra

    async def get(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("poll", request)) is not None:
            return scripted
        job_id = request.match_info["id"]
        if job_id in self.jobs.canceled:
            return web.json_response(self._prediction(job_id, "canceled"))
        step = self.jobs.step(job_id)
        if step == 1:
            return web.json_response(self._prediction(job_id, "starting"))
        if step == 2:
            logs = "Loading model\n 50%|█████     | 25/50 [00:10<00:10]\n"
            return web.json_response(self._prediction(job_id, "processing", logs=logs))
        if self.jobs.outcome == "rejected":
            error = "NSFW content detected. Try running it again, or try a different prompt."
            return web.json_response(self._prediction(job_id, "failed", error=error))
        if self.jobs.outcome == "failed":
            return web.json_response(self._prediction(job_id, "failed", error="CUDA error: device-side assert"))
        return web.json_response(self._prediction(job_id, "succeeded", output=self.file_url()))

    async def cancel(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("cancel", request)) is not None:
            return scripted
        job_id = request.match_info["id"]
        self.jobs.canceled.add(job_id)
        return web.json_response(self._prediction(job_id, "canceled"))


FAKE = ReplicateFake
PROVIDER_MODEL = "wan-video/wan-2.2-t2v-fast"
TRAITS = HarnessTraits(
    queue_position=None,
    progress=0.5,
    rejected_kind=Kind.CONTENT_POLICY,
    out_of_credit=Reply(
        402, {"title": "Insufficient credit", "detail": "You have insufficient credit to run this model."}
    ),
)


def settings_for(base_url: str) -> dict[str, object]:
    return {"replicate_api_token": TOKEN, "replicate_base_url": f"{base_url}/v1"}
