"""The provider boundary: what every cloud module takes and gives.

Owns: the Provider, Log and Clock protocols, the run context handed to providers, and the
bounded-wait helpers (Deadline, backoff) every provider uses.
Must not: import any cloud SDK, read os.environ, or print workflow commands.
"""

from __future__ import annotations

import random
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

from ..errors import Cancelled, DeadlineError
from ..models import Artifact, DeployResult, FunctionSpec, GitHubContext, Plan


class Log(Protocol):
    """Progress reporting. Implemented by runner.RunnerLog; tests may collect lines."""

    def info(self, message: str) -> None: ...

    def warning(self, message: str) -> None: ...

    def debug(self, message: str) -> None: ...

    def mask(self, secret: str) -> None: ...

    def group(self, title: str): ...


class Clock(Protocol):
    """Monotonic time and sleep, injected so that waits are testable."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock. With a `cancel` event, every sleep is a safe point: once the event is set
    (the runner cancelled the job), sleep raises Cancelled instead of waiting on."""

    def __init__(self, cancel: threading.Event | None = None) -> None:
        self.cancel = cancel

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if self.cancel is None:
            if seconds > 0:
                time.sleep(seconds)
            return
        if self.cancel.is_set() or self.cancel.wait(max(0.0, seconds)):
            raise Cancelled("the job was cancelled")


def shielded(clock: Clock) -> Clock:
    """A clock whose sleeps ignore a cancellation: for the work that must still run after one
    (restoring an alias, a rollback), which has deadlines of its own."""
    if isinstance(clock, SystemClock) and clock.cancel is not None:
        return SystemClock()
    shield = getattr(clock, "shielded", None)
    return shield() if callable(shield) else clock


class ListLog:
    """A Log that keeps lines in memory (tests, and callers that want no output)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.secrets: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)

    def warning(self, message: str) -> None:
        self.lines.append(f"warning: {message}")

    def debug(self, message: str) -> None:
        self.lines.append(f"debug: {message}")

    def mask(self, secret: str) -> None:
        self.secrets.append(secret)

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        self.lines.append(f"[{title}]")
        yield


@dataclass(frozen=True)
class RunContext:
    """What a provider may know of the run besides its spec.

    `id_token(audience)` returns the GitHub OIDC token (masked) or raises CredentialsError;
    `environ` is the subset of the environment that credential chains and SDKs read.
    """

    log: Log
    clock: Clock = field(default_factory=SystemClock)
    id_token: Callable[[str], str] | None = None
    environ: dict[str, str] = field(default_factory=dict)
    github: GitHubContext = GitHubContext()


class Provider(Protocol):
    """One cloud. plan() only reads; apply() is the only thing that changes cloud state."""

    def plan(self, spec: FunctionSpec, artifact: Artifact) -> Plan: ...

    def apply(self, plan: Plan, spec: FunctionSpec, artifact: Artifact) -> DeployResult: ...


class Deadline:
    """A point in time on an injected clock past which waiting is an error."""

    def __init__(self, clock: Clock, seconds: float, what: str) -> None:
        self.clock = clock
        self.seconds = seconds
        self.what = what
        self.end = clock.now() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - self.clock.now())

    @property
    def expired(self) -> bool:
        return self.clock.now() >= self.end

    def check(self, detail: str = "") -> None:
        if self.expired:
            suffix = f": {detail}" if detail else ""
            raise DeadlineError(
                f"{self.what} did not finish within {self.seconds:g} s{suffix}",
                hint="raise wait-timeout if the service is just slow",
            )

    def sleep(self, seconds: float, detail: str = "") -> None:
        """Sleep at most until the deadline; raise if it had already passed.

        Raising before the sleep, not after, gives the caller one last poll at the deadline
        itself, so a result that lands in the final interval is not missed."""
        self.check(detail)
        self.clock.sleep(min(seconds, self.remaining()))


def backoff_delays(base: float = 1.0, cap: float = 20.0, rng: random.Random | None = None) -> Iterator[float]:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**n))."""
    rng = rng or random.Random()
    attempt = 0
    while True:
        yield rng.uniform(0, min(cap, base * (2**attempt))) + 0.05
        attempt += 1
