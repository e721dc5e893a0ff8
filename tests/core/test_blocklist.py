"""Admin blocklist patterns can never stall the bot, and are never matched on the database thread."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading

import pytest

from bot.domain.records import BlockRule
from bot.jobs import service
from bot.jobs.blocklist import first_blocked
from bot.jobs.refusal import Refusal
from bot.quotas.service import Member
from tests.core.conftest import GUILD, CoreHarness, origin, request

# Python's backtracking `re` needs 2**n steps for these; RE2 needs n.
CATASTROPHIC = [(r"(a+)+$", "a" * 60 + "!"), (r"(x|x)*y", "x" * 60)]


@pytest.mark.parametrize(("pattern", "text"), CATASTROPHIC)
def test_a_catastrophic_pattern_matches_in_linear_time(pattern: str, text: str) -> None:
    # In a child process so that, were matching to backtrack, the test fails at the
    # limit instead of spinning for years; the limit is liveness, not a speed figure.
    code = (
        "from bot.jobs.blocklist import first_blocked\n"
        "from bot.domain.records import BlockRule\n"
        f"print(first_blocked([BlockRule({pattern!r}, True)], {text!r}))\n"
    )
    finished = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert finished.stdout.strip() == "None"


async def test_catastrophic_pattern_is_accepted_and_enqueues_still_answer(harness: CoreHarness) -> None:
    core = await harness.open(start=False, prompt_max_chars=4000)
    await core.guilds.add_block(GUILD, r"(a+)+$", is_regex=True)
    queued = await core.jobs.enqueue(origin(1), request("a" * 3000 + "!"), Member(1))
    assert queued.job.id
    with pytest.raises(Refusal) as refused:
        await core.jobs.enqueue(origin(2), request("aaaa"), Member(2))
    assert refused.value.code == "prompt_blocked"


async def test_prompts_are_matched_on_the_loop_thread_never_the_database_thread(
    harness: CoreHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []

    def recording(rules: list[BlockRule], text: str) -> str | None:
        threads.append(threading.current_thread())
        return first_blocked(rules, text)

    monkeypatch.setattr(service, "first_blocked", recording)
    core = await harness.open(start=False)
    await core.guilds.add_block(GUILD, "gore", is_regex=False)
    with pytest.raises(Refusal):
        await core.jobs.enqueue(origin(1), request("gore at dawn"), Member(1))
    await core.jobs.enqueue(origin(1), request("calm at dawn"), Member(1))
    assert threads
    assert set(threads) == {threading.main_thread()}


async def test_a_pattern_added_after_the_last_enqueue_is_applied_to_the_next(harness: CoreHarness) -> None:
    core = await harness.open(start=False, default_max_queued=10)
    await core.jobs.enqueue(origin(1), request("storm at sea"), Member(1))
    await core.guilds.add_block(GUILD, r"sto+rm", is_regex=True)
    with pytest.raises(Refusal) as refused:
        await core.jobs.enqueue(origin(1), request("a STOOORM at sea"), Member(1))
    assert "STOOORM" in refused.value.message
    await core.guilds.remove_block(GUILD, r"sto+rm")
    await core.jobs.enqueue(origin(1), request("storm at sea"), Member(1))
    assert await core.reports.ledger_check() == []


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        (r"(a)\1", "RE2"),  # a backreference: backtracking only
        (r"fo(?=o)", "RE2"),  # look-ahead
        ("a{1000}{1000}", "RE2"),
        ("x" * 201, "1-200 characters"),
        ("   ", "1-200 characters"),
    ],
)
async def test_patterns_that_cannot_run_safely_are_refused_with_a_reason(
    harness: CoreHarness, pattern: str, words: str
) -> None:
    core = await harness.open(start=False)
    with pytest.raises(Refusal) as refused:
        await core.guilds.add_block(GUILD, pattern, is_regex=True)
    assert refused.value.code == "bad_pattern"
    assert words in refused.value.message
    assert (await core.guilds.config(GUILD)).blocklist == []


def test_words_match_whole_with_unicode_word_edges() -> None:
    rules = [BlockRule("café", False)]
    assert first_blocked(rules, "un CAFÉ noir") == "CAFÉ"
    assert first_blocked(rules, "cafés") is None


def test_a_stored_pattern_re2_cannot_run_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert first_blocked([BlockRule(r"(a)\1", True), BlockRule("gore", False)], "aa gore") == "gore"
    assert "not valid RE2" in caplog.text
