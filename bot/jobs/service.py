"""JobService: what users and admins do with jobs — queue, retry, remix, cancel, look up.

Enqueue validates the request, checks the limits and quota, reserves the cost and
inserts the job in one transaction, then hands it to the fair queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Protocol

from bot.clock import Clock, to_epoch
from bot.domain.jobs import (
    FINISHED_STATES,
    MAX_SEED,
    Job,
    JobRequest,
    JobState,
    Origin,
    new_job_id,
    new_seed,
    normalize_job_id,
)
from bot.domain.records import BlockRule, GuildConfig
from bot.jobs.blocklist import first_blocked
from bot.jobs.events import EventBus
from bot.jobs.prompt_text import has_visible_content
from bot.jobs.refusal import Refusal
from bot.jobs.scheduler import FairQueue, QueuePlace, share_finish, start_tag
from bot.models import ModelCatalog, ModelSpec
from bot.quotas import ledger
from bot.quotas.service import Cost, Member, QuotaService
from bot.store.store import Store
from bot.store.transaction import StaleState, Tx

MAX_NEGATIVE_CHARS = 500
_OPEN_LIMIT = 500
_BLOCKLIST_RECHECKS = 3


@dataclass(frozen=True, slots=True)
class _BlocklistChanged:
    """The guild's blocklist is not the one the prompt was matched against."""

    rules: list[BlockRule]


@dataclass(frozen=True, slots=True)
class Enqueued:
    job: Job
    place: QueuePlace | None  # None once the job left the queue (it started at once)
    duplicate: bool = False  # an open retry of the same job already existed


class Dispatcher(Protocol):
    """The runner, as the service sees it."""

    def wake(self) -> None: ...

    def abort(self, job: Job) -> None: ...

    def place(self, job: Job) -> QueuePlace | None: ...

    def live(self, job: Job) -> Job:
        """`job` as stored, with the step its driving task reached where only memory holds it."""
        ...


