"""A function run in a forked child (`forked.py`): its answer, its failures, its end."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

import pytest

from generator import forked
from generator.errors import BuildError
from tests.support.processes import open_fds

pytestmark = pytest.mark.skipif(not forked.available(), reason="no fork on this system")


def _gone(pid: int) -> bool:
    """In the parent, while the answer is unpickled: whether the child is gone already."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


class _Probe:
    """Pickled in the child, unpickled in the parent as `_gone(<the child's pid>)`."""

    def __reduce__(self) -> tuple[object, tuple[int]]:
        return _gone, (os.getpid(),)


def test_the_answer_comes_back_whole() -> None:
    big = [f"path/{i}" for i in range(200_000)]
    assert forked.Forked(lambda: {"paths": big}, "test child").result() == {"paths": big}


def test_the_answer_is_read_once_the_child_is_gone() -> None:
    """A render worker's answer is tens of MB: read while the child lived, it was held twice."""
    payload = b"x" * (4 << 20)  # far more than a pipe holds
    answer = forked.Forked(lambda: (payload, _Probe()), "test child").result()
    assert answer == (payload, True)


def test_what_the_child_raised_is_raised_here() -> None:
    def fail() -> None:
        raise KeyError("no such unit")

    with pytest.raises(KeyError, match="no such unit"):
        forked.Forked(fail, "test child").result()


def test_a_child_killed_is_a_build_error_that_says_how() -> None:
    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(BuildError, match=r"the test child \(pid \d+\) died: killed by signal 9"):
        forked.Forked(die, "test child").result()


def test_an_answer_that_does_not_pickle_is_a_build_error() -> None:
    with pytest.raises(BuildError, match=r"died: exit status 1"):
        forked.Forked(lambda: (lambda: None), "test child").result()


def test_kill_stops_and_reaps_the_child() -> None:
    child = forked.Forked(lambda: signal.pause(), "test child")
    child.kill()
    assert _gone(child.pid)


# --- split_map: two processes taking chunks from one pipe ----------------------------------


def _pid_of(item: int) -> tuple[int, int]:
    return item, os.getpid()


def _slow(item: int) -> tuple[int, int]:
    time.sleep(0.0005)
    return item, os.getpid()


def test_split_map_answers_in_order_with_both_processes_sharing_the_work() -> None:
    items = list(range(3000))
    results, alongside = forked.split_map(_slow, items, lambda: "beside", jobs=2, what="test")
    assert alongside == "beside"
    assert [item for item, _ in results] == items
    by_process = Counter(pid for _, pid in results)
    assert len(by_process) == 2
    # Items that each wait the same: neither process takes more than three quarters.
    assert max(by_process.values()) <= 0.75 * len(items)


def test_split_map_gives_a_process_held_up_beside_fewer_chunks() -> None:
    items = list(range(3000))
    results, _ = forked.split_map(_slow, items, lambda: time.sleep(0.5), jobs=2, what="test")
    assert [item for item, _ in results] == items
    mine = sum(pid == os.getpid() for _, pid in results)
    assert mine < len(items) / 2


def test_split_map_runs_here_alone_with_one_job_or_few_items() -> None:
    for items, jobs in ((list(range(100)), 1), (list(range(forked.MIN_WORKER_ITEMS - 1)), 2)):
        results, _ = forked.split_map(_pid_of, items, lambda: None, jobs=jobs, what="test")
        assert results == [(item, os.getpid()) for item in items]


def test_split_map_raises_what_either_side_raised_and_leaves_no_fd_open() -> None:
    def fail_at(item: int) -> int:
        if item == 2500:
            raise ValueError(f"item {item}")
        return item

    before = open_fds()
    with pytest.raises(ValueError, match="item 2500"):
        forked.split_map(fail_at, range(3000), lambda: None, jobs=2, what="test")
    with pytest.raises(KeyError, match="beside"):
        forked.split_map(_pid_of, range(3000), _raise_beside, jobs=2, what="test")
    forked.split_map(_pid_of, range(3000), lambda: None, jobs=2, what="test")
    assert open_fds() == before


def _raise_beside() -> None:
    raise KeyError("beside")
