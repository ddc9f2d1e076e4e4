"""Cloud Functions' limits and the combinations it refuses, checked on the spec and the Artifact
before any call.

Owns: `check()`: the source size limits, the labels this action reserves and their count, a
variable given both plain and secret, and which event triggers are supported.
Must not: call anything (no credentials are needed to run it).
"""

from __future__ import annotations

from ...errors import Problem
from ...models import Artifact, FunctionSpec, GcpOptions
from .settings import OWN_LABELS

MAX_LABELS = 64
SOURCE_LIMIT = 100 * 1024 * 1024  # "100MB (compressed) for sources"
UNZIPPED_LIMIT = 500 * 1024 * 1024  # "500MB (uncompressed) for sources plus modules"
PUBSUB_EVENTS, STORAGE_EVENTS = "google.cloud.pubsub.", "google.cloud.storage."


def options_of(spec: FunctionSpec) -> GcpOptions:
    assert isinstance(spec.options, GcpOptions), "the gcp provider got another provider's spec"
    return spec.options


def check(spec: FunctionSpec, artifact: Artifact) -> list[Problem]:
    """Limits and combinations that need no call: sizes, reserved labels, trigger kinds."""
    options = options_of(spec)
    where = "package" if spec.package else "source"
    problems = []
    if artifact.size > SOURCE_LIMIT:
        problems.append(Problem(where, (
            f"the package is {artifact.size} bytes, over Cloud Functions' 100 MB limit for uploaded "
            "sources: exclude files with .gcloudignore (dependencies are installed by the build)"
        )))
    if artifact.unzipped_size > UNZIPPED_LIMIT:
        problems.append(Problem(where, (
            f"the package unzips to {artifact.unzipped_size} bytes, over Cloud Functions' 500 MB limit"
        )))
    labels = options.labels or {}
    for key in OWN_LABELS:
        if key in labels:
            problems.append(Problem("labels", f"{key!r} is set by faas-action (code hash and commit); use another key"))
    if len(set(labels) | set(OWN_LABELS)) > MAX_LABELS:
        problems.append(Problem("labels", f"at most {MAX_LABELS - len(OWN_LABELS)} labels (faas-action adds {len(OWN_LABELS)})"))
    for key in sorted(set(spec.environment or {}) & set(options.secrets or {})):
        problems.append(Problem("secrets", f"{key} is also in `environment`: a variable is plain or secret, not both"))
    if options.event_trigger_type:
        kind, resource = options.event_trigger_type, options.event_trigger_resource or ""
        if kind.startswith(PUBSUB_EVENTS) and "/topics/" not in resource:
            problems.append(Problem("event-trigger-resource", f"{kind} needs a topic: projects/P/topics/T"))
        elif kind.startswith(STORAGE_EVENTS) and "/buckets/" not in resource:
            problems.append(Problem("event-trigger-resource", f"{kind} needs a bucket: projects/_/buckets/B"))
        elif not kind.startswith((PUBSUB_EVENTS, STORAGE_EVENTS)):
            problems.append(Problem("event-trigger-type", (
                f"{kind!r} is not supported: use a Pub/Sub event (google.cloud.pubsub.topic.v1.messagePublished) "
                "or a Cloud Storage event (google.cloud.storage.object.v1.finalized, ...)"
            )))
    return problems
