"""A function's settings: what the user asked for and what the Cloud Functions API reports, made
comparable, and the JSON the REST API takes.

Owns: the table of settings this action manages, each under two names: the field path the plan
shows (`service_config.available_memory`, the names docs/gcp.md lists) and the JSON field path of
the REST API (`serviceConfig.availableMemory`), which is also its update-mask path. Reading a
Function as the API returns it (`current`: an absent field is the API's empty value: "", 0, {},
the enum's *_UNSPECIFIED), the values the user gave (`wanted`: merged with `current` where the
inputs merge), the comparison (`same`), the plan rows (`change`: variable values never shown),
and the request body holding chosen values at their JSON paths (`body`). Enums are their names,
as the REST API documents them.
Must not: call anything, or decide what to send (plan.py does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from ...models import Change, FunctionSpec, GcpOptions

CODE_LABEL = "faas-code-sha256"  # hex SHA-256 of the zip, cut to the 63 characters a label value holds
SHA_LABEL = "deployed-sha"  # the commit deployed; informative, never a reason to redeploy
OWN_LABELS = (CODE_LABEL, SHA_LABEL)
PLATFORM_ENV = ("LOG_EXECUTION_ID",)  # added by the platform on deploy (deploy-cloud-functions #421)
GEN_2 = "GEN_2"
RETRY, DO_NOT_RETRY = "RETRY_POLICY_RETRY", "RETRY_POLICY_DO_NOT_RETRY"


@dataclass(frozen=True)
class Setting:
    """One field of the Function resource: its JSON path (and update-mask path) and the value the
    API means when the field is absent."""

    json: str
    empty: Any = ""


SECRETS = "service_config.secret_environment_variables"
FILTERS = "event_trigger.event_filters"
ENV_PATHS = ("service_config.environment_variables", "build_config.environment_variables")

# Every setting compared with the function, by the name the plan shows.
SETTINGS: dict[str, Setting] = {
    "description": Setting("description"),
    "kms_key_name": Setting("kmsKeyName"),
    "build_config.runtime": Setting("buildConfig.runtime"),
    "build_config.entry_point": Setting("buildConfig.entryPoint"),
    "build_config.environment_variables": Setting("buildConfig.environmentVariables", {}),
    "service_config.service_account_email": Setting("serviceConfig.serviceAccountEmail"),
    "service_config.available_memory": Setting("serviceConfig.availableMemory"),
    "service_config.timeout_seconds": Setting("serviceConfig.timeoutSeconds", 0),
    "service_config.min_instance_count": Setting("serviceConfig.minInstanceCount", 0),
    "service_config.max_instance_count": Setting("serviceConfig.maxInstanceCount", 0),
    "service_config.ingress_settings": Setting("serviceConfig.ingressSettings", "INGRESS_SETTINGS_UNSPECIFIED"),
    "service_config.vpc_connector": Setting("serviceConfig.vpcConnector"),
    "service_config.environment_variables": Setting("serviceConfig.environmentVariables", {}),
    SECRETS: Setting("serviceConfig.secretEnvironmentVariables", []),
    "event_trigger.pubsub_topic": Setting("eventTrigger.pubsubTopic"),
    FILTERS: Setting("eventTrigger.eventFilters", []),
    "event_trigger.retry_policy": Setting("eventTrigger.retryPolicy", "RETRY_POLICY_UNSPECIFIED"),
}
# Written but never compared: the code, the labels (compared by plan.py), fields set on create.
WRITTEN: dict[str, Setting] = {
    **SETTINGS,
    "build_config.source": Setting("buildConfig.source", {}),
    "labels": Setting("labels", {}),
    "environment": Setting("environment", "ENVIRONMENT_UNSPECIFIED"),
    "event_trigger.event_type": Setting("eventTrigger.eventType"),
}

# The settings that are simply the input's value.
SIMPLE: dict[str, Callable[[GcpOptions], Any]] = {
    "description": lambda o: o.description,
    "kms_key_name": lambda o: o.kms_key,
    "build_config.runtime": lambda o: o.runtime,
    "build_config.entry_point": lambda o: o.entry_point,
    "service_config.service_account_email": lambda o: o.service_account,
    "service_config.available_memory": lambda o: o.memory,
    "service_config.timeout_seconds": lambda o: o.timeout_s,
    "service_config.min_instance_count": lambda o: o.min_instances,
    "service_config.max_instance_count": lambda o: o.max_instances,
    "service_config.ingress_settings": lambda o: o.ingress,
    "service_config.vpc_connector": lambda o: o.vpc_connector,
}


def value_at(resource: Mapping[str, Any] | None, json_path: str, empty: Any = "") -> Any:
    """The value at a dotted JSON path of an API resource, `empty` where any part is absent."""
    node: Any = resource
    for key in json_path.split("."):
        if not isinstance(node, Mapping) or node.get(key) is None:
            return empty
        node = node[key]
    return node


def current(function: Mapping[str, Any]) -> dict[str, Any]:
    """The function's value for every setting the spec may set, as plain comparable values."""
    values = {}
    for name, setting in SETTINGS.items():
        value = value_at(function, setting.json, setting.empty)
        if isinstance(setting.empty, int) and isinstance(value, str) and value.lstrip("-").isdigit():
            value = int(value)  # proto3 JSON allows numbers as strings
        values[name] = dict(value) if isinstance(setting.empty, dict) else value
    values[SECRETS] = {
        s.get("key", ""): {"projectId": s.get("projectId", ""), "secret": s.get("secret", ""), "version": s.get("version", "")}
        for s in values[SECRETS]
    }
    values[FILTERS] = sorted(
        ({"attribute": f.get("attribute", ""), "value": f.get("value", ""), "operator": f.get("operator", "")} for f in values[FILTERS]),
        key=lambda f: (f["attribute"], f["value"]),
    )
    return values


