"""Reading a Lambda function into a Plan.

Owns: what the deploy would change (the configuration diff against the deployed values, the code
hash, tags, publish and alias), the guards apply() relies on (RevisionId, CodeSha256), and the
no-op rule (a published version is reused only if it serves $LATEST's code and configuration).
Must not: change anything (only reads, through LambdaCalls).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from ...errors import ProviderError
from ...models import Artifact, AwsOptions, Change, FunctionSpec, Plan, plain
from ..base import Deadline
from .client import LambdaCalls, unqualified
from .limits import DIRECT_UPLOAD_LIMIT, options_of


@dataclass(frozen=True)
class LambdaState:
    """What plan() read and apply() relies on: guards and the exact calls to make."""

    exists: bool
    function_arn: str = ""
    revision_id: str | None = None
    code_sha256: str | None = None
    create_params: Mapping[str, Any] = field(default_factory=dict)
    code_update: bool = False
    config_update: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    publish: bool = False
    reuse_version: str | None = None  # the published version serving this code when nothing changes
    alias: str | None = None
    alias_version: str | None = None
    alias_revision_id: str | None = None
    url: str = ""  # the alias's function URL, else the unqualified function's (read by plan)

    @property
    def alias_exists(self) -> bool:
        return self.alias_version is not None


def plan(calls: LambdaCalls, spec: FunctionSpec, artifact: Artifact) -> Plan:
    """Read the function (GetFunction, GetAlias, GetFunctionUrlConfig, and ListVersionsByFunction
    when nothing changed but the alias does not serve the code) and say what apply() will do."""
    options = options_of(spec)
    deadline = Deadline(calls.clock, spec.wait_timeout_s, f"reading Lambda function {spec.name}")
    # Every read the plan may need, in one round trip: the function, the alias, the version
    # it serves, and the function URLs the outputs report (apply() never changes a URL).
    qualifiers = ([options.alias] if options.alias else []) + [None]
    with ThreadPoolExecutor(max_workers=3 + len(qualifiers)) as pool:
        function = pool.submit(calls.get_function, spec.name)
        alias = pool.submit(calls.alias, spec.name, options.alias)
        served = pool.submit(_served_configuration, calls, spec.name, options.alias)
        urls = [pool.submit(calls.url_of, spec.name, qualifier, deadline) for qualifier in qualifiers]
        current = function.result()
        alias_version, alias_revision = alias.result()
        served_config = served.result()
        url = next((u for u in (lookup.result() for lookup in urls) if u), "")
    if current is None:
        return _plan_create(spec, options, artifact)
    config = current["Configuration"]
    if config.get("LastUpdateStatus") == "InProgress" or config.get("State") == "Pending":
        # Someone else's update is running: read the function once it settles, so the diff
        # and the RevisionId guard describe what apply() will really change.
        calls.log.info(f"{spec.name} has an update in progress; waiting for it before planning")
        deadline = Deadline(calls.clock, spec.wait_timeout_s, f"waiting for the update in progress on {spec.name}")
        current = calls.wait(deadline, spec.name)
        config = current["Configuration"]
    if config.get("PackageType", "Zip") != "Zip":
        raise ProviderError(
            f"{spec.name} is a container-image function; a zip cannot replace an image in place",
            hint="deploy the image with its own tooling, or create a new zip function",
        )
    changes, config_update = config_diff(spec, options, config)
    code_update = config.get("CodeSha256") != artifact.sha256
    current_arch = tuple(config.get("Architectures") or ("x86_64",))
    if options.architectures and tuple(options.architectures) != current_arch:
        # Lambda changes the architecture only together with the code.
        code_update = True
        changes.append(Change("architectures", list(current_arch), list(options.architectures)))
    wheels_for = "arm64" if artifact.dependencies_platform.startswith("aarch64-") else "x86_64"
    if artifact.dependencies_platform and not options.architectures and current_arch != (wheels_for,):
        raise ProviderError(
            f"{spec.name} runs on {current_arch[0]}, but its dependencies were installed for {wheels_for} "
            "(`architectures` not given: x86_64 is assumed)",
            hint=f"set `architectures: {current_arch[0]}`",
        )
    current_tags = dict(current.get("Tags") or {})
    new_tags = {k: v for k, v in (options.tags or {}).items() if current_tags.get(k) != v}
    if new_tags:
        changes.append(Change("tags", {k: current_tags.get(k) for k in new_tags}, new_tags))

    function_changed = code_update or bool(config_update) or bool(new_tags)
    reuse_version = None
    if options.publish and not function_changed:
        if served_config is not None and serves(served_config, config):
            reuse_version = served_config["Version"]  # the alias already serves this code and configuration
        else:
            reuse_version = _published_version_with(calls, spec.name, config)
    publish = options.publish and (function_changed or reuse_version is None)
    target = None if publish else reuse_version
    alias_moves = bool(options.alias) and (publish or alias_version != target)
    if alias_moves and not publish:
        changes.append(Change(f"alias {options.alias}", alias_version, target))

    action = "update" if (function_changed or publish or alias_moves) else "none"
    steps = []
    if code_update:
        steps.append("update code" + (" via S3" if artifact.size > DIRECT_UPLOAD_LIMIT else ""))
    if config_update:
        steps.append("update configuration: " + ", ".join(sorted(config_update)))
    if new_tags:
        steps.append("tag: " + ", ".join(sorted(new_tags)))
    if publish:
        steps.append("publish a new version")
    if alias_moves:
        steps.append(f"{'move' if alias_version is not None else 'create'} alias {options.alias}")
    if action == "none":
        steps.append(f"nothing to do: version {reuse_version or '$LATEST'} already serves this code")
    state = LambdaState(
        exists=True,
        function_arn=unqualified(config["FunctionArn"]),
        revision_id=config.get("RevisionId"),
        code_sha256=config.get("CodeSha256"),
        code_update=code_update,
        config_update=MappingProxyType(config_update),
        tags=MappingProxyType(new_tags),
        publish=publish,
        reuse_version=reuse_version,
        alias=options.alias,
        alias_version=alias_version,
        alias_revision_id=alias_revision,
        url=url,
    )
    return Plan(
        provider="aws",
        function=spec.name,
        action=action,
        changes=tuple(changes),
        code_sha256_old=config.get("CodeSha256"),
        code_sha256_new=artifact.sha256,
        steps=tuple(steps),
        publish=publish,
        alias=options.alias,
        state=state,
    )


def _plan_create(spec: FunctionSpec, options: AwsOptions, artifact: Artifact) -> Plan:
    missing = [name for name, value in (("role", options.role), ("runtime", options.runtime)) if not value]
    if not options.handler and not (options.runtime or "").startswith("provided"):
        missing.append("handler")
    if missing:
        raise ProviderError(
            f"function {spec.name} does not exist in {options.region}; creating it needs "
            + ", ".join(f"`{m}`" for m in missing),
            hint="set those inputs, or check function-name and region",
        )
    params: dict[str, Any] = {"FunctionName": spec.name, "Role": options.role, "Runtime": options.runtime, "PackageType": "Zip"}
    if options.handler:
        params["Handler"] = options.handler
    params.update(settable(spec, options, current_env=None))
    if options.architectures:
        params["Architectures"] = list(options.architectures)
    if options.tags:
        params["Tags"] = dict(options.tags)
    changes = [
        Change(key, None, plain(value))
        for key, value in sorted(params.items())
        if key not in ("FunctionName", "Environment")
    ]
    if spec.environment is not None:
        # Name the variables, never their values: a masked value in the plan output would
        # make the runner drop the whole output.
        changes.append(Change("environment", None, {"changed keys": sorted(spec.environment)}))
    steps = ["create the function" + (" (code via S3)" if artifact.size > DIRECT_UPLOAD_LIMIT else "")]
    if options.publish:
        steps.append("publish version 1")
    if options.alias:
        steps.append(f"create alias {options.alias}")
    return Plan(
        provider="aws",
        function=spec.name,
        action="create",
        changes=tuple(changes),
        code_sha256_old=None,
        code_sha256_new=artifact.sha256,
        steps=tuple(steps),
        publish=options.publish,
        alias=options.alias,
        state=LambdaState(exists=False, create_params=MappingProxyType(params), publish=options.publish, alias=options.alias),
    )


def _published_version_with(calls: LambdaCalls, name: str, latest: Mapping[str, Any]) -> str | None:
    """The highest published version that serves $LATEST's code and configuration (a no-op
    redeploy reports it instead of publishing a duplicate)."""
    best = None
    for version in calls.versions(name):
        if serves(version, latest) and (best is None or int(version["Version"]) > int(best)):
            best = version["Version"]
    return best


def _served_configuration(calls: LambdaCalls, name: str, alias: str | None) -> dict | None:
    """The configuration of the version the alias points to; None without such an alias.
    (GetFunction rather than GetFunctionConfiguration: the same IAM action as every other read.)"""
    found = calls.get_function(name, alias) if alias else None
    return found["Configuration"] if found else None


# -- pure helpers -------------------------------------------------------------------------------


def settable(spec: FunctionSpec, options: AwsOptions, current_env: Mapping[str, str] | None) -> dict[str, Any]:
    """The configuration fields the user gave, in Lambda's request shape (never a default)."""
    params: dict[str, Any] = {}
    if options.memory_mb is not None:
        params["MemorySize"] = options.memory_mb
    if options.timeout_s is not None:
        params["Timeout"] = options.timeout_s
    if options.description is not None:
        params["Description"] = options.description
    if options.layers is not None:
        params["Layers"] = list(options.layers)
    if options.subnet_ids is not None:
        params["VpcConfig"] = {"SubnetIds": list(options.subnet_ids), "SecurityGroupIds": list(options.security_group_ids or ())}
    if options.tracing is not None:
        params["TracingConfig"] = {"Mode": options.tracing}
    if spec.environment is not None:
        variables = dict(spec.environment)
        if spec.environment_mode == "merge" and current_env:
            variables = {**current_env, **variables}
        params["Environment"] = {"Variables": variables}
    return params


