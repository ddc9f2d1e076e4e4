"""App settings: what the deploy leaves in place, and how the plan shows the difference.

Owns: the settings after the deploy (`desired_settings`: `environment-mode` merge or replace,
the platform's settings always kept by replace), the settings a remote build needs
(`remote_build_settings`, as the Azure CLI sets them), and the plan's changes
(`settings_diff`, which never shows a value).
Must not: call Azure (ARM's read and PUT are arm.py's; the PUT replaces the whole set, so apply
writes what these rules built from the set plan() read), or print a setting's value.
"""

from __future__ import annotations

import re
from typing import Mapping

from ...models import Change

# Kept by `environment-mode: replace`: settings the platform or the Functions host relies on.
PLATFORM_SETTING = re.compile(
    r"(AzureWebJobsStorage|AzureWebJobsSecretStorage|AzureWebJobsDashboard|AzureFunctionsJobHost__)"
    r"|(WEBSITE_|WEBSITES_|FUNCTIONS_|SCM_|APPINSIGHTS_|APPLICATIONINSIGHTS_|DOCKER_|MACHINEKEY_"
    r"|DEPLOYMENT_STORAGE_|DIAGNOSTICS_|ENABLE_ORYX_BUILD)",
    re.IGNORECASE,
)


def desired_settings(current: Mapping[str, str], environment: Mapping[str, str] | None, mode: str) -> dict[str, str]:
    """The app settings after the deploy. `merge` overlays `environment`; `replace` drops every
    setting not in it except the platform's (AzureWebJobsStorage*, WEBSITE_*, FUNCTIONS_*, …)."""
    if environment is None:
        return dict(current)
    if mode == "replace":
        kept = {k: v for k, v in current.items() if PLATFORM_SETTING.match(k)}
        return {**kept, **environment}
    return {**current, **environment}


def remote_build_settings(settings: Mapping[str, str]) -> dict[str, str]:
    """The app settings a zip deploy with a remote build needs (as the Azure CLI sets them): Kudu
    runs Oryx (SCM_DO_BUILD_DURING_DEPLOYMENT), and no package URL or Oryx opt-out stands in the way."""
    kept = {k: v for k, v in settings.items() if k not in ("WEBSITE_RUN_FROM_PACKAGE", "ENABLE_ORYX_BUILD")}
    return {**kept, "SCM_DO_BUILD_DURING_DEPLOYMENT": "true"}


def settings_diff(old: Mapping[str, str], new: Mapping[str, str]) -> list[Change]:
    """One Change per app setting added, changed or removed; values are never shown."""
    changes = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before != after:
            changes.append(
                Change(
                    f"app setting {key}",
                    None if before is None else "(set)",
                    None if after is None else ("(new value)" if before is not None else "(set)"),
                )
            )
    return changes


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")
