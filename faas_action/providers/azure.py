"""Azure Functions provider: deploys a zip to an existing Function App through ARM and Kudu.

Owns: the choice of Azure credentials (azure-access-token, GitHub OIDC through a federated
credential, a client secret, a federated token file, DefaultAzureCredential), the read-only plan
(site, hosting plan, app settings, what code runs now), and the one apply path per hosting plan:
Flex Consumption `POST /api/publish`, `POST /api/zipdeploy?isAsync=true` elsewhere, or on Linux
Consumption a content-addressed blob in the app's storage account set as WEBSITE_RUN_FROM_PACKAGE.
It then waits for the functions to be indexed and, with `swap`, swaps the slot into production.
Every ARM call goes through azure-mgmt-web and every Kudu call through an azure-core pipeline,
both with the same management-scope bearer token; basic publishing credentials are never used.

No-op detection: the Kudu deployment message carries the package's hex SHA-256 (with GITHUB_SHA,
GITHUB_REF and the run URL); on the run-from-package path the blob name is `<app>/<hex>.zip`.
When the active deployment (or the WEBSITE_RUN_FROM_PACKAGE URL) already names this package and
the app settings need no change, the plan is 'none'. A deploy made by another tool leaves another
message, so it is never mistaken for ours.

Loopback seam: azure-core refuses bearer tokens over plain http. `_LoopbackHttp` lowers that check
per request, and only when the request's own host is 127.0.0.1, localhost or ::1 (the test
servers); any other http endpoint is refused by check() before a token is ever requested.

Failures the network causes: the SDKs' own retry policies are off (azure-core's sleep in real
time, without our deadline); every ARM, Kudu and blob request has its timeouts cut to what its
deadline leaves, and goes through base.retrying: connection failures, 408, 429 and 5xx are
retried on ctx.clock within `wait-timeout` (a write only when it was never sent), a refused
connection is given up on after base.REFUSED_FOR_S.

Must not: read os.environ (ctx.environ only; DefaultAzureCredential alone reads the process
environment, as it must), print workflow commands (ctx.log only), sleep or wait outside ctx.clock
(every wait has a Deadline of `wait-timeout`), create Function Apps or slots, write anything in
plan(), or print keys, SAS tokens or app setting values.
"""

from __future__ import annotations

import base64
import json
import os
import re
import urllib.parse
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator, Mapping, TypeVar

from azure.core import PipelineClient
from azure.core.credentials import AccessToken
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.policies import (
    BearerTokenCredentialPolicy,
    ProxyPolicy,
    SansIOHTTPPolicy,
    UserAgentPolicy,
)
from azure.core.rest import HttpRequest, HttpResponse
from azure.mgmt.core.polling.arm_polling import ARMPolling
from azure.mgmt.web import WebSiteManagementClient
from azure.mgmt.web.models import CsmSlotEntity, StringDictionary

from ..errors import ActionError, CredentialsError, DeadlineError, Problem, ProviderError
from ..models import Artifact, AzureOptions, Change, DeployResult, FunctionSpec, Plan, frozen_map
from .base import CONTAINER_NOTE, Clock, Deadline, Log, Retryable, RunContext, backoff_delays, refused, retrying

T = TypeVar("T")

IGNORE_FILE = ".funcignore"
# What `func init` writes into a new .funcignore: used when the project has none.
DEFAULT_IGNORES: tuple[str, ...] = (
    ".git*",
    ".vscode",
    "__azurite_db*__.json",
    "__blobstorage__",
    "__queuestorage__",
    "local.settings.json",
    "test",
    ".venv",
)

OIDC_AUDIENCE = "api://AzureADTokenExchange"
PUBLIC_ARM = "https://management.azure.com"
# The token audience follows the ARM endpoint for the sovereign clouds; anything else (private
# endpoints, emulators) is served with the public cloud's audience.
ARM_SCOPES = {
    "management.azure.com": "https://management.azure.com/.default",
    "management.usgovcloudapi.net": "https://management.usgovcloudapi.net/.default",
    "management.chinacloudapi.cn": "https://management.chinacloudapi.cn/.default",
}
USER_AGENT = "faas-action"
DEPLOYER = "faas-action"
RELEASES_CONTAINER = "function-releases"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

KUDU_STATUS = {
    -1: "Cancelled",
    0: "Pending",
    1: "Building",
    2: "Deploying",
    3: "Failed",
    4: "Success",
    5: "Conflict",
    6: "PartialSuccess",
}
KUDU_SUCCESS = 4
KUDU_FAILURES = {
    3: "the build or deployment failed: see the deployment log above",
    5: "another deployment conflicted with this one: run the workflow again",
    -1: "the deployment was cancelled",
    6: "only part of the deployment succeeded (often the trigger sync): see the deployment log above",
}
DEFAULT_POLL_S = 3.0
MAX_POLL_S = 30.0
FUNCTIONS_WAIT_CAP_S = 180.0
SYNC_ATTEMPTS = 5
REQUEST_TIMEOUT_S = 300.0  # one Kudu or blob request (a package upload)
ARM_TIMEOUT_S = 120.0  # one ARM request
CONNECT_TIMEOUT_S = 30.0
DEFAULT_WAIT_S = 900.0  # wait-timeout's default: the bound of a call made without a deadline
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
NETWORK_HINT = "check the runner's network and proxy settings (HTTPS_PROXY, NO_PROXY) and any FAAS_AZURE_*_ENDPOINT"

HOSTING_LABELS = {
    "flex": "Flex Consumption",
    "consumption": "Consumption",
    "premium": "Elastic Premium",
    "dedicated": "Dedicated (App Service plan)",
}
# Kept by `environment-mode: replace`: settings the platform or the Functions host relies on.
PLATFORM_SETTING = re.compile(
    r"(AzureWebJobsStorage|AzureWebJobsSecretStorage|AzureWebJobsDashboard|AzureFunctionsJobHost__)"
    r"|(WEBSITE_|WEBSITES_|FUNCTIONS_|SCM_|APPINSIGHTS_|APPLICATIONINSIGHTS_|DOCKER_|MACHINEKEY_"
    r"|DEPLOYMENT_STORAGE_|DIAGNOSTICS_|ENABLE_ORYX_BUILD)",
    re.IGNORECASE,
)
PACKAGE_BLOB = re.compile(rf"/{RELEASES_CONTAINER}/(?P<blob>(?:[^/?]+/)*(?P<hex>[0-9a-f]{{64}})\.zip)$")
AUTH_HINT = (
    "use OIDC: add a federated credential for this repository to the app registration, give the job "
    "`permissions: id-token: write` and set client-id and tenant-id; or pass azure-access-token"
)
ROLE_HINT = "the identity needs the Website Contributor role on the Function App (or its resource group)"
ZERO_FUNCTIONS_HINT = (
    "likely causes: host.json or the function code is not at the package root; dependencies are missing "
    "(Python: vendor them into .python_packages/lib/site-packages; Node: ship node_modules); "
    "FUNCTIONS_WORKER_RUNTIME does not match the code; the code fails at start-up (see Log stream or "
    "Application Insights); the app is stopped"
)


