"""The provider boundary: what every cloud module takes and gives.

Owns: the Provider, Log and Clock protocols, the run context handed to providers, and the
bounded-wait helpers every provider uses: Deadline, backoff, and `retrying`, the one retry loop
(transient failures retried with backoff within a deadline, a refused connection given up on
sooner); each provider only says which of its SDK's errors are transient.
Must not: import any cloud SDK, read os.environ, or print workflow commands.
"""

from __future__ import annotations

import errno
import os
import random
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol, TypeVar

from .. import userfiles
from ..errors import Cancelled, DeadlineError, ProviderError
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

    def checkpoint(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("the job was cancelled")

    def sleep(self, seconds: float) -> None:
        if self.cancel is None:
            if seconds > 0:
                time.sleep(seconds)
            return
        if self.cancel.is_set() or self.cancel.wait(max(0.0, seconds)):
            raise Cancelled("the job was cancelled")


def checkpoint(clock: Clock) -> None:
    """A safe point that waits for nothing: raises Cancelled once the job was cancelled. Work
    that never sleeps (an invoke, then a move of traffic) calls it between its steps, so that a
    cancellation stops it there; a clock without a cancellation has nothing to check."""
    check = getattr(clock, "checkpoint", None)
    if callable(check):
        check()


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

    def budget(self, cap: float) -> float:
        """The time one request may take: what is left, at most `cap`, at least MIN_ATTEMPT_S
        (the last attempt, made at the deadline itself, still gets a chance to answer)."""
        return max(MIN_ATTEMPT_S, min(cap, self.remaining()))

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


# What every credentials problem found before the first call says about where the action runs.
CONTAINER_NOTE = (
    "a container action sees only the workspace and the job's environment, not the runner's own "
    "files (self-hosted and Kubernetes runners keep such files outside the action's container)"
)


def unusable_file(variable: str, path: str, instead: str) -> str | None:
    """Why the credentials or token file that `variable` names cannot be used, ending with what
    to do `instead`; None when it is a regular file. A path that is not there is one this
    container cannot see; a FIFO, a directory or a device is there but is no file to read (a
    FIFO would block the reader). Looks at the path only, opens nothing."""
    if os.path.isfile(path):
        return None
    kind = userfiles.special_kind(path)
    if kind:
        return f"{variable} names {path}, which is {kind}, not a regular file: {instead}"
    return f"{variable} names {path}, which this container cannot see: {CONTAINER_NOTE}; {instead}"


# -- one retry loop for every provider ------------------------------------------------------------

T = TypeVar("T")

MIN_ATTEMPT_S = 1.0
# A refused connection is retried for this long, then given up on, whatever wait-timeout is left.
# A cloud API never refuses connections for long (its load balancers accept and answer 5xx while
# a backend recovers), so a refusal that lasts means nothing listens at that address: a wrong
# endpoint override, a proxy or sidecar that is down, a firewall that rejects. Waiting out the
# rest of wait-timeout (15 minutes by default) would only delay the same error; 30 s (about five
# attempts with the default backoff) still rides out a local proxy restarting.
REFUSED_FOR_S = 30.0
REFUSED_HINT = (
    "nothing accepts connections at that address: check the endpoint (and any endpoint override), "
    "the proxy settings and the runner's network"
)


@dataclass(frozen=True)
class Retryable:
    """Why a failed attempt deserves another one; a provider's classifier returns it, or None
    for a failure that retrying cannot fix."""

    reason: str  # short, for the progress line: an error code, "connection reset"
    detail: str = ""  # the service's message or the endpoint, for the final error
    refused: bool = False  # nothing accepted the connection (given up on after REFUSED_FOR_S)
    after: float | None = None  # the service's Retry-After, in seconds
    hint: str = ""  # for the error raised when the deadline ends the retries

    @property
    def message(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


def retrying(
    deadline: Deadline,
    log: Log,
    what: str,
    attempt: Callable[[], T],
    classify: Callable[[Exception], Retryable | None],
    *,
    base: float = 1.0,
    cap: float = 15.0,
    refused_for: float = REFUSED_FOR_S,
    rng: random.Random | None = None,
) -> T:
    """Call `attempt` until it returns. A failure `classify` calls retryable is retried after a
    jittered backoff (or the service's Retry-After) while `deadline` allows, then ends in a
    DeadlineError naming the last failure; a refused connection ends sooner, after
    `refused_for` seconds of refusals; any other failure propagates at once, unchanged. Once the
    job is cancelled (the deadline's clock says so), no attempt starts: Cancelled.

    Every sleep goes through the deadline's clock. `attempt` should bound its own request by
    `deadline.budget(...)`, so that a request that never answers cannot outlast the deadline."""
    delays = backoff_delays(base=base, cap=cap, rng=rng)
    refused_since: float | None = None
    while True:
        # A safe point before every request: once the job is cancelled, no new request starts
        # (a deadline on a shielded clock, as a restore uses, goes on).
        checkpoint(deadline.clock)
        try:
            return attempt()
        except Exception as caught:  # noqa: BLE001 - classified; anything not retryable is re-raised
            retry = classify(caught)
            if retry is None:
                raise
            failure = caught
        now = deadline.clock.now()
        if retry.refused:
            refused_since = now if refused_since is None else refused_since
            if now - refused_since >= refused_for:
                raise ProviderError(
                    f"{what}: {retry.message} (connections refused for {now - refused_since:.0f} s)",
                    hint=retry.hint or REFUSED_HINT,
                ) from failure
        else:
            refused_since = None
        try:
            deadline.check(retry.message)
        except DeadlineError as expired:
            raise DeadlineError(expired.message, hint=retry.hint or expired.hint) from failure
        delay = min(retry.after if retry.after is not None else next(delays), deadline.remaining())
        log.info(f"{what}: {retry.reason}, retrying in {delay:.1f} s")
        deadline.sleep(delay, detail=retry.message)


def refused(exc: BaseException) -> bool:
    """Was a connection refused (ECONNREFUSED) somewhere in this exception's chain? The SDKs wrap
    the socket error in two or three layers (urllib3, requests, botocore, azure-core)."""
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError) or (
            isinstance(current, OSError) and current.errno == errno.ECONNREFUSED
        ):
            return True
        pending.extend((current.__cause__, current.__context__, *current.args))
        for name in ("reason", "inner_exception"):  # urllib3 MaxRetryError, azure-core AzureError
            pending.append(getattr(current, name, None))
        kwargs = getattr(current, "kwargs", None)  # botocore keeps the cause in kwargs["error"]
        if isinstance(kwargs, dict):
            pending.extend(kwargs.values())
    return False
