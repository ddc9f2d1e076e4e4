"""The shared wait helpers: deadlines on an injected clock and bounded backoff."""

from __future__ import annotations

import itertools
import random

import pytest

from faas_action.errors import DeadlineError
from faas_action.providers.base import Deadline, backoff_delays
from tests.fakes.clock import FakeClock


def test_a_last_poll_happens_at_the_deadline_then_it_raises():
    clock = FakeClock()
    deadline = Deadline(clock, 10, "waiting for x")
    deadline.sleep(7)
    deadline.sleep(7)  # cut to the 3 s left: the caller polls once more at the deadline
    assert clock.sleeps == [7, 3] and deadline.expired
    with pytest.raises(DeadlineError, match="waiting for x did not finish within 10 s: still busy"):
        deadline.sleep(1, detail="still busy")
    assert clock.sleeps == [7, 3]


def test_backoff_is_jittered_and_capped():
    delays = list(itertools.islice(backoff_delays(base=1.0, cap=8.0, rng=random.Random(1)), 50))
    assert all(0.05 <= d <= 8.05 for d in delays)
    assert max(delays[:2]) <= 2.05 and max(delays[10:]) > 2.05
