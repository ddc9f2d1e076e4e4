"""The shared wait helpers: deadlines on an injected clock and bounded backoff."""

from __future__ import annotations

import itertools
import random

import pytest

from faas_action.errors import DeadlineError, ProviderError
from faas_action.providers.base import REFUSED_FOR_S, Deadline, ListLog, Retryable, backoff_delays, refused, retrying
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


# -- retrying: the one retry loop ------------------------------------------------------------------


def attempts_failing_with(*failures: Exception):
    """An attempt that raises each failure in turn, then returns 'done'."""
    pending = list(failures)

    def attempt() -> str:
        if pending:
            raise pending.pop(0)
        return "done"

    return attempt


def classify(exc: Exception) -> Retryable | None:
    if isinstance(exc, ConnectionRefusedError):
        return Retryable("refused", "http://127.0.0.1:9", refused=True, hint="check the endpoint")
    if isinstance(exc, TimeoutError):
        return Retryable("no answer", after=2.5)
    return None


def test_retrying_retries_what_the_classifier_allows_on_the_clock():
    clock, log = FakeClock(), ListLog()
    deadline = Deadline(clock, 60, "calling x")
    assert retrying(deadline, log, "x", attempts_failing_with(TimeoutError(), TimeoutError()), classify) == "done"
    assert clock.sleeps == [2.5, 2.5]  # the service's Retry-After wins over the backoff
    assert log.lines == ["x: no answer, retrying in 2.5 s"] * 2


def test_retrying_lets_other_failures_through_unchanged():
    with pytest.raises(KeyError):
        retrying(Deadline(FakeClock(), 60, "x"), ListLog(), "x", attempts_failing_with(KeyError("k")), classify)


def test_retrying_ends_at_the_deadline_with_the_last_failure_and_its_hint():
    clock = FakeClock()
    failures = [TimeoutError()] * 100
    with pytest.raises(DeadlineError, match="calling x did not finish within 10 s: no answer") as caught:
        retrying(Deadline(clock, 10, "calling x"), ListLog(), "x", attempts_failing_with(*failures), classify)
    assert clock.slept == pytest.approx(10)
    assert isinstance(caught.value.__cause__, TimeoutError)


def test_retrying_gives_up_on_refused_connections_after_the_refusal_window():
    clock = FakeClock()
    failures = [ConnectionRefusedError()] * 100
    with pytest.raises(ProviderError, match=r"x: refused: http://127.0.0.1:9 \(connections refused for") as caught:
        retrying(Deadline(clock, 900, "x"), ListLog(), "x", attempts_failing_with(*failures), classify, rng=random.Random(3))
    assert not isinstance(caught.value, DeadlineError) and caught.value.hint == "check the endpoint"
    assert REFUSED_FOR_S <= clock.slept <= REFUSED_FOR_S + 15.05


def test_a_refusal_window_starts_again_after_another_failure():
    def every_8_s(exc: Exception) -> Retryable | None:
        return Retryable("refused", refused=True, after=8) if isinstance(exc, ConnectionRefusedError) else classify(exc)

    clock = FakeClock()
    failures = [ConnectionRefusedError()] * 4 + [TimeoutError()] + [ConnectionRefusedError()] * 4
    assert retrying(Deadline(clock, 900, "x"), ListLog(), "x", attempts_failing_with(*failures), every_8_s) == "done"
    assert clock.slept > REFUSED_FOR_S  # refused for 24 s, answered late once, refused for 24 s again


def test_refused_finds_the_socket_error_under_the_sdk_wrappers():
    inner = ConnectionRefusedError(111, "Connection refused")
    wrapped = RuntimeError("NewConnectionError")
    wrapped.__cause__ = inner
    outer = OSError(wrapped)  # requests keeps urllib3's error in args
    assert refused(outer) and not refused(OSError("reset"))
def test_a_cancelled_system_clock_raises_at_its_next_sleep_and_its_shield_does_not():
    import threading
    import time

    from faas_action.errors import Cancelled
    from faas_action.providers.base import SystemClock, shielded

    event = threading.Event()
    clock = SystemClock(event)
    clock.sleep(0.001)
    threading.Timer(0.05, event.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        clock.sleep(30)  # woken by the cancellation, not by the end of the sleep
    assert time.monotonic() - started < 5
    with pytest.raises(Cancelled):
        clock.sleep(0)
    shielded(clock).sleep(0.001)  # restoring after a cancellation may still wait
    fake = FakeClock()
    assert shielded(fake) is fake
