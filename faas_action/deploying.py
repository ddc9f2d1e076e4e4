"""Deploying the prepared functions, side by side.

Owns: at most `max-parallel` functions at once on a thread pool, each with its own log; plan,
apply (unless dry run) and the release of each; fail-fast; no new function after a cancellation;
turning whatever happens to a function into its Outcome (never an exception).
Must not: parse inputs, talk to a cloud except through a connected provider, or decide the exit
code (main.py does).
"""

from __future__ import annotations

import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from . import render
from .errors import ActionError, Cancelled, ReleaseError
from .models import Outcome
from .preparing import Job
from .providers.base import Clock, Log
from .runner import FunctionLog, Runner

# After a cancellation, how long the running functions get to reach a safe point before the run
# stops waiting for them and writes its outputs: the runner sends SIGTERM 7.5 s after SIGINT and
# kills the container 2.5 s later, outputs and step summary unwritten. A request to the cloud
# can take longer than that to answer (an upload, a slow or held reply).
CANCEL_GRACE_S = 6.0


@dataclass
class Fleet:
    """The functions of one run and what became of them (`outcomes`, in config order)."""

    jobs: list[Job]
    dry_run: bool
    outcomes: list[Outcome] = field(default_factory=list)
    crashed: bool = False


def deploy_all(runner: Runner, clock: Clock, cancel: threading.Event, fleet: Fleet, connected: list,
               max_parallel: int, fail_fast: bool) -> None:
    """Deploy every job, at most `max_parallel` at once, filling `fleet.outcomes` in config
    order. No new function starts after a failure (with fail-fast) or a cancellation."""
    pending = list(range(len(fleet.jobs)))
    running: dict[Future, int] = {}
    stop = threading.Event()

    def start_next(pool: ThreadPoolExecutor) -> None:
        while pending and len(running) < max_parallel and not stop.is_set() and not cancel.is_set():
            index = pending.pop(0)
            provider, log = connected[index]
            running[pool.submit(_deploy_one, runner, clock, fleet, index, provider, log)] = index

    pool = ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="deploy")
    cancelled_at: float | None = None
    try:
        start_next(pool)
        while running:
            done, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                index = running.pop(future)
                fleet.outcomes[index] = future.result()  # _deploy_one never raises
                if fail_fast and fleet.outcomes[index].status == "failed":
                    stop.set()
            start_next(pool)
            if cancel.is_set() and running:
                cancelled_at = cancelled_at if cancelled_at is not None else time.monotonic()
                if time.monotonic() - cancelled_at >= CANCEL_GRACE_S:
                    _give_up_on(runner, fleet, running, [log for _, log in connected])
                    running.clear()
    finally:
        # Threads given up on are left behind (the process ends without them); the others are done.
        pool.shutdown(wait=cancelled_at is None, cancel_futures=True)
    if stop.is_set() and pending:
        runner.print(f"faas-action: fail-fast: {len(pending)} function(s) not started after a failure")


def _give_up_on(runner: Runner, fleet: Fleet, running: dict[Future, int], logs: list[Log]) -> None:
    """The functions still running CANCEL_GRACE_S after a cancellation: failed, their state
    unconfirmed (each one's log says what it had done and what it was waiting for: a function
    that ran side by side gets its kept log printed now; a live group left open is closed)."""
    runner.end_open_groups()
    for index in sorted(running.values()):
        job = fleet.jobs[index]
        error = (f"cancelled while deploying; no safe point was reached within {CANCEL_GRACE_S:g} s (a request to "
                 f"the cloud had not answered): what it had changed is in its log, check {job.spec.name}'s state")
        fleet.outcomes[index] = Outcome(job.spec, "failed", artifact=job.artifact, error=error)
        if isinstance(logs[index], FunctionLog):
            logs[index].print_group(f"{job.spec.name}: given up on (its log so far)")
        runner.print(f"faas-action: {job.spec.name}: given up on, {CANCEL_GRACE_S:g} s after the cancellation")


def _deploy_one(runner: Runner, clock: Clock, fleet: Fleet, index: int, provider, log: Log) -> Outcome:
    """Plan, then apply (unless dry run), one function; never raises: whatever happens becomes
    its Outcome. Its log is one group: printed live, or at the end when functions run side by
    side (a FunctionLog)."""
    job = fleet.jobs[index]
    spec, artifact = job.spec, job.artifact
    started = clock.now()
    plan = result = None
    status, error, crash = "failed", "", ""
    buffered = isinstance(log, FunctionLog)
    group = None if buffered else runner.group(f"Deploy {spec.name}" if not fleet.dry_run else f"Plan for {spec.name}")
    try:
        if group is not None:
            group.__enter__()
        if artifact is not None:
            log.info(
                f"faas-action: {spec.provider} function {spec.name}: package {render.human_size(artifact.size)}, "
                f"{artifact.file_count} files, sha256 {artifact.sha256}" + (" (dry run)" if fleet.dry_run else "")
            )
        else:
            log.info(f"faas-action: {spec.provider} function {spec.name}: nothing to package" + (" (dry run)" if fleet.dry_run else ""))
        plan = provider.plan(spec, artifact)
        log.info(render.plan_text(plan))
        if artifact is not None and artifact.dependencies_platform:
            log.info(render.dependencies_text(artifact))
        if fleet.dry_run:
            status = "planned" if plan.changed else "unchanged"
        else:
            result = provider.apply(plan, spec, artifact)
            if spec.release is not None and hasattr(provider, "release"):
                # The release (issue 9): smoke test, traffic steps, gates; or restore and fail.
                result = provider.release(plan, spec, result)
            status = "deployed" if result.changed else "unchanged"
            if buffered:
                log.info(f"faas-action: {spec.name}: {status}, version {result.version or '-'}")
    except ReleaseError as exc:  # the traffic was restored: its outputs still say what happened
        result = exc.result if exc.result is not None else result
        error = str(exc)
    except Cancelled as exc:
        error = "cancelled while " + ("planning" if plan is None else "deploying") + "; " + (exc.hint or _where_it_stopped(plan, result))
    except ActionError as exc:
        error = str(exc)
    except Exception:  # a bug in this function's deploy: its traceback gets a folded group
        fleet.crashed = True
        error = f"faas-action hit an unexpected error (a bug); the traceback is in the group 'faas-action crashed: traceback ({spec.name})'"
        crash = traceback.format_exc()
    finally:
        if group is not None:
            group.__exit__(None, None, None)
    error = runner.redact(error)  # it goes into the `results` output, which is not redacted
    outcome = Outcome(spec, status if not error else "failed", plan, result, artifact, error, clock.now() - started)
    with runner.lock:
        if buffered:
            log.print_group(f"{spec.name}: {outcome.status}" + (f" ({error})" if error else ""))
        if crash:
            with runner.group(f"faas-action crashed: traceback ({spec.name})"):
                runner.print(crash)
        elif not buffered and result is not None:
            runner.print(f"faas-action: {spec.name}: {status}, version {result.version or '-'}")
    return outcome


def _where_it_stopped(plan, result) -> str:
    if plan is None or (result is None and not plan.changed):
        return "nothing was changed"
    if result is None:
        return "the deploy stopped at its next safe point: what it had changed is in the log above"
    return f"version {result.version or '-'} was deployed; what followed stopped at its next safe point"
