"""The deploy method: flex, zipdeploy or run-from-package, by hosting plan.

Owns: which method a site takes for the `deploy-method` input (`choose_method`: auto picks
/api/publish on Flex Consumption, run-from-package on Linux Consumption without a remote build,
zip deploy elsewhere; Flex has no slots), and refusing, before anything is uploaded, a deploy the
platform would reject or run broken (`refuse_unworkable`: no AzureWebJobsStorage, a package URL
in the way, run-from-package without a storage key).
Must not: call Azure; pure rules on what plan() read.
"""

from __future__ import annotations

from typing import Mapping

from ...errors import ProviderError
from .run_from_package import is_package_url, storage_connection
from .site import HOSTING_LABELS, Site


def choose_method(requested: str, site: Site, remote_build: bool = False) -> str:
    """The deploy method for `requested` (auto picks by plan); refuses what cannot work there.
    A remote build needs Kudu: on Linux Consumption, auto then picks zipdeploy (as the Azure CLI)."""
    if site.hosting == "flex":
        if site.slot:
            raise ProviderError(f"{site.label}: Flex Consumption apps have no deployment slots", hint="remove `slot`")
        if requested not in ("auto", "flex"):
            raise ProviderError(
                f"{site.label} runs on Flex Consumption, which deploys only with /api/publish",
                hint="use deploy-method flex (or auto)",
            )
        return "flex"
    if requested == "flex":
        raise ProviderError(
            f"deploy-method flex needs a Flex Consumption app; {site.label} runs on {HOSTING_LABELS[site.hosting]} (SKU {site.sku or 'unknown'})",
            hint="use deploy-method auto, zipdeploy or run-from-package",
        )
    if requested != "auto":
        return requested
    if not site.sku:
        raise ProviderError(f"cannot tell the hosting plan of {site.label}", hint="set deploy-method explicitly")
    if site.hosting == "consumption" and site.linux and not remote_build:
        return "run-from-package"
    return "zipdeploy"


def refuse_unworkable(site: Site, method: str, settings: Mapping[str, str]) -> None:
    """Refuse, before uploading, a deploy the platform would reject or run broken."""
    if not any(k == "AzureWebJobsStorage" or k.startswith("AzureWebJobsStorage__") for k in settings):
        raise ProviderError(
            f"{site.label} has no AzureWebJobsStorage app setting: the Functions host cannot run without it",
            hint="set AzureWebJobsStorage (a connection string, or AzureWebJobsStorage__accountName for a managed identity)",
        )
    package_setting = settings.get("WEBSITE_RUN_FROM_PACKAGE", "")
    if method == "flex" and "WEBSITE_RUN_FROM_PACKAGE" in settings:
        raise ProviderError(
            f"{site.label} runs on Flex Consumption but has a WEBSITE_RUN_FROM_PACKAGE app setting, which Flex does not support",
            hint="delete the WEBSITE_RUN_FROM_PACKAGE app setting",
        )
    if method == "zipdeploy" and is_package_url(package_setting):
        raise ProviderError(
            f"{site.label} runs from a package URL (WEBSITE_RUN_FROM_PACKAGE): a zip deploy would be refused",
            hint="use deploy-method run-from-package, or delete the WEBSITE_RUN_FROM_PACKAGE app setting",
        )
    if method == "run-from-package":
        storage_connection(settings, site.label)
