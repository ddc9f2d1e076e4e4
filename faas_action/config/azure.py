"""Azure Functions' input rules: the Function App, its resource group and subscription, slots,
the deploy method and where ARM and Kudu are reached.

Owns: `azure(fields, environ) -> AzureOptions` and its patterns.
Must not: call Azure or import its SDKs.
"""

from __future__ import annotations

import re
from typing import Mapping

from ..models import AzureOptions
from .fields import Fields

AZURE_SITE = r"[A-Za-z0-9][A-Za-z0-9-]{0,58}[A-Za-z0-9]?"
AZURE_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
AZURE_RG = r"[-\w._()]{1,90}"
AZURE_SLOT = r"[A-Za-z0-9][A-Za-z0-9-]{0,58}"

def azure(f: Fields, environ: Mapping[str, str]) -> AzureOptions:
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
