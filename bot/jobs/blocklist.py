"""Matching prompts against a guild's blocklist, in time linear in the prompt.

Admin patterns run on RE2 (`google-re2`), which has no backtracking: `(a+)+$`
costs what `a+$` costs. Patterns RE2 cannot run (backreferences, look-around)
are refused when they are added. Plain words are escaped literals between word
edges, which Python's `re` matches in linear time too, with Unicode word edges.
Matching runs on the event loop before the enqueue's write, never on the
database thread.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol, cast

import re2

from bot.domain.records import BlockRule
from bot.jobs.refusal import Refusal

log = logging.getLogger(__name__)

MAX_PATTERN_CHARS = 200
# RE2 gives up compiling a pattern whose automaton would need more than this; a
# pattern that large is refused rather than matched slowly.
_PATTERN_MEMORY = 1 << 20


class _Match(Protocol):
    def group(self, index: int = 0, /) -> str | Any: ...


class _Pattern(Protocol):
    def search(self, text: str, /) -> _Match | None: ...


def _options() -> object:
    options = re2.Options()
    options.case_sensitive = False
    options.max_mem = _PATTERN_MEMORY
    options.log_errors = False  # RE2 would print its parse errors to stderr
    return options


def check_pattern(pattern: str, is_regex: bool) -> str:
    """The pattern as it will be stored, or a `Refusal` saying why it can't be."""
    pattern = pattern.strip()
    if not pattern or len(pattern) > MAX_PATTERN_CHARS:
        raise Refusal("bad_pattern", f"A blocked word or pattern must be 1-{MAX_PATTERN_CHARS} characters.")
    if is_regex:
        try:
            _compile_regex(pattern)
        except re2.error as error:
            reason = _plain_re2_error(error)
            raise Refusal(
                "bad_pattern",
                f"That pattern can't be used: {reason}. Patterns use RE2 syntax, which has no "
                "backreferences or look-around, so no pattern can slow the bot down.",
            ) from None
    return pattern


def first_blocked(rules: Sequence[BlockRule], text: str) -> str | None:
    """The first blocked word or pattern found in `text` (words match whole, case-insensitively)."""
    for rule in rules:
        try:
            pattern = _compile_regex(rule.pattern) if rule.is_regex else _compile_word(rule.pattern)
        except re2.error:
            # Stored before patterns were checked for RE2; it can't run safely, so it is skipped.
            log.warning("blocklist pattern %r is not valid RE2 and is skipped; remove and re-add it", rule.pattern)
            continue
        match = pattern.search(text)
        if match is not None:
            return match.group(0)
    return None


@lru_cache(maxsize=1024)
def _compile_regex(pattern: str) -> _Pattern:
    return cast(_Pattern, re2.compile(pattern, _options()))


@lru_cache(maxsize=1024)
def _compile_word(word: str) -> _Pattern:
    return cast(_Pattern, re.compile(rf"\b{re.escape(word)}\b", flags=re.IGNORECASE))


def _plain_re2_error(error: Exception) -> str:
    detail = error.args[0] if error.args else str(error)
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    return str(detail).rstrip(".") or "RE2 can't compile it"
