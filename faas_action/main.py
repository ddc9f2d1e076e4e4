"""The run: inputs → packages → plans → (apply) → outputs.

Owns: the order of the stages (inputs, preparing.py's packages and checks, connecting every
provider, deploying.py's functions side by side, outputs), cancellation on SIGTERM/SIGINT, and
the one place where errors become `::error` annotations and exit codes (0 done, 1 expected
failure, 2 a bug with its traceback folded). The outputs and the step summary are written
whatever happens, a failure or a crash included.
Must not: parse inputs (config/), package (preparing.py), talk to a cloud (providers), render
(render.py) or know the runner's file formats (runner.py).
"""

from __future__ import annotations

import logging
import shutil
import signal
import threading
import traceback
from dataclasses import dataclass, field
from typing import IO, Any, Mapping

from . import config, deploying, preparing, render
from .errors import ActionError, InputError
from .models import Artifact, Outcome
from .preparing import Job
from .providers.base import Clock, Log, RunContext, SystemClock
from .runner import FunctionLog, Runner, RunnerLog


@dataclass
class RunState:
    """What the run knows so far; the outputs are written from it whatever happened."""

    dry_run: bool = False
    jobs: list[Job] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    temporary: list[Artifact] = field(default_factory=list)
    crashed: bool = False
    errors: list[str] = field(default_factory=list)  # run-level failures, for the summary


def run(environ: Mapping[str, str], stdout: IO[str], clock: Clock | None = None) -> int:
    """Run the action once; return the process exit code."""
    _silence_sdk_logging()
    cancel = threading.Event()
    clock = clock or SystemClock(cancel)
    runner = Runner(environ, stdout, sleep=clock.sleep)  # the OIDC retries stop on a cancellation
    state = RunState()
    restore_signals = _on_cancel_signals(cancel, runner)
    try:
        return _run(runner, environ, clock, cancel, state)
    except InputError as exc:
        for problem in exc.problems:
            runner.error(str(problem), title="faas-action: invalid input")
        state.errors.extend(f"invalid input: {problem}" for problem in exc.problems)
        return 1
    except ActionError as exc:
        runner.error(str(exc), title=f"faas-action: {type(exc).__name__}")
        state.errors.append(str(exc))
        return 1
    except Exception:  # a bug: keep the traceback, folded
        _report_bug(runner, "faas-action crashed: traceback")
        state.crashed = True
        state.errors.append("faas-action hit an unexpected error (a bug); the traceback is in the log")
        return 2
    finally:
        restore_signals()
        try:
            _write_outputs(runner, state)
        except Exception:  # never let the outputs hide the real exit code
            _report_bug(runner, "faas-action crashed while writing its outputs: traceback")
        for artifact in state.temporary:
            shutil.rmtree(artifact.path.parent, ignore_errors=True)


