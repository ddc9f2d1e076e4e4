"""The release engine: how a new version gets its traffic under watch, or gives it back.

Owns: the strategies as frozen data (steps of a percentage and a bake time), the one state machine
that walks them on the injected clock — smoke test of the new version → shift → bake with the
gates checked at least every `poll_s` → promote → smoke test through the entry point → a last
check — and the rule that a failed gate or smoke test, a passed deadline, a cancellation or any
other failure ends in `Traffic.restore()`, retried within its own short deadline on a clock that
ignores the cancellation. It returns a Record (timeline, final traffic, rolled back, the failing
gate and its figures) that the provider turns into outputs and the summary.
Must not: know any cloud (a provider's Traffic knows how to invoke, shift, promote, read health
and restore; the engine decides when), print workflow commands (warnings go to the Log), or
sleep except through the clock.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import ActionError, Cancelled, DeadlineError
from .providers.base import Clock, Deadline, Log, backoff_delays, checkpoint, shielded

TRAFFIC_MODES = ("all-at-once", "canary", "linear")
ALARM = "ALARM"


# -- what to do ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """Give the new version `percent` of the traffic (100: promote it), then bake `bake_s`."""

    percent: int
    bake_s: float = 0.0


@dataclass(frozen=True)
class Strategy:
    """The steps of a release, in order; the last one, when there is any, is 100%.

    No steps: there is no traffic to move (nothing routes between versions), only the smoke test."""

    name: str
    steps: tuple[Step, ...]

    @property
    def bake_s(self) -> float:
        return sum(step.bake_s for step in self.steps)


def strategy(traffic: str, percent: int, interval_s: float, gated: bool) -> Strategy:
    """`canary`: percent for one interval, then 100%. `linear`: percent more each interval
    (10, 20, ... 90), then 100%. `all-at-once`: 100% at once, baked one interval when gated
    (blue-green), else not at all."""
    if traffic == "canary":
        return Strategy("canary", (Step(percent, interval_s), Step(100)))
    if traffic == "linear":
        shares = range(percent, 100, percent)
        return Strategy("linear", tuple(Step(p, interval_s) for p in shares) + (Step(100),))
    if traffic == "all-at-once":
        if gated:
            return Strategy("blue-green", (Step(100, interval_s),))
        return Strategy("all-at-once", (Step(100),))
    raise ValueError(f"unknown traffic {traffic!r}")


# The entry point is new or already serves the new version: move it at once, no bake, no gates.
IMMEDIATE = Strategy("immediate", (Step(100),))
# Nothing routes between versions (no alias): only the smoke test of the new version.
NO_TRAFFIC = Strategy("none", ())


@dataclass(frozen=True)
class Gates:
    """What fails a release while it bakes. `max_error_rate` is a percentage."""

    alarms: tuple[str, ...] = ()
    max_error_rate: float | None = None

    @property
    def active(self) -> bool:
        return bool(self.alarms) or self.max_error_rate is not None


@dataclass(frozen=True)
class SmokeTest:
    """The event the new version is invoked with, and what its response must contain: a JSON
    subset when `expect` parses as JSON, else a substring; without `expect`, only no error."""

    event: bytes
    expect: str | None = None


@dataclass(frozen=True)
class Release:
    """One release: the strategy, its gates and smoke test, and its bounds.

    `deadline_s` bounds the calls beyond the bakes; `restore_timeout_s` bounds the retries of
    restore(); the gates are checked at least every `poll_s` while a step bakes."""

    strategy: Strategy
    gates: Gates = Gates()
    smoke: SmokeTest | None = None
    deadline_s: float = 900.0
    restore_timeout_s: float = 60.0
    poll_s: float = 30.0


# -- what a cloud gives the engine -----------------------------------------------------------------


@dataclass(frozen=True)
class Invocation:
    """One synchronous invocation: the response text, the function's error (None when it
    succeeded) and the version that ran, when the cloud says."""

    payload: str
    error: str | None = None
    version: str = ""


@dataclass(frozen=True)
class AlarmState:
    """An alarm's state; `changed_since_start` when it entered that state after the release began."""

    name: str
    state: str
    changed_since_start: bool
    reason: str = ""


@dataclass(frozen=True)
class Health:
    """The new version's figures since it first got traffic (None: not read), and the alarms."""

    invocations: float | None = None
    errors: float | None = None
    alarms: tuple[AlarmState, ...] = ()


