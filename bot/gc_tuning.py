"""Garbage-collector settings for a long-running bot process.

Every job allocates thousands of short-lived objects (futures, tasks, rows, jobs).
With CPython's default first-generation threshold of 700, the collector runs
about once per job, and each full collection walks the whole heap — every
module, discord.py's caches, every waiting job — for tens of milliseconds, a
pause in the middle of the event loop. Freezing what start-up loaded takes it
out of every later collection; a higher threshold lets short-lived objects die
by reference counting before a collection ever sees them. Cyclic garbage still
gets collected, only in larger, rarer passes.
"""

from __future__ import annotations

import gc

# Allocations between first-generation collections (CPython's default: 700).
FIRST_GENERATION_THRESHOLD = 20_000
# How many younger collections trigger an older one (defaults: 10 and 10).
OLDER_GENERATION_THRESHOLD = 20


def tune_collector() -> None:
    """Call once, after start-up imports: they are frozen out of every later collection."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(FIRST_GENERATION_THRESHOLD, OLDER_GENERATION_THRESHOLD, OLDER_GENERATION_THRESHOLD)
