"""The run: inputs → packages → plans → (apply) → outputs.

Owns: the order of the stages, running functions side by side (at most `max-parallel`, each with
its own log), cancellation, and the one place where errors become `::error` annotations and exit
codes (0 done, 1 expected failure, 2 a bug with its traceback folded). The outputs and the step
summary are written whatever happens, a failure or a crash included.
Must not: parse inputs (config/), talk to a cloud (providers), render (render.py) or know the
runner's file formats (runner.py).
"""

from __future__ import annotations

import re
import shutil
import signal
import tempfile
import threading
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Iterator, Mapping

from . import config, dependencies, package, providers, render
from .errors import ActionError, Cancelled, InputError, Problem, ReleaseError
from .models import Artifact, FunctionSpec, Outcome
from .providers.base import Clock, Log, RunContext, SystemClock
from .runner import FunctionLog, Runner, RunnerLog


@dataclass(frozen=True)
class Job:
    """A function ready to deploy: its spec, its package (None: nothing to package), its
    provider module and its label in messages."""

    spec: FunctionSpec
    artifact: Artifact | None
    module: Any
    label: str = ""


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


def _run(runner: Runner, environ: Mapping[str, str], clock: Clock, cancel: threading.Event, state: RunState) -> int:
    raw = runner.inputs(tuple(config.input_defaults()))
    cfg = config.load(raw, environ, runner.workspace, runner.github)
    for secret in cfg.secrets:
        runner.mask(secret)
    state.dry_run = cfg.dry_run

    # Everything the inputs and files reveal (bad values, packaging refusals, size limits), for
    # every function, valid or not, reported together before any network call.
    problems: list[Problem] = list(cfg.problems)
    environment_problems: set[tuple[str, str]] = set()
    found_per_function: list[list[Problem]] = []
    artifacts: list[Artifact | None] = []
    for entry in cfg.functions:
        spec, label = entry.spec, entry.label
        module = providers.load(spec.provider) if spec.provider else None
        found: list[Problem] = []
        # Credential files and variables the container cannot see, a missing project: local
        # checks. The same problem for several functions (one profile, one token file) is one
        # problem: reported once.
        for problem in _checked(entry, lambda: module.check_environment(spec, environ)) if module else ():
            if (spec.provider, str(problem)) not in environment_problems:
                environment_problems.add((spec.provider, str(problem)))
                found.append(problem)
        # Installing dependencies asks a package index: never once the inputs are known bad.
        skip_install = bool(problems or found) or not entry.valid
        with _dependencies_installed(spec, runner, environ, cancel, skip=skip_install) as installed:
            artifact = _package(spec.source, spec.package, module, runner, state, found, label, installed,
                                also_exclude=_inside_source(spec.source, spec.package_out))
        if artifact is not None and module is not None:
            found.extend(_labelled(_checked(entry, lambda: module.check(spec, artifact)), label))
        problems.extend(found)
        found_per_function.append(found)
        artifacts.append(artifact)
        if entry.valid and (artifact is not None or (spec.source is None and spec.package is None)):
            state.jobs.append(Job(spec, artifact, module, label))
    if problems:
        # Nothing deploys: every function is reported, failed with its own problems or skipped.
        state.outcomes = [
            Outcome(entry.spec, "failed" if (entry.problems or found) else "skipped",
                    artifact=artifact, error=_problems_text([*entry.problems, *found], entry.label))
            for entry, found, artifact in zip(cfg.functions, found_per_function, artifacts)
        ]
        raise InputError(problems)
    _write_package_copies(runner, state)

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
    _deploy_all(runner, clock, cancel, state, list(zip(connected, logs)), cfg.max_parallel if side_by_side else 1, cfg.fail_fast)

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


def _package(source, prebuilt, module, runner: Runner, state: RunState, problems: list[Problem], label: str,
             installed: dependencies.Installed | None = None, also_exclude: tuple[str, ...] = ()) -> Artifact | None:
    """The function's package (with its `installed` dependencies), or None after recording its
    problems (or when there is no code to package, as for a container image)."""
    try:
        if prebuilt is not None:
            return package.describe(prebuilt)
        if source is None:
            return None
        artifact = package.build(
            source,
            runner.workspace,
            provider_ignore_file=getattr(module, "IGNORE_FILE", None),
            default_ignores=getattr(module, "DEFAULT_IGNORES", ()),
            out_dir=runner.temp_dir,
            dependencies=installed.root if installed else None,
            exclude=(dependencies.excluded_from(source, installed) if installed else ()) + also_exclude,
        )
        state.temporary.append(artifact)
        return dependencies.described(artifact, installed) if installed else artifact
    except InputError as exc:
        problems.extend(_labelled(exc.problems, label))
    except ActionError as exc:
        problems.append(Problem("source", f"{label}{exc}"))
    return None


