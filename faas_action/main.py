"""The run: inputs → packages → plans → (apply) → outputs.

Owns: the order of the stages and the one place where errors become `::error` annotations and
exit codes (0 done, 1 expected failure, 2 a bug with its traceback folded).
Must not: parse inputs (config.py), talk to a cloud (providers) or know the runner's file formats
(runner.py).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Mapping

from . import config, dependencies, package, providers, render
from .errors import ActionError, InputError, Problem
from .models import Artifact, DeployResult, FunctionSpec, Plan
from .providers.base import Clock, RunContext, SystemClock
from .runner import Runner, RunnerLog


@dataclass(frozen=True)
class Job:
    spec: FunctionSpec
    artifact: Artifact
    module: object


def run(environ: Mapping[str, str], stdout: IO[str], clock: Clock | None = None) -> int:
    """Run the action once; return the process exit code."""
    runner = Runner(environ, stdout)
    clock = clock or SystemClock()
    started = clock.now()
    jobs: list[Job] = []
    try:
        return _run(runner, environ, clock, started, jobs)
    except InputError as exc:
        for problem in exc.problems:
            runner.error(str(problem), title="faas-action: invalid input")
        return 1
    except ActionError as exc:
        runner.error(str(exc), title=f"faas-action: {type(exc).__name__}")
        return 1
    except Exception:  # a bug: keep the traceback, folded
        with runner.group("faas-action crashed: traceback"):
            runner.print(traceback.format_exc())
        runner.error("faas-action hit an unexpected error (a bug); the traceback is in the group above")
        return 2
    finally:
        for job in jobs:
            if job.spec.package is None:
                shutil.rmtree(job.artifact.path.parent, ignore_errors=True)


def _run(runner: Runner, environ: Mapping[str, str], clock: Clock, started: float, jobs: list[Job]) -> int:
    raw = runner.inputs(tuple(config.input_defaults()))
    cfg = config.load(raw, environ, runner.workspace, runner.github)
    for secret in cfg.secrets:
        runner.mask(secret)

    # Everything the inputs alone reveal (bad values, packaging refusals, size limits), reported
    # together before any network call: the valid functions are packaged even when others are not.
    problems: list[Problem] = list(cfg.problems)
    for spec in cfg.specs:
        module = providers.load(spec.provider)
        try:
            # Installing dependencies reaches a package index: not once the inputs are known bad.
            artifact = _artifact(spec, module, runner, environ, install=not problems)
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        jobs.append(Job(spec, artifact, module))
        problems.extend(module.check(spec, artifact))
    if problems:
        raise InputError(problems)

    log = RunnerLog(runner)
    # Credentials for every function before the first one deploys: a missing one fails the run
    # before anything changed.
    connected = [
        job.module.connect(job.spec, RunContext(log=log, clock=clock, id_token=runner.id_token, environ=dict(environ), github=job.spec.github))
        for job in jobs
    ]
    plans: list[Plan] = []
    rows: list[tuple[str, str, DeployResult, Artifact]] = []
    for job, provider in zip(jobs, connected):
        spec, artifact = job.spec, job.artifact
        runner.print(
            f"faas-action: {spec.provider} function {spec.name}: package {render.human_size(artifact.size)}, "
            f"{artifact.file_count} files, sha256 {artifact.sha256}" + (" (dry run)" if cfg.dry_run else "")
        )
        with runner.group(f"Plan for {spec.name}"):
            plan = provider.plan(spec, artifact)
            runner.print(render.plan_text(plan))
            if artifact.dependencies_platform:
                runner.print(render.dependencies_text(artifact))
        plans.append(plan)
        if cfg.dry_run:
            continue
        with runner.group(f"Deploy {spec.name}"):
            result = provider.apply(plan, spec, artifact)
        rows.append((spec.provider, spec.name, result, artifact))
        runner.print(f"faas-action: {spec.name}: {'deployed' if result.changed else 'unchanged'}, version {result.version or '-'}")

    last_artifact = jobs[-1].artifact
    runner.set_output("code-sha256", last_artifact.sha256)
    runner.set_output("package-size", str(last_artifact.size))
    if cfg.dry_run:
        runner.set_output("plan", render.plans_json(plans, [job.artifact for job in jobs]))
        runner.add_summary("\n".join(render.plan_markdown(p) for p in plans))
        _add_dependencies_summary(runner, [(job.spec.name, job.artifact) for job in jobs])
        return 0

    results = [_outputs(result, artifact) for _, _, result, artifact in rows]
    for name, value in results[-1].items():
        if name not in ("code-sha256", "package-size", "changed"):
            runner.set_output(name, value)
    runner.set_output("changed", "true" if any(r.changed for _, _, r, _ in rows) else "false")
    runner.set_output("results", json.dumps(results, sort_keys=True))
    runner.add_summary(render.summary_markdown(rows, clock.now() - started))
    _add_dependencies_summary(runner, [(name, artifact) for _, name, _, artifact in rows])
    return 0


def _artifact(spec: FunctionSpec, module, runner: Runner, environ: Mapping[str, str], install: bool = True) -> Artifact:
    if spec.package is not None:
        return package.describe(spec.package)
    assert spec.source is not None
    if spec.dependencies is not None and install:
        return _with_dependencies(spec, module, runner, environ)
    return package.build(
        spec.source,
        runner.workspace,
        provider_ignore_file=module.IGNORE_FILE,
        default_ignores=module.DEFAULT_IGNORES,
        out_dir=runner.temp_dir,
    )


def _with_dependencies(spec: FunctionSpec, module, runner: Runner, environ: Mapping[str, str]) -> Artifact:
    """Install the function's Python dependencies (uv, wheels only, for its platform), then
    package them with the source; the artifact lists them."""
    wanted = spec.dependencies
    assert wanted is not None and spec.source is not None
    temp = runner.temp_dir or Path(tempfile.gettempdir())
    work = Path(tempfile.mkdtemp(prefix="faas-dependencies-", dir=temp))
    try:
        with runner.group(f"Dependencies of {spec.name}: {dependencies.describe_target(wanted.python_version, wanted.platform)}"):
            installed = dependencies.install(
                wanted, environ, work, default_cache=temp / "faas-action-uv-cache", timeout_s=spec.wait_timeout_s
            )
            for line in installed.log:
                runner.print(line)
        if wanted.cache is not None:
            dependencies.own_cache(wanted.cache, runner.workspace)
        runner.print(
            f"faas-action: {spec.name}: {len(installed.distributions)} dependencies installed for "
            f"{installed.target} in {installed.duration_s:.1f} s"
        )
        cache_in_source = wanted.cache is not None and spec.source in wanted.cache.parents
        artifact = package.build(
            spec.source,
            runner.workspace,
            provider_ignore_file=module.IGNORE_FILE,
            default_ignores=module.DEFAULT_IGNORES,
            out_dir=runner.temp_dir,
            dependencies=installed.root,
            exclude=[f"/{wanted.cache.relative_to(spec.source).as_posix()}/"] if cache_in_source else [],
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dataclasses.replace(
        artifact,
        distributions=installed.distributions,
        dependencies_size=installed.size,
        dependencies_python=wanted.python_version,
        dependencies_platform=wanted.platform,
    )


def _add_dependencies_summary(runner: Runner, packages: list[tuple[str, Artifact]]) -> None:
    sections = [render.dependencies_markdown(name, artifact) for name, artifact in packages if artifact.dependencies_platform]
    if sections:
        runner.add_summary("\n".join(sections))


def _outputs(result: DeployResult, artifact: Artifact) -> dict[str, str]:
    outputs = {
        "function-id": result.function_id,
        "version": result.version,
        "url": result.url,
        "changed": "true" if result.changed else "false",
        "code-sha256": artifact.sha256,
        "package-size": str(artifact.size),
    }
    outputs.update(result.outputs)
    return outputs