class Traffic(Protocol):
    """How one cloud moves traffic between the version serving now and the new one.

    Every method makes one attempt; failures are ActionErrors. `new_label` and `entry_label`
    name the new version and the entry point in messages ("version 4", "alias live");
    `signal_delay_s` is how long after an invocation its health figures are complete."""

    new_label: str
    entry_label: str
    signal_delay_s: float

    def invoke(self, payload: bytes, through_entry: bool) -> Invocation:
        """Invoke the new version itself, or through the entry point (once it serves 100%)."""

    def shift(self, percent: int) -> None:
        """Route `percent` of the entry point's traffic to the new version, the rest to the old."""

    def promote(self) -> None:
        """Route all of it to the new version."""

    def health(self, since: float | None) -> Health:
        """The gates' figures: the new version's since `since` (a time on the engine's clock,
        None before any traffic), and the alarms' states."""

    def restore(self) -> None:
        """Route everything back to the old version, as before the release."""

    def describe(self) -> str:
        """The entry point's state as read now, for a message after a failed restore."""


# -- what happened ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One row of the timeline. `at_s` counts from the release's start; `weight` is the new
    version's share after the event; figures are the new version's as last read."""

    at_s: float
    what: str
    weight: int
    invocations: float | None = None
    errors: float | None = None
    alarms: tuple[tuple[str, str], ...] = ()
    note: str = ""


@dataclass(frozen=True)
class Failure:
    """Why a release stopped: `gate` is smoke-test, alarms, max-error-rate, deadline, cancelled
    or error; `message` carries its figures."""

    gate: str
    message: str


@dataclass(frozen=True)
class Record:
    strategy: Strategy
    events: tuple[Event, ...]
    traffic: int
    rolled_back: bool
    failure: Failure | None = None
    restore_error: str | None = None
    warnings: tuple[str, ...] = ()
    invocations: float | None = None
    errors: float | None = None
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failure is None


class _GateFailed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


# -- the state machine ------------------------------------------------------------------------------


def run(release: Release, traffic: Traffic, clock: Clock, log: Log) -> Record:
    """Walk `release` through `traffic`; restore on any failure. Never raises an ActionError:
    the Record says what failed. (A bug is re-raised, after the restore.)"""
    return _Run(release, traffic, clock, log).run()


class _Run:
    def __init__(self, release: Release, traffic: Traffic, clock: Clock, log: Log) -> None:
        self.release = release
        self.traffic = traffic
        self.clock = clock
        self.log = log
        self.start = clock.now()
        self.deadline = Deadline(clock, release.strategy.bake_s + release.deadline_s, "the release")
        self.events: list[Event] = []
        self.warnings: list[str] = []
        self.weight = 0
        self.moved = False  # a shift or promote was attempted: restore() is owed
        self.first_traffic: float | None = None
        self.health = Health()
        self.saw_invocations = False

    def run(self) -> Record:
        failure: Failure | None = None
        try:
            self._walk()
        except _GateFailed as exc:
            failure = exc.failure
        except Cancelled as exc:
            failure = Failure("cancelled", str(exc))
        except DeadlineError as exc:
            failure = Failure("deadline", str(exc))
        except ActionError as exc:
            failure = Failure("error", str(exc))
        except BaseException:
            self._restore()
            raise
        restore_error = None
        if failure is not None:
            self.log.info(f"Release stopped: {failure.message}")
            restore_error = self._restore()
        return Record(
            strategy=self.release.strategy,
            events=tuple(self.events),
            traffic=self.weight,
            rolled_back=failure is not None and restore_error is None,
            failure=failure,
            restore_error=restore_error,
            warnings=tuple(self.warnings),
            invocations=self.health.invocations,
            errors=self.health.errors,
            duration_s=self.clock.now() - self.start,
        )

    def _walk(self) -> None:
        release, traffic = self.release, self.traffic
        steps = release.strategy.steps
        gated = release.gates.active and bool(steps)
        if gated:
            self._warn_short_bakes()
            baseline = traffic.health(None)
            self._note("start", baseline)
            for alarm in baseline.alarms:
                if alarm.state == ALARM:
                    self._warn(
                        f"alarm {alarm.name} is already in ALARM at the start of the release: it does not block "
                        "this release; only an alarm that enters ALARM after the start fails it"
                    )
        if release.smoke is not None:
            self._smoke(through_entry=False)
        for step in steps:
            # A safe point before each move: a job cancelled meanwhile (during an invoke, say,
            # which never sleeps) moves no more traffic and is restored.
            checkpoint(self.clock)
            self.deadline.check()
            self.moved = True
            if step.percent >= 100:
                traffic.promote()
                self.log.info(f"Promoted {traffic.new_label}: it serves 100% of {traffic.entry_label}")
            else:
                traffic.shift(step.percent)
                self.log.info(f"Shifted {step.percent}% of {traffic.entry_label} to {traffic.new_label}")
            self.weight = step.percent
            if self.first_traffic is None:
                self.first_traffic = self.clock.now()
            self._event("promote" if step.percent >= 100 else "shift")
            self._bake(step)
        if steps and release.smoke is not None:
            self._smoke(through_entry=True)
            checkpoint(self.clock)  # cancelled during the last invoke: restored, not kept
        if gated:
            self._check("final check")
            if release.gates.max_error_rate is not None and not self.saw_invocations:
                self._warn(
                    f"the error-rate gate saw no invocation of {traffic.new_label} during the release: "
                    "max-error-rate checked nothing"
                )

    def _bake(self, step: Step) -> None:
        if step.bake_s <= 0:
            return
        self.log.info(f"Baking {step.percent}% for {step.bake_s:g} s")
        end = self.clock.now() + step.bake_s
        while (remaining := end - self.clock.now()) > 0:
            self.clock.sleep(min(self.release.poll_s, remaining))
            if self.release.gates.active:
                self._check(f"bake at {step.percent}%")
            self.deadline.check()

    def _check(self, what: str) -> None:
        health = self.traffic.health(self.first_traffic)
        self._note(what, health)
        fired = [a for a in health.alarms if a.state == ALARM and a.changed_since_start]
        if fired:
            names = ", ".join(f"{a.name}" + (f" ({a.reason})" if a.reason else "") for a in fired)
            raise _GateFailed(Failure("alarms", f"alarm {names} entered ALARM during the release"))
        limit = self.release.gates.max_error_rate
        if limit is not None and health.invocations:
            rate = 100.0 * (health.errors or 0) / health.invocations
            if rate > limit:
                raise _GateFailed(Failure(
                    "max-error-rate",
                    f"error rate {_above(rate, limit)}% ({health.errors or 0:g} of {health.invocations:g} invocations) "
                    f"of {self.traffic.new_label} over max-error-rate {limit:g}%",
                ))

    def _smoke(self, through_entry: bool) -> None:
        traffic, smoke = self.traffic, self.release.smoke
        assert smoke is not None
        what = f"smoke test through {traffic.entry_label}" if through_entry else f"smoke test of {traffic.new_label}"
        invocation = traffic.invoke(smoke.event, through_entry)
        problem = smoke_problem(invocation, smoke.expect)
        ran = f" (version {invocation.version} ran)" if through_entry and invocation.version else ""
        self._event(what, note=problem or "passed")
        if problem:
            raise _GateFailed(Failure("smoke-test", f"{what}{ran} failed: {problem}"))
        self.log.info(f"{what[0].upper()}{what[1:]} passed{ran}")

    def _restore(self) -> str | None:
        """Restore the traffic, retried until `restore_timeout_s` on a clock that ignores the
        cancellation. Returns None when restored, else what failed and the state left."""
        if not self.moved:
            self.weight = 0
            return None
        clock = shielded(self.clock)
        deadline = Deadline(clock, self.release.restore_timeout_s, "restoring the traffic")
        delays = backoff_delays(base=1.0, cap=5.0)
        attempts = 0
        while True:
            attempts += 1
            try:
                self.traffic.restore()
            except ActionError as exc:
                last = exc
                self.log.info(f"Restoring {self.traffic.entry_label} failed: {exc}")
                if deadline.expired:
                    break
                clock.sleep(min(next(delays), deadline.remaining()))
                continue
            self.weight = 0
            self.log.info(f"Restored {self.traffic.entry_label}: the old version serves all of it again")
            self.events.append(Event(self._at(clock), "restore", 0))
            return None
        try:
            state = self.traffic.describe()
        except ActionError as exc:
            state = f"its state could not be read ({exc}); the last change that went through left {self.weight}% on {self.traffic.new_label}"
        return f"restoring {self.traffic.entry_label} failed {attempts} time(s) within {self.release.restore_timeout_s:g} s: {last}; {state}"

    # -- bookkeeping ----------------------------------------------------------------------------
    def _warn_short_bakes(self) -> None:
        delay = self.traffic.signal_delay_s
        short = sorted({s.bake_s for s in self.release.strategy.steps if 0 < s.bake_s < delay})
        if short:
            self._warn(
                f"a bake of {short[0]:g} s is shorter than the {delay:g} s the health figures of an invocation "
                "can take to be complete (the metrics' 1-minute resolution, the function's timeout): "
                "errors late in a step may be seen only in a later step or not at all; raise traffic-interval"
            )

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        self.log.warning(message)

    def _note(self, what: str, health: Health) -> None:
        self.health = health
        if health.invocations:
            self.saw_invocations = True
        self._event(what)

    def _event(self, what: str, note: str = "") -> None:
        health = self.health
        self.events.append(Event(
            at_s=self._at(self.clock),
            what=what,
            weight=self.weight,
            invocations=health.invocations,
            errors=health.errors,
            alarms=tuple((a.name, a.state) for a in health.alarms),
            note=note,
        ))

    def _at(self, clock: Clock) -> float:
        return round(clock.now() - self.start, 3)


# -- smoke-expect ------------------------------------------------------------------------------------


def smoke_problem(invocation: Invocation, expect: str | None) -> str | None:
    """Why a smoke test's invocation fails, or None when it passes."""
    if invocation.error:
        return f"the function returned an error ({invocation.error}): {excerpt(invocation.payload)}"
    if expect is None:
        return None
    try:
        wanted = json.loads(expect)
    except RecursionError:  # config refuses such an expectation; never a crash here either
        return f"smoke-expect is nested too deeply to compare: {excerpt(expect)}"
    except ValueError:
        if expect in invocation.payload:
            return None
        return f"the response {excerpt(invocation.payload)} does not contain {excerpt(expect)}"
    try:
        got = json.loads(invocation.payload)
        contained = is_subset(wanted, got)
    except RecursionError:  # the function's response is the world's: a deep one fails the test
        return f"the response {excerpt(invocation.payload)} is nested too deeply to compare"
    except ValueError:
        return f"the response {excerpt(invocation.payload)} is not JSON, and smoke-expect is"
    if contained:
        return None
    if not isinstance(wanted, (dict, list)):  # "200" reads like a substring, but JSON matches the whole value
        return (f"the response {excerpt(invocation.payload)} is not the JSON value {excerpt(expect)}: a JSON "
                "smoke-expect is matched as a subset, so a bare value must be the whole response "
                "(to find it inside an object, give the object, e.g. {\"statusCode\": 200})")
    return f"the response {excerpt(invocation.payload)} does not contain {excerpt(expect)}"