# -- what plan() hands to apply() ------------------------------------------------------------


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


@dataclass(frozen=True)
class Deployed:
    """The code a site runs, as far as the platform tells: our package hash and its version."""

    sha256_hex: str | None = None
    version: str = ""
    remote_build: bool = False  # deployed with `remote-build: true` (the Kudu message says so)


@dataclass(frozen=True)
class AzureState:
    """Plan.state: everything apply() needs, read at plan time."""

    target: Site
    production: Site | None  # set when the slot is swapped into production
    method: str  # flex | zipdeploy | run-from-package
    settings: Mapping[str, str]  # the target's app settings at plan time: the guard
    new_settings: Mapping[str, str]  # what to PUT (the package URL is added on run-from-package)
    settings_changed: bool
    deploy_code: bool
    current: Deployed  # what the target runs now
    live: Deployed  # what the site behind `url` runs now (production when swapping)
    blob_name: str = ""


# -- the provider interface ------------------------------------------------------------------


def check(spec: FunctionSpec, artifact: Artifact) -> list[Problem]:
    """Input problems only the package reveals, and endpoint rules; no network."""
    options = spec.options
    assert isinstance(options, AzureOptions)
    problems: list[Problem] = []
    where = "package" if spec.package is not None else "source"
    with zipfile.ZipFile(artifact.path) as archive:
        names = archive.namelist()
    if "host.json" not in names:
        nested = sorted((n for n in names if n.endswith("/host.json")), key=len)
        found = f"; found {nested[0]!r}: point `{where}` at that folder" if nested else ""
        problems.append(
            Problem(where, f"no host.json at the root of the package: a Function App needs it there{found}")
        )
    for variable, url in (
        ("FAAS_AZURE_ARM_ENDPOINT", options.arm_endpoint),
        ("FAAS_AZURE_SCM_ENDPOINT", options.scm_endpoint),
    ):
        if url and urllib.parse.urlsplit(url).scheme == "http" and not _is_loopback(url):
            problems.append(
                Problem(
                    "",
                    f"{variable} is {url!r}: bearer tokens are only sent over https (plain http is accepted for 127.0.0.1, localhost and ::1 only)",
                )
            )
    if options.slot and options.deploy_method == "flex":
        problems.append(
            Problem(
                "slot", "Flex Consumption apps have no deployment slots: remove `slot` or use another deploy-method"
            )
        )
    package_setting = (spec.environment or {}).get("WEBSITE_RUN_FROM_PACKAGE")
    if package_setting is not None:
        if package_setting.strip().lower().startswith(("http://", "https://")):
            problems.append(
                Problem(
                    "environment", "WEBSITE_RUN_FROM_PACKAGE must not be a URL: the action deploys the package itself"
                )
            )
        elif options.deploy_method in ("flex", "run-from-package"):
            problems.append(
                Problem(
                    "environment",
                    f"WEBSITE_RUN_FROM_PACKAGE is managed by deploy-method {options.deploy_method}: remove it from `environment`",
                )
            )
    return problems


def check_environment(spec: FunctionSpec, environ: Mapping[str, str]) -> list[Problem]:
    """A federated token file the credential chain would use but this container cannot see
    (workload identity on Kubernetes runners mounts it into the runner's pod). No call."""
    options = spec.options
    assert isinstance(options, AzureOptions)
    token_file = environ.get("AZURE_FEDERATED_TOKEN_FILE")
    if not token_file or os.path.isfile(token_file) or not _uses_token_file(options, environ):
        return []
    return [Problem("", _missing_token_file(token_file))]


