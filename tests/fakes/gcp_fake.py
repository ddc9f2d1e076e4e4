"""A fake of the Cloud Functions v2 REST API on 127.0.0.1, written from the public contract.

Owns: the HTTP surface faas-action's GCP provider reaches with plain JSON over google-auth's
AuthorizedSession: functions get / create / patch with `updateMask`, `functions:generateUploadUrl`,
long-running operations (`projects/*/locations/*/operations/*`, done / error / response, stages in
OperationMetadata), the Cloud Run v2 `getIamPolicy` / `setIamPolicy` of a function's service, and,
for workload identity federation, a GitHub-style OIDC endpoint and an STS token endpoint. Every
request is recorded (method, path, query, body, headers) so tests assert on what reached the
cloud, e.g. the exact update mask.
Must not: import faas_action, or be lenient where the real API is strict. Request bodies are
checked against the REST API's JSON schema of each message (an unknown field name is refused, as
the API refuses it: "Invalid JSON payload received. Unknown name"); enums may be sent as their
names or as integers, as the API accepts both (`$alt` is optional; when given it must be `json`
or `json;enum-encoding=int`), and are stored as names, as the API answers by default; integer
fields take numbers or numeric strings. Mask paths must name known fields in the JSON (camelCase)
spelling (map keys refused), operation names have the `projects/*/locations/*/operations/*`
shape, 404s have the Google error shape, and the uploaded source must exist in the storage
emulator before create/patch accepts it.

Scripting (set attributes before the run): `operation_polls` (GETs answered "not done" before an
operation finishes), `operation_never_done`, `build_failure` (the build's error message),
`state_after_deploy`, `deploying_reads[name]` (GETs that still report DEPLOYING),
`upload_failures` (503s the signed URL answers before accepting), `unavailable` (API requests
answered 503 before serving again), `require_token`; `drop(method, fragment)` closes the
connection of matching requests without a reply; `fail(method, fragment, code, status, message)`
answers matching requests with that Google error (and `Retry-After`, when given).
The fixtures at the bottom start the storage emulator once per process and a fake per test.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import urllib.parse
import uuid
from copy import deepcopy
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from .chaos import Chaos

FUNCTION_TYPE = "type.googleapis.com/google.cloud.functions.v2.Function"
METADATA_TYPE = "type.googleapis.com/google.cloud.functions.v2.OperationMetadata"
PROJECT_NUMBER = "123456789012"
STS_TOKEN = "ya29.sts-token-from-fake"
OIDC_JWT = "eyJhbGciOiJSUzI1NiJ9.github-oidc.signature"

# Fields a client may name in an update mask (camelCase, as the REST transport sends them).
MASKABLE = {
    "buildConfig", "buildConfig.source", "buildConfig.runtime", "buildConfig.entryPoint",
    "buildConfig.environmentVariables", "buildConfig.serviceAccount", "buildConfig.dockerRepository",
    "serviceConfig", "serviceConfig.availableMemory", "serviceConfig.availableCpu",
    "serviceConfig.timeoutSeconds", "serviceConfig.minInstanceCount", "serviceConfig.maxInstanceCount",
    "serviceConfig.ingressSettings", "serviceConfig.vpcConnector", "serviceConfig.vpcConnectorEgressSettings",
    "serviceConfig.serviceAccountEmail", "serviceConfig.environmentVariables",
    "serviceConfig.secretEnvironmentVariables", "serviceConfig.allTrafficOnLatestRevision",
    "labels", "description", "kmsKeyName",
    "eventTrigger", "eventTrigger.pubsubTopic", "eventTrigger.eventFilters", "eventTrigger.retryPolicy",
    "eventTrigger.serviceAccountEmail",
}
# The JSON schema of the messages a request may carry (google.cloud.functions.v2, JSON names).
# A dict is a message, a one-element list a repeated field, a tuple an enum's names (the index is
# its integer value).
STRING, INT32, INT64, BOOL, MAP = "string", "int32", "int64", "bool", "map<string, string>"
ENVIRONMENT = ("ENVIRONMENT_UNSPECIFIED", "GEN_1", "GEN_2")
STORAGE_SOURCE = {"bucket": STRING, "object": STRING, "generation": INT64, "sourceUploadUrl": STRING}
REPO_SOURCE = {"branchName": STRING, "tagName": STRING, "commitSha": STRING, "projectId": STRING, "repoName": STRING,
               "dir": STRING, "invertRegex": BOOL}
SOURCE = {"storageSource": STORAGE_SOURCE, "repoSource": REPO_SOURCE, "gitUri": STRING}
BUILD_CONFIG = {
    "automaticUpdatePolicy": {}, "onDeployUpdatePolicy": {"runtimeVersion": STRING}, "build": STRING,
    "runtime": STRING, "entryPoint": STRING, "source": SOURCE,
    "sourceProvenance": {"resolvedStorageSource": STORAGE_SOURCE, "resolvedRepoSource": REPO_SOURCE, "gitUri": STRING},
    "workerPool": STRING, "environmentVariables": MAP,
    "dockerRegistry": ("DOCKER_REGISTRY_UNSPECIFIED", "CONTAINER_REGISTRY", "ARTIFACT_REGISTRY"),
    "dockerRepository": STRING, "serviceAccount": STRING,
}
SERVICE_CONFIG = {
    "service": STRING, "timeoutSeconds": INT32, "availableMemory": STRING, "availableCpu": STRING,
    "environmentVariables": MAP, "maxInstanceCount": INT32, "minInstanceCount": INT32, "vpcConnector": STRING,
    "vpcConnectorEgressSettings": ("VPC_CONNECTOR_EGRESS_SETTINGS_UNSPECIFIED", "PRIVATE_RANGES_ONLY", "ALL_TRAFFIC"),
    "ingressSettings": ("INGRESS_SETTINGS_UNSPECIFIED", "ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"),
    "uri": STRING, "serviceAccountEmail": STRING, "allTrafficOnLatestRevision": BOOL,
    "secretEnvironmentVariables": [{"key": STRING, "projectId": STRING, "secret": STRING, "version": STRING}],
    "secretVolumes": [{"mountPath": STRING, "projectId": STRING, "secret": STRING,
                       "versions": [{"version": STRING, "path": STRING}]}],
    "revision": STRING, "maxInstanceRequestConcurrency": INT32,
    "securityLevel": ("SECURITY_LEVEL_UNSPECIFIED", "SECURE_ALWAYS", "SECURE_OPTIONAL"),
    "binaryAuthorizationPolicy": STRING,
}
EVENT_TRIGGER = {
    "trigger": STRING, "triggerRegion": STRING, "eventType": STRING,
    "eventFilters": [{"attribute": STRING, "value": STRING, "operator": STRING}],
    "pubsubTopic": STRING, "serviceAccountEmail": STRING,
    "retryPolicy": ("RETRY_POLICY_UNSPECIFIED", "RETRY_POLICY_DO_NOT_RETRY", "RETRY_POLICY_RETRY"),
    "channel": STRING, "service": STRING,
}
FUNCTION_SCHEMA = {
    "name": STRING, "description": STRING, "buildConfig": BUILD_CONFIG, "serviceConfig": SERVICE_CONFIG,
    "eventTrigger": EVENT_TRIGGER,
    "state": ("STATE_UNSPECIFIED", "ACTIVE", "FAILED", "DEPLOYING", "DELETING", "UNKNOWN"),
    "updateTime": STRING, "labels": MAP,
    "stateMessages": [{"severity": ("SEVERITY_UNSPECIFIED", "ERROR", "WARNING", "INFO"), "type": STRING, "message": STRING}],
    "environment": ENVIRONMENT, "url": STRING, "kmsKeyName": STRING, "satisfiesPzs": BOOL, "createTime": STRING,
}
UPLOAD_URL_SCHEMA = {"kmsKeyName": STRING, "environment": ENVIRONMENT}
FUNCTION_PATH = re.compile(r"/v2/(projects/([^/]+)/locations/([^/]+)/functions/([^/:]+))")
FUNCTIONS_PATH = re.compile(r"/v2/(projects/([^/]+)/locations/([^/]+))/functions")
UPLOAD_URL_PATH = re.compile(r"/v2/(projects/([^/]+)/locations/([^/]+))/functions:generateUploadUrl")
OPERATION_PATH = re.compile(r"/v2/(projects/[^/]+/locations/[^/]+/operations/[^/]+)")
IAM_PATH = re.compile(r"/v2/(projects/[^/]+/locations/[^/]+/services/[^/:]+):(getIamPolicy|setIamPolicy)")
FUNCTION_ID = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")


class ApiError(Exception):
    """An error answered in the Google JSON error shape."""

    def __init__(self, code: int, status: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message
        self.headers = headers or {}


@dataclass
class Recorded:
    """One request that reached the fake."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]  # names lower-cased

    @property
    def update_mask(self) -> list[str]:
        value = self.query.get("updateMask", [""])[0]
        return [p for p in value.split(",") if p]


