"""fal.ai queue API, as documented: submit, status (?logs=1), the status stream, response, cancel."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable

from aiohttp import web

from .base import FakeProvider, HarnessTraits, JobBook, Kind, Reply

KEY = "0b8e0f4e-6a2d-4d9f-9a51-1c2f7e9d3a10:3f9b2c7d8e1a4b5c6d7e8f9a0b1c2d3e"


class FalFake(FakeProvider):
    def __init__(self, video: bytes) -> None:
        super().__init__(video, expected_auth=f"Key {KEY}")
        self.jobs = JobBook()
        self.app_of: dict[str, str] = {}
        # COMPLETED may carry error/error_type (status variant) or the result may be a 422.
        self.rejection = "result"
        # Timed mode (the poll benchmark): each job runs this long from its submit, by the clock.
        self.run_seconds: Callable[[int], float] | None = None
        self.finish_at: dict[str, float] = {}
        self.ran: dict[str, float] = {}
        # The status stream: False answers it 404, as a gateway that does not serve it would.
        self.streaming = True
        self.streams: Counter[str] = Counter()  # stream requests per job, beside `jobs.polls`
        self.keepalive_seconds = 15.0  # fal sends a comment line this often
        self.step_seconds = 0.01  # between a step-mode job's stream events
        # The Platform API (served here too; settings point FAL_API_URL at this server).
        self.admin_key = True  # False: the key may generate but not read billing (fal answers 403)
        self.balance = 24.5
        self.models = {PROVIDER_MODEL}
        self.known_requests: set[str] = set()
        routes = self.app.router
        routes.add_get("/account/billing", self.billing)
        routes.add_get("/models", self.model_search)
        routes.add_get("/{owner}/{app}/requests/{id}/status/stream", self.status_stream)
        routes.add_get("/{owner}/{app}/requests/{id}/status", self.status)
        routes.add_put("/{owner}/{app}/requests/{id}/cancel", self.cancel)
        routes.add_get("/{owner}/{app}/requests/{id}", self.response)
        routes.add_post("/{model:.+}", self.submit)

    def unauthorized(self) -> web.Response:
        return web.json_response({"detail": "Authentication is required to access this application."}, status=401)

    async def submit(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("submit", request)) is not None:
            return scripted
        body = await request.json()
        self.bodies.append(body)
        if not isinstance(body.get("prompt"), str) or not body["prompt"]:
            detail = [{"loc": ["body", "prompt"], "msg": "field required", "type": "missing"}]
            return web.json_response({"detail": detail}, status=422)
        self.accepted_submits += 1
        if (late := await self.intercept("submit-answer", request)) is not None:
            return late
        job_id = str(uuid.uuid4())
        if self.run_seconds is not None:
            self.ran[job_id] = self.run_seconds(self.accepted_submits - 1)
            self.finish_at[job_id] = time.monotonic() + self.ran[job_id]
        return self.accepted(request, job_id)

    def accepted(self, request: web.Request, job_id: str) -> web.Response:
        """fal's answer to an accepted submit: the request id and the URLs to follow it."""
        self.known_requests.add(job_id)
        owner_app = "/".join(request.match_info["model"].split("/")[:2])
        base = f"{self.base_url}/{owner_app}/requests/{job_id}"
        return web.json_response(
            {
                "request_id": job_id,
                "status_url": f"{base}/status",
                "response_url": base,
                "cancel_url": f"{base}/cancel",
                "queue_position": 0,
            }
        )

    async def status(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("poll", request)) is not None:
            return scripted
        job_id = request.match_info["id"]
        if job_id not in self.known_requests:
            return web.json_response({"detail": "Request not found"}, status=404)
        return web.json_response(
            self.status_body(job_id, self.jobs.step(job_id), logs=request.query.get("logs") == "1")
        )

    def status_body(self, job_id: str, step: int, *, logs: bool = False) -> dict[str, object]:
        """The job's status at its `step` (one per poll), or by the clock in timed mode."""
        if job_id in self.finish_at:
            if time.monotonic() < self.finish_at[job_id]:
                return {"status": "IN_PROGRESS", "logs": [], "request_id": job_id}
            return {"status": "COMPLETED", "request_id": job_id, "logs": []}
        if step == 1:
            return {"status": "IN_QUEUE", "queue_position": 2, "request_id": job_id}
        if step == 2:
            lines = [{"message": "step 1/8", "level": "INFO"}] if logs else None
            return {"status": "IN_PROGRESS", "logs": lines, "request_id": job_id}
        done: dict[str, object] = {"status": "COMPLETED", "request_id": job_id, "logs": []}
        if self.jobs.outcome == "rejected" and self.rejection == "status":
            done |= {"error": "The content could not be processed", "error_type": "content_policy_violation"}
        if self.jobs.outcome == "failed":
            done |= {"error": "Internal error while generating", "error_type": "internal_error"}
        return done

    async def status_stream(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: a `data:` line with the status object on each change, a comment
        every `keepalive_seconds`, closed after COMPLETED (fal's documented behaviour)."""
        if (scripted := await self.intercept("stream", request)) is not None:
            return scripted
        job_id = request.match_info["id"]
        self.streams[job_id] += 1  # one status request, however long it stays open
        if not self.streaming:
            return web.json_response({"detail": "Not Found"}, status=404)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        step, sent, quiet_since = 1, None, time.monotonic()
        while True:
            status = self.status_body(job_id, step)
            if status != sent:
                await response.write(f"data: {json.dumps(status)}\n\n".encode())
                sent, quiet_since = status, time.monotonic()
            if status["status"] == "COMPLETED":
                break
            if job_id in self.finish_at:
                next_keepalive = quiet_since + self.keepalive_seconds
                await asyncio.sleep(max(0.0, min(self.finish_at[job_id], next_keepalive) - time.monotonic()))
                if time.monotonic() >= next_keepalive:
                    await response.write(b": keep-alive\n\n")
                    quiet_since = time.monotonic()
            else:
                await asyncio.sleep(self.step_seconds)
                step += 1
        await response.write_eof()
        return response

    async def billing(self, request: web.Request) -> web.Response:
        """`GET /v1/account/billing`: admin keys only; `expand=credits` adds the balance."""
        if (scripted := await self.intercept("billing", request)) is not None:
            return scripted
        if not self.admin_key:
            return web.json_response({"detail": "Admin API key required"}, status=403)
        body: dict[str, object] = {"username": "footage-tests"}
        if "credits" in request.query.getall("expand", []):
            body["credits"] = {"current_balance": self.balance, "currency": "USD"}
        return web.json_response(body)

    async def model_search(self, request: web.Request) -> web.Response:
        """`GET /v1/models?endpoint_id=...` (find mode): the endpoints asked for that exist."""
        if (scripted := await self.intercept("models", request)) is not None:
            return scripted
        found = [
            {"endpoint_id": endpoint, "metadata": {"display_name": endpoint, "status": "active"}}
            for endpoint in request.query.getall("endpoint_id", [])
            if endpoint in self.models
        ]
        return web.json_response({"models": found, "next_cursor": None, "has_more": False})

    async def response(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("result", request)) is not None:
            return scripted
        if self.jobs.outcome == "rejected":
            detail = [
                {
                    "loc": ["body", "prompt"],
                    "msg": "The content was flagged by a content checker.",
                    "type": "content_policy_violation",
                    "categories": ["violence"],
                }
            ]
            return web.json_response({"detail": detail}, status=422)
        return web.json_response({"video": {"url": self.file_url(), "content_type": "video/mp4"}, "seed": 1})

    async def cancel(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("cancel", request)) is not None:
            return scripted
        self.jobs.canceled.add(request.match_info["id"])
        return web.json_response({"status": "CANCELLATION_REQUESTED"}, status=202)


FAKE = FalFake
PROVIDER_MODEL = "fal-ai/wan/v2.2-5b/text-to-video"
TRAITS = HarnessTraits(
    queue_position=2,
    progress=None,
    rejected_kind=Kind.CONTENT_POLICY,
    out_of_credit=Reply(403, {"detail": "User is locked. Reason: Exhausted balance. Top up your balance."}),
)


def settings_for(base_url: str) -> dict[str, object]:
    return {"fal_key": KEY, "fal_queue_url": base_url, "fal_api_url": base_url}