def _uses_token_file(options: AzureOptions, environ: Mapping[str, str]) -> bool:
    """Would choose_credential reach AZURE_FEDERATED_TOKEN_FILE (no credential before it applies)?"""
    oidc = bool(environ.get("ACTIONS_ID_TOKEN_REQUEST_URL") and environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"))
    client, tenant = options.client_id, options.tenant_id
    secret = bool(environ.get("AZURE_CLIENT_SECRET") and client and tenant)
    return not (options.access_token or (oidc and (client or tenant)) or secret)


def _missing_token_file(token_file: str) -> str:
    return (
        f"AZURE_FEDERATED_TOKEN_FILE names {token_file}, which this container cannot see: {CONTAINER_NOTE}; "
        "use GitHub OIDC instead (a federated credential for this repository on the app registration, "
        "`permissions: id-token: write`, client-id and tenant-id), or pass azure-access-token"
    )


def connect(spec: FunctionSpec, ctx: RunContext) -> "AzureFunctions":
    """Choose the credential and build the clients; no network."""
    options = spec.options
    assert isinstance(options, AzureOptions)
    how, credential = choose_credential(options, ctx)
    ctx.log.info(f"Azure credentials: {how}")
    return AzureFunctions(options, credential, ctx, wait_s=spec.wait_timeout_s)


class AzureFunctions:
    """One Function App behind ARM (azure-mgmt-web) and Kudu. plan() reads; apply() deploys."""

    def __init__(self, options: AzureOptions, credential: Any, ctx: RunContext, wait_s: float = DEFAULT_WAIT_S) -> None:
        self.options = options
        self.wait_s = wait_s
        self.credential = credential
        self.log: Log = ctx.log
        self.clock: Clock = ctx.clock
        self.github = ctx.github
        self.scope = arm_scope(options.arm_endpoint)
        self.web = WebSiteManagementClient(
            credential,
            options.subscription_id,
            base_url=options.arm_endpoint,
            credential_scopes=[self.scope],
            per_retry_policies=[_LoopbackHttp()],
            user_agent=USER_AGENT,
            retry_total=0,  # _arm retries, on the run's clock
            connection_timeout=CONNECT_TIMEOUT_S,
            read_timeout=ARM_TIMEOUT_S,
            polling_interval=DEFAULT_POLL_S,
        )
        self.apps = self.web.web_apps

    def _arm(self, what: str, call: Callable[..., T], *, deadline: Deadline | None = None, write: bool = False) -> T:
        """One ARM operation. `call(**timeouts)` makes it with the timeouts cut to the deadline
        (wait-timeout from now when none is given). Connection failures, 408, 429 and 5xx are
        retried on the run's clock; for a `write` only a request that was never sent is."""
        deadline = deadline or Deadline(self.clock, self.wait_s, what)
        endpoint = self.options.arm_endpoint

        def attempt() -> T:
            budget = deadline.budget(ARM_TIMEOUT_S)
            return call(connection_timeout=min(CONNECT_TIMEOUT_S, budget), read_timeout=budget)

        with _calling(what, endpoint):
            return retrying(deadline, self.log, what, attempt, lambda exc: _retryable(exc, endpoint, write))

    # -- plan: read-only ---------------------------------------------------------------------
    def plan(self, spec: FunctionSpec, artifact: Artifact) -> Plan:
        options = self.options
        target = self._read_site(spec.name, options.slot)
        method = choose_method(options.deploy_method, target, options.remote_build)
        self.log.info(
            f"Function App {target.label}: {HOSTING_LABELS[target.hosting]} on {'Linux' if target.linux else 'Windows'} "
            f"(SKU {target.sku or 'unknown'}), {target.state or 'state unknown'}; deploy method {method}"
        )
        if method != "run-from-package" and not target.scm:
            raise ProviderError(
                f"cannot tell the Kudu (SCM) host of {target.label}", hint="set FAAS_AZURE_SCM_ENDPOINT"
            )
        settings = self._read_settings(target)
        new_settings = desired_settings(settings, spec.environment, spec.environment_mode)
        if options.remote_build and method == "zipdeploy":
            new_settings = remote_build_settings(new_settings)
        refuse_unworkable(target, method, new_settings)
        if spec.dependencies is not None and method == "zipdeploy" and _truthy(new_settings.get("SCM_DO_BUILD_DURING_DEPLOYMENT")):
            self.log.warning(
                "SCM_DO_BUILD_DURING_DEPLOYMENT is set: Kudu will install requirements.txt again over the dependencies "
                "installed here; delete that app setting, or use remote-build instead of dependencies"
            )
        if (
            method == "run-from-package"
            and target.linux
            and target.hosting == "consumption"
            and _truthy(new_settings.get("SCM_DO_BUILD_DURING_DEPLOYMENT"))
        ):
            self.log.warning(
                "SCM_DO_BUILD_DURING_DEPLOYMENT is set, but run-from-package runs no remote build: the package must hold its dependencies"
            )
        current = self._deployed(target, method, settings)
        deploy_code = current.sha256_hex != artifact.sha256_hex or current.remote_build != options.remote_build
        settings_changed = dict(new_settings) != dict(settings)

        production, live, up_to_date = None, current, not deploy_code and not settings_changed
        if options.swap and target.slot:
            production = self._read_site(spec.name, None)
            production_settings = self._read_settings(production)
            live = self._deployed(production, method, production_settings)
            wanted = desired_settings(production_settings, spec.environment, spec.environment_mode)
            up_to_date = (
                live.sha256_hex == artifact.sha256_hex
                and live.remote_build == options.remote_build
                and dict(wanted) == dict(production_settings)
            )

        blob_name = f"{target.app}/{artifact.sha256_hex}.zip" if method == "run-from-package" else ""
        changes = settings_diff(settings, new_settings)
        if method == "run-from-package" and deploy_code:
            old = (
                _strip_query(settings.get("WEBSITE_RUN_FROM_PACKAGE"))
                if "WEBSITE_RUN_FROM_PACKAGE" in settings
                else None
            )
            changes.append(Change("app setting WEBSITE_RUN_FROM_PACKAGE", old, f"{RELEASES_CONTAINER}/{blob_name}"))
        state = AzureState(
            target=target,
            production=production,
            method=method,
            settings=frozen_map(settings),
            new_settings=frozen_map(new_settings),
            settings_changed=settings_changed,
            deploy_code=deploy_code,
            current=current,
            live=live,
            blob_name=blob_name,
        )
        return Plan(
            provider="azure",
            function=spec.name,
            action="none" if up_to_date else "update",
            changes=() if up_to_date else tuple(changes),
            code_sha256_old=_hex_to_b64(live.sha256_hex),
            code_sha256_new=artifact.sha256,
            steps=() if up_to_date else tuple(self._steps(state, spec)),
            state=state,
        )

    def _steps(self, state: AzureState, spec: FunctionSpec) -> list[str]:
        target, steps = state.target, []
        wait = f"(up to {spec.wait_timeout_s:g} s)"
        if state.method == "run-from-package":
            if state.deploy_code:
                steps.append(
                    f"upload the package to blob {RELEASES_CONTAINER}/{state.blob_name} in the app's storage account"
                )
                steps.append(
                    f"point WEBSITE_RUN_FROM_PACKAGE of {target.label} at it (one app settings update) and sync triggers"
                )
            elif state.settings_changed:
                steps.append(f"update the app settings of {target.label}")
        else:
            if state.settings_changed:
                steps.append(f"update the app settings of {target.label}")
            if state.deploy_code:
                endpoint = "/api/publish" if state.method == "flex" else "/api/zipdeploy?isAsync=true"
                build = " (remote build: Azure installs requirements.txt)" if self.options.remote_build else ""
                steps.append(f"deploy the package with Kudu {endpoint} to {target.label}{build} and wait for it {wait}")
        if state.deploy_code or state.settings_changed:
            steps.append(f"wait for the functions of {target.label} to be indexed")
        if state.production is not None:
            steps.append(
                f"swap slot {target.slot} into production {wait}; the previous production build stays in {target.slot}"
            )
        return steps

    # -- apply: the only mutation --------------------------------------------------------------
    def apply(self, plan: Plan, spec: FunctionSpec, artifact: Artifact) -> DeployResult:
        state: AzureState = plan.state
        target = state.target
        final = state.production or target
        if not plan.changed:
            self.log.info(f"{final.label} already runs this package with these settings: nothing to deploy")
            functions = self._list_functions_once(final)
            return self._result(final, state, changed=False, version=state.live.version, functions=functions)

        self._check_guards(state)
        version = state.current.version
        if state.method == "run-from-package":
            if state.deploy_code:
                package_url = self._upload(state, artifact)
                self._put_settings(target, {**state.new_settings, "WEBSITE_RUN_FROM_PACKAGE": package_url})
                self._sync_triggers(target, spec)
                version = state.blob_name
            elif state.settings_changed:
                self._put_settings(target, dict(state.new_settings))
        else:
            if state.settings_changed:
                self._put_settings(target, dict(state.new_settings))
            if state.deploy_code:
                version = self._kudu_deploy(state, spec, artifact)

        functions: list[Any] = []
        if state.deploy_code or state.settings_changed:
            functions = self._wait_for_functions(target, spec)
        if state.production is not None:
            self._swap(state, spec)
            functions = self._wait_for_functions(state.production, spec)
        return self._result(final, state, changed=True, version=version, functions=functions)

    def _result(self, site: Site, state: AzureState, changed: bool, version: str, functions: list[Any]) -> DeployResult:
        return DeployResult(
            function_id=site.id,
            changed=changed,
            version=version,
            url=invoke_url(functions) or site.url,
            outputs={"app-url": site.url, "slot": state.target.slot or "", "deploy-method": state.method},
        )

    def _check_guards(self, state: AzureState) -> None:
        """Fail, before any write, if the app changed since the plan read it."""
        target = state.target
        if dict(self._read_settings(target)) != dict(state.settings):
            raise ProviderError(
                f"the app settings of {target.label} changed since the plan was made; nothing was deployed",
                hint="run the workflow again",
            )
        if state.method != "run-from-package" and state.deploy_code:
            now = self._deployed(target, state.method, state.settings)
            if now != state.current:
                raise ProviderError(
                    f"{target.label} was deployed to (deployment {now.version or '?'}) since the plan was made; nothing was deployed",
                    hint="run the workflow again",
                )

    # -- ARM reads -----------------------------------------------------------------------------
    def _read_site(self, app: str, slot: str | None) -> Site:
        what = f"slot {slot} of Function App {app}" if slot else f"Function App {app}"
        try:
            site = self._arm(
                f"reading {what}",
                lambda **t: self.apps.get_slot(self.options.resource_group, app, slot, **t)
                if slot
                else self.apps.get(self.options.resource_group, app, **t),
            )
        except ProviderError as exc:
            if isinstance(exc.__cause__, ResourceNotFoundError):
                hint = (
                    f"create the slot first (az functionapp deployment slot create --name {app} --slot {slot})"
                    if slot
                    else "the action deploys code to an existing app: create it first (az functionapp create, Bicep, Terraform) "
                    "and check function-name, resource-group and subscription-id"
                )
                raise ProviderError(
                    f"{what} not found in resource group {self.options.resource_group} "
                    f"(subscription {self.options.subscription_id})",
                    hint=hint,
                ) from exc
            raise
        kind = site.kind or ""
        if "functionapp" not in kind.lower():
            raise ProviderError(
                f"{what} is not a Function App (kind {kind or 'unknown'!r})", hint="check function-name"
            )
        sku = site.sku or self._plan_tier(site.server_farm_id)
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
            scm=self.options.scm_endpoint or scm_base(site.host_name_ssl_states, site.default_host_name),
        )

    def _plan_tier(self, server_farm_id: str | None) -> str:
        """The App Service plan's SKU tier, for sites whose GET does not carry `sku`."""
        match = re.search(
            r"/resourceGroups/([^/]+)/providers/Microsoft\.Web/serverfarms/([^/]+)$",
            server_farm_id or "",
            re.IGNORECASE,
        )
        if not match:
            return ""
        plan = self._arm(
            f"reading App Service plan {match[2]}", lambda **t: self.web.app_service_plans.get(match[1], match[2], **t)
        )
        return (plan.sku.tier or plan.sku.name or "") if plan.sku else ""

    def _read_settings(self, site: Site) -> dict[str, str]:
        result = self._arm(
            f"reading the app settings of {site.label}",
            lambda **t: self.apps.list_application_settings_slot(self.options.resource_group, site.app, site.slot, **t)
            if site.slot
            else self.apps.list_application_settings(self.options.resource_group, site.app, **t),
        )
        return dict(result.properties or {})

    def _deployed(self, site: Site, method: str, settings: Mapping[str, str]) -> Deployed:
        """What code the site runs: the package URL's blob, else the active Kudu deployment."""
        if method == "run-from-package":
            match = PACKAGE_BLOB.search(_strip_query(settings.get("WEBSITE_RUN_FROM_PACKAGE", "")))
            return Deployed(match["hex"], match["blob"]) if match else Deployed()
        try:
            deployments = self._arm(
                f"listing the deployments of {site.label}",
                lambda **t: list(self.apps.list_deployments_slot(self.options.resource_group, site.app, site.slot, **t))
                if site.slot
                else list(self.apps.list_deployments(self.options.resource_group, site.app, **t)),
            )
        except (CredentialsError, DeadlineError):
            raise
        except ProviderError as exc:
            if _unreachable(exc):
                raise
            raise
            # Some plans do not list deployments through ARM: then the package is simply deployed.
            self.log.debug(f"cannot tell which package {site.label} runs ({exc.message}); it will be deployed")
            return Deployed()
        return active_deployment(deployments)

    # -- ARM writes ----------------------------------------------------------------------------
    def _put_settings(self, site: Site, settings: Mapping[str, str]) -> None:
        """Replace the whole set (the PUT has no merge): built from what plan() read."""
        body = StringDictionary(properties=dict(settings))
        self.log.info(f"Updating the app settings of {site.label} ({len(settings)} settings)")
        # A PUT of the whole set: sending it twice leaves the same settings, so it is retried.
        self._arm(
            f"updating the app settings of {site.label}",
            lambda **t: self.apps.update_application_settings_slot(self.options.resource_group, site.app, site.slot, body, **t)
            if site.slot
            else self.apps.update_application_settings(self.options.resource_group, site.app, body, **t),
        )

    def _sync_triggers(self, site: Site, spec: FunctionSpec) -> None:
        """POST syncfunctiontriggers, retried with backoff (the site may be restarting after the
        settings update); the service answers 200 where the SDK expects 204: that is success."""
        deadline = Deadline(self.clock, spec.wait_timeout_s, f"trigger sync of {site.label}")
        delays = backoff_delays(base=2.0, cap=MAX_POLL_S)
        self.log.info(f"Syncing the triggers of {site.label}")
        for attempt in range(1, SYNC_ATTEMPTS + 1):
            try:
                self._arm(
                    f"syncing the triggers of {site.label}",
                    lambda **t: self._sync_triggers_once(site, **t),
                    deadline=deadline,
                )
                return
            except (CredentialsError, DeadlineError):
                raise
            except ProviderError as exc:
                if getattr(exc.__cause__, "status_code", None) == 403 or attempt == SYNC_ATTEMPTS or _unreachable(exc):
                    raise
                delay = next(delays)
                self.log.info(f"trigger sync failed ({exc.message}); retrying in {delay:.1f} s")
                deadline.sleep(delay, detail=f"the last attempt failed: {exc.message}")

    def _sync_triggers_once(self, site: Site, **timeouts: float) -> None:
        try:
            if site.slot:
                self.apps.sync_function_triggers_slot(self.options.resource_group, site.app, site.slot, **timeouts)
            else:
                self.apps.sync_function_triggers(self.options.resource_group, site.app, **timeouts)
        except HttpResponseError as exc:
            if exc.status_code != 200:
                raise

    def _swap(self, state: AzureState, spec: FunctionSpec) -> None:
        target = state.target
        assert target.slot
        deadline = Deadline(self.clock, spec.wait_timeout_s, f"swap of slot {target.slot} into production")
        budget = deadline.budget(ARM_TIMEOUT_S)
        polling = _ClockPolling(
            deadline,
            self.log,
            f"swap {target.slot} -> production",
            timeout=DEFAULT_POLL_S,
            path_format_arguments={"endpoint": self.options.arm_endpoint},
            connection_timeout=min(CONNECT_TIMEOUT_S, budget),
            read_timeout=budget,
        )
        self.log.info(f"Swapping slot {target.slot} into production")
        what = f"swapping slot {target.slot} of {target.app} into production"
        # Not idempotent (a second swap swaps back): retried only when the request was never sent.
        poller = self._arm(
            what,
            lambda **t: self.apps.begin_swap_slot_with_production(
                self.options.resource_group,
                target.app,
                CsmSlotEntity(target_slot=target.slot, preserve_vnet=True),
                polling=polling,
                **t,
            ),
            deadline=deadline,
            write=True,
        )
        with _calling(what, self.options.arm_endpoint):
            poller.result()
        self.log.info(
            f"Swapped {target.slot} into production; the previous production build is now in {target.slot} (swap again to roll back)"
        )

    # -- functions -----------------------------------------------------------------------------
    def _list_functions(self, site: Site, deadline: Deadline | None = None) -> list[Any]:
        return self._arm(
            f"listing the functions of {site.label}",
            lambda **t: list(self.apps.list_instance_functions_slot(self.options.resource_group, site.app, site.slot, **t))
            if site.slot
            else list(self.apps.list_functions(self.options.resource_group, site.app, **t)),
            deadline=deadline,
        )

    def _list_functions_once(self, site: Site) -> list[Any]:
        try:
            return self._list_functions(site)
        except CredentialsError:
            raise
        except ProviderError as exc:
            self.log.warning(f"cannot list the functions of {site.label}: {exc.message}")
            return []

    def _wait_for_functions(self, site: Site, spec: FunctionSpec) -> list[Any]:
        """List the functions until at least one is indexed; zero by the deadline is an error."""
        if site.state and site.state.lower() != "running":
            self.log.warning(f"{site.label} is {site.state}: its functions are indexed only once it runs")
            return []
        seconds = min(spec.wait_timeout_s, FUNCTIONS_WAIT_CAP_S)
        deadline = Deadline(self.clock, seconds, f"indexing of the functions of {site.label}")
        delay = 1.0
        while True:
            try:
                functions = self._list_functions(site, deadline)
                detail = "0 functions indexed"
            except (CredentialsError, DeadlineError):
                raise
            except ProviderError as exc:
                functions, detail = [], exc.message
            if functions:
                names = ", ".join(sorted(_function_name(f) for f in functions))
                self.log.info(f"{len(functions)} function(s) indexed in {site.label}: {names}")
                return functions
            if deadline.expired:
                raise ProviderError(
                    f"zero functions indexed in {site.label} {seconds:g} s after the deploy ({detail})",
                    hint=ZERO_FUNCTIONS_HINT,
                )
            self.log.info(f"waiting for the functions of {site.label} to be indexed ({detail})")
            deadline.sleep(delay)
            delay = min(delay * 1.5, 10.0)

    # -- run from package ----------------------------------------------------------------------
    def _upload(self, state: AzureState, artifact: Artifact) -> str:
        """Put the zip in the app's storage account (content-addressed) and return a read SAS URL."""
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import BlobSasPermissions, BlobServiceClient, ContentSettings, generate_blob_sas

        connection = storage_connection(state.new_settings)
        key = connection_fields(connection).get("accountkey")
        if key:
            self.log.mask(key)
        what = f"uploading the package to the storage account of {state.target.label}"
        deadline = Deadline(self.clock, self.wait_s, what)
        # The blob SDK's own retries are off (they sleep in real time): `retrying` retries the
        # whole step, which is content-addressed and so safe to repeat.
        service = BlobServiceClient.from_connection_string(connection, retry_total=0)
        container = service.get_container_client(RELEASES_CONTAINER)
        blob = container.get_blob_client(state.blob_name)
        endpoint = service.primary_endpoint

        def attempt() -> None:
            budget = deadline.budget(REQUEST_TIMEOUT_S)
            timeouts = {"connection_timeout": min(CONNECT_TIMEOUT_S, budget), "read_timeout": budget}
            try:
                container.create_container(**timeouts)
            except ResourceExistsError:
                pass
            try:
                uploaded = blob.get_blob_properties(**timeouts).size == artifact.size
            except ResourceNotFoundError:
                uploaded = False
            if uploaded:  # content-addressed: same name, same bytes
                self.log.info(f"Blob {RELEASES_CONTAINER}/{state.blob_name} already holds this package")
                return
            self.log.info(f"Uploading the package to blob {RELEASES_CONTAINER}/{state.blob_name}")
            with open(artifact.path, "rb") as body:
                blob.upload_blob(
                    body,
                    length=artifact.size,
                    overwrite=True,
                    content_settings=ContentSettings(content_type="application/zip"),
                    metadata={"sha256": artifact.sha256_hex},
                    **timeouts,
                )

        with _calling(what, endpoint):
            retrying(deadline, self.log, what, attempt, lambda exc: _retryable(exc, endpoint))
        # Wall-clock time for the SAS validity (not a wait): ten years, as the Azure CLI does.
        now = datetime.now(timezone.utc)
        sas = generate_blob_sas(
            service.account_name,
            RELEASES_CONTAINER,
            state.blob_name,
            account_key=service.credential.account_key,
            permission=BlobSasPermissions(read=True),
            start=now - timedelta(minutes=5),
            expiry=now + timedelta(days=3650),
        )
        url = f"{blob.url}?{sas}"
        self.log.mask(sas)
        self.log.mask(url)
        return url

    # -- Kudu ----------------------------------------------------------------------------------
    def _kudu_deploy(self, state: AzureState, spec: FunctionSpec, artifact: Artifact) -> str:
        target = state.target
        kudu = Kudu(target.scm, self.credential, self.scope)
        message = deployment_message(self.github, artifact, self.options.remote_build)
        deadline = Deadline(self.clock, spec.wait_timeout_s, f"Kudu deployment to {target.label}")
        if state.method == "flex":
            remote = "true" if self.options.remote_build else "false"
            url = kudu.url("/api/publish", RemoteBuild=remote, Deployer=DEPLOYER, message=message)
            self.log.info(
                f"Deploying {artifact.size} bytes to {target.label} with Kudu /api/publish (Flex Consumption)"
            )
            response = self._post_package(kudu, url, artifact, "application/zip", deadline)
            deployment_id = response.text().strip().strip('"')
            if not deployment_id:
                if response.status_code == 200:  # deployed synchronously: nothing to poll
                    self.log.info(f"Kudu deployed the package to {target.label} synchronously")
                    return ""
                raise ProviderError(f"Kudu accepted the package for {target.label} but returned no deployment id")
            status_url = kudu.url(f"/api/deployments/{urllib.parse.quote(deployment_id, safe='')}")
        else:
            url = kudu.url("/api/zipdeploy", isAsync="true", deployer=DEPLOYER, message=message)
            self.log.info(f"Deploying {artifact.size} bytes to {target.label} with Kudu /api/zipdeploy")
            response = self._post_package(kudu, url, artifact, "application/octet-stream", deadline)
            location = response.headers.get("Location")
            deployment_id = ""
            status_url = kudu.rebase(location) if location else kudu.url("/api/deployments/latest")
        result = self._wait_for_deployment(kudu, status_url, deadline, _retry_after(response), target)
        return str(result.get("id") or deployment_id)

    def _post_package(
        self, kudu: "Kudu", url: str, artifact: Artifact, content_type: str, deadline: Deadline
    ) -> HttpResponse:
        """POST the zip; no answer, a 409 (a deployment in progress) or a gateway error is retried
        with backoff (a deploy of the same package twice deploys it once more, no harm)."""

        def attempt() -> HttpResponse:
            with open(artifact.path, "rb") as body:
                response = kudu.send(
                    "POST",
                    url,
                    deadline,
                    content=body,
                    headers={"Content-Type": content_type, "Content-Length": str(artifact.size)},
                )
            if response.status_code in (200, 202):
                return response
            if response.status_code in (409, 502, 503):
                why = "a deployment is already in progress" if response.status_code == 409 else "the SCM site is busy"
                raise _KuduBusy(response, why)
            raise kudu_error(response, "uploading the package")

        return retrying(deadline, self.log, "uploading the package", attempt, kudu.retryable, base=2.0, cap=MAX_POLL_S)

    def _wait_for_deployment(
        self, kudu: "Kudu", url: str, deadline: Deadline, first_delay: float | None, target: Site
    ) -> dict[str, Any]:
        """Poll a Kudu deployment until status 4; 3, 5, -1 and 6 fail; the deadline bounds it.
        A poll that gets no answer, a 404 (not registered yet) or a 5xx is polled again."""
        delay = first_delay if first_delay is not None else DEFAULT_POLL_S
        last = None

        def poll() -> HttpResponse:
            response = kudu.send("GET", url, deadline)
            if response.status_code in (200, 202):
                return response
            if response.status_code in (404, 500, 502, 503, 504):
                raise _KuduBusy(response, "")
            raise kudu_error(response, "reading the deployment status")

        while True:
            response = retrying(
                deadline, self.log, "reading the deployment status", poll, kudu.retryable, base=DEFAULT_POLL_S, cap=MAX_POLL_S
            )
            body = _json_or_empty(response)
            status = _int(body.get("status"), 0)
            name = KUDU_STATUS.get(status, "Unknown")
            deployment_id = body.get("id") or "?"
            progress = str(body.get("progress") or "").strip()
            if (status, progress) != last:
                self.log.info(
                    f"deployment {deployment_id}: {name} (status {status})" + (f": {progress}" if progress else "")
                )
                last = (status, progress)
            if status == KUDU_SUCCESS:
                return body
            if status in KUDU_FAILURES:
                self._print_deployment_log(kudu, body, deadline)
                raise ProviderError(
                    f"Kudu deployment {deployment_id} to {target.label} ended with status {status} ({name})",
                    hint=KUDU_FAILURES[status],
                )
            delay = _retry_after(response) or delay
            deadline.sleep(min(delay, MAX_POLL_S), detail=f"deployment {deployment_id} is still {name} (status {status})")

    def _print_deployment_log(self, kudu: "Kudu", deployment: Mapping[str, Any], deadline: Deadline) -> None:
        log_url = deployment.get("log_url")
        if not log_url:
            return
        try:
            response = kudu.send("GET", kudu.rebase(str(log_url)), deadline)
        except (ServiceRequestError, ServiceResponseError):
            return
        entries = _json_or_empty(response, default=[]) if response.status_code == 200 else []
        # Printed flat: apply() already runs inside a log group, and groups do not nest.
        self.log.info(f"Kudu deployment log of {deployment.get('id')}:")
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict):
                self.log.info(f"  {entry.get('log_time', '')} {entry.get('message', '')}".rstrip())


