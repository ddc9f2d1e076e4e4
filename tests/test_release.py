"""The release engine, driven through an in-memory Traffic on a fake clock (table-driven)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pytest

from faas_action import release
from faas_action.errors import Cancelled, ProviderError
from faas_action.providers.base import ListLog
from faas_action.release import AlarmState, Gates, Health, Invocation, Release, SmokeTest, Step, Strategy
from tests.fakes.clock import FakeClock


class CancellableClock(FakeClock):
    """A fake clock on which the job is cancelled at `cancel_at`: sleeps from then on raise,
    except on its shielded() view, which shares its time."""

    def __init__(self, cancel_at: float | None = None) -> None:
        super().__init__()
        self.cancel_at = cancel_at

    def sleep(self, seconds: float) -> None:
        if self.cancel_at is not None and self.time + seconds >= self.cancel_at:
            self.time = max(self.time, self.cancel_at)
            raise Cancelled("the job was cancelled")
        super().sleep(seconds)

    def checkpoint(self) -> None:
        if self.cancel_at is not None and self.time >= self.cancel_at:
            raise Cancelled("the job was cancelled")

    def shielded(self):
        outer = self

        class Shielded:
            def now(self) -> float:
                return outer.time

            def sleep(self, seconds: float) -> None:
                FakeClock.sleep(outer, seconds)

        return Shielded()


@dataclass
class MemoryTraffic:
    """Traffic in memory: the weight it holds, every call made, scripted health and invocations."""

    clock: FakeClock
    health_at: Callable[[int, float], Health] = lambda weight, at: Health(invocations=100, errors=0)
    invocations: dict[bool, Invocation] = field(default_factory=lambda: {False: Invocation('{"ok": true}', None, "2"), True: Invocation('{"ok": true}', None, "2")})
    restore_failures: int = 0
    call_s: float = 0.0
    new_label: str = "version 2"
    entry_label: str = "alias live"
    signal_delay_s: float = 60.0
    weight: int = 0
    calls: list = field(default_factory=list)

    def _spend(self) -> None:
        self.clock.time += self.call_s

    def invoke(self, payload: bytes, through_entry: bool) -> Invocation:
        self.calls.append(("invoke", "entry" if through_entry else "new"))
        return self.invocations[through_entry]

    def shift(self, percent: int) -> None:
        self.calls.append(("shift", percent))
        self._spend()
        self.weight = percent

    def promote(self) -> None:
        self.calls.append(("promote",))
        self._spend()
        self.weight = 100

    def health(self, since: float | None) -> Health:
        self.calls.append(("health", since is not None))
        return self.health_at(self.weight, self.clock.now())

    def restore(self) -> None:
        self.calls.append(("restore",))
        if self.restore_failures:
            self.restore_failures -= 1
            raise ProviderError("UpdateAlias failed: ServiceException")
        self.weight = 0

    def describe(self) -> str:
        return f"alias live: {self.weight}% on version 2"


def error_rate_over_at(bad_weight: int) -> Callable[[int, float], Health]:
    """Health whose error rate jumps to 10% once the new version holds `bad_weight`."""
    return lambda weight, at: Health(invocations=50, errors=5 if weight == bad_weight else 0)


# -- strategies ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("traffic", "percent", "gated", "expected"),
    [
        ("canary", 10, False, [(10, 60), (100, 0)]),
        ("linear", 10, True, [(p, 60) for p in range(10, 100, 10)] + [(100, 0)]),
        ("linear", 30, False, [(30, 60), (60, 60), (90, 60), (100, 0)]),
        ("linear", 50, False, [(50, 60), (100, 0)]),
        ("all-at-once", 10, True, [(100, 60)]),
        ("all-at-once", 10, False, [(100, 0)]),
    ],
)
def test_strategies_are_steps(traffic, percent, gated, expected):
    built = release.strategy(traffic, percent, 60, gated)
    assert [(s.percent, s.bake_s) for s in built.steps] == expected


def test_the_plan_describes_steps_smoke_and_gates():
    plan = Release(release.strategy("canary", 10, 60, True), Gates(("errors",), 2.0), SmokeTest(b"{}", '{"ok": true}'))
    lines = release.describe(plan, "the new version", "alias live")
    assert "traffic on alias live (canary): 10% for 60 s, then 100%" in lines
    assert any(line.startswith("smoke test: invoke the new version") and '{\\"ok\\": true}' in line for line in lines)
    assert any("alarms errors must not enter ALARM" in line and "at most 2%" in line and "every 30 s" in line for line in lines)
    assert release.describe(Release(release.NO_TRAFFIC), "version 3", "alias live") == ()


# -- the walk ------------------------------------------------------------------------------------


def run(strategy: Strategy, traffic: MemoryTraffic, clock: FakeClock, **kwargs) -> tuple[release.Record, ListLog]:
    log = ListLog()
    record = release.run(Release(strategy, **kwargs), traffic, clock, log)
    return record, log


def test_a_canary_is_smoke_tested_shifted_baked_promoted_and_checked():
    clock = FakeClock()
    traffic = MemoryTraffic(clock)
    record, _ = run(release.strategy("canary", 10, 60, True), traffic, clock,
                    gates=Gates(max_error_rate=2.0), smoke=SmokeTest(b"{}", '{"ok": true}'))
    assert record.ok and not record.rolled_back and record.traffic == 100
    assert traffic.calls == [
        ("health", False), ("invoke", "new"), ("shift", 10), ("health", True), ("health", True),
        ("promote",), ("invoke", "entry"), ("health", True),
    ]
    assert clock.sleeps == [30, 30]  # checked at least every 30 s
    assert [e.what for e in record.events] == [
        "start", "smoke test of version 2", "shift", "bake at 10%", "bake at 10%", "promote",
        "smoke test through alias live", "final check",
    ]
    assert [e.weight for e in record.events] == [0, 0, 10, 10, 10, 100, 100, 100]
    assert record.events[3].at_s == 30 and record.events[3].invocations == 100


@pytest.mark.parametrize("bad_weight", [25, 50, 75, 100])
def test_a_gate_failing_at_any_step_restores(bad_weight):
    clock = FakeClock()
    traffic = MemoryTraffic(clock, health_at=error_rate_over_at(bad_weight))
    record, log = run(release.strategy("linear", 25, 40, True), traffic, clock, gates=Gates(max_error_rate=2.0))
    assert not record.ok and record.rolled_back and record.traffic == 0 and traffic.weight == 0
    assert record.failure.gate == "max-error-rate"
    assert record.failure.message == "error rate 10.0% (5 of 50 invocations) of version 2 over max-error-rate 2%"
    moves = [c for c in traffic.calls if c[0] in ("shift", "promote")]
    reached = [c[1] if c[0] == "shift" else 100 for c in moves]
    assert reached == [p for p in (25, 50, 75, 100) if p <= bad_weight]
    assert traffic.calls[-1] == ("restore",)
    assert record.events[-1].what == "restore" and record.events[-1].weight == 0
    assert any("error rate 10.0%" in line for line in log.lines)


def test_an_alarm_that_fires_during_the_release_fails_it_one_already_firing_only_warns():
    clock = FakeClock()
    started = clock.now()

    def health(weight, at):
        firing = AlarmState("latency", "ALARM", changed_since_start=at - started >= 45, reason="p99 > 1 s")
        return Health(alarms=(AlarmState("old-bug", "ALARM", changed_since_start=False), firing))

    traffic = MemoryTraffic(clock, health_at=health)
    record, log = run(release.strategy("canary", 10, 120, True), traffic, clock, gates=Gates(alarms=("old-bug", "latency")))
    assert record.failure.gate == "alarms"
    assert record.failure.message == "alarm latency (p99 > 1 s) entered ALARM during the release"
    assert record.rolled_back and clock.now() - started == 60  # the check after 30 s passed, the one at 60 s failed
    assert [w for w in record.warnings if "old-bug" in w and "already in ALARM" in w]
    assert any(line.startswith("warning: alarm old-bug") for line in log.lines)
    assert ("promote",) not in traffic.calls


def test_a_failed_smoke_test_stops_before_any_shift():
    clock = FakeClock()
    traffic = MemoryTraffic(clock, invocations={False: Invocation('{"errorMessage": "boom"}', "Unhandled", "2")})
    record, _ = run(release.strategy("canary", 10, 60, False), traffic, clock, smoke=SmokeTest(b"{}"))
    assert record.failure.gate == "smoke-test"
    assert record.failure.message == 'smoke test of version 2 failed: the function returned an error (Unhandled): "{\\"errorMessage\\": \\"boom\\"}"'
    assert traffic.calls == [("invoke", "new")]  # nothing moved, so nothing to restore
    assert record.rolled_back and record.traffic == 0


def test_a_smoke_test_through_the_entry_point_after_promotion_restores():
    clock = FakeClock()
    traffic = MemoryTraffic(clock, invocations={False: Invocation("pong"), True: Invocation("error page", None, "2")})
    record, _ = run(Strategy("all-at-once", (Step(100),)), traffic, clock, smoke=SmokeTest(b"ping", "pong"))
    assert record.failure.gate == "smoke-test" and "through alias live (version 2 ran)" in record.failure.message
    assert traffic.calls[-2:] == [("invoke", "entry"), ("restore",)] and record.rolled_back


def test_a_passed_deadline_restores():
    clock = FakeClock()
    traffic = MemoryTraffic(clock, call_s=50)  # every shift or promote takes 50 s
    record, _ = run(release.strategy("linear", 20, 10, False), traffic, clock, deadline_s=100)
    assert record.failure.gate == "deadline"
    assert "the release did not finish within 140 s" in record.failure.message
    assert record.rolled_back and traffic.calls[-1] == ("restore",)


def test_a_cancellation_mid_bake_restores_on_a_shielded_clock():
    clock = CancellableClock(cancel_at=1045)
    traffic = MemoryTraffic(clock, restore_failures=1)
    record, _ = run(release.strategy("canary", 10, 120, True), traffic, clock, gates=Gates(max_error_rate=5))
    assert record.failure.gate == "cancelled" and record.failure.message == "the job was cancelled"
    assert record.rolled_back and traffic.weight == 0
    assert traffic.calls[-2:] == [("restore",), ("restore",)]  # the retry slept although the job is cancelled


def test_a_restore_that_fails_once_is_retried():
    clock = FakeClock()
    traffic = MemoryTraffic(clock, health_at=error_rate_over_at(10), restore_failures=1)
    record, log = run(release.strategy("canary", 10, 30, True), traffic, clock, gates=Gates(max_error_rate=1))
    assert record.rolled_back and record.restore_error is None and traffic.weight == 0
    assert traffic.calls.count(("restore",)) == 2
    assert any("Restoring alias live failed: UpdateAlias failed" in line for line in log.lines)


def test_a_restore_that_keeps_failing_says_what_state_is_left():
    clock = FakeClock()
    traffic = MemoryTraffic(clock, health_at=error_rate_over_at(10), restore_failures=10**6)
    record, _ = run(release.strategy("canary", 10, 30, True), traffic, clock, gates=Gates(max_error_rate=1), restore_timeout_s=20)
    assert not record.rolled_back and record.traffic == 10
    assert record.restore_error.startswith("restoring alias live failed ")
    assert record.restore_error.endswith("alias live: 10% on version 2")
    assert clock.now() - 1000 <= 30 + 20 + 1  # the bake, then at most the restore's own deadline


def test_a_bug_during_the_release_still_restores_then_propagates():
    clock = FakeClock()
    traffic = MemoryTraffic(clock, health_at=lambda weight, at: 1 / 0 if weight else Health())
    with pytest.raises(ZeroDivisionError):
        run(release.strategy("canary", 10, 30, True), traffic, clock, gates=Gates(max_error_rate=1))
    assert traffic.calls[-1] == ("restore",) and traffic.weight == 0


def test_short_bakes_and_a_gate_without_traffic_are_warned_about():
    clock = FakeClock()
    traffic = MemoryTraffic(clock, health_at=lambda weight, at: Health(invocations=0, errors=0))
    record, _ = run(release.strategy("canary", 10, 5, True), traffic, clock, gates=Gates(max_error_rate=1))
    assert record.ok
    assert any("bake of 5 s is shorter than the 60 s" in w for w in record.warnings)
    assert any("saw no invocation of version 2" in w for w in record.warnings)


def test_no_traffic_to_move_runs_the_smoke_test_only():
    clock = FakeClock()
    traffic = MemoryTraffic(clock)
    record, _ = run(release.NO_TRAFFIC, traffic, clock, gates=Gates(max_error_rate=1), smoke=SmokeTest(b"{}"))
    assert record.ok and traffic.calls == [("invoke", "new")] and record.traffic == 0


# -- smoke-expect --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expect", "passes"),
    [
        ('{"statusCode": 200, "body": "ok", "headers": {"a": "1"}}', '{"statusCode": 200}', True),
        ('{"statusCode": 200, "headers": {"a": "1", "b": "2"}}', '{"headers": {"b": "2"}}', True),
        ('{"statusCode": 500}', '{"statusCode": 200}', False),
        ('{"items": [{"id": 1, "x": 2}, {"id": 3}]}', '{"items": [{"id": 3}]}', True),
        ('{"ok": 1}', '{"ok": true}', False),
        ('{"n": 2.0}', '{"n": 2}', True),
        ('"hello world"', "hello", True),
        ('"hello world"', "bye", False),
        ("not json", '{"a": 1}', False),
        ('{"a": 1}', None, True),
    ],
)
def test_smoke_expect_is_a_json_subset_or_a_substring(payload, expect, passes):
    assert (release.smoke_problem(Invocation(payload), expect) is None) is passes


def test_an_excerpt_cannot_start_a_workflow_command():
    problem = release.smoke_problem(Invocation("x\n::warning::injected"), "y")
    assert "\n" not in problem and "\\n::warning::" in problem


@dataclass
class SlowInvokeTraffic(MemoryTraffic):
    """An invoke that takes `invoke_s` of the clock (the job may be cancelled meanwhile)."""

    invoke_s: float = 5.0

    def invoke(self, payload: bytes, through_entry: bool) -> Invocation:
        self.clock.time += self.invoke_s
        return super().invoke(payload, through_entry)


@pytest.mark.parametrize("traffic_kind", ["all-at-once", "canary"])
def test_a_cancellation_during_the_first_smoke_test_moves_no_traffic(traffic_kind):
    clock = CancellableClock(cancel_at=1002)  # the job is cancelled while the new version is invoked
    traffic = SlowInvokeTraffic(clock)
    strategy = release.strategy(traffic_kind, 10, 60, False)
    record, _ = run(strategy, traffic, clock, smoke=SmokeTest(b"{}"))
    assert record.failure.gate == "cancelled"
    assert not any(call[0] in ("shift", "promote") for call in traffic.calls), traffic.calls
    assert record.traffic == 0


def test_a_cancellation_during_the_smoke_test_through_the_alias_restores():
    clock = CancellableClock(cancel_at=1062)  # after the bake, while the alias is being invoked
    traffic = SlowInvokeTraffic(clock, invoke_s=1.0)
    record, _ = run(release.strategy("canary", 10, 60, False), traffic, clock, smoke=SmokeTest(b"{}"))
    assert record.failure.gate == "cancelled"
    assert record.rolled_back and traffic.weight == 0 and traffic.calls[-1] == ("restore",)
