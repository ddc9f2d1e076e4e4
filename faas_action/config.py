"""Inputs (and the optional YAML config file) → frozen FunctionSpecs.

Owns: every rule about user input. All problems are collected and returned together so that
main.py reports them at once, before any network call; values to mask are collected too.
Must not: touch the network, print, or import a provider SDK.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from . import inputs
from .errors import Problem
from .models import (
    AwsOptions,
    AzureOptions,
    FunctionSpec,
    GcpOptions,
    GitHubContext,
    frozen_map,
)

PROVIDERS = ("aws", "azure", "gcp")
SECRET_INPUTS = ("azure-access-token", "gcp-access-token")

# Inputs that only mean something for one or two providers; given for another, they are an error
# rather than silently ignored.
APPLIES_TO: dict[str, tuple[str, ...]] = {
    **{
        name: ("aws",)
        for name in (
            "handler", "role", "architectures", "layers", "subnet-ids", "security-group-ids",
            "tracing", "tags", "publish", "alias", "s3-bucket",
        )
    },
    **{
        name: ("azure",)
        for name in (
            "resource-group", "subscription-id", "slot", "swap", "deploy-method", "client-id",
            "tenant-id", "azure-access-token",
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
    **{name: ("aws", "gcp") for name in ("region", "runtime", "memory", "timeout", "description")},
}
# Keys only meaningful once per run, not per function of a `functions:` list.
RUN_KEYS = ("config", "dry-run")


def input_defaults() -> dict[str, str]:
    """Every declared input and its default ('' when none), as action.yml declares them."""
    return dict(inputs.DEFAULTS)


@dataclass(frozen=True)
class Config:
    """The parsed run: functions to deploy in order, and the problems that stop it.

    With problems, `specs` holds only the functions whose inputs were valid; nothing may deploy."""

    dry_run: bool = False
    specs: tuple[FunctionSpec, ...] = ()
    problems: tuple[Problem, ...] = ()
    secrets: tuple[str, ...] = ()


# -- scalar parsers: each returns the value, or None after recording a problem ----------------


class _Fields:
    """Reads one function's merged raw values, recording problems instead of raising."""

    def __init__(self, raw: Mapping[str, Any], problems: list[Problem], label: str) -> None:
        self.raw = raw
        self.problems = problems
        self.label = label

    def problem(self, name: str, message: str) -> None:
        self.problems.append(Problem(name, f"{self.label}{message}"))

    def given(self, name: str) -> bool:
        value = self.raw.get(name)
        return value is not None and value != "" and value != [] and value != {}

    def text(self, name: str, pattern: str | None = None, what: str = "") -> str | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, (dict, list)):
            self.problem(name, "expected a single value")
            return None
        value = str(value).strip()
        if pattern and not re.fullmatch(pattern, value):
            self.problem(name, f"{value!r} is not {what or 'valid'}")
            return None
        return value

    def choice(self, name: str, choices: tuple[str, ...]) -> str | None:
        value = self.text(name)
        if value is None:
            return None
        for choice in choices:
            if value.lower() == choice.lower():
                return choice
        self.problem(name, f"{value!r} must be one of: {', '.join(choices)}")
        return None

    def boolean(self, name: str) -> bool | None:
        value = self.raw.get(name)
        if isinstance(value, bool):
            return value
        value = self.text(name)
        if value is None:
            return None
        if value in ("true", "True", "TRUE"):
            return True
        if value in ("false", "False", "FALSE"):
            return False
        self.problem(name, f"{value!r} is not a boolean (true or false)")
        return None

    def integer(self, name: str, low: int, high: int, unit: str = "") -> int | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            number = int(value)
        except ValueError:
            self.problem(name, f"{value!r} is not a whole number{unit}")
            return None
        if not low <= number <= high:
            self.problem(name, f"{number} is outside {low}..{high}{unit}")
            return None
        return number

    def items(self, name: str, pattern: str | None = None, what: str = "") -> tuple[str, ...] | None:
        """A list from YAML, or from lines / commas in a string."""
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, dict):
            self.problem(name, "expected a list, got a mapping")
            return None
        parts = value if isinstance(value, list) else re.split(r"[\n,]", str(value))
        result = tuple(str(p).strip() for p in parts if str(p).strip())
        if pattern:
            bad = [p for p in result if not re.fullmatch(pattern, p)]
            for item in bad:
                self.problem(name, f"{item!r} is not {what or 'valid'}")
            if bad:
                return None
        return result

    def mapping(self, name: str, key_pattern: str = r"[^=\s]+", what: str = "a valid key") -> dict[str, str] | None:
        """A mapping from YAML, or from `KEY=VALUE` lines (or a YAML mapping in a string)."""
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        parsed = parse_mapping(value)
        if isinstance(parsed, str):
            self.problem(name, parsed)
            return None
        bad = [k for k in parsed if not re.fullmatch(key_pattern, k)]
        for key in bad:
            self.problem(name, f"key {key!r} is not {what}")
        return parsed