# -- credentials -------------------------------------------------------------------------------


class StaticToken:
    """The azure-access-token input as a TokenCredential: the same bearer token for every request."""

    # azure-core refreshes a token 5 minutes before this; a given token cannot be refreshed anyway.
    EXPIRES_ON = 2**31 - 1

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, self.EXPIRES_ON)


def choose_credential(options: AzureOptions, ctx: RunContext) -> tuple[str, Any]:
    """The first credential that applies, in the documented order, and how it was chosen."""
    environ = ctx.environ
    authority = {"authority": environ["AZURE_AUTHORITY_HOST"]} if environ.get("AZURE_AUTHORITY_HOST") else {}
    client, tenant = options.client_id, options.tenant_id
    if options.access_token:
        return "the azure-access-token input", StaticToken(options.access_token)
    oidc = bool(
        ctx.id_token and environ.get("ACTIONS_ID_TOKEN_REQUEST_URL") and environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    )
    if oidc and (client or tenant):
        if not (client and tenant):
            raise CredentialsError("OIDC sign-in needs both client-id and tenant-id", hint=AUTH_HINT)
        from azure.identity import ClientAssertionCredential

        id_token = ctx.id_token
        assert id_token is not None
        return (
            f"GitHub OIDC token exchanged for client {client} (federated credential)",
            ClientAssertionCredential(tenant, client, lambda: id_token(OIDC_AUDIENCE), **authority),
        )
    secret = environ.get("AZURE_CLIENT_SECRET")
    if secret and client and tenant:
        from azure.identity import ClientSecretCredential

        ctx.log.mask(secret)
        return f"client secret of client {client} (AZURE_CLIENT_SECRET)", ClientSecretCredential(
            tenant, client, secret, **authority
        )
    token_file = environ.get("AZURE_FEDERATED_TOKEN_FILE")
    if token_file and not os.path.isfile(token_file):  # DefaultAzureCredential would try it too
        raise CredentialsError(_missing_token_file(token_file))
    if token_file and client and tenant:
        from azure.identity import WorkloadIdentityCredential

        return (
            f"federated token file of client {client} (AZURE_FEDERATED_TOKEN_FILE)",
            WorkloadIdentityCredential(tenant_id=tenant, client_id=client, token_file_path=token_file, **authority),
        )
    if client and tenant:
        # A client and a tenant only make sense with a federated credential or a secret.
        raise CredentialsError(
            "client-id and tenant-id are set, but there is no GitHub OIDC token, AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE to sign in with",
            hint="give the job `permissions: id-token: write` (a container action cannot reuse the azure/login session)",
        )
    from azure.identity import DefaultAzureCredential

    managed = {"managed_identity_client_id": client} if client else {}
    return "DefaultAzureCredential (environment, workload or managed identity)", DefaultAzureCredential(
        **authority, **managed
    )