def config_diff(spec: FunctionSpec, options: AwsOptions, config: Mapping[str, Any]) -> tuple[list[Change], dict[str, Any]]:
    """Fields whose wanted value differs from the deployed one, and the update call's parameters."""
    current_env = (config.get("Environment") or {}).get("Variables") or {}
    wanted = settable(spec, options, current_env)
    for key, value in (("Role", options.role), ("Handler", options.handler), ("Runtime", options.runtime)):
        if value is not None:
            wanted[key] = value
    current = {
        "Role": config.get("Role"),
        "Handler": config.get("Handler"),
        "Runtime": config.get("Runtime"),
        "MemorySize": config.get("MemorySize"),
        "Timeout": config.get("Timeout"),
        "Description": config.get("Description", ""),
        "Layers": [layer["Arn"] for layer in config.get("Layers") or []],
        "VpcConfig": {
            "SubnetIds": sorted((config.get("VpcConfig") or {}).get("SubnetIds") or []),
            "SecurityGroupIds": sorted((config.get("VpcConfig") or {}).get("SecurityGroupIds") or []),
        },
        "TracingConfig": {"Mode": (config.get("TracingConfig") or {}).get("Mode", "PassThrough")},
        "Environment": {"Variables": dict(current_env)},
    }
    changes: list[Change] = []
    update: dict[str, Any] = {}
    for key, value in wanted.items():
        comparable = value
        if key == "VpcConfig":
            comparable = {k: sorted(v) for k, v in value.items()}
        if current.get(key) != comparable:
            update[key] = value
            if key == "Environment":
                # Show which variables change, never their values.
                old_vars, new_vars = current_env, value["Variables"]
                changed_keys = sorted(k for k in set(old_vars) | set(new_vars) if old_vars.get(k) != new_vars.get(k))
                changes.append(Change("environment", None, {"changed keys": changed_keys}))
            else:
                changes.append(Change(key, current.get(key), comparable))
    return changes, update


