"""The Gemini API's Veo routes, as documented: predictLongRunning, operations, file download.

A wrong key answers 400 INVALID_ARGUMENT (reason API_KEY_INVALID), as Google does. The
file URI is on the API (key required) and redirects to storage on another origin (a
second port here), which refuses any request carrying the key.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from .base import FakeProvider, HarnessTraits, JobBook, Kind, Reply

KEY = "AIzaSyD3f4k3K3yF0rF00tag3B0tT3st1ng0123"
MODEL = "veo-3.1-generate-001"


def google_error(code: int, status: str, message: str, *details: dict[str, Any]) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status, "details": list(details)}}


BAD_KEY = google_error(
    400,
    "INVALID_ARGUMENT",
    "API key not valid. Please pass a valid API key.",
    {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"},
)


class VeoFake(FakeProvider):
    auth_header = "x-goog-api-key"

    def __init__(self, video: bytes) -> None:
        super().__init__(video, expected_auth=KEY)
        self.jobs = JobBook()
        self.storage_url = ""
        routes = self.app.router
        routes.add_post("/v1beta/models/{call}", self.submit)
        routes.add_get("/v1beta/models/{model}/operations/{id}", self.operation)
        routes.add_get("/v1beta/files/{call}", self.file_link)
        routes.add_get("/v1beta/models/{model}", self.model_info)

    async def start(self) -> str:
        base_url = await super().start()
        assert self._runner is not None
        storage = web.TCPSite(self._runner, "127.0.0.1", 0)
        await storage.start()
        self.storage_url = f"http://127.0.0.1:{self._runner.addresses[-1][1]}"
        return base_url

    def unauthorized(self) -> web.Response:
        return web.json_response(BAD_KEY, status=400)

    async def submit(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("submit", request)) is not None:
            return scripted
        model, _, method = request.match_info["call"].partition(":")
        if method != "predictLongRunning":
            return web.json_response(google_error(404, "NOT_FOUND", "Method not found."), status=404)
        if model != MODEL:
            message = f"models/{model} is not found for API version v1beta, or is not supported for predictLongRunning."
            return web.json_response(google_error(404, "NOT_FOUND", message), status=404)
        body = await request.json()
        self.bodies.append(body)
        instances = body.get("instances")
        if not isinstance(instances, list) or len(instances) != 1 or not instances[0].get("prompt"):
            message = "* GenerateVideoRequest.instances[0].prompt: prompt is required"
            return web.json_response(google_error(400, "INVALID_ARGUMENT", message), status=400)
        parameters = body.get("parameters", {})
        if parameters.get("durationSeconds") not in (4, 6, 8):
            message = "The number value for `durationSeconds` is out of bound. Please provide a value between 4 and 8."
            return web.json_response(google_error(400, "INVALID_ARGUMENT", message), status=400)
        self.accepted_submits += 1
        name = f"models/{model}/operations/{uuid.uuid4().hex[:12]}"
        if (late := await self.intercept("submit-answer", request)) is not None:
            return late
        return web.json_response({"name": name})

    async def operation(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("poll", request)) is not None:
            return scripted
        name = f"models/{request.match_info['model']}/operations/{request.match_info['id']}"
        step = self.jobs.step(name)
        if step <= 2:
            return web.json_response({"name": name})  # running: `done` is omitted while false
        if self.jobs.outcome == "rejected":
            filtered = {
                "raiMediaFilteredCount": 1,
                "raiMediaFilteredReasons": ["The prompt could not be submitted: it may violate our usage policies."],
            }
            return web.json_response({"name": name, "done": True, "response": {"generateVideoResponse": filtered}})
        if self.jobs.outcome == "failed":
            error = {"code": 13, "message": "Internal error encountered."}
            return web.json_response({"name": name, "done": True, "error": error})
        file_id = f"{uuid.uuid4().hex[:10]}-{self.result_file}"
        sample = {"video": {"uri": f"{self.base_url}/v1beta/files/{file_id}:download?alt=media"}}
        response = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
            "generateVideoResponse": {"generatedSamples": [sample]},
        }
        return web.json_response({"name": name, "done": True, "response": response})

    async def model_info(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("model", request)) is not None:
            return scripted
        model = request.match_info["model"]
        if model != MODEL:
            return web.json_response(google_error(404, "NOT_FOUND", f"models/{model} is not found"), status=404)
        methods = ["predictLongRunning"]
        return web.json_response({"name": f"models/{model}", "supportedGenerationMethods": methods})

    async def file_link(self, request: web.Request) -> web.StreamResponse:
        if (scripted := await self.intercept("file", request)) is not None:
            return scripted
        file_id, _, method = request.match_info["call"].partition(":")
        if method != "download" or request.query.get("alt") != "media":
            return web.json_response(google_error(400, "INVALID_ARGUMENT", "Use :download?alt=media"), status=400)
        name = file_id.split("-", 1)[1]
        raise web.HTTPFound(f"{self.storage_url}/files/{name}")


FAKE = VeoFake
PROVIDER_MODEL = MODEL
TRAITS = HarnessTraits(
    queue_position=None,
    progress=None,
    rejected_kind=Kind.CONTENT_POLICY,
    out_of_credit=Reply(
        402, google_error(402, "FAILED_PRECONDITION", "Your prepaid credits are depleted. Add credits to continue.")
    ),
    states=("running", "succeeded"),
    seconds=8,
)


def settings_for(base_url: str) -> dict[str, object]:
    return {"gemini_api_key": KEY, "gemini_base_url": base_url}