def arm_scope(arm_endpoint: str) -> str:
    host = (urllib.parse.urlsplit(arm_endpoint).hostname or "").lower()
    return ARM_SCOPES.get(host, ARM_SCOPES["management.azure.com"])


# -- pure rules (unit-tested directly) -------------------------------------------------------


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
    if method == "zipdeploy" and package_setting.strip().lower().startswith(("http://", "https://")):
        raise ProviderError(
            f"{site.label} runs from a package URL (WEBSITE_RUN_FROM_PACKAGE): a zip deploy would be refused",
            hint="use deploy-method run-from-package, or delete the WEBSITE_RUN_FROM_PACKAGE app setting",
        )
    if method == "run-from-package":
        storage_connection(settings, site.label)


def storage_connection(settings: Mapping[str, str], label: str = "the app") -> str:
    """AzureWebJobsStorage as a connection string with an account key (run-from-package needs one)."""
    connection = settings.get("AzureWebJobsStorage", "")
    fields = connection_fields(connection)
    if not (fields.get("accountname") and fields.get("accountkey")) and fields.get("usedevelopmentstorage") != "true":
        raise ProviderError(
            f"run-from-package uploads to the storage account in AzureWebJobsStorage, but the one of {label} "
            "is not a connection string with an account key",
            hint="use deploy-method zipdeploy, or set AzureWebJobsStorage to a connection string with AccountName and AccountKey",
        )
    return connection


