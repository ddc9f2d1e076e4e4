"""AWS Lambda's input rules: names, ARNs and limits Lambda enforces, images, URLs, concurrency,
clearing a setting with `none`.

Owns: `aws(fields, environ) -> AwsOptions` and the patterns it checks against.
Must not: call AWS or import botocore.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from ..models import UNRESERVED, AwsOptions, frozen_map
from .fields import Fields

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


def aws(f: Fields, environ: Mapping[str, str]) -> AwsOptions | None:
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


def _aws_more(f: Fields, alias: str | None, publish: bool | None) -> dict[str, Any]:
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
        "image_working_directory": "" if f.cleared("image-working-directory") else f.text("image-working-directory", r"/?[^\s]{0,999}", "a directory path"),
    }
    for name in ("image-command", "image-entrypoint", "image-working-directory"):
        if f.given(name) and not image:
            f.problem(name, "applies only to a container image: set `image-uri`")

    subnets_cleared, groups_cleared = f.cleared("subnet-ids"), f.cleared("security-group-ids")
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
    reserved = UNRESERVED if f.cleared("reserved-concurrency") else f.integer("reserved-concurrency", 0, 1_000_000)
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
        "layers": () if f.cleared("layers") else f.items("layers", AWS_LAYER, "a layer version ARN"),
        "subnet_ids": subnet_ids,
        "security_group_ids": groups,
        "image_uri": image_uri,
        **image_config,
        "dead_letter_arn": "" if f.cleared("dead-letter-arn") else f.text("dead-letter-arn", AWS_QUEUE_OR_TOPIC, "an SQS queue or SNS topic ARN"),
        "kms_key_arn": "" if f.cleared("kms-key-arn") else f.text("kms-key-arn", AWS_KMS_KEY, "a KMS key ARN"),
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


def _aws_lines(f: Fields, name: str) -> tuple[str, ...] | None:
    """A command-style list: a YAML list, a JSON/YAML flow list `["a", "b"]`, or one item per line
    (no comma splitting: arguments may hold commas). `none` gives the empty list."""
    value = f.raw.get(name)
    if value is None or value == "":
        return None
    if f.cleared(name):
        return ()
    if isinstance(value, str) and value.strip().startswith("["):
        from .. import yamlsafe  # here, not at the top: most runs never import PyYAML

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


def _aws_file_systems(f: Fields) -> tuple[tuple[str, str], ...] | None:
    if f.cleared("file-system-configs"):
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


def _aws_cors(f: Fields) -> dict[str, Any] | None:
    """`function-url-cors`: a mapping in Lambda's Cors shape (YAML, or a YAML/JSON string); `none`
    gives the empty mapping, which clears it."""
    value = f.raw.get("function-url-cors")
    if value is None or value == "":
        return None
    if f.cleared("function-url-cors"):
        return {}
    if isinstance(value, str):
        from .. import yamlsafe  # here, not at the top: most runs never import PyYAML

        try:
            value = yamlsafe.load(value)
        except yamlsafe.YamlError as exc:  # a duplicate key, a syntax error: say which
            f.problem("function-url-cors", f"is not a valid mapping: {exc}")
            return None
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