def serves(version: Mapping[str, Any], latest: Mapping[str, Any]) -> bool:
    """Does this published version serve $LATEST's code and configuration? A version with the
    same code but an older configuration (changed since, in the console say) does not."""
    number = version.get("Version", "")
    return number.isdigit() and version.get("CodeSha256") == latest.get("CodeSha256") and snapshot(version) == snapshot(latest)


def snapshot(config: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration a published version freezes, with Lambda's defaults filled in so that
    an omitted field and its default compare equal."""
    vpc = config.get("VpcConfig") or {}
    return {
        "Runtime": config.get("Runtime"),
        "Role": config.get("Role"),
        "Handler": config.get("Handler"),
        "Timeout": config.get("Timeout") or 3,
        "MemorySize": config.get("MemorySize") or 128,
        "Environment": (config.get("Environment") or {}).get("Variables") or {},
        "Layers": [layer.get("Arn") for layer in config.get("Layers") or []],
        "VpcConfig": (sorted(vpc.get("SubnetIds") or []), sorted(vpc.get("SecurityGroupIds") or [])),
        "TracingConfig": (config.get("TracingConfig") or {}).get("Mode") or "PassThrough",
        "Architectures": tuple(config.get("Architectures") or ("x86_64",)),
        "EphemeralStorage": (config.get("EphemeralStorage") or {}).get("Size") or 512,
        "KMSKeyArn": config.get("KMSKeyArn") or None,
    }
