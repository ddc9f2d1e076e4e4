"""The run: inputs → packages → plans → (apply) → outputs.

Owns: the order of the stages and the one place where errors become `::error` annotations and
exit codes (0 done, 1 expected failure, 2 a bug with its traceback folded).
Must not: parse inputs (config.py), talk to a cloud (providers) or know the runner's file formats
(runner.py).
"""

from __future__ import annotations

import json
import shutil
import traceback
from dataclasses import dataclass
from typing import IO, Mapping

from . import config, package, providers, render
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
            artifact = _artifact(spec, module, runner)
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        for warning in artifact.warnings:
            runner.warning(warning, title=f"faas-action: {spec.name}")
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
        runner.set_output("plan", render.plans_json(plans))
        runner.add_summary("\n".join(render.plan_markdown(p) for p in plans))
        return 0

    results = [_outputs(result, artifact) for _, _, result, artifact in rows]
    for name, value in results[-1].items():
        if name not in ("code-sha256", "package-size", "changed"):
            runner.set_output(name, value)
    runner.set_output("changed", "true" if any(r.changed for _, _, r, _ in rows) else "false")
    runner.set_output("results", json.dumps(results, sort_keys=True))
    runner.add_summary(render.summary_markdown(rows, clock.now() - started))
    return 0


def _artifact(spec: FunctionSpec, module, runner: Runner) -> Artifact:
    if spec.package is not None:
        return package.describe(spec.package)
    assert spec.source is not None
    return package.build(
        spec.source,
        runner.workspace,
        provider_ignore_file=module.IGNORE_FILE,
        default_ignores=module.DEFAULT_IGNORES,
        out_dir=runner.temp_dir,
    )


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