def wanted(spec: FunctionSpec, options: GcpOptions, now: Mapping[str, Any] | None) -> dict[str, Any]:
    """The value of every setting the user gave, merged with `now` where the inputs merge."""
    now = now or {}
    values = {name: get(options) for name, get in SIMPLE.items() if get(options) is not None}
    merge = spec.environment_mode == "merge"
    if options.build_environment is not None:
        values["build_config.environment_variables"] = _combine(
            now.get("build_config.environment_variables", {}), options.build_environment, merge
        )

    env_now = now.get("service_config.environment_variables", {})
    secrets_now = now.get(SECRETS, {})
    env_given = spec.environment
    secrets_given = None if options.secrets is None else {k: _secret_ref(v) for k, v in options.secrets.items()}
    env = None if env_given is None else _combine(env_now, env_given, merge, keep=PLATFORM_ENV)
    secrets = None if secrets_given is None else _combine(secrets_now, secrets_given, merge)
    # A name is a plain variable or a secret, never both: what the user gives wins over what is
    # on the function, so a name moving from one to the other is removed from its old place.
    if env_given and secrets is None and set(env_given) & set(secrets_now):
        secrets = dict(secrets_now)
    if secrets_given and env is None and set(secrets_given) & set(env_now):
        env = dict(env_now)
    if env is not None:
        values["service_config.environment_variables"] = {k: v for k, v in env.items() if k not in (secrets_given or {})}
    if secrets is not None:
        values[SECRETS] = {k: v for k, v in secrets.items() if k not in (env_given or {})}

    if options.event_trigger_type:
        resource = options.event_trigger_resource or ""
        if "/topics/" in resource:
            values["event_trigger.pubsub_topic"] = resource
        else:
            bucket = resource.rsplit("/", 1)[-1]
            values[FILTERS] = [{"attribute": "bucket", "value": bucket, "operator": ""}]
        if options.event_trigger_retry is not None:
            values["event_trigger.retry_policy"] = RETRY if options.event_trigger_retry else DO_NOT_RETRY
    return values


def _combine(now: Mapping[str, Any], given: Mapping[str, Any], merge: bool, keep: tuple[str, ...] = ()) -> dict[str, Any]:
    """merge: `now` overlaid with `given`; replace: `given` plus the platform's own keys."""
    if merge:
        return {**now, **given}
    return {**{k: now[k] for k in keep if k in now}, **given}


def _secret_ref(reference: str) -> dict[str, str]:
    """`projects/P/secrets/S[/versions/V]` → a SecretEnvVar's fields (version defaults to latest)."""
    parts = reference.split("/")
    return {"projectId": parts[1], "secret": parts[3], "version": parts[5] if len(parts) > 5 else "latest"}


def same(name: str, old: Any, new: Any) -> bool:
    if name == "service_config.available_memory":
        return _memory_bytes(old) == _memory_bytes(new) if old and new else old == new
    return old == new


MEMORY_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def _memory_bytes(value: str) -> float | None:
    """A Kubernetes-style quantity (`256Mi`, `1Gi`, `512M`) in bytes; None if unreadable."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kMG]i?|Ki)?", value.strip())
    if not match:
        return None
    return float(match.group(1)) * MEMORY_UNITS[match.group(2) or ""]


def change(name: str, old: Any, new: Any) -> Change:
    """A plan row; variable values are never shown (they are masked secrets)."""
    if name in ENV_PATHS:
        old, new = old or {}, new or {}
        keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        return Change(name, None, {"changed keys": keys})
    if name == SECRETS:
        old, new = old or {}, new or {}
        keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        return Change(name, {k: _secret_name(old.get(k)) for k in keys}, {k: _secret_name(new.get(k)) for k in keys})
    return Change(name, old, new)


def _secret_name(ref: Mapping[str, str] | None) -> str | None:
    if not ref:
        return None
    return f"projects/{ref['projectId']}/secrets/{ref['secret']}/versions/{ref['version']}"


def body(values: Mapping[str, Any]) -> dict[str, Any]:
    """A Function resource (REST JSON) holding `values` (plan names → plain values) at their
    JSON paths; what the mask names but the body leaves out is cleared by the API."""
    function: dict[str, Any] = {}
    for name, value in values.items():
        if name == SECRETS:
            value = [{"key": k, **ref} for k, ref in sorted(value.items())]
        elif name == FILTERS:
            value = [{k: v for k, v in f.items() if v != "" or k != "operator"} for f in value]
        *parents, leaf = WRITTEN[name].json.split(".")
        node = function
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return function


def mask(names: Iterable[str]) -> str:
    """The update mask the REST API takes for these settings: their JSON paths, comma-separated."""
    return ",".join(WRITTEN[name].json for name in names)


def label_value(text: str) -> str:
    """A label value: lowercase letters, digits, - and _, at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]