def is_subset(wanted: Any, got: Any) -> bool:
    """JSON subset: every key of an object with a matching value, every item of a list matched by
    some item, scalars equal (a boolean is not a number)."""
    if isinstance(wanted, dict):
        return isinstance(got, dict) and all(k in got and is_subset(v, got[k]) for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(got, list) and all(any(is_subset(w, g) for g in got) for w in wanted)
    if isinstance(wanted, bool) or isinstance(got, bool):
        return wanted is got
    if isinstance(wanted, int) and isinstance(got, int):
        return wanted == got  # exactly: ids and counts beyond a float's 53 bits differ in their last digits
    if isinstance(wanted, (int, float)) and isinstance(got, (int, float)):
        return math.isclose(wanted, got)
    return wanted == got


def excerpt(text: str, limit: int = 300) -> str:
    """A one-line, quoted excerpt (newlines escaped, so it cannot start a workflow command)."""
    quoted = json.dumps(text)
    return quoted if len(quoted) <= limit else quoted[: limit - 4] + '..."'


# -- the plan's words --------------------------------------------------------------------------------


def describe(release: Release, new_label: str, entry_label: str) -> tuple[str, ...]:
    """The release's steps as the plan lists them: smoke tests, traffic steps and gates."""
    lines = []
    smoke, gates, steps = release.smoke, release.gates, release.strategy.steps
    expect = f", expecting {excerpt(smoke.expect, 80)}" if smoke and smoke.expect else ""
    if smoke:
        lines.append(f"smoke test: invoke {new_label} with smoke-event{expect}")
    if steps:
        shares = [f"{s.percent}%" + (f" for {s.bake_s:g} s" if s.bake_s else "") for s in steps]
        shifted = ", ".join(shares[:-1])
        lines.append(
            f"traffic on {entry_label} ({release.strategy.name}): "
            + (f"{shifted}, then {shares[-1]}" if shifted else shares[-1] + " at once")
        )
        if smoke:
            lines.append(f"smoke test through {entry_label} once it serves {new_label}")
    if gates.active and steps:
        checks = []
        if gates.alarms:
            checks.append("alarms " + ", ".join(gates.alarms) + " must not enter ALARM")
        if gates.max_error_rate is not None:
            checks.append(f"error rate of {new_label} at most {gates.max_error_rate:g}%")
        every = f", checked every {release.poll_s:g} s while baking" if any(s.bake_s for s in steps) else ""
        lines.append("gates: " + "; ".join(checks) + every + " and once at the end")
    if steps and (gates.active or smoke or len(steps) > 1):
        lines.append(f"on a failed gate or smoke test, a deadline or a cancellation: restore {entry_label} to the old version")
    return tuple(lines)


def _above(rate: float, limit: float) -> str:
    """`rate` with one decimal, or as many more as it takes (up to 4) not to read as `limit` or
    below it: 2 errors in 99 invocations is 2.02%, over a 2% limit, never "2.0% over 2%"."""
    for digits in range(1, 5):
        text = f"{rate:.{digits}f}"
        if float(text) > limit:
            return text
    return f"{rate:.4f}"