def _silence_sdk_logging() -> None:
    """The SDKs' own log records (azure-mgmt-web's "deserialization error" warning with its
    traceback, when a proxy answers an HTML page) must not reach stderr through logging's
    last-resort handler: they bypass the masking and read like a crash. Every failure that
    matters reaches the log through the action's own errors."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())


def _run(runner: Runner, environ: Mapping[str, str], clock: Clock, cancel: threading.Event, state: RunState) -> int:
    raw = runner.inputs(tuple(config.input_defaults()))
    cfg = config.load(raw, environ, runner.workspace, runner.github)
    for secret in cfg.secrets:
        runner.mask(secret)
    state.dry_run = cfg.dry_run

    # Everything the inputs and files reveal (bad values, packaging refusals, size limits), for
    # every function, valid or not, reported together before any network call.
    # Until something better is known, every function counts as not started: even a crash in
    # the preparation leaves `results` with each of them.
    state.outcomes = [Outcome(entry.spec, "skipped") for entry in cfg.functions]
    prepared = preparing.prepare(cfg, runner, environ, cancel, state.temporary)
    state.jobs = prepared.jobs
    if prepared.problems:
        state.outcomes = prepared.outcomes
        raise InputError(prepared.problems)
    preparing.write_package_copies(runner, state.jobs)

    # Side by side, each function keeps its own log, printed as one group when it ends.
    side_by_side = len(state.jobs) > 1 and cfg.max_parallel > 1
    logs: list[Log] = [FunctionLog(runner, job.spec.name) if side_by_side else RunnerLog(runner) for job in state.jobs]
    state.outcomes = [Outcome(job.spec, "skipped", artifact=job.artifact) for job in state.jobs]
    # Credentials for every function before the first one deploys: a missing one fails the run
    # before anything changed, naming the functions it concerns.
    connected = []
    for index, (job, log) in enumerate(zip(state.jobs, logs)):
        try:
            connected.append(job.module.connect(
                job.spec, RunContext(log=log, clock=clock, id_token=runner.id_token, environ=dict(environ), github=job.spec.github)
            ))
        except ActionError as exc:
            state.outcomes[index] = Outcome(job.spec, "failed", artifact=job.artifact, error=runner.redact(str(exc)))
    if any(o.status == "failed" for o in state.outcomes):
        by_error: dict[str, list[str]] = {}
        for outcome in state.outcomes:
            if outcome.status == "failed":
                by_error.setdefault(outcome.error, []).append(outcome.spec.name)
        for error, names in by_error.items():
            runner.error(f"{', '.join(names)}: {error}", title="faas-action: cannot connect")
        runner.print("faas-action: nothing was deployed: every function connects before the first one deploys")
        return 1
    fleet = deploying.Fleet(state.jobs, state.dry_run, outcomes=state.outcomes)
    deploying.deploy_all(runner, clock, cancel, fleet, list(zip(connected, logs)), cfg.max_parallel if side_by_side else 1, cfg.fail_fast)
    state.crashed = fleet.crashed

    failed = [o for o in state.outcomes if o.status == "failed"]
    for outcome in failed:
        runner.error(f"{outcome.spec.name}: {outcome.error}", title=f"faas-action: {outcome.spec.name} failed")
    skipped = [o for o in state.outcomes if o.status == "skipped"]
    if cancel.is_set():
        note = f"the job was cancelled: {len(skipped)} function(s) not started" if skipped else "the job was cancelled"
        if failed:  # each stopped function already has its ::error; one problem, one annotation
            runner.print(f"faas-action: {note}")
        else:
            runner.error(note, title="faas-action: cancelled")
        return 1
    if state.crashed:
        return 2
    return 1 if failed else 0


# -- outputs ------------------------------------------------------------------------------------


def _write_outputs(runner: Runner, state: RunState) -> None:
    """Outputs and step summary from whatever the run reached (nothing when no function got as
    far as a deploy attempt, e.g. bad inputs)."""
    outcomes = state.outcomes or [Outcome(job.spec, "skipped", artifact=job.artifact) for job in state.jobs]
    if not outcomes:
        if state.errors:
            runner.add_summary(render.failure_markdown(state.errors))
        return
    plans = [o.plan for o in outcomes if o.plan is not None]
    if len(outcomes) == 1:
        for name, value in render.function_outputs(outcomes[0]).items():
            # What a deploy reported is set, empty or not; what is not known stays unset.
            if value != "" or name == "changed" or outcomes[0].result is not None:
                runner.set_output(name, value)
    else:
        runner.set_output("changed", "true" if any(o.changed for o in outcomes) else "false")
    runner.set_output("results", render.results_json(outcomes))
    runner.set_output("matrix", render.matrix_json(outcomes))
    runner.set_output("plan", render.plans_json(plans, [o.artifact for o in outcomes if o.plan is not None]))
    runner.set_output("plan-markdown", render.plans_markdown(plans))
    runner.add_summary(render.summary_markdown(outcomes, state.dry_run, errors=state.errors))


def _report_bug(runner: Runner, title: str) -> None:
    with runner.group(title):
        runner.print(traceback.format_exc())
    runner.error("faas-action hit an unexpected error (a bug); the traceback is in the group above")


def _on_cancel_signals(cancel: threading.Event, runner: Runner):
    """SIGTERM and SIGINT (the runner cancelling the job) set `cancel`: every wait then stops at
    its next safe point. Returns a function that puts the previous handlers back."""
    previous: dict[int, Any] = {}

    def handler(signum, frame) -> None:
        if not cancel.is_set():
            cancel.set()
            runner.print(f"faas-action: received {signal.Signals(signum).name}: stopping at the next safe point")

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, handler)

    def restore() -> None:
        for signum, old in previous.items():
            signal.signal(signum, old)

    return restore