def connection_fields(connection: str) -> dict[str, str]:
    """`A=b;C=d` → {'a': 'b', 'c': 'd'} (keys lower-cased; values may contain '=')."""
    fields = {}
    for part in connection.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            fields[key.strip().lower()] = value.strip()
    return fields


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


def scm_base(ssl_states: list[Any] | None, default_host: str | None) -> str:
    """The Kudu base URL: the site's Repository host name, else derived from its default host."""
    for state in ssl_states or []:
        if str(getattr(state, "host_type", "") or "").lower() == "repository" and getattr(state, "name", None):
            return f"https://{state.name}"
    if default_host and "." in default_host:
        label, _, rest = default_host.partition(".")
        return f"https://{label}.scm.{rest}"
    return ""


def active_deployment(deployments: list[Any]) -> Deployed:
    """The active deployment (else the latest successful one) and the package hash it names."""

    def started(d: Any) -> str:
        value = getattr(d, "start_time", None)
        return value.isoformat() if hasattr(value, "isoformat") else str(value or "")

    ordered = sorted(deployments, key=started, reverse=True)
    chosen = next((d for d in ordered if getattr(d, "active", False)), None)
    chosen = chosen or next((d for d in ordered if getattr(d, "status", None) == KUDU_SUCCESS), None)
    if chosen is None:
        return Deployed()
    deployment_id = (chosen.name or "").rsplit("/", 1)[-1]
    try:
        message = json.loads(chosen.message or "")
    except ValueError:
        message = None
    digest = message.get("packageSha256") if isinstance(message, dict) else None
    if not (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest)):
        digest = None
    remote_build = isinstance(message, dict) and message.get("remoteBuild") is True
    return Deployed(digest, deployment_id, remote_build)


