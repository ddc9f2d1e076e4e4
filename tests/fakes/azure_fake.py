"""A fake Azure Resource Manager (Microsoft.Web sites) and Kudu (SCM) server on 127.0.0.1.

Owns: the HTTP surface faas-action's Azure provider reaches through the real azure-mgmt-web client
and its Kudu calls, written from the public REST contract: sites and slots (GET, 404 in the ARM
error shape), app service plans, app settings (`POST config/appsettings/list`, `PUT
config/appsettings` replacing the whole set), `syncfunctiontriggers` (answering 200 where the SDK
expects 204, as the service does), functions (empty until indexed), deployments, the slot swap
long-running operation (`POST slotsswap` → 202 + `Azure-AsyncOperation` / `Location`), and on the
Kudu side `POST /api/publish` (Flex: 202, body = deployment id), `POST /api/zipdeploy?isAsync=true`
(202 + `Location`), deployment status polling with the Kudu status codes (-1 cancelled, 0 pending,
1 building, 2 deploying, 3 failed, 4 success, 5 conflict, 6 partial success) and deployment logs.
ARM is served under `/arm`, Kudu under `/kudu`, so the provider's "base URL keeps its path prefix"
rule is exercised. Every request is recorded with its Authorization header; a request without the
expected bearer token gets 401.
Must not: import faas_action, or accept what the real services refuse (no token, unknown site,
a zip deploy that is not async, a slot swap into a missing slot).

Scripting (set attributes before the run): `statuses` (the status each poll of a new deployment
reports; the last one repeats, so `[1]` hangs), `conflicts` (409s answered to publish/zipdeploy
before one is accepted), `not_found_polls` (404s a new deployment's status answers first),
`retry_after` (the Retry-After header on 202/409 answers; fractional seconds keep tests fast,
except on ARM's first 202, which azure-mgmt-web parses as whole seconds), `swap_polls` /
`swap_result`, `sync_status`, `sync_failures` (400s answered before it), `kudu_target` (the site
Kudu deploys into: the SCM endpoint serves the app and its slots alike), and per site
`functions`, `index_after` (function listings that stay empty after a deploy), `settings`,
`code_sha256` (what it runs before the test) and `sku` / `kind`. Faults: `arm_failures` (the
statuses answered, in order, to the next ARM requests, e.g. [503, 500]), `fail(...)` (an error
status answered to the next ARM requests whose path matches) and `drop(...)` (close the connection
of the next matching requests without a reply, before acting on them).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import urllib.parse
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .chaos import Chaos

SUBSCRIPTION = "00000000-0000-0000-0000-00000000abcd"
RESOURCE_GROUP = "rg-faas"
TOKEN = "eyJ0eXAiOiJKV1QifQ.fake-arm-token.signature"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
TERMINAL = {-1, 3, 4, 5, 6}
STATUS_TEXT = {
    -1: "Cancelled",
    0: "Pending",
    1: "Building",
    2: "Deploying",
    3: "Failed",
    4: "Success",
    5: "Conflict",
    6: "PartialSuccess",
}
SITE_PATH = re.compile(
    r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Web/sites/(?P<name>[^/]+)"
    r"(?:/slots/(?P<slot>[^/]+))?(?P<rest>/.*)?$",
    re.IGNORECASE,
)
PLAN_PATH = re.compile(
    r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Web/serverfarms/(?P<name>[^/]+)$",
    re.IGNORECASE,
)
OPERATION_PATH = re.compile(
    r"/subscriptions/[^/]+/providers/Microsoft\.Web/locations/[^/]+/(?P<kind>operations|operationResults)/(?P<id>[^/]+)$",
    re.IGNORECASE,
)
READ_ONLY_POSTS = ("/config/appsettings/list", "/config/publishingcredentials/list")


def azurite_connection_string(blob_endpoint: str) -> str:
    return (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={AZURITE_KEY};BlobEndpoint={blob_endpoint};"
    )


@dataclass
class Recorded:
    """One request as it reached the fake."""

    method: str
    service: str  # "arm" or "kudu"
    path: str  # without the /arm or /kudu prefix
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def authorization(self) -> str:
        return self.headers.get("authorization", "")

    @property
    def is_write(self) -> bool:
        if self.method in ("GET", "HEAD"):
            return False
        return not (self.method == "POST" and self.path.lower().endswith(READ_ONLY_POSTS))


@dataclass
class FakeFunction:
    name: str
    http: bool = True


@dataclass
class FakeDeployment:
    id: str
    message: str
    deployer: str
    body_sha256: str
    script: list[int]
    status: int = 0
    polls: int = 0
    not_found: int = 0
    active: bool = False
    received: str = ""
    end: str | None = None
    finalized: bool = False

    @property
    def complete(self) -> bool:
        return self.status in TERMINAL


@dataclass
class FakeSite:
    name: str
    slot: str | None = None
    kind: str = "functionapp,linux"
    sku: str | None = "ElasticPremium"
    state: str = "Running"
    server_farm: str = "plan-faas"
    location: str = "West Europe"
    settings: dict[str, str] = field(default_factory=dict)
    functions: list[FakeFunction] = field(default_factory=lambda: [FakeFunction("HttpTrigger")])
    index_after: int = 0
    deployments: list[FakeDeployment] = field(default_factory=list)
    indexed: list[FakeFunction] = field(default_factory=list)
    pending_index: int = 0
    code_sha256: str | None = None
    sync_calls: int = 0

    @property
    def host(self) -> str:
        return f"{self.name}-{self.slot}.azurewebsites.net" if self.slot else f"{self.name}.azurewebsites.net"

    @property
    def scm_host(self) -> str:
        return self.host.replace(".azurewebsites.net", ".scm.azurewebsites.net")

    def resource_id(self, subscription: str, resource_group: str) -> str:
        base = (
            f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Web/sites/{self.name}"
        )
        return f"{base}/slots/{self.slot}" if self.slot else base

    def content_changed(self) -> None:
        """New code landed: the host re-indexes its functions."""
        self.indexed = []
        self.pending_index = self.index_after + 1


class FakeAzure:
    """ARM + Kudu on one threaded HTTP server. Use as a context manager or call start()/stop()."""

    def __init__(
        self, token: str = TOKEN, subscription: str = SUBSCRIPTION, resource_group: str = RESOURCE_GROUP
    ) -> None:
        self.token = token
        self.subscription = subscription
        self.resource_group = resource_group
        self.sites: dict[tuple[str, str | None], FakeSite] = {}
        self.plans: dict[str, str] = {}  # server farm name -> SKU tier
        self.requests: list[Recorded] = []
        self.kudu_target: tuple[str, str | None] | None = None
        self.statuses: list[int] = [1, 4]
        self.conflicts = 0
        self.not_found_polls = 0
        self.retry_after = "0.05"
        self.swap_polls = 1
        self.swap_result = "Succeeded"
        self.sync_status = 200
        self.sync_failures = 0
        self.arm_failures: list[int] = []
        self.drops: list[list[Any]] = []  # [method, path fragment, remaining]
        self.failures: list[list[Any]] = []  # [method, path fragment, status, remaining]
        self.deployments: dict[str, tuple[FakeDeployment, tuple[str, str | None]]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.chaos = Chaos(_chaos_error)  # faults injected on the wire (tests/fakes/chaos.py)
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- set-up ------------------------------------------------------------------------------
    def add_site(self, name: str, slot: str | None = None, **attributes: Any) -> FakeSite:
        settings = {
            "FUNCTIONS_EXTENSION_VERSION": "~4",
            "FUNCTIONS_WORKER_RUNTIME": "python",
            "AzureWebJobsStorage": "DefaultEndpointsProtocol=https;AccountName=faasstore;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net",
        }
        settings.update(attributes.pop("settings", {}))
        site = FakeSite(name=name, slot=slot, settings=settings, **attributes)
        site.indexed = list(site.functions) if site.code_sha256 else []
        self.sites[(name, slot)] = site
        if self.kudu_target is None:
            self.kudu_target = (name, slot)
        return site

    def start(self) -> "FakeAzure":
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-azure", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> "FakeAzure":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def base(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def arm_url(self) -> str:
        return self.base + "/arm"

    @property
    def scm_url(self) -> str:
        return self.base + "/kudu"

    def env(self) -> dict[str, str]:
        return {"FAAS_AZURE_ARM_ENDPOINT": self.arm_url, "FAAS_AZURE_SCM_ENDPOINT": self.scm_url}

    def drop(self, method: str, fragment: str, times: int = 1) -> None:
        """Close the connection of the next `times` requests whose path contains `fragment`."""
        with self.lock:
            self.drops.append([method, fragment, times])

    def fail(self, method: str, fragment: str, status: int, times: int = 1) -> None:
        """Answer `status` to the next `times` ARM requests whose path contains `fragment`."""
        with self.lock:
            self.failures.append([method, fragment, status, times])

    def _take_failure(self, method: str, path: str) -> int | None:
        for failure in self.failures:
            if failure[3] > 0 and failure[0] == method and failure[1] in path:
                failure[3] -= 1
                return failure[2]
        return None

    def take_drop(self, method: str, path: str) -> bool:
        with self.lock:
            for drop in self.drops:
                if drop[2] > 0 and drop[0] == method and drop[1] in path:
                    drop[2] -= 1
                    self.requests.append(Recorded(method, "dropped", path, {}, {}, b""))
                    return True
        return False

    # -- what reached the fake ---------------------------------------------------------------
    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.is_write]

    def calls(self, method: str, suffix: str, service: str | None = None) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if r.method == method
            and r.path.lower().endswith(suffix.lower())
            and (service is None or r.service == service)
        ]

    def site(self, name: str, slot: str | None = None) -> FakeSite:
        return self.sites[(name, slot)]

    # -- dispatch ----------------------------------------------------------------------------
    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        parsed = urllib.parse.urlsplit(raw_path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query, keep_blank_values=True).items()}
        path = parsed.path
        service = "arm" if path.startswith("/arm/") else "kudu" if path.startswith("/kudu/") else "?"
        path = path[len("/" + service) :] if service != "?" else path
        with self.lock:
            self.requests.append(Recorded(method, service, path, query, headers, body))
            if headers.get("authorization") != f"Bearer {self.token}":
                return _json(
                    401, {"error": {"code": "InvalidAuthenticationToken", "message": "The access token is invalid."}}
                )
            if service == "arm" and (status := self._take_failure(method, path)) is not None:
                return _json(status, {"error": {"code": "Injected", "message": f"injected {status}"}})
            if service == "arm" and self.arm_failures:
                status = self.arm_failures.pop(0)
                return _json(status, {"error": {"code": "ServiceUnavailable", "message": f"injected {status}"}})
            if service == "arm":
                return self._arm(method, path, query, body)
            if service == "kudu":
                return self._kudu(method, path, query, body)
            return _json(404, {"error": {"code": "NotFound", "message": path}})

    def _retry(self, integer: bool = False) -> dict[str, str]:
        """Retry-After; ARM's first 202 carries whole seconds (azure-mgmt-web parses it as int)."""
        if not self.retry_after:
            return {}
        return {"Retry-After": str(math.ceil(float(self.retry_after))) if integer else self.retry_after}

    # -- ARM ---------------------------------------------------------------------------------
    def _arm(self, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        if "api-version" not in query:
            return _json(400, {"error": {"code": "MissingApiVersionParameter", "message": "api-version is required"}})
        if match := OPERATION_PATH.match(path):
            return self._operation(match["kind"], match["id"])
        if match := PLAN_PATH.match(path):
            tier = self.plans.get(match["name"])
            if tier is None or method != "GET":
                return _not_found(f"serverfarms/{match['name']}")
            return _json(
                200,
                {
                    "id": path,
                    "name": match["name"],
                    "type": "Microsoft.Web/serverfarms",
                    "location": "West Europe",
                    "sku": {"name": tier[:2].upper(), "tier": tier},
                },
            )
        match = SITE_PATH.match(path)
        if not match or match["sub"] != self.subscription or match["rg"].lower() != self.resource_group.lower():
            return _json(
                404, {"error": {"code": "ResourceGroupNotFound", "message": f"Resource group not found: {path}"}}
            )
        site = self.sites.get((match["name"], match["slot"]))
        if site is None:
            return _not_found(
                f"Microsoft.Web/sites/{match['name']}" + (f"/slots/{match['slot']}" if match["slot"] else "")
            )
        rest = (match["rest"] or "").lower()
        route = (method, rest)
        if route == ("GET", ""):
            return _json(200, self._site_json(site))
        if route == ("POST", "/config/appsettings/list"):
            return _json(200, self._settings_json(site))
        if route == ("PUT", "/config/appsettings"):
            properties = json.loads(body or b"{}").get("properties") or {}
            before = site.settings.get("WEBSITE_RUN_FROM_PACKAGE")
            site.settings = {str(k): str(v) for k, v in properties.items()}
            if site.settings.get("WEBSITE_RUN_FROM_PACKAGE") != before:
                site.content_changed()
            return _json(200, self._settings_json(site))
        if route == ("POST", "/syncfunctiontriggers"):
            site.sync_calls += 1
            if self.sync_failures > 0:
                self.sync_failures -= 1
                return _json(
                    400,
                    {
                        "error": {
                            "code": "BadRequest",
                            "message": "Encountered an error (ServiceUnavailable) from host runtime.",
                        }
                    },
                )
            if site.pending_index == 0 and not site.indexed:
                site.pending_index = site.index_after + 1
            return self.sync_status, {"Content-Length": "0"}, b""
        if route == ("GET", "/functions"):
            return _json(200, {"value": [self._function_json(site, f) for f in self._list_functions(site)]})
        if route == ("GET", "/deployments"):
            return _json(200, {"value": [self._arm_deployment_json(site, d) for d in site.deployments]})
        if route == ("POST", "/slotsswap") and site.slot is None:
            return self._begin_swap(site, json.loads(body or b"{}"))
        return _json(404, {"error": {"code": "NotFound", "message": f"no route {method} {rest}"}})

    def _site_json(self, site: FakeSite) -> dict[str, Any]:
        properties: dict[str, Any] = {
            "state": site.state,
            "defaultHostName": site.host,
            "hostNames": [site.host],
            "enabledHostNames": [site.host, site.scm_host],
            "hostNameSslStates": [
                {"name": site.host, "sslState": "Disabled", "hostType": "Standard"},
                {"name": site.scm_host, "sslState": "Disabled", "hostType": "Repository"},
            ],
            "serverFarmId": f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Web/serverfarms/{site.server_farm}",
            "reserved": "linux" in site.kind,
            "resourceGroup": self.resource_group,
            "httpsOnly": True,
        }
        if site.sku is not None:
            properties["sku"] = site.sku
        return {
            "id": site.resource_id(self.subscription, self.resource_group),
            "name": f"{site.name}/{site.slot}" if site.slot else site.name,
            "type": "Microsoft.Web/sites/slots" if site.slot else "Microsoft.Web/sites",
            "kind": site.kind,
            "location": site.location,
            "properties": properties,
        }

    def _settings_json(self, site: FakeSite) -> dict[str, Any]:
        return {
            "id": site.resource_id(self.subscription, self.resource_group) + "/config/appsettings",
            "name": "appsettings",
            "type": "Microsoft.Web/sites/config",
            "properties": dict(site.settings),
        }

    def _list_functions(self, site: FakeSite) -> list[FakeFunction]:
        if site.pending_index > 0:
            site.pending_index -= 1
            if site.pending_index == 0:
                site.indexed = list(site.functions)
        return site.indexed

    def _function_json(self, site: FakeSite, function: FakeFunction) -> dict[str, Any]:
        trigger = "httpTrigger" if function.http else "timerTrigger"
        return {
            "id": site.resource_id(self.subscription, self.resource_group) + f"/functions/{function.name}",
            "name": f"{site.name}/{function.name}",
            "type": "Microsoft.Web/sites/functions",
            "properties": {
                "name": function.name,
                "config": {"bindings": [{"type": trigger, "name": "req" if function.http else "timer"}]},
                "invoke_url_template": f"https://{site.host}/api/{function.name.lower()}" if function.http else None,
                "language": "python",
                "isDisabled": False,
            },
        }

    def _arm_deployment_json(self, site: FakeSite, deployment: FakeDeployment) -> dict[str, Any]:
        return {
            "id": site.resource_id(self.subscription, self.resource_group) + f"/deployments/{deployment.id}",
            "name": f"{site.name}/{deployment.id}",
            "type": "Microsoft.Web/sites/deployments",
            "properties": {
                "status": deployment.status,
                "message": deployment.message,
                "author": "N/A",
                "deployer": deployment.deployer,
                "start_time": deployment.received,
                "end_time": deployment.end,
                "active": deployment.active,
            },
        }

    def _begin_swap(self, production: FakeSite, entity: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        slot = entity.get("targetSlot")
        if (production.name, slot) not in self.sites:
            return _json(400, {"error": {"code": "BadRequest", "message": f"Cannot find slot {slot!r}"}})
        operation = uuid.uuid4().hex
        self.operations[operation] = {"name": production.name, "slot": slot, "polls": 0, "done": False}
        base = f"{self.arm_url}/subscriptions/{self.subscription}/providers/Microsoft.Web/locations/westeurope"
        headers = {
            "Azure-AsyncOperation": f"{base}/operations/{operation}?api-version=2025-05-01",
            "Location": f"{base}/operationResults/{operation}?api-version=2025-05-01",
            **self._retry(integer=True),
        }
        return 202, {**headers, "Content-Length": "0"}, b""

    def _operation(self, kind: str, operation_id: str) -> tuple[int, dict[str, str], bytes]:
        operation = self.operations.get(operation_id)
        if operation is None:
            return _not_found(f"operations/{operation_id}")
        if kind.lower() == "operations":
            operation["polls"] += 1
            if operation["polls"] <= self.swap_polls:
                return _json(200, {"status": "InProgress"}, self._retry())
            if not operation["done"]:
                operation["done"] = True
                if self.swap_result == "Succeeded":
                    self._swap(operation["name"], operation["slot"])
            if self.swap_result != "Succeeded":
                return _json(
                    200,
                    {
                        "status": self.swap_result,
                        "error": {"code": "SwapFailed", "message": "The swap failed: warm-up of the slot timed out."},
                    },
                )
            return _json(200, {"status": "Succeeded"})
        if not operation["done"]:
            return 202, {**self._retry(), "Content-Length": "0"}, b""
        return 200, {"Content-Length": "0"}, b""

    def _swap(self, name: str, slot: str) -> None:
        production, staging = self.sites[(name, None)], self.sites[(name, slot)]
        for attribute in ("settings", "deployments", "code_sha256", "functions"):
            first, second = getattr(production, attribute), getattr(staging, attribute)
            setattr(production, attribute, second)
            setattr(staging, attribute, first)
        production.content_changed()
        staging.content_changed()

    # -- Kudu --------------------------------------------------------------------------------
    def _kudu(self, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        if method == "POST" and path in ("/api/publish", "/api/zipdeploy"):
            if path == "/api/zipdeploy" and query.get("isAsync", "").lower() != "true":
                return _json(400, {"Message": "this fake only serves async zip deploys"})
            if self.conflicts > 0:
                self.conflicts -= 1
                return _text(409, "There is a deployment currently in progress. Please try again.", self._retry())
            deployment = self._new_deployment(
                query, body, deployer=query.get("Deployer") or query.get("deployer") or ""
            )
            if path == "/api/publish":
                return _text(202, deployment.id)
            location = (
                f"{self.scm_url}/api/deployments/latest?deployer={urllib.parse.quote(deployment.deployer)}&time=now"
            )
            return 202, {"Location": location, **self._retry(), "Content-Length": "0"}, b""
        match = re.fullmatch(r"/api/deployments/(?P<id>[^/]+)(?P<log>/log)?", path)
        if method == "GET" and match:
            deployment_id = match["id"]
            if deployment_id == "latest":
                if not self.deployments:
                    return _json(404, {"Message": "no deployment"})
                deployment_id = list(self.deployments)[-1]
            entry = self.deployments.get(deployment_id)
            if entry is None:
                return _json(404, {"Message": f"deployment {deployment_id} not found"})
            deployment, target = entry
            if match["log"]:
                return _json(
                    200,
                    [
                        {"log_time": deployment.received, "id": "1", "message": "Fetching changes.", "type": 0},
                        {
                            "log_time": deployment.received,
                            "id": "2",
                            "message": f"Deployment ended: {STATUS_TEXT.get(deployment.status, deployment.status)}",
                            "type": 0 if deployment.status == 4 else 2,
                        },
                    ],
                )
            if deployment.not_found > 0:
                deployment.not_found -= 1
                return _json(404, {"Message": "deployment not recorded yet"})
            self._poll(deployment, target)
            status = 202 if (match["id"] == "latest" and not deployment.complete) else 200
            extra = self._retry() if not deployment.complete else {}
            return _json(status, self._kudu_deployment_json(deployment, target), extra)
        return _json(404, {"Message": f"no route {method} {path}"})

    def _new_deployment(self, query: dict[str, str], body: bytes, deployer: str) -> FakeDeployment:
        assert self.kudu_target is not None, "add a site first"
        deployment = FakeDeployment(
            id=uuid.uuid4().hex,
            message=query.get("message", ""),
            deployer=deployer,
            body_sha256=hashlib.sha256(body).hexdigest(),
            script=list(self.statuses),
            not_found=self.not_found_polls,
            received=_now(),
        )
        self.deployments[deployment.id] = (deployment, self.kudu_target)
        return deployment

    def _poll(self, deployment: FakeDeployment, target: tuple[str, str | None]) -> None:
        if deployment.complete:
            return
        deployment.status = deployment.script[min(deployment.polls, len(deployment.script) - 1)]
        deployment.polls += 1
        if deployment.complete and not deployment.finalized:
            deployment.finalized = True
            deployment.end = _now()
            site = self.sites[target]
            if deployment.status in (4, 6):
                for other in site.deployments:
                    other.active = False
                deployment.active = True
                site.code_sha256 = deployment.body_sha256
                site.content_changed()
            site.deployments.append(deployment)

    def _kudu_deployment_json(self, deployment: FakeDeployment, target: tuple[str, str | None]) -> dict[str, Any]:
        site = self.sites[target]
        url = f"{self.scm_url}/api/deployments/{deployment.id}"
        return {
            "id": deployment.id,
            "status": deployment.status,
            "status_text": STATUS_TEXT.get(deployment.status, ""),
            "author": "N/A",
            "deployer": deployment.deployer,
            "message": deployment.message,
            "progress": "" if deployment.complete else "Building the app",
            "received_time": deployment.received,
            "start_time": deployment.received,
            "end_time": deployment.end,
            "complete": deployment.complete,
            "active": deployment.active,
            "is_temp": False,
            "is_readonly": False,
            "url": url,
            "log_url": url + "/log",
            "site_name": site.name,
        }


class _Handler(BaseHTTPRequestHandler):
    owner: FakeAzure
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stalls

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        body = self._body()
        if self.owner.take_drop(self.command, self.path):
            self.close_connection = True
            return
        headers = {k.lower(): v for k, v in self.headers.items()}

        def act() -> tuple[int, dict[str, str], bytes]:
            status, response_headers, payload = self.owner.handle(self.command, self.path, headers, body)
            return status, {**response_headers, "x-ms-request-id": uuid.uuid4().hex}, payload

        self.owner.chaos.serve(self, self.owner.chaos.draw(self.command, self.path), act)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve


def _chaos_error(status: int) -> bytes:
    return json.dumps({"error": {"code": "Injected", "message": f"injected {status}"}}).encode()


def _json(status: int, data: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    payload = json.dumps(data).encode()
    return (
        status,
        {"Content-Type": "application/json; charset=utf-8", **(headers or {}), "Content-Length": str(len(payload))},
        payload,
    )


def _text(status: int, text: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    payload = text.encode()
    return (
        status,
        {"Content-Type": "text/plain; charset=utf-8", **(headers or {}), "Content-Length": str(len(payload))},
        payload,
    )


def _not_found(what: str) -> tuple[int, dict[str, str], bytes]:
    return _json(404, {"error": {"code": "ResourceNotFound", "message": f"The Resource '{what}' was not found."}})


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- sign-in: GitHub's OIDC token endpoint and a Microsoft Entra token endpoint -----------------

GITHUB_JWT = "eyJhbGciOiJSUzI1NiJ9.github-oidc-for-azure.signature"
REQUEST_TOKEN = "actions-id-token-request-token"


class FakeIdentity:
    """GitHub's OIDC endpoint (http, as ACTIONS_ID_TOKEN_REQUEST_URL) and an Entra ID token
    endpoint (`POST /{tenant}/oauth2/v2.0/token`, https with a self-signed certificate: azure-identity
    accepts only https authorities). The token endpoint answers `access_token` with the ARM fake's
    token only for a client assertion equal to the GitHub JWT for `api://AzureADTokenExchange`.

    `cert_path` is the certificate to trust (REQUESTS_CA_BUNDLE); `github_requests` and
    `token_requests` record what reached each endpoint.
    """

    def __init__(self, workdir: Any, access_token: str = TOKEN) -> None:
        from pathlib import Path

        self.workdir = Path(workdir)
        self.access_token = access_token
        self.github_requests: list[dict[str, Any]] = []
        self.token_requests: list[dict[str, Any]] = []
        self.issued_audiences: list[str] = []
        self._servers: list[ThreadingHTTPServer] = []
        self.cert_path = self.workdir / "fake-entra.pem"

    def start(self) -> "FakeIdentity":
        import ssl

        key_path = self.workdir / "fake-entra.key"
        _self_signed(self.cert_path, key_path)
        owner = self

        class Handler(_IdentityHandler):
            identity = owner

        github = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        entra = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, key_path)
        entra.socket = context.wrap_socket(entra.socket, server_side=True)
        for server in (github, entra):
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        self._servers = [github, entra]
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> "FakeIdentity":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def request_url(self) -> str:
        return f"http://127.0.0.1:{self._servers[0].server_address[1]}/_apis/distributedtask/idtoken?api-version=2.0"

    @property
    def authority(self) -> str:
        return f"https://127.0.0.1:{self._servers[1].server_address[1]}"

    def env(self) -> dict[str, str]:
        return {
            "ACTIONS_ID_TOKEN_REQUEST_URL": self.request_url,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN,
            "AZURE_AUTHORITY_HOST": self.authority,
            "REQUESTS_CA_BUNDLE": str(self.cert_path),
        }


class _IdentityHandler(BaseHTTPRequestHandler):
    identity: FakeIdentity
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _reply(self, status: int, data: Any) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # GitHub: GET <ACTIONS_ID_TOKEN_REQUEST_URL>&audience=…
        parsed = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        self.identity.github_requests.append(
            {"path": parsed.path, "query": query, "authorization": self.headers.get("Authorization", "")}
        )
        if self.headers.get("Authorization") != f"Bearer {REQUEST_TOKEN}":
            return self._reply(401, {"message": "bad request token"})
        self.identity.issued_audiences.append(query.get("audience", ""))
        return self._reply(200, {"value": f"{GITHUB_JWT}.{query.get('audience', '')}"})

    def do_POST(self) -> None:  # Entra ID: POST /{tenant}/oauth2/v2.0/token
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        tenant = self.path.split("/")[1]
        self.identity.token_requests.append({"path": self.path, "tenant": tenant, **form})
        expected = f"{GITHUB_JWT}.api://AzureADTokenExchange"
        if not self.path.endswith("/oauth2/v2.0/token") or form.get("client_assertion") != expected:
            return self._reply(
                401,
                {"error": "invalid_client", "error_description": "AADSTS700213: no matching federated identity record"},
            )
        return self._reply(
            200,
            {
                "token_type": "Bearer",
                "expires_in": 3600,
                "ext_expires_in": 3600,
                "access_token": self.identity.access_token,
            },
        )


def _self_signed(cert_path: Any, key_path: Any) -> None:
    """A throw-away certificate for 127.0.0.1 (cryptography comes with azure-identity's msal)."""
    import ipaddress
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
