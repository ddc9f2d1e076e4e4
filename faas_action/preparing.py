"""Preparing the run's functions before any network call: packages and local checks.

Owns: for every function of the run, valid or not, its Python dependencies (installed only while
nothing is wrong yet), its package (built from `source`, or a prebuilt `package` described), the
provider's local checks (size limits, credential files the container cannot see), and the
`package-out` copies; every problem collected, labelled with its function, for one report.
Must not: call a cloud, print annotations or decide the exit code (main.py does).
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator, Mapping

from . import dependencies, package, providers
from .config import Config, FunctionEntry
from .errors import ActionError, InputError, Problem
from .models import Artifact, FunctionSpec, Outcome
from .runner import Runner


@dataclass(frozen=True)
class Job:
    """A function ready to deploy: its spec, its package (None: nothing to package), its
    provider module and its label in messages."""

    spec: FunctionSpec
    artifact: Artifact | None
    module: Any
    label: str = ""


@dataclass
class Prepared:
    """What preparing found: the functions ready to deploy, every problem, the packages to remove
    at the end, and (when there are problems) an Outcome per function saying which failed."""

    jobs: list[Job]
    problems: list[Problem]
    temporary: list[Artifact]
    outcomes: list[Outcome]


def prepare(cfg: Config, runner: Runner, environ: Mapping[str, str], cancel: threading.Event,
            temporary: list[Artifact]) -> Prepared:
    """Every function's package and local checks, in config order; problems collected for all.
    Each package built is added to `temporary` at once (the caller removes them, whatever
    happens next)."""
    prepared = Prepared(jobs=[], problems=list(cfg.problems), temporary=temporary, outcomes=[])
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
        skip_install = bool(prepared.problems or found) or not entry.valid
        with _dependencies_installed(spec, runner, environ, cancel, skip=skip_install) as installed:
            artifact = _package(spec.source, spec.package, module, runner, prepared.temporary, found, label, installed,
                                also_exclude=_inside_source(spec.source, spec.package_out))
        for warning in artifact.warnings if artifact is not None else ():
            runner.warning(warning, title=f"faas-action: {spec.name}" if spec.name else "faas-action")
        if artifact is not None and module is not None:
            found.extend(_labelled(_checked(entry, lambda: module.check(spec, artifact)), label))
        prepared.problems.extend(found)
        found_per_function.append(found)
        artifacts.append(artifact)
        if entry.valid and (artifact is not None or (spec.source is None and spec.package is None)):
            prepared.jobs.append(Job(spec, artifact, module, label))
    if prepared.problems:
        # Nothing deploys: every function is reported, failed with its own problems or skipped.
        prepared.outcomes = [
            Outcome(entry.spec, "failed" if (entry.problems or found) else "skipped",
                    artifact=artifact, error=_problems_text([*entry.problems, *found], entry.label))
            for entry, found, artifact in zip(cfg.functions, found_per_function, artifacts)
        ]
    return prepared


def _package(source, prebuilt, module, runner: Runner, temporary: list[Artifact], problems: list[Problem], label: str,
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
        temporary.append(artifact)
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


def write_package_copies(runner: Runner, jobs: list[Job]) -> None:
    """`package-out`: a copy of each built zip where its function asked (dry run too); the
    artifact then says where, for the `package-path` output."""
    for index, job in enumerate(jobs):
        if job.spec.package_out is not None and job.artifact is not None:
            copied_to = package.export(job.artifact, job.spec.package_out, runner.workspace)
            jobs[index] = replace(job, artifact=replace(job.artifact, copied_to=copied_to))


def _checked(entry: FunctionEntry, check) -> list[Problem]:
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