@contextmanager
def _dependencies_installed(spec: FunctionSpec, runner: Runner, environ: Mapping[str, str], cancel: threading.Event,
                            skip: bool) -> Iterator[dependencies.Installed | None]:
    """The function's Python dependencies installed (uv, wheels only, for its platform) in a
    temporary directory while the packager reads them; None without `dependencies`, or when
    `skip`. A failed install raises PackagingError (exit 1 with uv's message); a cancellation
    stops uv at once and raises Cancelled (exit 1, outputs written, no later install starts)."""
    wanted = spec.dependencies
    if wanted is None or spec.source is None or skip:
        yield None
        return
    temp = runner.temp_dir
    work = Path(tempfile.mkdtemp(prefix="faas-dependencies-", dir=temp))
    try:
        with runner.group(f"Dependencies of {spec.name}: {dependencies.describe_target(wanted.python_version, wanted.platform)}"):
            installed = dependencies.install(
                wanted, environ, work, default_cache=temp / "faas-action-uv-cache", timeout_s=spec.wait_timeout_s,
                cancel=cancel,
            )
            for line in installed.log:
                runner.print(line)
        if wanted.cache is not None:
            dependencies.own_cache(wanted.cache, runner.workspace)
        runner.print(
            f"faas-action: {spec.name}: {len(installed.distributions)} dependencies installed for "
            f"{installed.target} in {installed.duration_s:.1f} s"
        )
        yield installed
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _write_package_copies(runner: Runner, state: RunState) -> None:
    """`package-out`: a copy of each built zip where its function asked (dry run too); the
    artifact then says where, for the `package-path` output."""
    for index, job in enumerate(state.jobs):
        if job.spec.package_out is not None and job.artifact is not None:
            copied_to = package.export(job.artifact, job.spec.package_out, runner.workspace)
            state.jobs[index] = replace(job, artifact=replace(job.artifact, copied_to=copied_to))


def _checked(entry, check) -> list[Problem]:
    """A provider's local check. For a function whose inputs are invalid it runs on the settings
    that could be read: a field its input problems already name is not reported twice, and
    should the check trip over a missing setting, its problems are simply not known yet (the
    function has problems of its own already)."""
    if entry.valid:
        return list(check())
    try:
        found = list(check())
    except Exception:  # noqa: BLE001 - a partial spec; the run already fails on its problems
        return []
    named = {problem.field for problem in entry.problems}
    return [problem for problem in found if problem.field not in named]


def _problems_text(problems, label: str) -> str:
    """A function's problems as one line for its `results` entry (without its label)."""
    return "; ".join(str(p).replace(label, "", 1) if label else str(p) for p in problems)


def _inside_source(source: Path | None, path: Path | None) -> tuple[str, ...]:
    """An ignore line for `path` (the `package-out` copy) when it lies inside `source`: the zip a
    run writes must not end up in the next run's zip."""
    if source is None or path is None:
        return ()
    try:
        relative = path.resolve().relative_to(source.resolve())
    except ValueError:
        return ()
    escaped = re.sub(r"([\\*?\[\]!# ])", r"\\\1", relative.as_posix())
    return (f"/{escaped}",)


def _labelled(problems, label: str) -> list[Problem]:
    """Problems of one function of several, each naming it."""
    if not label:
        return list(problems)
    return [p if p.message.startswith(label) else Problem(p.field, label + p.message) for p in problems]


# -- deploying ------------------------------------------------------------------------------------


def _deploy_all(runner: Runner, clock: Clock, cancel: threading.Event, state: RunState, connected: list,
                max_parallel: int, fail_fast: bool) -> None:
    """Deploy every job, at most `max_parallel` at once, filling `state.outcomes` in config
    order. No new function starts after a failure (with fail-fast) or a cancellation."""
    pending = list(range(len(state.jobs)))
    running: dict[Future, int] = {}
    stop = threading.Event()

    def start_next(pool: ThreadPoolExecutor) -> None:
        while pending and len(running) < max_parallel and not stop.is_set() and not cancel.is_set():
            index = pending.pop(0)
            provider, log = connected[index]
            running[pool.submit(_deploy_one, runner, clock, state, index, provider, log)] = index

    with ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="deploy") as pool:
        start_next(pool)
        while running:
            done, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                index = running.pop(future)
                state.outcomes[index] = future.result()  # _deploy_one never raises
                if fail_fast and state.outcomes[index].status == "failed":
                    stop.set()
            start_next(pool)
    if stop.is_set() and pending:
        runner.print(f"faas-action: fail-fast: {len(pending)} function(s) not started after a failure")


def _deploy_one(runner: Runner, clock: Clock, state: RunState, index: int, provider, log: Log) -> Outcome:
    """Plan, then apply (unless dry run), one function; never raises: whatever happens becomes
    its Outcome. Its log is one group: printed live, or at the end when functions run side by
    side (a FunctionLog)."""
    job = state.jobs[index]
    spec, artifact = job.spec, job.artifact
    started = clock.now()
    plan = result = None
    status, error, crash = "failed", "", ""
    buffered = isinstance(log, FunctionLog)
    group = None if buffered else runner.group(f"Deploy {spec.name}" if not state.dry_run else f"Plan for {spec.name}")
    try:
        if group is not None:
            group.__enter__()
        if artifact is not None:
            log.info(
                f"faas-action: {spec.provider} function {spec.name}: package {render.human_size(artifact.size)}, "
                f"{artifact.file_count} files, sha256 {artifact.sha256}" + (" (dry run)" if state.dry_run else "")
            )
        else:
            log.info(f"faas-action: {spec.provider} function {spec.name}: nothing to package" + (" (dry run)" if state.dry_run else ""))
        plan = provider.plan(spec, artifact)
        log.info(render.plan_text(plan))
        if artifact is not None and artifact.dependencies_platform:
            log.info(render.dependencies_text(artifact))
        if state.dry_run:
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
    except Cancelled:
        error = "cancelled while " + ("planning" if plan is None else "deploying") + "; " + _where_it_stopped(plan, result)
    except ActionError as exc:
        error = str(exc)
    except Exception:  # a bug in this function's deploy: its traceback gets a folded group
        state.crashed = True
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
