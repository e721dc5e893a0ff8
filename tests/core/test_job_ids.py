import multiprocessing

from bot.domain.jobs import JOB_ID_ALPHABET, JOB_ID_LENGTH, new_job_id, new_seed


def _child_draws(results: "multiprocessing.Queue[tuple[str, int]]") -> None:
    results.put((new_job_id(), new_seed()))


def test_ids_use_the_unambiguous_alphabet() -> None:
    ids = {new_job_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(job_id) == JOB_ID_LENGTH and set(job_id) <= set(JOB_ID_ALPHABET) for job_id in ids)


def test_a_forked_process_draws_other_ids_and_seeds_than_its_parent() -> None:
    # Crash recovery restarts the bot as a child process; same draws would collide on insert.
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue[tuple[str, int]] = context.Queue()
    children = [context.Process(target=_child_draws, args=(results,)) for _ in range(2)]
    for child in children:
        child.start()
    drawn = {results.get(timeout=30) for _ in children} | {(new_job_id(), new_seed())}
    for child in children:
        child.join()
    assert len({job_id for job_id, _ in drawn}) == 3
    assert len({seed for _, seed in drawn}) == 3