def parse_mapping(value: Any) -> dict[str, str] | str:
    """`KEY=VALUE` lines or a YAML mapping → dict of strings; an error message (str) otherwise."""
    if isinstance(value, dict):
        data: Any = value
    else:
        text = str(value)
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
        if lines and all(re.match(r"^[^=:\s]+=", ln) for ln in lines):
            return dict(ln.split("=", 1) for ln in lines)
        import yaml  # here, not at the top: a run without YAML values never pays for the import

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            return "expected KEY=VALUE lines or a YAML mapping"
        if not isinstance(data, dict):
            return "expected KEY=VALUE lines or a YAML mapping"
    result: dict[str, str] = {}
    for key, item in data.items():
        if isinstance(item, (dict, list)):
            return f"value of {key!r} must be a single value, not a {type(item).__name__}"
        if isinstance(item, bool):
            item = "true" if item else "false"
        result[str(key)] = "" if item is None else str(item)
    return result


def secret_values(raw: Mapping[str, Any]) -> list[str]:
    """Values to mask: tokens and every (build) environment value, however malformed the rest is."""
    secrets = [str(raw[name]) for name in SECRET_INPUTS if raw.get(name)]
    for env in (raw.get("environment"), raw.get("build-environment")):
        secrets.extend(_values_to_mask(env))
    return [s for s in secrets if s]


def _values_to_mask(mapping_input: Any) -> list[str]:
    """The values of a KEY=VALUE / YAML mapping input; for an unparseable one, each line's tail."""
    if not mapping_input:
        return []
    parsed = parse_mapping(mapping_input)
    if isinstance(parsed, dict):
        return [v for v in parsed.values() if v]
    return [line.split("=", 1)[-1].split(":", 1)[-1].strip() for line in str(mapping_input).splitlines()]


# -- patterns ---------------------------------------------------------------------------------

AWS_FUNCTION = r"(arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:)?[A-Za-z0-9_-]{1,64}"
AWS_REGION = r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}"
AWS_ROLE = r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}"
AWS_LAYER = r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[A-Za-z0-9_-]{1,140}:\d+"
AWS_RUNTIME = r"(nodejs|python|java|dotnet|ruby|provided|go)[a-z0-9.]*"
AWS_ALIAS = r"(?!\d+$)[A-Za-z0-9_-]{1,128}"
AWS_ENV_KEY = r"[A-Za-z][A-Za-z0-9_]*"
AWS_RESERVED_ENV = {
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
}
S3_BUCKET = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
AZURE_SITE = r"[A-Za-z0-9][A-Za-z0-9-]{0,58}[A-Za-z0-9]?"
AZURE_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
AZURE_RG = r"[-\w._()]{1,90}"
AZURE_SLOT = r"[A-Za-z0-9][A-Za-z0-9-]{0,58}"
GCP_FUNCTION = r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?"
GCP_REGION = r"[a-z]+-[a-z]+\d{1,2}"
GCP_PROJECT = r"[a-z][-a-z0-9]{4,28}[a-z0-9]|[a-z0-9.-]+:[a-z][-a-z0-9]{4,28}[a-z0-9]"
GCP_MEMORY = r"\d+(\.\d+)?(k|M|G|Mi|Gi)?"
GCP_LABEL_KEY = r"[a-z][a-z0-9_-]{0,62}"
GCP_LABEL_VALUE = r"[a-z0-9_-]{0,63}"
GCP_ENV_KEY = r"[A-Za-z_][A-Za-z0-9_]*"
GCP_RESERVED_ENV = {"PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION", "FUNCTION_TARGET"}
GCP_SECRET = r"projects/[^/]+/secrets/[^/]+(/versions/[^/]+)?"
GCP_SERVICE_ACCOUNT = r"[a-z0-9-]+@[a-z0-9.-]+\.iam\.gserviceaccount\.com|[^@\s]+@[^@\s]+"
GCP_KMS_KEY = r"projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+"
GCP_CONNECTOR = r"projects/[^/]+/locations/[^/]+/connectors/[^/]+"
GCP_EVENT_RESOURCE = r"projects/[^/]+/(topics|buckets)/[^/]+"


# -- per provider -----------------------------------------------------------------------------


def _environment(f: _Fields, provider: str) -> dict[str, str] | None:
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


