"""Interaction ack latency: bot time from the command tree taking an interaction to its first answer.

The start is stamped in the interaction's `extras` (discord.py leaves that dict to
the application) by the tree's `interaction_check`; the answer helpers call
`answering` just before the first response leaves. The one measurement feeds the
`footage_interaction_ack_seconds` histogram and `bench ack`.
"""

from __future__ import annotations

import time
from typing import Any

import discord

from bot import metrics

_TAKEN = "footage_ack_taken"


def taken(interaction: discord.Interaction[Any]) -> None:
    interaction.extras[_TAKEN] = time.perf_counter()


def answering(interaction: discord.Interaction[Any]) -> None:
    """Called before the first answer; later answers and untimed interactions are ignored."""
    started = interaction.extras.pop(_TAKEN, None)
    if started is not None:
        metrics.interaction_acked(time.perf_counter() - started)
