"""Inputs (and the optional YAML config file) → frozen FunctionSpecs.

Owns: every rule about user input. All problems are collected and returned together so that
main.py reports them at once, before any network call; values to mask are collected too.
This module owns the run as a whole (which functions, which inputs apply to which provider,
run-level settings, duplicates); its neighbours own one kind of rule each: `fields` (scalar
parsers, mappings, secrets), `files` (the config file, code locations, the workspace boundary),
`aws`, `azure`, `gcp` (each provider's settings), `release` and `dependencies`.
Must not: touch the network, print, or import a provider SDK.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from .. import inputs
from ..errors import Problem
from ..models import AwsOptions, AzureOptions, FunctionSpec, GitHubContext, frozen_map
from .aws import AWS_ENV_KEY, AWS_FUNCTION, AWS_RESERVED_ENV, aws as _aws
from .azure import AZURE_SITE, azure as _azure
from .dependencies import dependencies as _dependencies, dependency_secrets
from .fields import SECRET_INPUTS, Fields, parse_mapping, secret_values
from .files import CONFIG_MAX_BYTES, FILE_RUN_KEYS, RUN_KEYS, code_location, no_code, read_config_file
from .files import package_out as _package_out
from .gcp import GCP_ENV_KEY, GCP_FUNCTION, GCP_RESERVED_ENV, gcp as _gcp
from .release import release as _release

PROVIDERS = ("aws", "azure", "gcp")

# The release (issue 9): how the new version gets its traffic, what watches it, rollback, pruning.
RELEASE_INPUTS = (
    "traffic", "traffic-percent", "traffic-interval", "smoke-event", "smoke-expect", "alarms",
    "max-error-rate", "rollback", "keep-versions",
)

# Inputs that only mean something for one or two providers; given for another, they are an error
# rather than silently ignored.
APPLIES_TO: dict[str, tuple[str, ...]] = {
    **{
        name: ("aws",)
        for name in (
            "handler", "role", "architectures", "layers", "subnet-ids", "security-group-ids",
            "tracing", "tags", "publish", "alias", "s3-bucket",
            "image-uri", "image-command", "image-entrypoint", "image-working-directory",
            "function-url", "function-url-cors", "reserved-concurrency", "provisioned-concurrency",
            "ephemeral-storage", "dead-letter-arn", "kms-key-arn", "log-format", "log-group",
            "snap-start", "file-system-configs", "force",
            *RELEASE_INPUTS,
        )
    },
    **{
        name: ("azure",)
        for name in (
            "resource-group", "subscription-id", "slot", "swap", "deploy-method", "client-id",
            "tenant-id", "azure-access-token", "remote-build",
        )
    },
    **{
        name: ("gcp",)
        for name in (
            "project", "entry-point", "service-account", "min-instances", "max-instances", "ingress",
            "vpc-connector", "labels", "secrets", "build-environment", "trigger-http",
            "event-trigger-type", "event-trigger-resource", "event-trigger-retry",
            "allow-unauthenticated", "kms-key", "gcp-access-token",
        )
    },
    **{name: ("aws", "gcp") for name in ("region", "memory", "timeout", "description")},
    "runtime": ("aws", "azure", "gcp"),  # on azure only the Python version of `dependencies`
}


def input_defaults() -> dict[str, str]:
    """Every declared input and its default ('' when none), as action.yml declares them."""
    return dict(inputs.DEFAULTS)


@dataclass(frozen=True)
class FunctionEntry:
    """One function of the run, valid or not, in config order.

    `spec` holds its settings: all of them when `valid`, else as far as they are valid (its code
    location and the provider's options, with None where a value was bad), so that it is still
    packaged and checked and every problem comes out at once; `provider` is '' when even that is
    unknown. `problems` are its own input problems (not those of the run as a whole)."""

    label: str
    spec: FunctionSpec
    valid: bool
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class Config:
    """The parsed run: every function in config order (`functions`), and the problems that stop it.

    With problems nothing may deploy. `specs` and `labels` are the valid functions and their
    labels in messages ("functions[2] (api): ", '' for a one-function run)."""

    dry_run: bool = False
    functions: tuple[FunctionEntry, ...] = ()
    problems: tuple[Problem, ...] = ()
    secrets: tuple[str, ...] = ()
    max_parallel: int = 4
    fail_fast: bool = False

    @property
    def specs(self) -> tuple[FunctionSpec, ...]:
        return tuple(entry.spec for entry in self.functions if entry.valid)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(entry.label for entry in self.functions if entry.valid)


def _environment(f: Fields, provider: str) -> dict[str, str] | None:
    if provider == "aws":
        env = f.mapping("environment", AWS_ENV_KEY, "a valid Lambda variable name")
        if env:
            for key in sorted(set(env) & AWS_RESERVED_ENV):
                f.problem("environment", f"{key} is reserved by Lambda")
            if sum(len(k) + len(v) for k, v in env.items()) > 4096:
                f.problem("environment", "variables exceed Lambda's 4 KB limit")
        return env
    if provider == "gcp":
        env = f.mapping("environment", GCP_ENV_KEY, "a valid variable name")
        if env:
            for key in sorted(k for k in env if k in GCP_RESERVED_ENV or k.startswith("X_GOOGLE_")):
                f.problem("environment", f"{key} is reserved by Cloud Functions")
        return env
    return f.mapping("environment", r"[A-Za-z0-9_.:-]+", "a valid app setting name")


OPTION_BUILDERS: dict[str, Callable[[Fields, Mapping[str, str]], Any]] = {
    "aws": _aws,
    "azure": _azure,
    "gcp": _gcp,
}
NAME_PATTERNS = {
    "aws": (AWS_FUNCTION, "a Lambda function name or ARN (letters, digits, - and _, 64 at most)"),
    "azure": (AZURE_SITE, "a Function App name (letters, digits and -, 60 at most)"),
    "gcp": (GCP_FUNCTION, "a function id (lowercase letters, digits and -, starting with a letter, 63 at most)"),
}



# -- the whole run ------------------------------------------------------------------------------


def load(
    step_inputs: Mapping[str, str],
    environ: Mapping[str, str],
    workspace: Path,
    github: GitHubContext = GitHubContext(),
) -> Config:
    """Parse the step's inputs (and config file) into specs, collecting every problem."""
    defaults = input_defaults()
    problems: list[Problem] = []
    given = {k: v for k, v in step_inputs.items() if v != "" and v != defaults.get(k, "")}
    workspace = workspace.resolve()

    file_common: dict[str, Any] = {}
    file_functions: list[dict[str, Any]] = [{}]
    file_problems: list[list[Problem]] = [[]]  # each function's own, in the file
    if step_inputs.get("config"):
        file_common, file_functions, file_problems = read_config_file(step_inputs["config"], workspace, defaults, problems)
    if len(file_functions) > 1 and "function-name" in given:
        problems.append(Problem("function-name", "the config file lists several functions: name them there, not in the step"))
        given.pop("function-name")

    # Run-level settings: the step's input, else the top of the config file, else the default.
    run_raw = {k: file_common.pop(k) for k in FILE_RUN_KEYS if k in file_common}
    run_raw.update({k: v for k, v in given.items() if k in FILE_RUN_KEYS or k in RUN_KEYS})
    run = Fields(run_raw, problems, "")
    max_parallel = run.integer("max-parallel", 1, 32) or int(defaults.get("max-parallel") or 4)
    fail_fast = bool(run.boolean("fail-fast"))
    select = run.items("select")
    if select == ():  # given, but only separators: it would deploy nothing and still succeed
        run.problem("select", "names no function (give one or more names, on lines or separated by commas)")
    dry_run = Fields(step_inputs, problems, "").boolean("dry-run")  # a run key: never from the file
    for key in FILE_RUN_KEYS:
        given.pop(key, None)

    raws = []
    for item in file_functions:
        raw: dict[str, Any] = {k: v for k, v in defaults.items() if v != "" and k not in FILE_RUN_KEYS}
        raw.update(file_common)
        raw.update(item)
        raw.update(given)
        # The step's provider is the run's default: a function's own provider in the file wins.
        if "provider" in item:
            raw["provider"] = item["provider"]
        raws.append((raw, set(item)))

    secrets: list[str] = []
    for raw, _ in raws:
        secrets.extend(secret_values(raw))
    secrets.extend(dependency_secrets([raw for raw, _ in raws], environ, workspace))

    if select is not None:
        names = [str(raw.get("function-name") or "") for raw, _ in raws]
        for name in select:
            if name not in names:
                known = ", ".join(n for n in names if n) or "none"
                problems.append(Problem("select", f"{name!r} is not a function of the config (functions: {known})"))

    providers_in_run = {str(raw.get("provider", "")).lower() for raw, _ in raws} & set(PROVIDERS)
    mixed = len(providers_in_run) > 1
    entries: list[FunctionEntry] = []
    seen: dict[tuple, str] = {}
    for index, (raw, own_keys) in enumerate(raws):
        label = f"functions[{index}] ({raw.get('function-name') or '?'}): " if len(raws) > 1 else ""
        if select is not None and str(raw.get("function-name") or "") not in select:
            problems.extend(file_problems[index])  # the file is wrong whichever function runs
            continue
        before = len(problems)
        problems.extend(file_problems[index])  # its `results` entry says it failed, and why
        raw = _for_provider(raw, own_keys, mixed, providers_in_run, problems)
        spec, valid = _spec(raw, defaults, environ, workspace, github, problems, label)
        if valid:
            target = _target_of(spec)
            if target in seen:
                problems.append(Problem("config", f"{label}the same function as {seen[target]}: each function may appear once"))
                valid = False
            else:
                seen[target] = label.rstrip(": ") or "the step"
        entries.append(FunctionEntry(label, spec, valid, tuple(problems[before:])))
    if not providers_in_run and not problems and not entries:
        problems.append(Problem("provider", "required: aws, azure or gcp"))
    outs = [e.spec.package_out for e in entries if e.valid and e.spec.package_out is not None]
    for path in sorted({p for p in outs if outs.count(p) > 1}):
        problems.append(Problem("package-out", f"several functions would write {path.relative_to(workspace)}: give each its own path"))
    return Config(
        dry_run=bool(dry_run),
        functions=tuple(entries),
        problems=tuple(problems),
        secrets=tuple(dict.fromkeys(secrets)),
        max_parallel=max_parallel,
        fail_fast=fail_fast,
    )


def _for_provider(raw: dict[str, Any], own_keys: set[str], mixed: bool, providers_in_run: set[str], problems: list[Problem]) -> dict[str, Any]:
    """In a run that mixes providers, an input shared by the run (a step input or a key at the
    top of the config file) that belongs to another provider is dropped for this function
    instead of being an error; one that belongs to none of the run's providers stays an error."""
    if not mixed:
        return raw
    provider = str(raw.get("provider", "")).lower()
    result = dict(raw)
    for name, applies in APPLIES_TO.items():
        if name in own_keys or name not in raw or provider in applies:
            continue
        if set(applies) & providers_in_run:
            del result[name]
    return result


def _target_of(spec: FunctionSpec) -> tuple:
    """What makes two entries the same function, spelled the same however the inputs spelled
    it: provider, name and region, project or resource group (and slot)."""
    options = spec.options
    if isinstance(options, AwsOptions):
        arn = re.fullmatch(r"arn:[^:]+:lambda:([^:]+):\d+:function:(.+)", spec.name)
        if arn:  # an ARN names its own region
            return ("aws", arn[2], arn[1])
        return ("aws", spec.name, options.region)
    if isinstance(options, AzureOptions):  # Azure names are case-insensitive
        return ("azure", spec.name.lower(), options.subscription_id.lower(), options.resource_group.lower(),
                (options.slot or "").lower())
    return ("gcp", spec.name, options.project, options.region)


def _spec(
    raw: dict[str, Any],
    defaults: Mapping[str, str],
    environ: Mapping[str, str],
    workspace: Path,
    github: GitHubContext,
    problems: list[Problem],
    label: str,
) -> tuple[FunctionSpec, bool]:
    """The function's spec and whether its inputs are valid. With problems, the spec holds what
    could be read (its code location above all), to package and check it anyway."""
    before = len(problems)
    f = Fields(raw, problems, label)
    provider = f.choice("provider", PROVIDERS)
    if provider is None:
        if not f.given("provider"):
            f.problem("provider", "required: aws, azure or gcp (as an input, or for each function in the config file)")
        source, package = code_location(f, workspace, defaults)
        name = str(raw.get("function-name") or "")
        return FunctionSpec(provider="", name=name, source=source, package=package, options=None, github=github), False
    for name, providers in APPLIES_TO.items():
        if provider not in providers and f.given(name) and str(raw.get(name)) != defaults.get(name, ""):
            f.problem(name, f"does not apply to provider {provider} (only {', '.join(providers)})")

    pattern, what = NAME_PATTERNS[provider]
    name = f.text("function-name", pattern, what)
    if name is None and not f.given("function-name"):
        f.problem("function-name", "required")

    if provider == "aws" and f.given("image-uri"):
        source, package = no_code(f, defaults)  # the image is the code: nothing to package
    elif provider == "aws" and f.given("rollback"):
        # Rollback mode moves an alias: no code is read (a rollback job need not check it out).
        source, package = None, None
    else:
        source, package = code_location(f, workspace, defaults)
    package_out = _package_out(f, workspace, package)
    environment = _environment(f, provider)
    mode = f.choice("environment-mode", ("merge", "replace")) or "merge"
    wait = f.integer("wait-timeout", 1, 6 * 3600, " seconds")
    options = OPTION_BUILDERS[provider](f, environ)
    python_dependencies = _dependencies(f, provider, source, options, workspace)
    release = _release(f, workspace, options) if provider == "aws" else None
    if release is not None and release.rollback is not None:
        # Rollback mode moves an alias: nothing to package or install.
        source = package = python_dependencies = package_out = None
    if len(problems) > before:
        return FunctionSpec(
            provider=provider, name=name or str(raw.get("function-name") or ""), source=source, package=package,
            options=options, environment=frozen_map(environment), environment_mode=mode,
            wait_timeout_s=float(wait or 900), github=github,
        ), False
    return FunctionSpec(
        provider=provider,
        name=name or "",
        source=source,
        package=package,
        options=options,
        environment=frozen_map(environment),
        environment_mode=mode,
        wait_timeout_s=float(wait or 900),
        github=github,
        dependencies=python_dependencies,
        package_out=package_out,
        release=release,
    ), True


__all__ = [
    "APPLIES_TO", "CONFIG_MAX_BYTES", "FILE_RUN_KEYS", "PROVIDERS", "RELEASE_INPUTS", "RUN_KEYS", "SECRET_INPUTS",
    "Config", "Fields", "FunctionEntry", "dependency_secrets", "input_defaults", "load", "parse_mapping",
    "secret_values",
]
