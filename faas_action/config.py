"""Inputs (and the optional YAML config file) → frozen FunctionSpecs.

Owns: every rule about user input. All problems are collected and returned together so that
main.py reports them at once, before any network call; values to mask are collected too.
Must not: touch the network, print, or import a provider SDK.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from . import dependencies, inputs, userfiles
from .errors import Problem
from .models import (
    UNRESERVED,
    AwsOptions,
    AzureOptions,
    DependencySpec,
    FunctionSpec,
    GcpOptions,
    GitHubContext,
    ReleaseSpec,
    frozen_map,
)

PROVIDERS = ("aws", "azure", "gcp")
SECRET_INPUTS = ("azure-access-token", "gcp-access-token")

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
# Keys only meaningful once per run, never in the config file.
RUN_KEYS = ("config", "dry-run")
# Run-level keys that may also stand at the top of the config file, but not per function.
FILE_RUN_KEYS = ("max-parallel", "fail-fast", "select")
# A config file larger than this is refused unread: real ones are a few kilobytes.
CONFIG_MAX_BYTES = 1024 * 1024


def input_defaults() -> dict[str, str]:
    """Every declared input and its default ('' when none), as action.yml declares them."""
    return dict(inputs.DEFAULTS)


@dataclass(frozen=True)
class CodeLocation:
    """Where a function's code is, for a function whose other inputs are invalid: it is still
    packaged so that its packaging problems come out with every other problem."""

    label: str
    provider: str | None
    source: Path | None
    package: Path | None


@dataclass(frozen=True)
class Config:
    """The parsed run: functions to deploy in config order, and the problems that stop it.

    With problems, `specs` holds only the functions whose inputs were valid and `unchecked` the
    code of the others; nothing may deploy. `labels` name each spec in messages
    ("functions[2] (api): ") when the run has several functions."""

    dry_run: bool = False
    specs: tuple[FunctionSpec, ...] = ()
    problems: tuple[Problem, ...] = ()
    secrets: tuple[str, ...] = ()
    max_parallel: int = 4
    fail_fast: bool = False
    labels: tuple[str, ...] = ()
    unchecked: tuple[CodeLocation, ...] = ()


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
    """`KEY=VALUE` lines or a YAML mapping → dict of strings; an error message (str) otherwise.
    A key given twice is an error naming both lines, never "the last one wins"."""
    if isinstance(value, dict):
        data: Any = value
    else:
        text = str(value)
        numbered = [(number, ln.strip()) for number, ln in enumerate(text.splitlines(), 1)]
        lines = [(number, ln) for number, ln in numbered if ln and not ln.startswith("#")]
        if lines and all(re.match(r"^[^=:\s]+=", ln) for _, ln in lines):
            return _key_value_lines(lines)
        from . import yamlsafe  # here, not at the top: a run without YAML values never imports PyYAML

        try:
            data = yamlsafe.load(text)
        except yamlsafe.YamlError as exc:
            return f"expected KEY=VALUE lines or a YAML mapping ({exc})"
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


def _key_value_lines(lines: list[tuple[int, str]]) -> dict[str, str] | str:
    result: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for number, line in lines:
        key, item = line.split("=", 1)
        if key in first_line:
            return f"key {key!r} is given twice (line {first_line[key]} and line {number})"
        first_line[key] = number
        result[key] = item
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
AWS_IMAGE_URI = (
    r"\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?"
    r"/[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})"
)
AWS_QUEUE_OR_TOPIC = r"arn:aws[a-z-]*:(sqs|sns):[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}"
AWS_KMS_KEY = r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]{1,128}"
AWS_ACCESS_POINT = r"arn:aws[a-z-]*:elasticfilesystem:[a-z0-9-]+:\d{12}:access-point/fsap-[a-f0-9]{17}"
AWS_MOUNT_PATH = r"/mnt/[A-Za-z0-9_.-]{1,155}"
AWS_LOG_GROUP = r"[.\-_/#A-Za-z0-9]{1,512}"
AWS_CORS_LISTS = ("AllowHeaders", "AllowMethods", "AllowOrigins", "ExposeHeaders")
CLEAR = "none"  # the input value that removes a list or optional setting
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
        tracing=f.choice("tracing", ("Active", "PassThrough")),
        tags=frozen_map(f.mapping("tags", r"[\w.:/=+@ -]{1,128}", "a valid tag key")),
        s3_bucket=f.text("s3-bucket", S3_BUCKET, "an S3 bucket name"),
        publish=True if publish is None else publish,
        alias=alias,
        **_aws_more(f, alias, publish),
    )
    if options.architectures and len(options.architectures) > 1:
        f.problem("architectures", "Lambda takes exactly one architecture")
    if options.layers and len(options.layers) > 5:
        f.problem("layers", "Lambda takes at most 5 layers")
    if options.image_uri and region and f".dkr.ecr.{region}." not in options.image_uri:
        f.problem("image-uri", f"the image must be in the function's region ({region}): Lambda pulls only from ECR in its own region")
    return options


def _aws_more(f: _Fields, alias: str | None, publish: bool | None) -> dict[str, Any]:
    """The Lambda settings of issue 14 (images, URLs, concurrency, clearing with `none`) and their
    rules, as AwsOptions fields; layers and the VPC are read here too, for their `none`."""
    image_uri = f.text("image-uri", AWS_IMAGE_URI, "an ECR image URI such as 123456789012.dkr.ecr.us-east-1.amazonaws.com/repo:tag or repo@sha256:<digest>")
    image = f.given("image-uri")
    for name in ("handler", "runtime", "layers", "s3-bucket", "dependencies"):
        if image and f.given(name):
            f.problem(name, "does not apply to a container image (`image-uri`): the image provides it")
    image_config = {
        "image_command": _aws_lines(f, "image-command"),
        "image_entrypoint": _aws_lines(f, "image-entrypoint"),
        "image_working_directory": "" if _cleared(f, "image-working-directory") else f.text("image-working-directory", r"/?[^\s]{0,999}", "a directory path"),
    }
    for name in ("image-command", "image-entrypoint", "image-working-directory"):
        if f.given(name) and not image:
            f.problem(name, "applies only to a container image: set `image-uri`")

    subnets_cleared, groups_cleared = _cleared(f, "subnet-ids"), _cleared(f, "security-group-ids")
    subnet_ids = () if subnets_cleared else f.items("subnet-ids", r"subnet-[0-9a-f]{8,17}", "a subnet id")
    groups = () if groups_cleared else f.items("security-group-ids", r"sg-[0-9a-f]{8,17}", "a security group id")
    if subnets_cleared:
        if f.given("security-group-ids") and not groups_cleared:
            f.problem("security-group-ids", "leave it empty with `subnet-ids: none` (that detaches the function from its VPC)")
        groups = ()
    elif groups_cleared:
        f.problem("security-group-ids", "`none` detaches the VPC only together with `subnet-ids: none`")
    elif f.given("subnet-ids") != f.given("security-group-ids"):
        f.problem("subnet-ids", "set `subnet-ids` and `security-group-ids` together")

    file_systems = _aws_file_systems(f)
    reserved = UNRESERVED if _cleared(f, "reserved-concurrency") else f.integer("reserved-concurrency", 0, 1_000_000)
    provisioned = f.integer("provisioned-concurrency", 0, 1_000_000)
    if f.given("provisioned-concurrency") and not alias:
        f.problem("provisioned-concurrency", "provisioned concurrency is set on an alias: set `alias` too")
    function_url = f.choice("function-url", ("iam", "public"))
    cors = _aws_cors(f)
    if f.given("function-url-cors") and not f.given("function-url"):
        f.problem("function-url-cors", "applies with `function-url` (iam or public)")
    force = f.boolean("force") or False
    if force and publish is False:
        f.problem("force", "`force` publishes a new version: it needs `publish: true`")
    return {
        "layers": () if _cleared(f, "layers") else f.items("layers", AWS_LAYER, "a layer version ARN"),
        "subnet_ids": subnet_ids,
        "security_group_ids": groups,
        "image_uri": image_uri,
        **image_config,
        "dead_letter_arn": "" if _cleared(f, "dead-letter-arn") else f.text("dead-letter-arn", AWS_QUEUE_OR_TOPIC, "an SQS queue or SNS topic ARN"),
        "kms_key_arn": "" if _cleared(f, "kms-key-arn") else f.text("kms-key-arn", AWS_KMS_KEY, "a KMS key ARN"),
        "file_system_configs": file_systems,
        "ephemeral_storage_mb": f.integer("ephemeral-storage", 512, 10240, " MB"),
        "log_format": f.choice("log-format", ("Text", "JSON")),
        "log_group": f.text("log-group", AWS_LOG_GROUP, "a log group name"),
        "snap_start": f.choice("snap-start", ("PublishedVersions", "None")),
        "function_url": function_url,
        "function_url_cors": frozen_map(cors),
        "reserved_concurrency": reserved,
        "provisioned_concurrency": provisioned,
        "force": force,
    }


def _cleared(f: _Fields, name: str) -> bool:
    """Is the input the word `none` (remove the setting)? An empty input leaves it alone."""
    value = f.raw.get(name)
    return isinstance(value, str) and value.strip().lower() == CLEAR


def _aws_lines(f: _Fields, name: str) -> tuple[str, ...] | None:
    """A command-style list: a YAML list, a JSON/YAML flow list `["a", "b"]`, or one item per line
    (no comma splitting: arguments may hold commas). `none` gives the empty list."""
    value = f.raw.get(name)
    if value is None or value == "":
        return None
    if _cleared(f, name):
        return ()
    if isinstance(value, str) and value.strip().startswith("["):
        from . import yamlsafe  # here, not at the top: most runs never import PyYAML

        try:
            value = yamlsafe.load(value)
        except yamlsafe.YamlError as exc:
            f.problem(name, f"is not a valid list: {exc}")
            return None
    if isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value)):
        f.problem(name, "expected a list of strings")
        return None
    parts = value if isinstance(value, list) else str(value).splitlines()
    return tuple(str(p).strip() for p in parts if str(p).strip())


def _aws_file_systems(f: _Fields) -> tuple[tuple[str, str], ...] | None:
    if _cleared(f, "file-system-configs"):
        return ()
    lines = f.items("file-system-configs")
    if lines is None:
        return None
    configs = []
    for line in lines:
        arn, _, mount = line.partition("=")
        arn, mount = arn.strip(), mount.strip()
        if not re.fullmatch(AWS_ACCESS_POINT, arn) or not re.fullmatch(AWS_MOUNT_PATH, mount):
            f.problem("file-system-configs", f"{line!r} is not `access-point-arn=/mnt/path` (an EFS access point ARN and a path under /mnt/)")
            continue
        configs.append((arn, mount))
    if len(configs) > 1:
        f.problem("file-system-configs", "Lambda mounts at most one file system")
    return tuple(configs) if len(configs) == len(lines) else None


def _aws_cors(f: _Fields) -> dict[str, Any] | None:
    """`function-url-cors`: a mapping in Lambda's Cors shape (YAML, or a YAML/JSON string); `none`
    gives the empty mapping, which clears it."""
    value = f.raw.get("function-url-cors")
    if value is None or value == "":
        return None
    if _cleared(f, "function-url-cors"):
        return {}
    if isinstance(value, str):
        from . import yamlsafe  # here, not at the top: most runs never import PyYAML

        try:
            value = yamlsafe.load(value)
        except yamlsafe.YamlError:
            value = None
    if not isinstance(value, dict):
        f.problem("function-url-cors", "expected a mapping in Lambda's Cors shape, e.g. AllowOrigins: ['https://example.com']")
        return None
    cors: dict[str, Any] = {}
    for key, item in value.items():
        if key in AWS_CORS_LISTS:
            items = item if isinstance(item, list) else [item]
            if not all(isinstance(i, str) and i for i in items):
                f.problem("function-url-cors", f"{key} must be a list of strings")
                continue
            cors[key] = tuple(items)
        elif key == "AllowCredentials":
            if not isinstance(item, bool) and str(item).lower() not in ("true", "false"):
                f.problem("function-url-cors", "AllowCredentials must be true or false")
                continue
            cors[key] = item if isinstance(item, bool) else str(item).lower() == "true"
        elif key == "MaxAge":
            if not str(item).isdigit() or not 0 <= int(item) <= 86400:
                f.problem("function-url-cors", "MaxAge must be a number of seconds, 0 to 86400")
                continue
            cors[key] = int(item)
        else:
            f.problem("function-url-cors", f"unknown key {key!r} (Lambda's Cors keys: AllowCredentials, {', '.join(AWS_CORS_LISTS)}, MaxAge)")
    return cors


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
        remote_build=f.boolean("remote-build") or False,
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

    # Run-level settings: the step's input, else the top of the config file, else the default.
    run_raw = {k: file_common.pop(k) for k in FILE_RUN_KEYS if k in file_common}
    run_raw.update({k: v for k, v in given.items() if k in FILE_RUN_KEYS or k in RUN_KEYS})
    run = _Fields(run_raw, problems, "")
    max_parallel = run.integer("max-parallel", 1, 32) or int(defaults.get("max-parallel") or 4)
    fail_fast = bool(run.boolean("fail-fast"))
    select = run.items("select")
    dry_run = _Fields(step_inputs, problems, "").boolean("dry-run")  # a run key: never from the file
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
    specs, labels, unchecked = [], [], []
    seen: dict[tuple, str] = {}
    for index, (raw, own_keys) in enumerate(raws):
        label = f"functions[{index}] ({raw.get('function-name') or '?'}): " if len(raws) > 1 else ""
        if select is not None and str(raw.get("function-name") or "") not in select:
            continue
        raw = _for_provider(raw, own_keys, mixed, providers_in_run, problems)
        spec, location = _spec(raw, defaults, environ, workspace, github, problems, label)
        if spec is None:
            if location is not None:
                unchecked.append(location)
            continue
        target = _target_of(spec)
        if target in seen:
            problems.append(Problem("config", f"{label}the same function as {seen[target]}: each function may appear once"))
            continue
        seen[target] = label.rstrip(": ") or "the step"
        specs.append(spec)
        labels.append(label)
    if not providers_in_run and not problems and not specs:
        problems.append(Problem("provider", "required: aws, azure or gcp"))
    outs = [spec.package_out for spec in specs if spec.package_out is not None]
    for path in sorted({p for p in outs if outs.count(p) > 1}):
        problems.append(Problem("package-out", f"several functions would write {path.relative_to(workspace)}: give each its own path"))
    return Config(
        dry_run=bool(dry_run),
        specs=tuple(specs),  # the valid ones: main still packages them to report every problem at once
        problems=tuple(problems),
        secrets=tuple(dict.fromkeys(secrets)),
        max_parallel=max_parallel,
        fail_fast=fail_fast,
        labels=tuple(labels),
        unchecked=tuple(unchecked),
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
) -> tuple[FunctionSpec | None, CodeLocation | None]:
    """The function's spec, or None and where its code is (to package it anyway) when its
    inputs have problems."""
    before = len(problems)
    f = _Fields(raw, problems, label)
    provider = f.choice("provider", PROVIDERS)
    if provider is None:
        if not f.given("provider"):
            f.problem("provider", "required: aws, azure or gcp (as an input, or for each function in the config file)")
        source, package = _code_location(f, workspace, defaults)
        return None, CodeLocation(label, None, source, package) if (source or package) else None
    for name, providers in APPLIES_TO.items():
        if provider not in providers and f.given(name) and str(raw.get(name)) != defaults.get(name, ""):
            f.problem(name, f"does not apply to provider {provider} (only {', '.join(providers)})")

    pattern, what = NAME_PATTERNS[provider]
    name = f.text("function-name", pattern, what)
    if name is None and not f.given("function-name"):
        f.problem("function-name", "required")

    if provider == "aws" and f.given("image-uri"):
        source, package = _no_code(f, defaults)  # the image is the code: nothing to package
    else:
        source, package = _code_location(f, workspace, defaults)
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
        return None, CodeLocation(label, provider, source, package) if (source or package) else None
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
    ), None


# -- dependencies (issue 15): Python packages installed into the package ----------------------

DEPENDENCY_INPUTS = ("dependencies-platform", "dependencies-cache")
AZURE_PACKAGES_DIR = ".python_packages/lib/site-packages"  # where the Functions Python worker looks


def _dependencies(f: _Fields, provider: str, source: Path | None, options: Any, workspace: Path) -> DependencySpec | None:
    """`dependencies` and its companions → what to install for which platform, or problems."""
    value = f.text("dependencies")
    runtime = f.text("runtime")
    remote_build = provider == "azure" and options.remote_build
    if value is None:
        for name in DEPENDENCY_INPUTS:
            if f.given(name):
                f.problem(name, "applies only with `dependencies`")
        if provider == "azure" and runtime and not f.given("dependencies"):
            f.problem("runtime", "on azure, `runtime` only names the Python version for `dependencies` (the app's own stack is set in Azure)")
        if remote_build and options.deploy_method == "run-from-package":
            f.problem("remote-build", "run-from-package deploys the package as is: no remote build runs there; use deploy-method auto or zipdeploy")
        return None
    if provider == "gcp":
        f.problem("dependencies", "Cloud Functions installs the dependencies itself from requirements.txt in the source (Cloud Build): "
                  "remove `dependencies` and keep requirements.txt at the root of `source`")
        return None
    if remote_build:
        f.problem("remote-build", "choose `dependencies` (installed here, into the package) or `remote-build: true` (installed by Azure), not both")
    if source is None:
        if f.given("package"):
            f.problem("dependencies", "dependencies are installed into a package built from `source`, not into a ready-made `package`")
        return None
    file = (source / value).resolve()
    if file != source and source not in file.parents:
        f.problem("dependencies", f"{value!r} resolves outside `source` ({file}); refused")
    elif not file.exists():
        f.problem("dependencies", f"{value!r} does not exist in `source` (a requirements file or a pyproject.toml with a uv.lock)")
    elif not file.is_file():
        f.problem("dependencies", f"{value!r} is not a regular file (a requirements file or a pyproject.toml with a uv.lock)")
    elif file.name == "pyproject.toml" and not (file.parent / "uv.lock").is_file():
        f.problem("dependencies", f"{value!r} needs a uv.lock beside it (run `uv lock`), or name a requirements file")
    elif file.suffix == ".toml" and file.name != "pyproject.toml":
        f.problem("dependencies", f"{value!r}: a TOML file must be a pyproject.toml (with a uv.lock beside it)")

    version = dependencies.python_version(runtime)
    if runtime is None:
        if not f.given("runtime"):
            f.problem("runtime", "required with `dependencies`: the function's Python version (e.g. python3.12) decides which wheels are installed")
    elif version is None:
        f.problem("dependencies", f"installs Python packages, but runtime {runtime!r} is not a Python runtime such as python3.12")
    architecture = "x86_64"
    if provider == "aws" and options.architectures:
        architecture = options.architectures[0]
    platform = None
    if f.given("dependencies-platform"):
        text = f.text("dependencies-platform") or ""
        platform = dependencies.parse_platform(text)
        if platform is None:
            f.problem("dependencies-platform", f"{text!r} is not a manylinux platform such as x86_64-manylinux_2_28, "
                      f"manylinux_2_28_aarch64 or manylinux2014_x86_64 (glibc 2.17, 2.28, 2.31 to 2.40)")
    if version and platform:
        for message in dependencies.platform_problems(provider, version, platform, architecture):
            f.problem("dependencies-platform", message)
    cache = None
    if f.given("dependencies-cache"):
        cache = _inside(f, "dependencies-cache", f.text("dependencies-cache") or "", workspace)
        if cache is not None and cache.exists() and not cache.is_dir():
            f.problem("dependencies-cache", f"{cache} exists and is not a directory")
        elif cache is not None and (cache == source or cache in source.parents):
            f.problem("dependencies-cache", "must be a directory of its own, not `source` or a folder above it")
    if version is None:
        return None
    return DependencySpec(
        file=file,
        python_version=version,
        platform=platform or dependencies.default_platform(provider, version, architecture),
        cache=cache,
        prefix=AZURE_PACKAGES_DIR if provider == "azure" else "",
    )


def dependency_secrets(raws: list[dict[str, Any]], environ: Mapping[str, str], workspace: Path) -> list[str]:
    """The passwords and tokens of the package indexes, when some function installs dependencies."""
    files = []
    for raw in raws:
        if raw.get("dependencies"):
            source = workspace / str(raw.get("source") or ".")
            files.extend(p for p in (source / str(raw["dependencies"]),) if p.is_file())
    if not files and not any(raw.get("dependencies") for raw in raws):
        return []
    return dependencies.secrets(environ, files)


def _no_code(f: _Fields, defaults: Mapping[str, str]) -> tuple[None, None]:
    """A container-image function: `source` and `package` have nothing to say."""
    if f.given("package"):
        f.problem("package", "give `image-uri` or `package`, not both")
    if (f.text("source") or ".") != defaults.get("source", "."):
        f.problem("source", "give `image-uri` or `source`, not both (an image function has nothing to package)")
    if f.given("package-out"):
        f.problem("package-out", "an image function builds no zip to write")
    return None, None


def _package_out(f: _Fields, workspace: Path, package: Path | None) -> Path | None:
    """Where to write a copy of the built zip: a file path inside the workspace."""
    value = f.text("package-out")
    if value is None or f.given("image-uri"):
        return None
    if package is not None or f.given("package"):
        f.problem("package-out", "writes the zip built from `source`; with `package` that zip is already a file")
        return None
    path = _inside(f, "package-out", value, workspace)
    if path is None:
        return None
    if path == workspace or path.is_dir():
        f.problem("package-out", f"{value!r} is a directory: name the zip file to write, e.g. dist/function.zip")
        return None
    return path


# -- the release (issue 9) ---------------------------------------------------------------------

SMOKE_EVENT_LIMIT = 6 * 1024 * 1024  # Lambda's synchronous request payload limit
ALARM_NAME = r"[^\x00-\x1f,]{1,255}"


def _release(f: _Fields, workspace: Path, options: AwsOptions) -> ReleaseSpec:
    """The release inputs → a ReleaseSpec; every rule about them (they apply to AWS only)."""
    traffic = f.choice("traffic", ("all-at-once", "canary", "linear")) or "all-at-once"
    percent = f.integer("traffic-percent", 1, 99, " percent")
    interval = f.integer("traffic-interval", 1, 6 * 3600, " seconds")
    smoke_event = _smoke_event(f, workspace)
    smoke_expect = f.text("smoke-expect")
    if smoke_expect is not None and not f.given("smoke-event"):
        f.problem("smoke-expect", "needs `smoke-event` (the event to invoke the new version with)")
    alarms = f.items("alarms", ALARM_NAME, "a CloudWatch alarm name") or ()
    max_error_rate = _percentage(f, "max-error-rate")
    rollback = f.text("rollback", r"previous|[1-9][0-9]{0,9}", "`previous` or a version number")
    keep = f.integer("keep-versions", 1, 10000, " versions")

    needs_alias = []
    if traffic != "all-at-once":
        needs_alias.append(f"`traffic: {traffic}`")
    if alarms or f.given("max-error-rate"):
        needs_alias.append("a gate (`alarms`, `max-error-rate`)")
    if rollback is not None or f.given("rollback"):
        needs_alias.append("`rollback`")
    if needs_alias and not f.given("alias"):  # an alias with `publish: false` is refused already
        f.problem(
            "alias",
            f"{' and '.join(needs_alias)} needs an `alias` (with `publish: true`) whose traffic it moves",
        )
    if traffic != "all-at-once" and rollback is not None:
        f.problem("traffic", "rollback mode moves the alias back at once: `traffic` must be all-at-once")
    if rollback is not None and f.given("package"):
        f.problem("package", "rollback mode uploads no code: remove `package`")
    return ReleaseSpec(
        traffic=traffic,
        traffic_percent=percent or 10,
        traffic_interval_s=interval or 60,
        smoke_event=smoke_event,
        smoke_expect=smoke_expect,
        alarms=tuple(dict.fromkeys(alarms)),
        max_error_rate=max_error_rate,
        rollback=rollback,
        keep_versions=keep,
    )


def _smoke_event(f: _Fields, workspace: Path) -> bytes | None:
    """`smoke-event`: a JSON payload, or `@path` to a JSON file in the workspace."""
    value = f.raw.get("smoke-event")
    if value is None or value == "":
        return None
    if isinstance(value, (dict, list)):  # a YAML config may hold the event as a mapping or list
        return json.dumps(value).encode()
    text = str(value).strip()
    where = "smoke-event"
    if text.startswith("@"):
        name = text[1:].strip()
        path = _inside(f, "smoke-event", name, workspace)
        if path is None:
            return None
        try:  # a regular UTF-8 file within Lambda's 6 MB payload limit, read without blocking
            data = userfiles.read_text(path, SMOKE_EVENT_LIMIT).encode()
        except userfiles.UserFileError as exc:
            f.problem("smoke-event", f"{name!r} {exc}")
            return None
        where = repr(name)
    else:
        data = text.encode()
    if len(data) > SMOKE_EVENT_LIMIT:
        f.problem("smoke-event", "the event is over Lambda's 6 MB payload limit")
        return None
    try:
        json.loads(data)
    except ValueError as exc:
        f.problem("smoke-event", f"{where} is not valid JSON ({exc}); give a JSON payload or @path to a JSON file")
        return None
    return data


def _percentage(f: _Fields, name: str) -> float | None:
    """`2` or `2%` (or `0.5`) → 2.0, within 0..100."""
    value = f.text(name, r"\d{1,3}(\.\d+)?\s*%?", "a percentage such as 2 or 2%")
    if value is None:
        return None
    number = float(value.rstrip("%").strip())
    if number > 100:
        f.problem(name, f"{value!r} is over 100%")
        return None
    return number


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
        elif not zipfile.is_zipfile(path):
            f.problem("package", f"{package_value!r} is not a zip archive")
        else:
            return None, path
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
    from . import yamlsafe  # here, not at the top: a run without a config file never imports PyYAML

    try:
        data = yamlsafe.load(userfiles.read_text(path, CONFIG_MAX_BYTES))
    except userfiles.UserFileError as exc:
        problems.append(Problem("config", f"{value!r} {exc}"))
        return {}, [{}]
    except yamlsafe.YamlError as exc:
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
            if key in RUN_KEYS or (where and key in FILE_RUN_KEYS):
                problems.append(Problem("config", f"{where}{key!r} is set for the whole run (as a step input"
                                        + ("" if key in RUN_KEYS else " or at the top of the file") + "), not here"))
                continue
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
