"""One site (the Function App or one of its slots) as plan() reads it.

Owns: `Site`, the frozen facts the rest of the package works from (hosting plan, OS, state, the
app's host and its Kudu host); reading it through ARM (`read_site`: not found or not a Function
App is an error with a way out); the hosting plan from the SKU (`hosting_of`); the Kudu base URL
(`scm_base`); and the app URL (`Site.url`: https + the default host name, never a name built from
the app's, which regional unique names break).
Must not: change anything, or choose the deploy method (method.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from ...errors import ProviderError
from .arm import ArmCalls

HOSTING_LABELS = {
    "flex": "Flex Consumption",
    "consumption": "Consumption",
    "premium": "Elastic Premium",
    "dedicated": "Dedicated (App Service plan)",
}


@dataclass(frozen=True)
class Site:
    """What plan() read about one site: the Function App or one of its slots."""

    id: str
    app: str
    slot: str | None
    kind: str
    sku: str
    hosting: str  # flex | consumption | premium | dedicated
    linux: bool
    state: str
    host: str
    scm: str  # Kudu base URL ('' when unknown)

    @property
    def label(self) -> str:
        return f"{self.app}/{self.slot}" if self.slot else self.app

    @property
    def url(self) -> str:
        return f"https://{self.host}" if self.host else ""


def read_site(arm: ArmCalls, app: str, slot: str | None) -> Site:
    options = arm.options
    what = f"slot {slot} of Function App {app}" if slot else f"Function App {app}"
    try:
        site = arm.site(app, slot, what)
    except ProviderError as exc:
        if isinstance(exc.__cause__, ResourceNotFoundError):
            hint = (
                f"create the slot first (az functionapp deployment slot create --name {app} --slot {slot})"
                if slot
                else "the action deploys code to an existing app: create it first (az functionapp create, Bicep, Terraform) "
                "and check function-name, resource-group and subscription-id"
            )
            raise ProviderError(
                f"{what} not found in resource group {options.resource_group} "
                f"(subscription {options.subscription_id})",
                hint=hint,
            ) from exc
        raise
    kind = site.kind or ""
    if "functionapp" not in kind.lower():
        raise ProviderError(f"{what} is not a Function App (kind {kind or 'unknown'!r})", hint="check function-name")
    sku = site.sku or arm.plan_sku(site.server_farm_id)
    return Site(
        id=site.id or "",
        app=app,
        slot=slot,
        kind=kind,
        sku=sku,
        hosting=hosting_of(sku),
        linux="linux" in kind.lower(),
        state=site.state or "",
        host=site.default_host_name or "",
        scm=options.scm_endpoint or scm_base(site.host_name_ssl_states, site.default_host_name),
    )


def hosting_of(sku: str) -> str:
    """flex | consumption | premium | dedicated, from the site's (or plan's) SKU."""
    value = (sku or "").replace(" ", "").lower()
    if value == "flexconsumption":
        return "flex"
    if value == "dynamic":
        return "consumption"
    if value == "elasticpremium":
        return "premium"
    return "dedicated"


def scm_base(ssl_states: list[Any] | None, default_host: str | None) -> str:
    """The Kudu base URL: the site's Repository host name, else derived from its default host."""
    for state in ssl_states or []:
        if str(getattr(state, "host_type", "") or "").lower() == "repository" and getattr(state, "name", None):
            return f"https://{state.name}"
    if default_host and "." in default_host:
        label, _, rest = default_host.partition(".")
        return f"https://{label}.scm.{rest}"
    return ""
