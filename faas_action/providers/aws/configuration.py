"""Lambda's configuration fields: what the user asked for and what Lambda reports, made comparable.

Owns: the request parameters for the fields the user gave (`wanted`: never a default, never a
field left empty), and ONE normaliser (`normalised`) that reads a configuration the way Lambda
reports it (GetFunction, a version, or a request's parameters) with Lambda's defaults filled in
(128 MB, 3 s, 512 MB /tmp, Text logs in /aws/lambda/NAME, SnapStart None, no VPC, ...), so that
a field omitted from a reply, left at its default or cleared with `none` compares equal. The plan
diff (`diff`) and the no-op rule for versions (`serves`) both compare through it.
Must not: call Lambda or decide anything beyond "equal or not".
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ...models import AwsOptions, Change, FunctionSpec

# Fields a published version does not copy from $LATEST: its Description is the version's own.
NOT_VERSIONED = ("Description",)


def wanted(spec: FunctionSpec, options: AwsOptions, current: Mapping[str, Any] | None) -> dict[str, Any]:
    """The configuration fields the user gave, in Lambda's request shape. `current` is the deployed
    configuration (None when creating): the environment merges into it, and the log and image
    settings the user left out keep their deployed values."""
    current = current or {}
    params: dict[str, Any] = {}
    for key, value in (("Role", options.role), ("Handler", options.handler), ("Runtime", options.runtime)):
        if value is not None:
            params[key] = value
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
        if spec.environment_mode == "merge":
            variables = {**((current.get("Environment") or {}).get("Variables") or {}), **variables}
        params["Environment"] = {"Variables": variables}
    if options.ephemeral_storage_mb is not None:
        params["EphemeralStorage"] = {"Size": options.ephemeral_storage_mb}
    if options.kms_key_arn is not None:
        params["KMSKeyArn"] = options.kms_key_arn  # '' goes back to the AWS managed key
    if options.dead_letter_arn is not None:
        params["DeadLetterConfig"] = {"TargetArn": options.dead_letter_arn}  # '' removes it
    if options.file_system_configs is not None:
        params["FileSystemConfigs"] = [{"Arn": arn, "LocalMountPath": path} for arn, path in options.file_system_configs]
    if options.snap_start is not None:
        params["SnapStart"] = {"ApplyOn": options.snap_start}
    if options.log_format is not None or options.log_group is not None:
        params["LoggingConfig"] = _logging(options, current)
    image = {
        key: value
        for key, value in (
            ("Command", options.image_command),
            ("EntryPoint", options.image_entrypoint),
            ("WorkingDirectory", options.image_working_directory),
        )
        if value is not None
    }
    if image:
        deployed = _image_config(current)
        params["ImageConfig"] = {**{k: v for k, v in deployed.items() if v}, **{k: list(v) if isinstance(v, tuple) else v for k, v in image.items()}}
    return params


def _logging(options: AwsOptions, current: Mapping[str, Any]) -> dict[str, Any]:
    """The whole LoggingConfig: the given fields over the deployed ones. Log levels exist only
    with JSON logs, so they are kept for JSON and dropped for Text."""
    deployed = dict(current.get("LoggingConfig") or {})
    logging = {"LogFormat": options.log_format or deployed.get("LogFormat") or "Text"}
    group = options.log_group or deployed.get("LogGroup")
    if group:  # else Lambda's default, /aws/lambda/NAME
        logging["LogGroup"] = group
    if logging["LogFormat"] == "JSON":
        logging.update({k: deployed[k] for k in ("ApplicationLogLevel", "SystemLogLevel") if deployed.get(k)})
    return logging


def _image_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """ImageConfig as a request carries it, or as GetFunction reports it (ImageConfigResponse)."""
    if "ImageConfig" in config:
        return dict(config.get("ImageConfig") or {})
    return dict((config.get("ImageConfigResponse") or {}).get("ImageConfig") or {})


def _arns(items: Any) -> list[str]:
    return [item if isinstance(item, str) else item.get("Arn") for item in items or []]


# One entry per field: how to read it from a configuration, defaults filled in.
NORMALISERS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "PackageType": lambda c: c.get("PackageType") or "Zip",
    "Role": lambda c: c.get("Role"),
    "Handler": lambda c: c.get("Handler"),
    "Runtime": lambda c: c.get("Runtime"),
    "MemorySize": lambda c: c.get("MemorySize") or 128,
    "Timeout": lambda c: c.get("Timeout") or 3,
    "Description": lambda c: c.get("Description") or "",
    "Architectures": lambda c: list(c.get("Architectures") or ["x86_64"]),
    "Layers": lambda c: _arns(c.get("Layers")),
    "VpcConfig": lambda c: {
        "SubnetIds": sorted((c.get("VpcConfig") or {}).get("SubnetIds") or []),
        "SecurityGroupIds": sorted((c.get("VpcConfig") or {}).get("SecurityGroupIds") or []),
    },
    "TracingConfig": lambda c: {"Mode": (c.get("TracingConfig") or {}).get("Mode") or "PassThrough"},
    "Environment": lambda c: {"Variables": dict((c.get("Environment") or {}).get("Variables") or {})},
    "EphemeralStorage": lambda c: {"Size": (c.get("EphemeralStorage") or {}).get("Size") or 512},
    "KMSKeyArn": lambda c: c.get("KMSKeyArn") or "",
    "DeadLetterConfig": lambda c: {"TargetArn": (c.get("DeadLetterConfig") or {}).get("TargetArn") or ""},
    "FileSystemConfigs": lambda c: sorted(
        ({"Arn": f.get("Arn"), "LocalMountPath": f.get("LocalMountPath")} for f in c.get("FileSystemConfigs") or []),
        key=lambda f: (f["Arn"] or "", f["LocalMountPath"] or ""),
    ),
    "SnapStart": lambda c: {"ApplyOn": (c.get("SnapStart") or {}).get("ApplyOn") or "None"},
    "LoggingConfig": lambda c: {
        "LogFormat": (c.get("LoggingConfig") or {}).get("LogFormat") or "Text",
        "LogGroup": (c.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{c.get('FunctionName', '')}",
    },
    "ImageConfig": lambda c: {
        "Command": list(_image_config(c).get("Command") or []),
        "EntryPoint": list(_image_config(c).get("EntryPoint") or []),
        "WorkingDirectory": _image_config(c).get("WorkingDirectory") or "",
    },
}


def normalised(config: Mapping[str, Any]) -> dict[str, Any]:
    """Every compared field of a configuration (reply or request shape), defaults filled in."""
    return {key: read(config) for key, read in NORMALISERS.items()}


def diff(spec: FunctionSpec, options: AwsOptions, config: Mapping[str, Any]) -> tuple[list[Change], dict[str, Any]]:
    """Fields whose wanted value differs from the deployed one, and the update call's parameters."""
    params = wanted(spec, options, config)
    have = normalised(config)
    want = normalised({"FunctionName": config.get("FunctionName", ""), **params})
    changes: list[Change] = []
    update: dict[str, Any] = {}
    for key, value in params.items():
        if want[key] == have[key]:
            continue
        update[key] = value
        if key == "Environment":
            # Name the variables that change, never their values: a masked value in the plan
            # output would make the runner drop the whole output.
            old, new = have[key]["Variables"], want[key]["Variables"]
            changes.append(Change("environment", None, {"changed keys": sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))}))
        else:
            changes.append(Change(key, have[key], want[key]))
    return changes, update


def snapshot(config: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration a published version freezes, as `normalised` reads it."""
    return {key: value for key, value in normalised(config).items() if key not in NOT_VERSIONED}


def serves(version: Mapping[str, Any], latest: Mapping[str, Any]) -> bool:
    """Does this published version serve $LATEST's code and configuration? A version with the
    same code but an older configuration (changed since, in the console say) does not."""
    number = version.get("Version", "")
    return number.isdigit() and version.get("CodeSha256") == latest.get("CodeSha256") and snapshot(version) == snapshot(latest)