def _aws(f: _Fields, environ: Mapping[str, str]) -> AwsOptions | None:
    region = f.text("region", AWS_REGION, "an AWS region") or (
        None if f.given("region") else (environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None)
    )
    if region is None and not f.given("region"):
        f.problem("region", "no AWS region: set the `region` input, AWS_REGION or AWS_DEFAULT_REGION")
    publish = f.boolean("publish")
    alias = f.text("alias", AWS_ALIAS, "a valid alias name (letters, digits, - and _, not only digits)")
    if alias and publish is False:
        f.problem("alias", "an alias needs a published version: remove `alias` or set `publish: true`")
    options = AwsOptions(
        region=region or "",
        role=f.text("role", AWS_ROLE, "an IAM role ARN"),
        runtime=f.text("runtime", AWS_RUNTIME, "a Lambda runtime such as python3.12"),
        handler=f.text("handler", r"[^\s]{1,128}", "a handler such as app.handler"),
        memory_mb=f.integer("memory", 128, 10240, " MB"),
        timeout_s=f.integer("timeout", 1, 900, " seconds"),
        description=f.text("description", r"(?s).{0,256}", "at most 256 characters"),
        architectures=f.items("architectures", r"x86_64|arm64", "x86_64 or arm64"),
        layers=f.items("layers", AWS_LAYER, "a layer version ARN"),
        subnet_ids=f.items("subnet-ids", r"subnet-[0-9a-f]{8,17}", "a subnet id"),
        security_group_ids=f.items("security-group-ids", r"sg-[0-9a-f]{8,17}", "a security group id"),
        tracing=f.choice("tracing", ("Active", "PassThrough")),
        tags=frozen_map(f.mapping("tags", r"[\w.:/=+@ -]{1,128}", "a valid tag key")),
        s3_bucket=f.text("s3-bucket", S3_BUCKET, "an S3 bucket name"),
        publish=True if publish is None else publish,
        alias=alias,
    )
    if options.architectures and len(options.architectures) > 1:
        f.problem("architectures", "Lambda takes exactly one architecture")
    if options.layers and len(options.layers) > 5:
        f.problem("layers", "Lambda takes at most 5 layers")
    if bool(options.subnet_ids) != bool(options.security_group_ids):
        f.problem("subnet-ids", "set `subnet-ids` and `security-group-ids` together")
    return options


def _azure(f: _Fields, environ: Mapping[str, str]) -> AzureOptions:
    resource_group = f.text("resource-group", AZURE_RG, "a resource group name")
    if resource_group is None and not f.given("resource-group"):
        f.problem("resource-group", "required for provider azure")
    subscription = f.text("subscription-id", AZURE_GUID, "a subscription id (GUID)")
    if subscription is None and not f.given("subscription-id"):
        subscription = environ.get("AZURE_SUBSCRIPTION_ID") or None
        if subscription is None:
            f.problem("subscription-id", "required for provider azure (or set AZURE_SUBSCRIPTION_ID)")
    slot_text = f.text("slot", AZURE_SLOT, "a slot name")
    slot = None if slot_text and slot_text.lower() == "production" else slot_text
    swap = f.boolean("swap") or False
    # An invalid slot is already reported; `production` is no slot to swap from.
    if swap and slot is None and (slot_text is not None or not f.given("slot")):
        f.problem("swap", "`swap: true` needs a `slot` (not production) to swap into production")
    arm = environ.get("FAAS_AZURE_ARM_ENDPOINT") or "https://management.azure.com"
    scm = environ.get("FAAS_AZURE_SCM_ENDPOINT") or None
    for name, url in (("FAAS_AZURE_ARM_ENDPOINT", arm), ("FAAS_AZURE_SCM_ENDPOINT", scm)):
        if url and not re.match(r"https?://[^/\s]+", url):
            f.problem("", f"{name} must be a base URL such as https://host, got {url!r}")
    return AzureOptions(
        resource_group=resource_group or "",
        subscription_id=subscription or "",
        slot=slot,
        swap=swap,
        deploy_method=f.choice("deploy-method", ("auto", "flex", "zipdeploy", "run-from-package")) or "auto",
        client_id=f.text("client-id", AZURE_GUID, "a client id (GUID)") or environ.get("AZURE_CLIENT_ID") or None,
        tenant_id=f.text("tenant-id", r"[\w.-]+", "a tenant id") or environ.get("AZURE_TENANT_ID") or None,
        access_token=f.text("azure-access-token"),
        arm_endpoint=arm.rstrip("/"),
        scm_endpoint=scm.rstrip("/") if scm else None,
    )


