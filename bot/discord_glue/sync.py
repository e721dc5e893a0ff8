"""Command tree sync only when the command definitions changed (Discord rate-limits syncs)."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, Protocol

import discord
from discord import app_commands

log = logging.getLogger(__name__)

TREE_HASH_KEY = "command_tree_hash"


class MetaStore(Protocol):
    async def meta_get(self, key: str) -> str | None: ...

    async def meta_set(self, key: str, value: str) -> None: ...


def tree_fingerprint(tree: app_commands.CommandTree[Any], dev_guild_id: int | None) -> str:
    definitions = sorted((command.to_dict(tree) for command in tree.get_commands()), key=lambda c: str(c["name"]))
    document = json.dumps({"guild": dev_guild_id, "commands": definitions}, sort_keys=True, default=str)
    return hashlib.sha256(document.encode()).hexdigest()


async def sync_commands(
    tree: app_commands.CommandTree[Any], store: MetaStore, *, dev_guild_id: int | None, force: bool = False
) -> bool:
    """Sync when forced or when the definitions differ from the last sync; True when it synced."""
    fingerprint = tree_fingerprint(tree, dev_guild_id)
    if not force and await store.meta_get(TREE_HASH_KEY) == fingerprint:
        log.info("command definitions unchanged; not syncing")
        return False
    if dev_guild_id is not None:
        # Guild commands update at once: the quick loop while developing.
        guild = discord.Object(dev_guild_id)
        tree.copy_global_to(guild=guild)
        synced = await tree.sync(guild=guild)
    else:
        synced = await tree.sync()
    await store.meta_set(TREE_HASH_KEY, fingerprint)
    log.info("synced %d commands%s", len(synced), f" to guild {dev_guild_id}" if dev_guild_id else "")
    return True
