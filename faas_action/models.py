"""Frozen data passed between the action's stages.

Owns: the typed specs parsed from inputs, the package artifact, the plan and the result.
Must not: do I/O, validate user input (config.py does) or import any provider SDK.
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
    """Lambda settings. None means 'not given': never sent, never compared."""

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
class FunctionSpec:
    """One function to deploy, fully validated."""

    provider: str
    name: str
    source: Path | None
    package: Path | None
    options: ProviderOptions
    environment: Mapping[str, str] | None = None
    environment_mode: str = "merge"
    wait_timeout_s: float = 900.0
    github: GitHubContext = GitHubContext()


@dataclass(frozen=True)
class Artifact:
    """A zip ready to upload. `sha256` is base64 of the SHA-256 of the zip, as Lambda's CodeSha256.
    `warnings`: what the user should hear about the package (files that likely hold secrets)."""

    path: Path
    size: int
    sha256: str
    sha256_hex: str
    unzipped_size: int
    file_count: int
    warnings: tuple[str, ...] = ()


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
    """What the deploy produced. `outputs` holds the provider's extra step outputs."""

    function_id: str
    changed: bool
    version: str = ""
    url: str = ""
    outputs: Mapping[str, str] = field(default_factory=dict)


def plain(value: Any) -> Any:
    """JSON-friendly copy of a plan value (mappings and tuples become dicts and lists)."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return plain(asdict(value))
    return value
