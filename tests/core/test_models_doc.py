"""The ready `footage.toml` in docs/models.md loads as the bot would load it."""

from __future__ import annotations

import re
from pathlib import Path

from bot.backends.registry import load_catalog
from bot.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "models.md"


def test_the_late_2026_catalog_in_the_docs_loads(tmp_path: Path) -> None:
    section = DOC.read_text().split("## Late-2026 models, ready to use", 1)[1]
    toml = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert toml is not None
    config = tmp_path / "footage.toml"
    config.write_text(toml.group(1))

    catalog = load_catalog(Settings(_env_file=None, footage_config=config))  # type: ignore[call-arg]

    assert catalog.names() == ["veo31", "kling", "ltx2", "seedance", "gen45", "ray2"]
    assert catalog.backends() == {"veo", "kling", "fal", "runway", "luma"}
    assert all(model.cost_per_second > 0 and model.run_seconds for model in catalog)
    by_name = {model.name: model for model in catalog}
    assert by_name["veo31"].audio and by_name["kling"].audio and not by_name["ltx2"].audio
    assert by_name["seedance"].image_to_video
