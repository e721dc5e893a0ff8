import gc
from collections.abc import Iterator

import pytest

from bot.gc_tuning import FIRST_GENERATION_THRESHOLD, tune_collector


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_start_up_objects_leave_the_collections_and_young_ones_wait_longer() -> None:
    loaded = object.__new__(type("Loaded", (), {}))  # a tracked object alive at start-up
    gc.unfreeze()

    tune_collector()

    assert gc.get_freeze_count() > 0
    assert not any(obj is loaded for obj in gc.get_objects())  # frozen: no collection walks it
    assert gc.get_threshold()[0] == FIRST_GENERATION_THRESHOLD