def deployment_message(github: Any, artifact: Artifact, remote_build: bool = False) -> str:
    """Kudu's `message`: who deployed what, as JSON (the Azure functions-action uses JSON too)."""
    data = {
        "type": "deployment",
        "deployer": DEPLOYER,
        "sha": github.sha,
        "ref": github.ref,
        "repoName": github.repository,
        "runUrl": github.run_url,
        "packageSha256": artifact.sha256_hex,
        "remoteBuild": remote_build,  # part of what runs: the same package built remotely or not differs
    }
    return json.dumps({k: v for k, v in data.items() if v}, separators=(",", ":"))


def invoke_url(functions: list[Any]) -> str:
    """The first HTTP-triggered function's invoke URL (by name), else ''."""
    urls = sorted(
        (_function_name(f), f.invoke_url_template) for f in functions if getattr(f, "invoke_url_template", None)
    )
    return urls[0][1] if urls else ""


# -- HTTP plumbing -----------------------------------------------------------------------------


class _LoopbackHttp(SansIOHTTPPolicy):
    """Lets the bearer token go over plain http to 127.0.0.1, localhost or ::1, nowhere else.

    Runs on every attempt (after the retry and redirect policies), before the authentication
    policy, and decides from the URL being sent: a redirect away from loopback is enforced again.
    """

    def on_request(self, request: Any) -> None:
        request.context["enforce_https"] = not _is_loopback(request.http_request.url)