def _gcp(f: _Fields, environ: Mapping[str, str]) -> GcpOptions:
    region = f.text("region", GCP_REGION, "a GCP region such as us-central1")
    if region is None and not f.given("region"):
        f.problem("region", "required for provider gcp (no default region is assumed)")
    trigger_http = f.boolean("trigger-http")
    event_type = f.text("event-trigger-type", r"[\w.]+", "an event type")
    event_resource = f.text("event-trigger-resource", GCP_EVENT_RESOURCE, "a full resource name such as projects/P/topics/T")
    if trigger_http and event_type:
        f.problem("trigger-http", "choose `trigger-http` or `event-trigger-type`, not both")
    if event_type and not event_resource and not f.given("event-trigger-resource"):
        f.problem("event-trigger-resource", "required with `event-trigger-type`")
    if event_resource and not event_type and not f.given("event-trigger-type"):
        f.problem("event-trigger-type", "required with `event-trigger-resource`")
    retry = f.boolean("event-trigger-retry")
    if retry is not None and not event_type:
        f.problem("event-trigger-retry", "applies only with `event-trigger-type`")
    memory = f.text("memory", GCP_MEMORY, "a memory size such as 256Mi, 1Gi or a number of MB")
    if memory and memory.isdigit():
        memory = f"{memory}Mi"
    minimum = f.integer("min-instances", 0, 1000)
    maximum = f.integer("max-instances", 1, 3000)
    if minimum is not None and maximum is not None and minimum > maximum:
        f.problem("min-instances", f"{minimum} is above max-instances {maximum}")
    labels = f.mapping("labels", GCP_LABEL_KEY, "a label key (lowercase letters, digits, - and _)")
    for key, value in (labels or {}).items():
        if not re.fullmatch(GCP_LABEL_VALUE, value):
            f.problem("labels", f"value of {key!r} must be lowercase letters, digits, - and _ (63 at most)")
    secrets = f.mapping("secrets", GCP_ENV_KEY, "a variable name")
    for key, value in (secrets or {}).items():
        if not re.fullmatch(GCP_SECRET, value):
            f.problem("secrets", f"{key}: {value!r} is not projects/P/secrets/S[/versions/V]")
    endpoint = environ.get("FAAS_GCP_ENDPOINT") or None
    if endpoint and not re.match(r"https?://[^/\s]+", endpoint):
        f.problem("", f"FAAS_GCP_ENDPOINT must be a base URL such as https://host, got {endpoint!r}")
    return GcpOptions(
        project=f.text("project", GCP_PROJECT, "a project id"),
        region=region or "",
        description=f.text("description"),
        runtime=f.text("runtime", r"[a-z]+[0-9]*", "a runtime such as python312"),
        entry_point=f.text("entry-point", r"[\w.$-]{1,128}", "an entry point"),
        service_account=f.text("service-account", GCP_SERVICE_ACCOUNT, "a service account email"),
        memory=memory,
        timeout_s=f.integer("timeout", 1, 3600, " seconds"),
        min_instances=minimum,
        max_instances=maximum,
        ingress=f.choice("ingress", ("ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB")),
        vpc_connector=f.text("vpc-connector", GCP_CONNECTOR, "a connector resource name"),
        labels=frozen_map(labels),
        secrets=frozen_map(secrets),
        build_environment=frozen_map(f.mapping("build-environment", GCP_ENV_KEY, "a variable name")),
        trigger_http=trigger_http,
        event_trigger_type=event_type,
        event_trigger_resource=event_resource,
        event_trigger_retry=retry,
        allow_unauthenticated=f.boolean("allow-unauthenticated"),
        kms_key=f.text("kms-key", GCP_KMS_KEY, "a KMS key resource name"),
        access_token=f.text("gcp-access-token"),
        endpoint=endpoint.rstrip("/") if endpoint else None,
    )


