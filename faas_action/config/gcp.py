"""Google Cloud Functions' input rules: names, regions, memory, labels, secrets, triggers.

Owns: `gcp(fields, environ) -> GcpOptions` and its patterns.
Must not: call Google Cloud or import its libraries.
"""

from __future__ import annotations

import re
from typing import Mapping

from ..models import GcpOptions, frozen_map
from .fields import Fields

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



def gcp(f: Fields, environ: Mapping[str, str]) -> GcpOptions:
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