@dataclass
class Operation:
    name: str
    function: str
    verb: str
    polls_left: int
    never_done: bool
    failure: str | None
    build_id: str
    done: bool = False
    result: dict[str, Any] = field(default_factory=dict)


def snake(path: str) -> str:
    """`serviceConfig.availableMemory` → `service_config.available_memory`."""
    return re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), path)


class FakeGcp:
    """The fake API; `url` is its base (give it to FAAS_GCP_ENDPOINT)."""

    def __init__(self, storage_url: str, bucket: str) -> None:
        self.storage_url = storage_url.rstrip("/")
        self.bucket = bucket
        self.functions: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, Operation] = {}
        self.policies: dict[str, dict[str, Any]] = {}
        self.requests: list[Recorded] = []
        self.uploads: list[str] = []  # objects named by generateUploadUrl
        # scripting
        self.operation_polls = 0
        self.operation_never_done = False
        self.build_failure: str | None = None
        self.state_after_deploy = "ACTIVE"
        self.deploying_reads: dict[str, int] = {}
        self.upload_failures = 0
        self.unavailable = 0
        self.drops: list[list[Any]] = []  # [method, path fragment, remaining]: closed without a reply
        self.failures: list[list[Any]] = []  # [method, path fragment, remaining, ApiError]: answered with the error
        self.chaos = Chaos(_chaos_error, skip=("/oidc", "/sts"))  # faults on the wire (tests/fakes/chaos.py)
        self.require_token: str | None = None
        self.oidc_request_token = "runner-request-token"
        self._lock = threading.RLock()
        self._counter = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> "FakeGcp":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- scripting helpers ----------------------------------------------------------------------
    def drop(self, method: str, fragment: str, times: int = 1) -> None:
        """Close the connection of the next `times` requests whose path contains `fragment`,
        before acting on them."""
        with self._lock:
            self.drops.append([method, fragment, times])

    def fail(self, method: str, fragment: str, code: int, status: str, message: str, times: int = 1,
             retry_after: str | None = None) -> None:
        """Answer the next `times` API requests whose path contains `fragment` with this Google
        error (before acting on them)."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        with self._lock:
            self.failures.append([method, fragment, times, ApiError(code, status, message, headers)])

    def _take_failure(self, method: str, path: str) -> ApiError | None:
        with self._lock:
            for failure in self.failures:
                if failure[2] > 0 and failure[0] == method and failure[1] in path:
                    failure[2] -= 1
                    return failure[3]
        return None

    def _take_drop(self, method: str, path: str) -> bool:
        with self._lock:
            for drop in self.drops:
                if drop[2] > 0 and drop[0] == method and drop[1] in path:
                    drop[2] -= 1
                    return True
        return False

    def add_function(
        self,
        name: str,
        *,
        environment: str = "GEN_2",
        state: str = "ACTIVE",
        runtime: str = "python312",
        entry_point: str = "handler",
        labels: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        service_config: dict[str, Any] | None = None,
        event_trigger: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Seed an existing function (full resource name), as the API would return it."""
        project, region, function_id = _parts(name)
        self._counter += 1
        function: dict[str, Any] = {
            "name": name,
            "environment": environment,
            "state": state,
            "buildConfig": {"runtime": runtime, "entryPoint": entry_point,
                            "source": {"storageSource": {"bucket": "seeded", "object": "seeded.zip"}}},
            "serviceConfig": {
                "availableMemory": "256M",
                "timeoutSeconds": 60,
                "maxInstanceCount": 100,
                "ingressSettings": "ALLOW_ALL",
                "allTrafficOnLatestRevision": True,
                "environmentVariables": {"LOG_EXECUTION_ID": "true", **(env or {})},
                "serviceAccountEmail": f"{PROJECT_NUMBER}-compute@developer.gserviceaccount.com",
                **(service_config or {}),
            },
            "labels": dict(labels or {}),
            "updateTime": self._timestamp(),
        }
        if event_trigger:
            function["eventTrigger"] = event_trigger
        if environment == "GEN_2":
            self._mark_deployed(function, project, region, function_id)
        else:
            function["url"] = f"https://{region}-{project}.cloudfunctions.net/{function_id}"
        self.functions[name] = function
        return function

    def calls(self, method: str | None = None, contains: str = "") -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if (method is None or r.method == method) and contains in r.path]

    def writes(self) -> list[Recorded]:
        """Requests that would change cloud state (everything but reads and the token endpoints)."""
        return [r for r in self.calls() if r.method != "GET" and not r.path.startswith(("/oidc", "/sts"))]

    def uploaded(self, obj: str) -> bytes:
        """The bytes stored in the storage emulator under `obj` of the upload bucket."""
        reply = requests.get(f"{self.storage_url}/download/storage/v1/b/{self.bucket}/o/{obj}", params={"alt": "media"}, timeout=10)
        reply.raise_for_status()
        return reply.content

    def policy_members(self, service: str, role: str = "roles/run.invoker") -> list[str]:
        for binding in self.policies.get(service, {}).get("bindings", []):
            if binding.get("role") == role:
                return list(binding.get("members", []))
        return []

    # -- request dispatch -----------------------------------------------------------------------
    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _serve(self) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                content_type = self.headers.get("Content-Type", "")
                body: Any = raw
                if raw and "json" in content_type:
                    body = json.loads(raw)
                elif raw and "x-www-form-urlencoded" in content_type:
                    body = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
                record = Recorded(self.command, urllib.parse.unquote(parsed.path), query, body, {k.lower(): v for k, v in self.headers.items()})
                with fake._lock:
                    fake.requests.append(record)
                if fake._take_drop(self.command, record.path):
                    self.close_connection = True
                    return

                def act() -> tuple[int, dict[str, str], bytes]:
                    try:
                        status, payload, headers = fake._route(record, raw)
                    except ApiError as exc:
                        status, headers = exc.code, dict(exc.headers)
                        payload = {"error": {"code": exc.code, "message": exc.message, "status": exc.status}}
                    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                    return status, {"Content-Type": "application/json", **headers}, data

                fake.chaos.serve(self, fake.chaos.draw(self.command, record.path), act)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        return Handler

    def _route(self, req: Recorded, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        path = req.path
        if path.startswith("/oidc"):
            return self._oidc(req)
        if path.startswith("/sts/"):
            return self._sts(req)
        if path.startswith("/upload/"):
            return self._flaky_upload(req, raw)
        self._authorize(req)
        with self._lock:
            if self.unavailable > 0:
                self.unavailable -= 1
                raise ApiError(503, "UNAVAILABLE", "The service is currently unavailable.")
            if (failure := self._take_failure(req.method, path)) is not None:
                raise failure
            if (m := IAM_PATH.fullmatch(path)):
                return self._iam(req, m.group(1), m.group(2))
            if (m := OPERATION_PATH.fullmatch(path)) and req.method == "GET":
                return 200, self._poll(m.group(1)), {}
            if (m := UPLOAD_URL_PATH.fullmatch(path)) and req.method == "POST":
                return 200, self._upload_url(req, m.group(1)), {}
            if (m := FUNCTION_PATH.fullmatch(path)):
                if req.method == "GET":
                    return 200, self._get(m.group(1)), {}
                if req.method == "PATCH":
                    return 200, self._patch(req, m.group(1)), {}
            if (m := FUNCTIONS_PATH.fullmatch(path)) and req.method == "POST":
                return 200, self._create(req, m.group(1)), {}
        raise ApiError(404, "NOT_FOUND", f"no route for {req.method} {path}")

    def _authorize(self, req: Recorded) -> None:
        if self.require_token is None:
            return
        if req.headers.get("authorization") != f"Bearer {self.require_token}":
            raise ApiError(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")

    # -- Cloud Functions ------------------------------------------------------------------------
    def _get(self, name: str) -> dict[str, Any]:
        function = self.functions.get(name)
        if function is None:
            raise ApiError(404, "NOT_FOUND", f"Resource '{name}' was not found")
        for operation in list(self.operations.values()):  # the platform works on, polled or not
            if operation.function == name and not operation.done:
                self._poll(operation.name)
        function = self.functions[name]
        if self.deploying_reads.get(name, 0) > 0:
            self.deploying_reads[name] -= 1
            return {**deepcopy(function), "state": "DEPLOYING"}
        if self.deploying_reads.get(name) == 0:
            del self.deploying_reads[name]
        return deepcopy(function)

    def _create(self, req: Recorded, parent: str) -> dict[str, Any]:
        body = self._check_request(req, FUNCTION_SCHEMA, "function")
        function_id = req.query.get("functionId", [""])[0]
        if not FUNCTION_ID.fullmatch(function_id):
            raise ApiError(400, "INVALID_ARGUMENT", f"Invalid function id {function_id!r}")
        name = f"{parent}/functions/{function_id}"
        if name in self.functions:
            raise ApiError(409, "ALREADY_EXISTS", f"Function {function_id} already exists")
        function = body
        if not function.get("buildConfig", {}).get("runtime"):
            raise ApiError(400, "INVALID_ARGUMENT", "Runtime must be specified")
        self._check_source(function)
        function.pop("state", None)
        function.update(name=name, state="DEPLOYING", updateTime=self._timestamp(), createTime=self._timestamp())
        self.functions[name] = function
        return self._start_operation(name, "create")

    def _patch(self, req: Recorded, name: str) -> dict[str, Any]:
        body = self._check_request(req, FUNCTION_SCHEMA, "function")
        current = self.functions.get(name)
        if current is None:
            raise ApiError(404, "NOT_FOUND", f"Resource '{name}' was not found")
        if current.get("state") == "DEPLOYING":
            raise ApiError(409, "ABORTED", f"An operation on function {name} is already in progress")
        if not req.update_mask:
            raise ApiError(400, "INVALID_ARGUMENT", "this fake requires an explicit updateMask")
        updated = deepcopy(current)
        for path in req.update_mask:
            if path not in MASKABLE:
                raise ApiError(400, "INVALID_ARGUMENT", f"Invalid field mask path: {path}")
            _copy_path(body, updated, path.split("."))
        if "buildConfig.source" in req.update_mask:
            self._check_source(updated)
        updated.update(state="DEPLOYING", updateTime=self._timestamp())
        self.functions[name] = updated
        return self._start_operation(name, "update")

    def _upload_url(self, req: Recorded, parent: str) -> dict[str, Any]:
        body = self._check_request(req, UPLOAD_URL_SCHEMA, "")
        if body.get("environment") != "GEN_2":
            raise ApiError(400, "INVALID_ARGUMENT", "environment must be GEN_2 for a 2nd gen function's upload URL")
        obj = f"{uuid.uuid4().hex}.zip"
        self.uploads.append(obj)
        signed = "GoogleAccessId=fake%40example.iam.gserviceaccount.com&Expires=9999999999&Signature=c2ln"
        if self.upload_failures or self.chaos.rate or self.chaos.scripted:  # through this server
            url = f"{self.url}/upload/{self.bucket}/{obj}?{signed}"
        else:
            url = f"{self.storage_url}/{self.bucket}/{obj}?{signed}"
        return {"uploadUrl": url, "storageSource": {"bucket": self.bucket, "object": obj}}

    def _flaky_upload(self, req: Recorded, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        """A signed URL that answers 503 `upload_failures` times, then stores into the emulator."""
        with self._lock:
            if self.upload_failures > 0:
                self.upload_failures -= 1
                return 503, b"Service Unavailable", {"Content-Type": "text/plain"}
        target = self.storage_url + req.path[len("/upload"):]
        reply = requests.put(target, data=raw, headers={"Content-Type": req.headers.get("content-type", "")}, timeout=10)
        return reply.status_code, reply.content, {"Content-Type": "text/plain"}

    def _check_request(self, req: Recorded, schema: dict[str, Any], message: str) -> dict[str, Any]:
        """The request body checked against `schema` and normalised (enums as names), as the API
        reads it; 400 INVALID_ARGUMENT with the API's wording otherwise."""
        alt = req.query.get("$alt", ["json"])[0]
        if alt not in ("json", "json;enum-encoding=int"):
            raise ApiError(400, "INVALID_ARGUMENT", f"Invalid value for $alt: {alt!r}")
        if not isinstance(req.body, dict):
            raise ApiError(400, "INVALID_ARGUMENT", "Invalid JSON payload received. Expected an object.")
        return _checked(req.body, schema, message)

    def _check_source(self, function: dict[str, Any]) -> None:
        source = function.get("buildConfig", {}).get("source", {}).get("storageSource", {})
        bucket, obj = source.get("bucket"), source.get("object")
        if not bucket or not obj:
            raise ApiError(400, "INVALID_ARGUMENT", "buildConfig.source.storageSource is required")
        reply = requests.get(f"{self.storage_url}/storage/v1/b/{bucket}/o/{urllib.parse.quote(obj, safe='')}", timeout=10)
        if reply.status_code != 200:
            raise ApiError(400, "INVALID_ARGUMENT", f"Source object gs://{bucket}/{obj} was not found")

    # -- operations -----------------------------------------------------------------------------
    def _start_operation(self, function_name: str, verb: str) -> dict[str, Any]:
        project, region, _ = _parts(function_name)
        self._counter += 1
        name = f"projects/{project}/locations/{region}/operations/operation-{self._counter}-{uuid.uuid4().hex[:8]}"
        operation = Operation(
            name=name,
            function=function_name,
            verb=verb,
            polls_left=self.operation_polls,
            never_done=self.operation_never_done,
            failure=self.build_failure,
            build_id=uuid.uuid4().hex[:12],
        )
        self.operations[name] = operation
        if not operation.never_done and operation.polls_left == 0:
            self._finish(operation)
        return self._operation_json(operation)

    def _poll(self, name: str) -> dict[str, Any]:
        operation = self.operations.get(name)
        if operation is None:
            raise ApiError(404, "NOT_FOUND", f"Operation {name} not found")
        if not operation.done and not operation.never_done:
            if operation.polls_left > 0:
                operation.polls_left -= 1
            if operation.polls_left == 0:
                self._finish(operation)
        return self._operation_json(operation)

    def build_log_url(self, operation: Operation) -> str:
        _, region, _ = _parts(operation.function)
        return f"https://console.cloud.google.com/cloud-build/builds;region={region}/{operation.build_id}?project={PROJECT_NUMBER}"

    def _finish(self, operation: Operation) -> None:
        function = self.functions[operation.function]
        operation.done = True
        if operation.failure:
            function["state"] = "FAILED"
            function["stateMessages"] = [{"severity": "ERROR", "type": "BuildFailed", "message": operation.failure}]
            return
        project, region, function_id = _parts(operation.function)
        self._mark_deployed(function, project, region, function_id)
        function["state"] = self.state_after_deploy
        if self.state_after_deploy != "ACTIVE":
            function["stateMessages"] = [{"severity": "ERROR", "type": "ServiceFailed",
                                          "message": "Revision is not ready: container failed to start"}]
        function["buildConfig"]["build"] = f"projects/{PROJECT_NUMBER}/locations/{region}/builds/{operation.build_id}"
        operation.result = deepcopy(function)

    def _mark_deployed(self, function: dict[str, Any], project: str, region: str, function_id: str) -> None:
        """What the platform fills in after a successful deploy."""
        service_config = function.setdefault("serviceConfig", {})
        revision = int((service_config.get("revision") or "-0-").split("-")[-2] or 0) + 1
        service_config.update(
            service=f"projects/{project}/locations/{region}/services/{function_id}",
            revision=f"{function_id}-{revision:05d}-{uuid.uuid4().hex[:3]}",
            uri=f"https://{function_id}-{PROJECT_NUMBER[:10]}.{region}.run.app",
        )
        # The platform adds this variable on every deploy (deploy-cloud-functions #421).
        service_config.setdefault("environmentVariables", {})["LOG_EXECUTION_ID"] = "true"
        function.update(environment="GEN_2", url=f"https://{region}-{project}.cloudfunctions.net/{function_id}")
        function.pop("stateMessages", None)

    def _operation_json(self, operation: Operation) -> dict[str, Any]:
        stages = self._stages(operation)
        result: dict[str, Any] = {
            "name": operation.name,
            "metadata": {
                "@type": METADATA_TYPE,
                "target": operation.function,
                "verb": operation.verb,
                "apiVersion": "v2",
                "stages": stages,
            },
            "done": operation.done,
        }
        if operation.done and operation.failure:
            result["error"] = {"code": 3, "message": f"Build failed with status: FAILURE and message: {operation.failure}."}
        elif operation.done:
            result["response"] = {"@type": FUNCTION_TYPE, **operation.result}
        return result

    def _stages(self, operation: Operation) -> list[dict[str, Any]]:
        build = {"name": "BUILD", "resourceUri": self.build_log_url(operation),
                 "resource": f"projects/{PROJECT_NUMBER}/locations/-/builds/{operation.build_id}"}
        service = {"name": "SERVICE"}
        if not operation.done:
            build.update(state="IN_PROGRESS", message="Building Function")
            service.update(state="NOT_STARTED")
        elif operation.failure:
            build.update(state="COMPLETE", message=operation.failure)
            service.update(state="NOT_STARTED")
        else:
            build.update(state="COMPLETE")
            service.update(state="COMPLETE")
        return [build, service]

    # -- Cloud Run IAM --------------------------------------------------------------------------
    def _iam(self, req: Recorded, service: str, verb: str) -> tuple[int, Any, dict[str, str]]:
        services = {f.get("serviceConfig", {}).get("service") for f in self.functions.values()}
        if service not in services:
            raise ApiError(404, "NOT_FOUND", f"Resource '{service}' was not found")
        policy = self.policies.setdefault(service, {"version": 1, "etag": _etag(b"empty")})
        if verb == "getIamPolicy":
            if req.method != "GET":
                raise ApiError(404, "NOT_FOUND", "getIamPolicy is a GET in Cloud Run v2")
            return 200, deepcopy(policy), {}
        if req.method != "POST":
            raise ApiError(404, "NOT_FOUND", "setIamPolicy is a POST")
        new = deepcopy((req.body or {}).get("policy") or {})
        if new.get("etag") and new["etag"] != policy["etag"]:
            raise ApiError(409, "ABORTED", "There were concurrent policy changes. Please retry the whole read-modify-write.")
        new["etag"] = _etag(json.dumps(new, sort_keys=True).encode())
        new.setdefault("version", 1)
        self.policies[service] = new
        return 200, deepcopy(new), {}

    # -- workload identity federation -----------------------------------------------------------
    def _oidc(self, req: Recorded) -> tuple[int, Any, dict[str, str]]:
        """The runner's OIDC endpoint (ACTIONS_ID_TOKEN_REQUEST_URL); `fail("GET", "/oidc", ...)` scripts its errors."""
        if (failure := self._take_failure(req.method, req.path)) is not None:
            raise failure
        if req.headers.get("authorization") != f"Bearer {self.oidc_request_token}":
            raise ApiError(401, "UNAUTHENTICATED", "bad runner request token")
        if not req.query.get("audience"):
            raise ApiError(400, "INVALID_ARGUMENT", "audience is required")
        return 200, {"value": OIDC_JWT}, {}

    def _sts(self, req: Recorded) -> tuple[int, Any, dict[str, str]]:
        form = req.body if isinstance(req.body, dict) else {}
        if form.get("subject_token") != OIDC_JWT or form.get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange":
            raise ApiError(400, "INVALID_ARGUMENT", "bad token exchange request")
        return 200, {
            "access_token": STS_TOKEN,
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer",
            "expires_in": 3600,
        }, {}

    def _timestamp(self) -> str:
        self._counter += 1
        return f"2025-01-01T00:{self._counter // 60:02d}:{self._counter % 60:02d}.000000Z"


def _chaos_error(status: int) -> bytes:
    names = {409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
    return json.dumps({"error": {"code": status, "message": f"injected {status}", "status": names.get(status, "UNKNOWN")}}).encode()


def _parts(name: str) -> tuple[str, str, str]:
    parts = name.split("/")
    return parts[1], parts[3], parts[5]


def _checked(value: Any, schema: Any, where: str) -> Any:
    """`value` read as the message, field or enum `schema` describes (see FUNCTION_SCHEMA)."""
    at = f" at '{where}'" if where else ""
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            raise ApiError(400, "INVALID_ARGUMENT", f"Invalid JSON payload received{at}: expected an object")
        result = {}
        for key, item in value.items():
            if key not in schema:
                raise ApiError(400, "INVALID_ARGUMENT", f'Invalid JSON payload received. Unknown name "{key}"{at}: Cannot find field.')
            if item is not None:
                result[key] = _checked(item, schema[key], f"{where}.{snake(key)}" if where else snake(key))
        return result
    if isinstance(schema, list):
        if not isinstance(value, list):
            raise ApiError(400, "INVALID_ARGUMENT", f"Invalid value{at}: expected a list")
        return [_checked(item, schema[0], where) for item in value]
    if isinstance(schema, tuple):  # an enum: its name, or its number
        if isinstance(value, str) and value in schema:
            return value
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(schema):
            return schema[value]
        raise ApiError(400, "INVALID_ARGUMENT", f"Invalid value{at}, {json.dumps(value)}")
    if schema == MAP:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ApiError(400, "INVALID_ARGUMENT", f"Invalid value{at}: expected a map of strings")
        return dict(value)
    if schema in (INT32, INT64):
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.lstrip("-").isdigit())):
            raise ApiError(400, "INVALID_ARGUMENT", f"Invalid value{at} ({schema}), {json.dumps(value)}")
        return int(value) if schema == INT32 else str(value)
    if schema == BOOL and not isinstance(value, bool):
        raise ApiError(400, "INVALID_ARGUMENT", f"Invalid value{at} (bool), {json.dumps(value)}")
    if schema == STRING and not isinstance(value, str):
        raise ApiError(400, "INVALID_ARGUMENT", f"Invalid value{at} (TYPE_STRING), {json.dumps(value)}")
    return value


def _copy_path(source: Any, target: dict[str, Any], keys: list[str]) -> None:
    """Apply one mask path: copy source's value at `keys` into target, clearing it when absent."""
    for key in keys[:-1]:
        source = source.get(key, {}) if isinstance(source, dict) else {}
        target = target.setdefault(key, {})
    if isinstance(source, dict) and keys[-1] in source:
        target[keys[-1]] = deepcopy(source[keys[-1]])
    else:
        target.pop(keys[-1], None)


def _etag(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()[:8]).decode()


# -- fixtures -------------------------------------------------------------------------------------

UPLOAD_BUCKET = "gcf-v2-uploads-123456789012-us-central1"
_storage: dict[str, Any] = {}


def storage_emulator_url() -> str:
    """gcp-storage-emulator, in memory, started once per test process."""
    if "url" not in _storage:
        import socket

        from gcp_storage_emulator.server import create_server

        for _ in range(3):  # the port may be taken between choosing and binding it
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            box: dict[str, Any] = {}

            def start(port: int = port, box: dict[str, Any] = box) -> None:
                # Built and started in a daemon thread: the emulator's serving thread inherits
                # daemon status, so the interpreter does not wait for it at exit (it has no stop
                # of its own that could run before that wait).
                box["server"] = create_server("127.0.0.1", port, in_memory=True, default_bucket=UPLOAD_BUCKET)
                box["server"].start()

            starter = threading.Thread(target=start, daemon=True)
            starter.start()
            starter.join(10)  # Server.start() waits for the bind without a limit: bound that wait
            url = f"http://127.0.0.1:{port}"
            if not starter.is_alive() and "server" in box and requests.get(url + "/", timeout=5).status_code == 200:
                _storage.update(server=box["server"], url=url)
                break
        else:
            raise RuntimeError("gcp-storage-emulator did not start")
    return _storage["url"]


@pytest.fixture
def gcp_fake():
    fake = FakeGcp(storage_emulator_url(), UPLOAD_BUCKET).start()
    yield fake
    fake.stop()