OPTION_BUILDERS: dict[str, Callable[[_Fields, Mapping[str, str]], Any]] = {
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
    if step_inputs.get("config"):
        file_common, file_functions = _read_config_file(step_inputs["config"], workspace, defaults, problems)
    if len(file_functions) > 1 and "function-name" in given:
        problems.append(Problem("function-name", "the config file lists several functions: name them there, not in the step"))
        given.pop("function-name")

    raws = []
    for item in file_functions:
        raw: dict[str, Any] = {k: v for k, v in defaults.items() if v != ""}
        raw.update(file_common)
        raw.update(item)
        raw.update(given)
        raws.append(raw)

    secrets: list[str] = []
    for raw in raws:
        secrets.extend(secret_values(raw))

    dry_run = _Fields(step_inputs, problems, "").boolean("dry-run")  # a run key: never from the file
    specs = []
    for index, raw in enumerate(raws):
        label = f"functions[{index}] ({raw.get('function-name') or '?'}): " if len(raws) > 1 else ""
        spec = _spec(raw, defaults, environ, workspace, github, problems, label)
        if spec is not None:
            specs.append(spec)
    return Config(
        dry_run=bool(dry_run),
        specs=tuple(specs),  # the valid ones: main still packages them to report every problem at once
        problems=tuple(problems),
        secrets=tuple(dict.fromkeys(secrets)),
    )


def _spec(
    raw: dict[str, Any],
    defaults: Mapping[str, str],
    environ: Mapping[str, str],
    workspace: Path,
    github: GitHubContext,
    problems: list[Problem],
    label: str,
) -> FunctionSpec | None:
    before = len(problems)
    f = _Fields(raw, problems, label)
    provider = f.choice("provider", PROVIDERS)
    if provider is None:
        if not f.given("provider"):
            f.problem("provider", "required: aws, azure or gcp")
        return None
    for name, providers in APPLIES_TO.items():
        if provider not in providers and f.given(name) and str(raw.get(name)) != defaults.get(name, ""):
            f.problem(name, f"does not apply to provider {provider} (only {', '.join(providers)})")

    pattern, what = NAME_PATTERNS[provider]
    name = f.text("function-name", pattern, what)
    if name is None and not f.given("function-name"):
        f.problem("function-name", "required")

    source, package = _code_location(f, workspace, defaults)
    environment = _environment(f, provider)
    mode = f.choice("environment-mode", ("merge", "replace")) or "merge"
    wait = f.integer("wait-timeout", 1, 6 * 3600, " seconds")
    options = OPTION_BUILDERS[provider](f, environ)
    if len(problems) > before:
        return None
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
    )


def _code_location(f: _Fields, workspace: Path, defaults: Mapping[str, str]) -> tuple[Path | None, Path | None]:
    package_value = f.text("package")
    source_value = f.text("source") or "."
    if package_value:
        if source_value != defaults.get("source", "."):
            f.problem("package", "give `source` or `package`, not both")
            return None, None
        path = _inside(f, "package", package_value, workspace)
        if path is None:
            return None, None
        if not path.is_file():
            f.problem("package", f"{package_value!r} does not exist or is not a file")
        else:
            return None, path  # package.describe checks that it is a zip that can be deployed
        return None, None
    path = _inside(f, "source", source_value, workspace)
    if path is None:
        return None, None
    if not path.is_dir():
        f.problem("source", f"{source_value!r} is not a directory in the workspace")
        return None, None
    return path, None


def _inside(f: _Fields, name: str, value: str, workspace: Path) -> Path | None:
    path = (workspace / value).resolve()
    if path != workspace and workspace not in path.parents:
        f.problem(name, f"{value!r} resolves outside the workspace ({path}); refused")
        return None
    return path


def _read_config_file(
    value: str, workspace: Path, defaults: Mapping[str, str], problems: list[Problem]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    f = _Fields({"config": value}, problems, "")
    path = _inside(f, "config", value, workspace)
    if path is None:
        return {}, [{}]
    import yaml  # here, not at the top: a run without a config file never pays for the import

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(Problem("config", f"{value!r} does not exist"))
        return {}, [{}]
    except (OSError, yaml.YAMLError) as exc:
        problems.append(Problem("config", f"{value!r} is not readable YAML: {exc}"))
        return {}, [{}]
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(Problem("config", f"{value!r} must hold a mapping of inputs"))
        return {}, [{}]
    allowed = set(defaults) - set(RUN_KEYS)

    def clean(mapping: dict[str, Any], where: str) -> dict[str, Any]:
        result = {}
        for key, item in mapping.items():
            key = str(key)
            if key not in allowed:
                problems.append(Problem("config", f"{where}unknown key {key!r}"))
                continue
            result[key] = _yaml_value(item)
        return result

    functions = data.pop("functions", None)
    common = clean(data, "")
    if functions is None:
        return common, [{}]
    if not isinstance(functions, list) or not functions or not all(isinstance(i, dict) for i in functions):
        problems.append(Problem("config", "`functions` must be a non-empty list of mappings"))
        return common, [{}]
    return common, [clean(item, f"functions[{i}]: ") for i, item in enumerate(functions)]


def _yaml_value(item: Any) -> Any:
    """YAML scalars become the strings the runner would give; lists and mappings stay."""
    if isinstance(item, bool):
        return "true" if item else "false"
    if item is None:
        return ""
    if isinstance(item, (dict, list)):
        return item
    return str(item)
