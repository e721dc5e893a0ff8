"""`footage-bot bench poll`: how soon a finished job is seen, and how many status requests it costs.

Runs the real fal adapter and the bot's poll loop against the loopback fal server of
the test suite (`tests/backends/servers/fal.py`, in timed mode: each job completes a
set time after its submit, by the clock), following fal's status stream, or with
`--no-stream` against a server that does not serve it, so the aimed polls take over.
Each job's run time varies around the model's measured run time by up to `--jitter`
seconds either way, spread evenly over the jobs. Prints, per job, the status requests
it cost (a stream is one, a refused stream too) and the wait from the provider's
completion until the bot had the result URL in hand (ready to fetch); then the worst
and mean of both. Needs a checkout (the server lives in `tests/`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
from typing import Any

from pydantic import SecretStr

from bot.backends.base import BackendJob, GenerationRequest
from bot.backends.registry import build_backends, resolve_model
from bot.jobs.polling import poll_until_done
from bot.models import ModelCatalog, ModelSpec
from bot.settings import Settings

MODEL = "fal-ai/wan/v2.2-5b/text-to-video"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=45.0, help="the model's measured run time (45)")
    parser.add_argument("--jobs", type=int, default=6, help="jobs run at once (6)")
    parser.add_argument("--jitter", type=float, default=0.5, help="how far a job's run time strays, seconds (0.5)")
    parser.add_argument(
        "--no-stream", action="store_true", help="the server does not serve fal's status stream: aimed polls only"
    )


def _run_times(args: argparse.Namespace) -> list[float]:
    jobs = max(1, args.jobs)
    if jobs == 1:
        return [args.seconds]
    return [args.seconds - args.jitter + 2 * args.jitter * index / (jobs - 1) for index in range(jobs)]


async def run(args: argparse.Namespace, settings: Settings) -> dict[str, object]:
    try:
        from tests.backends.servers.fal import KEY, FalFake
    except ImportError:
        raise SystemExit(
            "footage-bot bench poll: run it from a checkout: it uses the test suite's fal server"
        ) from None
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # one line per request would bury the figures
    run_times = _run_times(args)
    server = FalFake(b"")
    server.run_seconds = lambda index: run_times[index % len(run_times)]
    server.streaming = not args.no_stream
    base_url = await server.start()
    bench_settings = settings.model_copy(
        update={"fal_key": SecretStr(KEY), "fal_queue_url": base_url, "fal_model": MODEL, "footage_backend": "fal"}
    )
    spec = resolve_model(
        ModelSpec(name="bench", backend="fal", provider_model=MODEL, durations=(5,), aspects=("16:9",))
    )
    backend = build_backends(bench_settings, ModelCatalog([spec]))["fal"]
    try:
        how = "aimed polls (no status stream)" if args.no_stream else "the status stream"
        jobs = f"{len(run_times)} jobs of {args.seconds:g} s (+-{args.jitter:g} s)"
        print(f"{jobs} against {base_url}, {how}", flush=True)
        results = await asyncio.gather(
            *(_one(backend, server, spec, index, args.seconds) for index in range(len(run_times)))
        )
    finally:
        await backend.aclose()
        await server.stop()
    waits = [wait for _, wait, _ in results]
    requests = [count for _, _, count in results]
    for index, (ran, wait, count) in enumerate(results):
        print(f"job {index}: ran {ran:.2f} s, {count} status requests, seen {wait:.3f} s after it finished")
    print(f"seen after completion: worst {max(waits):.3f} s, mean {statistics.mean(waits):.3f} s")
    print(f"status requests per job: worst {max(requests)}, mean {statistics.mean(requests):.1f}")
    return {
        "benchmark": "poll",
        "run_seconds": args.seconds,
        "jobs": len(run_times),
        "jitter_seconds": args.jitter,
        "status_stream": not args.no_stream,
        "seen_after_worst_s": round(max(waits), 3),
        "seen_after_mean_s": round(statistics.mean(waits), 3),
        "status_requests_worst": max(requests),
        "status_requests_mean": round(statistics.mean(requests), 2),
    }


async def _one(backend: Any, server: Any, spec: ModelSpec, index: int, expected: float) -> tuple[float, float, int]:
    """(how long the job ran, how long after it finished the bot saw it, its status requests)."""
    request = GenerationRequest(
        job_id=f"bench-{index}", model=spec, prompt="a lighthouse in a storm", seconds=5, aspect="16:9", seed=index
    )
    job: BackendJob = await backend.submit(request)
    result = await poll_until_done(
        backend, job, on_update=lambda _: None, timeout=expected * 4 + 10, expected_seconds=expected
    )
    seen = time.monotonic()
    assert result.state == "succeeded", result
    ran: float = server.ran[job.id]
    count: int = server.jobs.polls[job.id] + server.streams[job.id]
    return ran, seen - float(server.finish_at[job.id]), count
