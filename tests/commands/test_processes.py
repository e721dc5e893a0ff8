"""`footage-bot gateway` and `worker`: they need PostgreSQL and say so; sharding settings."""

from __future__ import annotations

from pathlib import Path

import discord
import pytest

from bot import cli
from bot.discord_glue.app import create_bot
from bot.settings import Settings, SettingsError, load_settings


@pytest.mark.parametrize("command", ["gateway", "worker"])
def test_on_sqlite_gateway_and_worker_refuse_in_one_line(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("DISCORD_TOKEN", "x" * 60)
    assert cli.main([command]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"footage-bot {command}:" in err and "PostgreSQL" in err and "DATABASE_URL" in err
    assert not (tmp_path / "data").exists()  # nothing was opened


def test_a_worker_without_a_token_says_what_it_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], postgres_url: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    assert cli.main(["worker"]) == 2
    assert "DISCORD_TOKEN is needed" in capsys.readouterr().err


async def test_shard_settings_make_an_auto_sharded_bot_on_those_shards() -> None:
    sharded = create_bot(Settings(_env_file=None, shard_count=4, shard_ids="0,2"))  # type: ignore[call-arg]
    assert isinstance(sharded, discord.AutoShardedClient)
    assert (sharded.shard_count, sharded.shard_ids) == (4, [0, 2])
    plain = create_bot(Settings(_env_file=None))  # type: ignore[call-arg]
    assert not isinstance(plain, discord.AutoShardedClient)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"SHARD_IDS": "0,1"}, "SHARD_IDS needs SHARD_COUNT"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "0,2"}, "between 0 and 1"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "zero"}, "separated by commas"),
    ],
)
def test_bad_shard_settings_are_named(values: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=message):
        load_settings(_env_file=None)
