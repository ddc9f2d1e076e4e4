"""Frozen data passed between the action's stages.

Owns: the typed specs parsed from inputs, the package artifact, the plan and the result.
Must not: do I/O, validate user input (config/ does) or import any provider SDK.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Union


def frozen_map(values: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """A read-only copy of a mapping (None stays None: 'the user did not set it')."""
    return None if values is None else MappingProxyType(dict(values))


@dataclass(frozen=True)
class GitHubContext:
    """What the run tells about itself, for descriptions, labels and messages."""

    sha: str = ""
    ref: str = ""
    repository: str = ""
    run_id: str = ""
    server_url: str = "https://github.com"

    @property
    def run_url(self) -> str:
        if not (self.repository and self.run_id):
            return ""
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"


@dataclass(frozen=True)
class AwsOptions:
    """Lambda settings. None means 'not given': never sent, never compared. For the settings an
    input can clear with `none`, '' or () (UNRESERVED for reserved concurrency) means 'remove it'."""

    region: str
    role: str | None = None
    runtime: str | None = None
    handler: str | None = None
    memory_mb: int | None = None
    timeout_s: int | None = None
    description: str | None = None
    architectures: tuple[str, ...] | None = None
    layers: tuple[str, ...] | None = None
    subnet_ids: tuple[str, ...] | None = None
    security_group_ids: tuple[str, ...] | None = None
    tracing: str | None = None
    tags: Mapping[str, str] | None = None
    s3_bucket: str | None = None
    publish: bool = True
    alias: str | None = None
    # Container-image functions (PackageType Image): the ECR image instead of a zip.
    image_uri: str | None = None
    image_command: tuple[str, ...] | None = None
    image_entrypoint: tuple[str, ...] | None = None
    image_working_directory: str | None = None
    # Settings a `none` input clears: '' or () then means "remove it".
    dead_letter_arn: str | None = None
    kms_key_arn: str | None = None
    file_system_configs: tuple[tuple[str, str], ...] | None = None  # (access point ARN, mount path)
    ephemeral_storage_mb: int | None = None
    log_format: str | None = None
    log_group: str | None = None
    snap_start: str | None = None
    # Function URL: 'iam' or 'public'; Cors in Lambda's shape (an empty mapping clears it).
    function_url: str | None = None
    function_url_cors: Mapping[str, Any] | None = None
    reserved_concurrency: int | None = None  # UNRESERVED removes the reservation
    provisioned_concurrency: int | None = None  # 0 removes it (on the alias)
    force: bool = False

    @property
    def is_image(self) -> bool:
        return self.image_uri is not None


UNRESERVED = -1  # `reserved-concurrency: none`: remove the function's reservation


@dataclass(frozen=True)
class AzureOptions:
    """Function App settings and where to reach ARM and Kudu."""

    resource_group: str
    subscription_id: str
    slot: str | None = None
    swap: bool = False
    deploy_method: str = "auto"
    client_id: str | None = None
    tenant_id: str | None = None
    access_token: str | None = field(default=None, repr=False)
    arm_endpoint: str = "https://management.azure.com"
    scm_endpoint: str | None = None
    remote_build: bool = False


@dataclass(frozen=True)
class GcpOptions:
    """Cloud Functions gen2 settings. None means 'not given': left out of the update mask.

    `project` is the input only: the provider falls back to the credentials' project, then to
    GCLOUD_PROJECT / GOOGLE_CLOUD_PROJECT, in that order.
    """

    project: str | None
    region: str
    description: str | None = None
    runtime: str | None = None
    entry_point: str | None = None
    service_account: str | None = None
    memory: str | None = None
    timeout_s: int | None = None
    min_instances: int | None = None
    max_instances: int | None = None
    ingress: str | None = None
    vpc_connector: str | None = None
    labels: Mapping[str, str] | None = None
    secrets: Mapping[str, str] | None = None
    build_environment: Mapping[str, str] | None = None
    trigger_http: bool | None = None
    event_trigger_type: str | None = None
    event_trigger_resource: str | None = None
    event_trigger_retry: bool | None = None
    allow_unauthenticated: bool | None = None
    kms_key: str | None = None
    access_token: str | None = field(default=None, repr=False)
    endpoint: str | None = None


ProviderOptions = Union[AwsOptions, AzureOptions, GcpOptions]


@dataclass(frozen=True)
class DependencySpec:
    """Python dependencies to install into the package (`dependencies`), checked by config/.

    `file` is a requirements file or a pyproject.toml with a uv.lock beside it; `python_version`
    ("3.12") and `platform` (uv's `--python-platform`, e.g. "x86_64-manylinux_2_34") say which
    wheels; `cache` is the `dependencies-cache` directory (None: under the runner's temp);
    `prefix` is where in the package they go ("" = the root, beside the source)."""

    file: Path
    python_version: str
    platform: str
    cache: Path | None = None
    prefix: str = ""

    @property
    def locked(self) -> bool:
        return self.file.name == "pyproject.toml"


@dataclass(frozen=True)
class ReleaseSpec:
    """How the new version gets its traffic and what watches it (release.py runs it).

    `smoke_event` holds the payload's bytes (from the input or its `@file`), already checked to be
    JSON; `max_error_rate` is a percentage; `rollback` ('previous' or a version number) means
    rollback mode: nothing is packaged and the alias moves back; `keep_versions` asks for pruning."""

    traffic: str = "all-at-once"
    traffic_percent: int = 10
    traffic_interval_s: int = 60
    smoke_event: bytes | None = field(default=None, repr=False)
    smoke_expect: str | None = None
    alarms: tuple[str, ...] = ()
    max_error_rate: float | None = None
    rollback: str | None = None
    keep_versions: int | None = None

    @property
    def gated(self) -> bool:
        """Gates watch a release; a rollback moves the alias back at once, with no bake to watch."""
        return self.rollback is None and (bool(self.alarms) or self.max_error_rate is not None)


@dataclass(frozen=True)
class FunctionSpec:
    """One function to deploy, fully validated. `source` and `package` are both None when there
    is nothing to package (a container image given by `image-uri`)."""

    provider: str
    name: str
    source: Path | None
    package: Path | None
    options: ProviderOptions
    environment: Mapping[str, str] | None = None
    environment_mode: str = "merge"
    wait_timeout_s: float = 900.0
    github: GitHubContext = GitHubContext()
    dependencies: DependencySpec | None = None
    package_out: Path | None = None  # also write the built zip here (inside the workspace)
    release: ReleaseSpec | None = None  # None: the provider has no release step (today: all but aws)


@dataclass(frozen=True)
class Distribution:
    """One installed Python distribution: its name and version as its metadata says, and the
    bytes its files take in the package (unzipped)."""

    name: str
    version: str
    size: int


@dataclass(frozen=True)
class Artifact:
    """A zip ready to upload. `sha256` is base64 of the SHA-256 of the zip, as Lambda's CodeSha256.


    With `dependencies` installed, `distributions` lists them and `dependencies_size` is their
    part of `unzipped_size` (the rest is the source); `dependencies_python` ("3.12") and
    `dependencies_platform` (uv's form, "x86_64-manylinux_2_34") say for what they were installed.
    `warnings`: what the user should hear about the package (files that likely hold secrets)."""

    path: Path
    size: int
    sha256: str
    sha256_hex: str
    unzipped_size: int
    file_count: int
    distributions: tuple[Distribution, ...] = ()
    dependencies_size: int = 0
    dependencies_python: str = ""
    dependencies_platform: str = ""
    copied_to: str = ""  # where `package-out` wrote a copy, relative to the workspace
    warnings: tuple[str, ...] = ()

    @property
    def source_size(self) -> int:
        return self.unzipped_size - self.dependencies_size

    def largest_distributions(self, count: int = 5) -> tuple[Distribution, ...]:
        return tuple(sorted(self.distributions, key=lambda d: (-d.size, d.name))[:count])


@dataclass(frozen=True)
class Change:
    """One field that the deploy will change: old → new (old None when absent)."""

    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Plan:
    """What apply() would do, read-only data.

    `action` is 'create', 'update' or 'none'. `state` is provider-private data read at plan
    time (guards such as RevisionId and CodeSha256) that apply() relies on.
    """

    provider: str
    function: str
    action: str
    changes: tuple[Change, ...]
    code_sha256_old: str | None
    code_sha256_new: str
    steps: tuple[str, ...] = ()
    publish: bool = False
    alias: str | None = None
    state: Any = field(default=None, compare=False, repr=False)

    @property
    def changed(self) -> bool:
        return self.action != "none"

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "function": self.function,
            "action": self.action,
            "changes": [
                {"field": c.field, "old": plain(c.old), "new": plain(c.new)} for c in self.changes
            ],
            "code-sha256": {"old": self.code_sha256_old, "new": self.code_sha256_new},
            "publish": self.publish,
            "alias": self.alias,
            "steps": list(self.steps),
        }


@dataclass(frozen=True)
class DeployResult:
    """What the deploy produced. `outputs` holds the provider's extra step outputs (they win
    over the artifact's `code-sha256` and `package-size`); `summary` is extra Markdown for the
    step summary (a release timeline, say)."""

    function_id: str
    changed: bool
    version: str = ""
    url: str = ""
    outputs: Mapping[str, str] = field(default_factory=dict)
    summary: str = ""


STATUSES = ("deployed", "unchanged", "failed", "skipped", "planned")


@dataclass(frozen=True)
class Outcome:
    """What happened to one function of the run, whatever happened.

    `status`: deployed, unchanged, failed, skipped (not started: fail-fast or a cancellation),
    or planned (a dry run). `plan`, `result` and `artifact` are None when that stage was not
    reached (or, for `artifact`, when there was nothing to package)."""

    spec: FunctionSpec
    status: str
    plan: Plan | None = None
    result: DeployResult | None = None
    artifact: Artifact | None = None
    error: str = ""
    duration_s: float = 0.0

    @property
    def changed(self) -> bool:
        if self.result is not None:
            return self.result.changed
        return self.status == "planned" and self.plan is not None and self.plan.changed


def plain(value: Any) -> Any:
    """JSON-friendly copy of a plan value (mappings and tuples become dicts and lists)."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return plain(asdict(value))
    return value
