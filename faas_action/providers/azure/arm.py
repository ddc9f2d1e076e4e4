"""Bounded ARM calls through azure-mgmt-web.

Owns: the WebSiteManagementClient (its own real-time retries off, the loopback seam, the token
scope of the ARM endpoint, which Kudu shares); `ArmCalls.call`, the one way an ARM request is
made: timeouts cut to a deadline (wait-timeout from now when none is given), connection failures,
408, 429 and 5xx retried on the run's clock (a write only when it was never sent), errors mapped
by calls.calling; long-running operations polled on the run's clock, each poll retried like a read (`ClockPolling`); and each
operation the provider makes on a site, picking the `…_slot` variant for a slot.
Must not: decide what to read or change (plan.py reads, apply.py alone calls the writes), or
sleep except through the run's clock.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import TYPE_CHECKING, Any, Callable, Mapping, TypeVar

from azure.core.exceptions import HttpResponseError
from azure.mgmt.core.polling.arm_polling import ARMPolling
from azure.mgmt.web import WebSiteManagementClient
from azure.mgmt.web.models import CsmSlotEntity, StringDictionary

from ...models import AzureOptions
from ..base import Clock, Deadline, Log, retrying
from .calls import (
    ARM_TIMEOUT_S,
    CONNECT_TIMEOUT_S,
    DEFAULT_POLL_S,
    MAX_POLL_S,
    TRANSIENT_STATUS,
    USER_AGENT,
    LoopbackHttp,
    calling,
    retryable,
    timeouts,
)

if TYPE_CHECKING:
    from .site import Site

T = TypeVar("T")

# The token audience follows the ARM endpoint for the sovereign clouds; anything else (private
# endpoints, emulators) is served with the public cloud's audience.
ARM_SCOPES = {
    "management.azure.com": "https://management.azure.com/.default",
    "management.usgovcloudapi.net": "https://management.usgovcloudapi.net/.default",
    "management.chinacloudapi.cn": "https://management.chinacloudapi.cn/.default",
}
SERVER_FARM_ID = re.compile(r"/resourceGroups/([^/]+)/providers/Microsoft\.Web/serverfarms/([^/]+)$", re.IGNORECASE)


def arm_scope(arm_endpoint: str) -> str:
    host = (urllib.parse.urlsplit(arm_endpoint).hostname or "").lower()
    return ARM_SCOPES.get(host, ARM_SCOPES["management.azure.com"])


class ClockPolling(ARMPolling):
    """ARM long-running-operation polling that waits on the run's clock and deadline."""

    def __init__(self, deadline: Deadline, log: Log, what: str, endpoint: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._deadline = deadline
        self._log = log
        self._what = what
        self._endpoint = endpoint

    def request_status(self, status_link: str) -> Any:
        """One poll of the operation, retried like any ARM read (no answer, 5xx, 429) on the run's
        clock: a poll that fails says nothing about the operation, which runs on."""

        def attempt() -> Any:
            response = ARMPolling.request_status(self, status_link)
            if response.http_response.status_code in TRANSIENT_STATUS:
                raise HttpResponseError(response=response.http_response)
            return response

        return retrying(self._deadline, self._log, self._what, attempt, lambda exc: retryable(exc, self._endpoint))

    def _sleep(self, delay: float) -> None:
        status = self.status()
        self._log.info(f"{self._what}: {status}")
        self._deadline.sleep(min(max(delay, 0.0), MAX_POLL_S), detail=f"the operation is still {status}")


class ArmCalls:
    """ARM for one Function App's resource group, on the run's clock."""

    def __init__(self, options: AzureOptions, credential: Any, log: Log, clock: Clock, wait_s: float) -> None:
        self.options = options
        self.resource_group = options.resource_group
        self.endpoint = options.arm_endpoint
        self.credential = credential
        self.scope = arm_scope(options.arm_endpoint)
        self.log = log
        self.clock = clock
        self.wait_s = wait_s
        self.web = WebSiteManagementClient(
            credential,
            options.subscription_id,
            base_url=options.arm_endpoint,
            credential_scopes=[self.scope],
            per_retry_policies=[LoopbackHttp()],
            user_agent=USER_AGENT,
            retry_total=0,  # call() retries, on the run's clock
            connection_timeout=CONNECT_TIMEOUT_S,
            read_timeout=ARM_TIMEOUT_S,
            polling_interval=DEFAULT_POLL_S,
        )
        self.apps = self.web.web_apps

    def call(self, what: str, call: Callable[..., T], *, deadline: Deadline | None = None, write: bool = False) -> T:
        """One ARM operation. `call(**timeouts)` makes it with the timeouts cut to the deadline
        (wait-timeout from now when none is given). Connection failures, 408, 429 and 5xx are
        retried on the run's clock; for a `write` only a request that was never sent is."""
        deadline = deadline or Deadline(self.clock, self.wait_s, what)
        endpoint = self.endpoint

        def attempt() -> T:
            return call(**timeouts(deadline, ARM_TIMEOUT_S))

        with calling(what, endpoint):
            return retrying(deadline, self.log, what, attempt, lambda exc: retryable(exc, endpoint, write))

    def _on(
        self, app: str, slot: str | None, on_app: Callable[..., T], on_slot: Callable[..., T], *args: Any, **t: Any
    ) -> T:
        """The operation on the app itself, or its `_slot` variant on a slot."""
        if slot:
            return on_slot(self.resource_group, app, slot, *args, **t)
        return on_app(self.resource_group, app, *args, **t)

    # -- reads ---------------------------------------------------------------------------------
    def site(self, app: str, slot: str | None, what: str) -> Any:
        return self.call(f"reading {what}", lambda **t: self._on(app, slot, self.apps.get, self.apps.get_slot, **t))

    def plan_sku(self, server_farm_id: str | None) -> str:
        """The App Service plan's SKU tier, for sites whose GET does not carry `sku`."""
        match = SERVER_FARM_ID.search(server_farm_id or "")
        if not match:
            return ""
        plan = self.call(
            f"reading App Service plan {match[2]}", lambda **t: self.web.app_service_plans.get(match[1], match[2], **t)
        )
        return (plan.sku.tier or plan.sku.name or "") if plan.sku else ""

    def app_settings(self, site: Site) -> dict[str, str]:
        result = self.call(
            f"reading the app settings of {site.label}",
            lambda **t: self._on(
                site.app, site.slot, self.apps.list_application_settings, self.apps.list_application_settings_slot, **t
            ),
        )
        return dict(result.properties or {})

    def deployments(self, site: Site) -> list[Any]:
        return self.call(
            f"listing the deployments of {site.label}",
            lambda **t: list(
                self._on(site.app, site.slot, self.apps.list_deployments, self.apps.list_deployments_slot, **t)
            ),
        )

    def functions(self, site: Site, deadline: Deadline | None = None) -> list[Any]:
        return self.call(
            f"listing the functions of {site.label}",
            lambda **t: list(
                self._on(site.app, site.slot, self.apps.list_functions, self.apps.list_instance_functions_slot, **t)
            ),
            deadline=deadline,
        )

    # -- writes (apply only) -------------------------------------------------------------------
    def put_app_settings(self, site: Site, settings: Mapping[str, str]) -> None:
        """Replace the whole set (the PUT has no merge)."""
        body = StringDictionary(properties=dict(settings))
        # A PUT of the whole set: sending it twice leaves the same settings, so it is retried.
        self.call(
            f"updating the app settings of {site.label}",
            lambda **t: self._on(
                site.app,
                site.slot,
                self.apps.update_application_settings,
                self.apps.update_application_settings_slot,
                body,
                **t,
            ),
        )

    def sync_triggers(self, site: Site, deadline: Deadline) -> None:
        """POST syncfunctiontriggers once (with call()'s retries); the service answers 200 where
        the SDK expects 204: that is success."""

        def sync(**t: Any) -> None:
            apps = self.apps
            try:
                self._on(site.app, site.slot, apps.sync_function_triggers, apps.sync_function_triggers_slot, **t)
            except HttpResponseError as exc:
                if exc.status_code != 200:
                    raise

        self.call(f"syncing the triggers of {site.label}", sync, deadline=deadline)

    def swap_with_production(self, app: str, slot: str, deadline: Deadline) -> None:
        """Swap `slot` into production and poll the operation to its end on the run's clock."""
        polling = ClockPolling(
            deadline,
            self.log,
            f"swap {slot} -> production",
            self.endpoint,
            timeout=DEFAULT_POLL_S,
            path_format_arguments={"endpoint": self.endpoint},
            **timeouts(deadline, ARM_TIMEOUT_S),
        )
        what = f"swapping slot {slot} of {app} into production"
        # Not idempotent (a second swap swaps back): retried only when the request was never sent.
        poller = self.call(
            what,
            lambda **t: self.apps.begin_swap_slot_with_production(
                self.resource_group,
                app,
                CsmSlotEntity(target_slot=slot, preserve_vnet=True),
                polling=polling,
                **t,
            ),
            deadline=deadline,
            write=True,
        )
        with calling(what, self.endpoint):
            poller.result()
