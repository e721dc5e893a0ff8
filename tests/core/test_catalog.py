from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain.jobs import JobState
from bot.models import CatalogError, ModelCatalog, load_catalog_file
from bot.quotas.service import Member
from tests.core.conftest import CoreHarness, catalog, origin, request


def test_backend_limit_caps_all_models_of_a_backend(tmp_path: Path) -> None:
    config = tmp_path / "footage.toml"
    fal_model = 'backend = "fal"\ndurations = [5]\naspects = ["16:9"]\nmax_concurrency = 2\n'
    config.write_text(
        "[backends.fal]\nmax_concurrency = 3\n"
        f'[models.a]\nprovider_model = "x/a"\n{fal_model}'
        f'[models.b]\nprovider_model = "x/b"\n{fal_model}'
        '[models.c]\nbackend = "demo"\ndurations = [4]\naspects = ["1:1"]\n'
    )
    catalog = load_catalog_file(config)
    assert catalog.names() == ["a", "b", "c"]
    assert (catalog.backend_limit("fal"), catalog.backend_limit("demo")) == (3, 2)


def test_the_prices_currency_is_stated_once_beside_them(tmp_path: Path) -> None:
    config = tmp_path / "footage.toml"
    demo = 'backend = "demo"\ndurations = [4]\naspects = ["1:1"]\n'
    config.write_text(f'currency = "EUR"\n[models.a]\n{demo}cost_per_second = 0.2\n[models.b]\n{demo}')
    loaded = load_catalog_file(config)
    assert loaded.currency == "EUR"
    assert [model.cost_per_second for model in loaded] == [0.2, None]  # b has no price
    config.write_text(f"[models.a]\n{demo}")
    assert load_catalog_file(config).currency == "USD"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[models.x]\nbackend = \"demo\"\ndurations = [0]\naspects = [\"16:9\"]\n", "model 'x', field durations"),
        ("[backends.fal]\nmax_concurrency = 0\n[models.x]\nbackend = \"demo\"\ndurations = [4]\naspects = [\"1:1\"]\n",
         "backend 'fal', field max_concurrency"),
        ("models = 3\n", "needs at least one [models.NAME] table"),
        ("[models\n", "not valid TOML"),
        ('currency = "euro"\n[models.x]\nbackend = "demo"\ndurations = [4]\naspects = ["1:1"]\n',
         "field currency: must be a three-letter currency code"),
        ("[models.x]\nbackend = \"demo\"\ndurations = [4]\naspects = [\"1:1\"]\ncost_per_second = -1\n",
         "model 'x', field cost_per_second"),
    ],
)  # fmt: skip
def test_bad_catalogs_name_file_model_and_field(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "footage.toml"
    config.write_text(text)
    with pytest.raises(CatalogError, match=r"footage\.toml") as error:
        load_catalog_file(config)
    assert message in str(error.value)


async def test_runner_honours_the_backend_limit(harness: CoreHarness) -> None:
    harness.backend.auto_release = False
    spec = next(iter(catalog()))
    two_models = ModelCatalog([spec, spec.model_copy(update={"name": "second"})], backend_limits={"scripted": 2})
    core = await harness.open(models=two_models, default_max_queued=10, default_daily_seconds=1000)
    jobs = [
        await core.jobs.enqueue(origin(user), request(model=model), Member(user))
        for user, model in ((1, "scripted"), (2, "second"), (3, "second"))
    ]
    await harness.until(jobs[0].job.id, JobState.RUNNING)
    await harness.until(jobs[1].job.id, JobState.RUNNING)
    assert (await core.jobs.get(jobs[2].job.id)).state is JobState.QUEUED  # type: ignore[union-attr]
    harness.backend.script(jobs[0].job.id).release.set()
    await harness.until(jobs[2].job.id, JobState.RUNNING)