class _ClockPolling(ARMPolling):
    """ARM long-running-operation polling that waits on the run's clock and deadline."""

    def __init__(self, deadline: Deadline, log: Log, what: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._deadline = deadline
        self._log = log
        self._what = what

    def _sleep(self, delay: float) -> None:
        status = self.status()
        self._log.info(f"{self._what}: {status}")
        self._deadline.sleep(min(max(delay, 0.0), MAX_POLL_S), detail=f"the operation is still {status}")


class Kudu:
    """The Kudu (SCM) REST API of one site, with the ARM bearer token, through azure-core."""

    def __init__(self, base: str, credential: Any, scope: str) -> None:
        self.base = base.rstrip("/")
        self._client = PipelineClient(
            base_url=self.base,
            policies=[
                UserAgentPolicy(base_user_agent=USER_AGENT),
                ProxyPolicy(),
                _LoopbackHttp(),
                BearerTokenCredentialPolicy(credential, scope),
            ],
        )

    def url(self, path: str, **query: str) -> str:
        encoded = urllib.parse.urlencode(query, quote_via=urllib.parse.quote) if query else ""
        return self.base + path + (f"?{encoded}" if encoded else "")

    def rebase(self, url: str) -> str:
        """A URL Kudu handed back (Location, log_url), re-rooted on our base: the SCM endpoint
        override (private endpoint, proxy) must serve the follow-up calls too."""
        parts = urllib.parse.urlsplit(url)
        index = parts.path.find("/api/")
        if index < 0:
            return urllib.parse.urljoin(self.base + "/", url)
        return self.base + parts.path[index:] + (f"?{parts.query}" if parts.query else "")

    def send(self, method: str, url: str, deadline: Deadline, **kwargs: Any) -> HttpResponse:
        """One request, its timeouts cut to the deadline; connection errors pass through (see retryable)."""
        timeout = deadline.budget(REQUEST_TIMEOUT_S)
        request = HttpRequest(method, url, **kwargs)
        with _calling(f"Kudu {method} {urllib.parse.urlsplit(url).path}", self.base, network=False):
            return self._client.send_request(
                request, connection_timeout=min(CONNECT_TIMEOUT_S, timeout), read_timeout=timeout
            )

    def retryable(self, exc: Exception) -> Retryable | None:
        """A busy answer (_KuduBusy) or no answer at all: worth another attempt."""
        if isinstance(exc, _KuduBusy):
            return Retryable(exc.reason, after=_retry_after(exc.response))
        if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
            return Retryable("Kudu did not answer", f"{self.base}: {_first_line(exc)}", refused=refused(exc), hint=NETWORK_HINT)
        return None


class _KuduBusy(Exception):
    """Kudu answered, but not yet usefully (409 deployment running, 404 not registered yet, 5xx)."""

    def __init__(self, response: HttpResponse, why: str) -> None:
        super().__init__(f"Kudu answered {response.status_code}" + (f" ({why})" if why else ""))
        self.response = response
        self.reason = str(self)


def kudu_error(response: HttpResponse, what: str) -> ActionError:
    text = " ".join((response.text() or "").split())[:300]
    status = response.status_code
    if status == 401:
        return CredentialsError(f"Kudu refused the token while {what} (401): {text}", hint=AUTH_HINT)
    if status == 403:
        return ProviderError(f"Kudu refused {what} (403): {text}", hint=ROLE_HINT)
    return ProviderError(f"Kudu answered {status} while {what}: {text}")


@contextmanager
def _calling(what: str, endpoint: str, network: bool = True) -> Iterator[None]:
    """Turns azure-core exceptions into the action's errors (message first line, no secrets);
    a connection failure names `endpoint`. With network=False, connection errors pass through
    for the caller's retry loop."""
    try:
        yield
    except ActionError:
        raise
    except ClientAuthenticationError as exc:
        if getattr(exc, "status_code", None) == 401:
            raise CredentialsError(
                f"{what}: Azure refused the token (401): {_first_line(exc)}", hint=AUTH_HINT
            ) from exc
        raise CredentialsError(f"{what}: could not get an Azure token: {_compact(exc)}", hint=AUTH_HINT) from exc
    except ResourceNotFoundError as exc:
        raise ProviderError(f"{what}: not found: {_first_line(exc)}") from exc
    except HttpResponseError as exc:
        if exc.status_code == 403:
            raise ProviderError(f"{what}: forbidden (403): {_first_line(exc)}", hint=ROLE_HINT) from exc
        raise ProviderError(f"{what} failed (HTTP {exc.status_code}): {_first_line(exc)}") from exc
    except (ServiceRequestError, ServiceResponseError) as exc:
        if not network:
            raise
        raise ProviderError(f"{what}: could not reach {endpoint}: {_first_line(exc)}", hint=NETWORK_HINT) from exc


def _retryable(exc: Exception, endpoint: str, write: bool = False) -> Retryable | None:
    """Is this azure-core failure worth another attempt? A request never sent (ServiceRequestError:
    refused, unresolvable, connect timeout) always is; a request sent but unanswered, 408, 429 and
    5xx are too, unless it was a `write` that may have taken effect."""
    if isinstance(exc, ServiceRequestError):
        return Retryable("no connection", f"{endpoint}: {_first_line(exc)}", refused=refused(exc), hint=NETWORK_HINT)
    if write:
        return None
    if isinstance(exc, ServiceResponseError):
        return Retryable("no answer", f"{endpoint}: {_first_line(exc)}", hint=NETWORK_HINT)
    if (
        isinstance(exc, HttpResponseError)
        and not isinstance(exc, ClientAuthenticationError)
        and exc.status_code in TRANSIENT_STATUS
    ):
        return Retryable(f"HTTP {exc.status_code}", _first_line(exc), after=_retry_after(exc.response))
    return None


def _unreachable(exc: ProviderError) -> bool:
    """Did this error end retries of a request that could not reach its endpoint?"""
    return isinstance(exc.__cause__, (ServiceRequestError, ServiceResponseError))


# -- small helpers -----------------------------------------------------------------------------


def _is_loopback(url: str) -> bool:
    return (urllib.parse.urlsplit(url).hostname or "").lower() in LOOPBACK_HOSTS


def _retry_after(response: HttpResponse | None) -> float | None:
    """Retry-After in seconds (fractions accepted), bounded; None when absent or unreadable."""
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return min(max(float(value), 0.05), MAX_POLL_S) if value else None
    except ValueError:
        return None


def _json_or_empty(response: HttpResponse, default: Any = None) -> Any:
    try:
        data = response.json()
    except ValueError:
        return {} if default is None else default
    if default is None and not isinstance(data, dict):
        return {}
    return data


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def _strip_query(url: str | None) -> str:
    return (url or "").split("?", 1)[0]


def _hex_to_b64(digest: str | None) -> str | None:
    return base64.b64encode(bytes.fromhex(digest)).decode("ascii") if digest else None


def _function_name(function: Any) -> str:
    return str(getattr(function, "name", "") or "").rsplit("/", 1)[-1]


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # ARM errors read "(Code) message" then "Code: …" / "Message: …": the first line has both.
    return lines[0][:400] if lines else type(exc).__name__


def _compact(exc: BaseException) -> str:
    return " ".join(str(getattr(exc, "message", None) or exc).split())[:600]
