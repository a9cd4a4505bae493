"""A function run in a forked child (`forked.py`): its answer, its failures, its end."""

from __future__ import annotations

import os
import signal

import pytest

from generator import forked
from generator.errors import BuildError

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