class JobService:
    def __init__(
        self,
        store: Store,
        catalog: ModelCatalog,
        quotas: QuotaService,
        queue: FairQueue,
        events: EventBus,
        clock: Clock,
        *,
        prompt_max_chars: int,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._quotas = quotas
        self._queue = queue
        self._events = events
        self._clock = clock
        self._prompt_max = prompt_max_chars
        self._dispatcher: Dispatcher | None = None
        # Each guild's blocklist as last read, so an enqueue can match before its write.
        self._blocklists: dict[int, list[BlockRule]] = {}

    def attach_dispatcher(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher

    @property
    def dispatcher(self) -> Dispatcher:
        assert self._dispatcher is not None, "the runner is not attached"
        return self._dispatcher

    # Queueing

    async def enqueue(
        self,
        origin: Origin,
        request: JobRequest,
        member: Member,
        *,
        kind: str = "generate",
        parent_id: str | None = None,
    ) -> Enqueued:
        spec = self._validate(request)
        seed = new_seed() if request.seed is None else request.seed
        # Sound is kept with the job, so its messages say whether the clip has sound without the catalog.
        request = replace(request, seed=seed, audio=spec.sound_for(request.audio))
        now = self._clock()
        virtual_time = self._queue.virtual_time
        price = spec.price_micros(request.seconds)

        def admit_and_insert(checked: list[BlockRule], tx: Tx) -> tuple[Job, bool] | _BlocklistChanged:
            config = tx.guild_config(origin.guild_id)
            if config.blocklist != checked:
                return _BlocklistChanged(config.blocklist)
            _check_guild_rules(config, origin, spec)
            if kind == "retry" and parent_id is not None:
                existing = tx.open_retry(parent_id)
                if existing is not None:
                    return existing, True
            tier = self._quotas.tier_for(tx, origin.guild_id, member)
            if request.seconds > tier.max_clip_seconds:
                raise Refusal(
                    "clip_too_long",
                    f"Your tier ({tier.name}) allows clips up to {tier.max_clip_seconds} s; "
                    f"you asked for {request.seconds} s.",
                )
            lane = self._quotas.admit(tx, config, member, tier, Cost(request.seconds, price, spec.name), now)
            job = Job(
                id=new_job_id(),
                kind=kind,
                parent_id=parent_id,
                origin=origin,
                request=request,
                state=JobState.QUEUED,
                created_at=now,
                updated_at=now,
                lane=lane,
                sched_tag=start_tag(virtual_time, share_finish(tx.latest_share(origin.guild_id, origin.user_id))),
                weight=tier.weight,
                max_running=tier.max_running,
                cost_seconds=request.seconds,
                cost_micros=price or 0,
                backend=spec.backend,
            )
            tx.insert_job(job)
            ledger.reserve(tx, job, to_epoch(now))
            return job, False

        # The prompt is matched against the blocklist here, on the loop, before the write:
        # user patterns never run on the database thread. The write only checks that the
        # blocklist is still the one matched, and says so when an admin changed it.
        checked = self._blocklists.get(origin.guild_id, [])
        for _ in range(_BLOCKLIST_RECHECKS):
            blocked = _blocked_text(checked, request)
            if blocked is None:
                outcome = await self._store.write(partial(admit_and_insert, checked))
                if not isinstance(outcome, _BlocklistChanged):
                    break
                checked = self._blocklists[origin.guild_id] = outcome.rules
                continue
            # Refuse only on the blocklist as it is now: an admin may have just removed the rule.
            current = (await self._store.read(lambda tx: tx.guild_config(origin.guild_id))).blocklist
            if current == checked:
                raise Refusal("prompt_blocked", f"The prompt contains {blocked!r}, which this server does not allow.")
            checked = self._blocklists[origin.guild_id] = current
        else:
            raise Refusal("busy", "This server's blocklist is changing right now; try again in a moment.")
        job, duplicate = outcome
        if duplicate:
            return self._enqueued(job, duplicate=True)
        self._queue.add(job)
        self._events.publish("state", job)
        self.dispatcher.wake()
        return self._enqueued(job)

    async def retry(self, job_id: str, member: Member, *, channel_id: int, upload_limit: int) -> Enqueued:
        parent = await self.job_to_act_on(job_id, member)
        origin = Origin(parent.guild_id, channel_id, member.user_id, upload_limit)
        request = replace(parent.request, seed=new_seed())
        return await self.enqueue(origin, request, member, kind="retry", parent_id=parent.id)

    async def remix(self, job_id: str, member: Member, prompt: str, *, channel_id: int, upload_limit: int) -> Enqueued:
        parent = await self.job_to_act_on(job_id, member)
        origin = Origin(parent.guild_id, channel_id, member.user_id, upload_limit)
        request = replace(parent.request, prompt=prompt, seed=None)
        return await self.enqueue(origin, request, member, kind="remix", parent_id=parent.id)

    async def cancel(self, job_id: str, member: Member, guild_id: int) -> Job:
        """Cancel a waiting or running job; the reservation is released in the same transaction."""
        for _ in range(3):
            job = await self.job_to_act_on(job_id, member, guild_id)
            if job.state in FINISHED_STATES:
                raise Refusal("already_finished", f"Job {job.id} is already {job.state.value}.")
            if job.state is JobState.DELIVERING:
                raise Refusal("too_late", f"Job {job.id} is finished and being posted right now.")
            now = to_epoch(self._clock())
            try:
                canceled = await self._store.write(partial(_cancel, job, now))
            except StaleState:
                continue  # the runner moved it meanwhile; look again
            self._queue.remove(job.id)
            self.dispatcher.abort(canceled)
            self._events.publish("state", canceled)
            self.dispatcher.wake()
            return canceled
        raise Refusal("busy", f"Job {job_id} is changing state right now; try again in a moment.")

    # Looking up

    async def get(self, job_id: str) -> Job | None:
        job = await self._store.read(lambda tx: tx.get_job(normalize_job_id(job_id)))
        return None if job is None else self.dispatcher.live(job)

    def place(self, job: Job) -> QueuePlace | None:
        return self.dispatcher.place(job)

    async def open_jobs(self, guild_id: int, user_id: int) -> list[Job]:
        """A member's unfinished jobs in queue order: running first, then waiting, next to start first."""
        jobs = await self._store.read(lambda tx: tx.user_jobs(guild_id, user_id, unfinished=True, limit=_OPEN_LIMIT))
        return self._in_queue_order(self._live(jobs))

    async def guild_open_jobs(self, guild_id: int) -> list[Job]:
        """A server's unfinished jobs in queue order, as /queue, status messages and first answers number them."""
        return self._in_queue_order(
            self._live(await self._store.read(lambda tx: tx.guild_open_jobs(guild_id, _OPEN_LIMIT)))
        )

    def _in_queue_order(self, jobs: list[Job]) -> list[Job]:
        def order(job: Job) -> tuple[int, float]:
            place = self._queue.position(job.id) if job.state is JobState.QUEUED else None
            if place is None:  # running (or just left the queue): ahead of every waiting job, oldest first
                return 0, job.created_at.timestamp()
            return 1, place

        return sorted(jobs, key=order)

    async def history(self, guild_id: int, user_id: int, limit: int = 10) -> list[Job]:
        return self._live(
            await self._store.read(lambda tx: tx.user_jobs(guild_id, user_id, unfinished=False, limit=limit))
        )

    def _live(self, jobs: list[Job]) -> list[Job]:
        return [self.dispatcher.live(job) for job in jobs]

    async def attach_status(self, job_id: str, channel_id: int, message_id: int) -> None:
        now = to_epoch(self._clock())
        await self._store.write(
            lambda tx: tx.update_job(job_id, now, status_channel_id=channel_id, status_message_id=message_id)
        )

    async def forget_result(self, job_id: str) -> None:
        """The clip's message was deleted: `/show` posts it afresh rather than linking a dead message."""
        now = to_epoch(self._clock())
        await self._store.write(
            lambda tx: tx.update_job(job_id, now, result_message_id=None, result_dm_channel_id=None)
        )

    # Helpers

    def _enqueued(self, job: Job, *, duplicate: bool = False) -> Enqueued:
        return Enqueued(job, self.place(job), duplicate)

    async def job_to_act_on(self, job_id: str, member: Member, guild_id: int | None = None) -> Job:
        """The job, if `member` may cancel, retry, remix or delete it: the one statement of that rule.

        Its requester may, and so may anyone who moderates the server (admins
        included). `guild_id` is where the member asks: a job elsewhere is not found.
        """
        job = await self.get(job_id)
        if job is None or (guild_id is not None and job.guild_id != guild_id):
            raise Refusal("not_found", f"No job {normalize_job_id(job_id)} in this server. Check the id with /history.")
        if job.user_id != member.user_id and not member.may_moderate:
            raise Refusal("not_yours", f"Job {job.id} is not yours: only its requester or a moderator can do that.")
        return job

    def model_spec(self, name: str | None) -> ModelSpec:
        """The named model (the default when None), or the refusal that names the choices."""
        spec = self._catalog.default if name is None else self._catalog.get(name)
        if spec is None:
            raise Refusal(
                "model_unknown", f"There is no model {name!r}. Choose one of: {', '.join(self._catalog.names())}."
            )
        return spec

    def _validate(self, request: JobRequest) -> ModelSpec:
        spec = self.model_spec(request.model)
        prompt = request.prompt.strip()
        if not has_visible_content(prompt):
            raise Refusal(
                "prompt_empty", "The prompt has nothing visible in it: describe the footage you want in words."
            )
        if len(prompt) > self._prompt_max:
            raise Refusal(
                "prompt_too_long", f"The prompt is {len(prompt)} characters; the limit is {self._prompt_max}."
            )
        if request.negative_prompt is not None:
            if len(request.negative_prompt) > MAX_NEGATIVE_CHARS:
                raise Refusal(
                    "negative_too_long", f"The negative prompt is longer than {MAX_NEGATIVE_CHARS} characters."
                )
            if not has_visible_content(request.negative_prompt):
                raise Refusal(
                    "negative_empty",
                    "The negative prompt has nothing visible in it: leave it out or name what to avoid.",
                )
        if request.seconds not in spec.durations:
            allowed = ", ".join(f"{seconds} s" for seconds in spec.durations)
            raise Refusal(
                "seconds_not_allowed", f"{spec.name} makes clips of {allowed}; you asked for {request.seconds} s."
            )
        if request.aspect not in spec.aspects:
            raise Refusal(
                "aspect_not_allowed",
                f"{spec.name} supports aspect ratios {', '.join(spec.aspects)}; not {request.aspect}.",
            )
        if request.seed is not None and not 0 <= request.seed <= MAX_SEED:
            raise Refusal("seed_out_of_range", f"The seed must be between 0 and {MAX_SEED}.")
        if request.image_url is not None and not spec.image_to_video:
            raise Refusal("image_not_supported", f"{spec.name} does not take an input image; choose another model.")
        if (problem := spec.sound_refusal(request.audio)) is not None:
            raise Refusal("audio_not_switchable", problem)
        return spec


def _cancel(job: Job, now: float, tx: Tx) -> Job:
    canceled = tx.move_job(job, JobState.CANCELED, now)
    ledger.release(tx, job, now)
    return canceled


def _check_guild_rules(config: GuildConfig, origin: Origin, spec: ModelSpec) -> None:
    if config.allowed_channels is not None and origin.channel_id not in config.allowed_channels:
        raise Refusal(
            "channel_not_allowed",
            "Footage can't be ordered in this channel. Ask an admin which channels are set up for it.",
        )
    if config.enabled_models is not None and spec.name not in config.enabled_models:
        raise Refusal(
            "model_disabled",
            f"{spec.name} is turned off in this server. Enabled: {', '.join(config.enabled_models) or 'none'}.",
        )


def _blocked_text(rules: Sequence[BlockRule], request: JobRequest) -> str | None:
    texts = (request.prompt, request.negative_prompt or "")
    return next((found for text in texts if (found := first_blocked(rules, text)) is not None), None)
