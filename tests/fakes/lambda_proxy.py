"""A proxy in front of moto's Lambda server that adds what moto does not emulate.

moto always reports State=Active / LastUpdateStatus=Successful, never returns a RevisionId and
checks neither RevisionId nor CodeSha256 on publish. This proxy forwards every request to moto
and, following Lambda's public REST contract:
- keeps a RevisionId per function, returns it in replies and answers 412
  PreconditionFailedException when a mutation or a publish names a stale one;
- keeps a RevisionId per alias (moto's never changes), new after each UpdateAlias, and answers
  412 when an UpdateAlias names a stale one;
- answers a PublishVersion with the version it last published when nothing changed since (no
  code or configuration update: the RevisionId it was published from still holds), as Lambda
  does, where moto publishes a duplicate;
- answers 400 InvalidParameterValueException when PublishVersion names a CodeSha256 other than
  $LATEST's;
- replays scripted configuration states (InProgress, Pending, Failed) on the next polls;
- answers a CreateAlias on an existing alias with Lambda's ResourceConflictException (moto
  names it ConflictException);
- injects scripted error replies (409 conflicts, 429 throttling, 5xx, 403 for CloudWatch) in front
  of chosen calls (the pattern is searched in the path, then in the X-Amz-Target operation);
- injects network faults: a connection reset before the request reaches the service, or after
  the service applied it but before the reply (the reply is lost: an invoke ran), and slow replies
  (matched on the path, then on the X-Amz-Target operation);
- injects such faults at random (`chaos`, seeded) into a share of all requests;
- plays Lambda's lifecycle in time when asked (`lifecycle`): after a create or an update the
  function is busy (Pending / InProgress) for some seconds, and a mutation meanwhile gets 409;
- plays what moto ignores of Lambda's contract (settings, function URLs and policies per alias,
  provisioned concurrency): see lambda_contract.py;
- invokes as Lambda does what moto does not: an alias routes each request by its weights to one
  version, the reply names it in X-Amz-Executed-Version, and a version may be scripted to answer
  with a payload and an X-Amz-Function-Error (otherwise moto answers: it echoes the event);
- refuses to delete a version that an alias points to (409), as Lambda does.
It records every request so tests can assert which calls were (not) made. CloudWatch requests
(one endpoint for every service) pass through to moto.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import socket
import struct
import threading
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from tests.fakes.lambda_contract import LambdaContract, _function_name

FUNCTION_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/?]+)(?P<rest>/[^?]*)?")


READ_OPERATIONS = re.compile(r"\.(Get|Describe|List)[A-Za-z]*$")


@dataclass
class Recorded:
    method: str
    path: str
    body: dict
    target: str = ""  # X-Amz-Target of a JSON-protocol call (CloudWatch), e.g. ...GetMetricData

    @property
    def is_write(self) -> bool:
        if self.target and READ_OPERATIONS.search(self.target):
            return False
        return self.method in ("POST", "PUT", "DELETE", "PATCH")


@dataclass
class Invoked:
    function: str
    qualifier: str | None
    version: str
    payload: bytes


@dataclass
class Fault:
    method: str
    pattern: re.Pattern
    status: int
    error_type: str
    message: str
    remaining: int
    extra: dict


@dataclass
class NetworkFault:
    method: str
    pattern: re.Pattern
    kind: str  # "reset-before", "reset-after" or "slow"
    remaining: int
    seconds: float = 0.0


# What `chaos` draws from: (kind, status, error type); network kinds have no status.
CHAOS_FAULTS = (
    ("error", 500, "ServiceException"),
    ("error", 503, "ServiceUnavailableException"),
    ("error", 429, "TooManyRequestsException"),
    ("error", 409, "ResourceConflictException"),
    ("reset-before", 0, ""),
    ("reset-after", 0, ""),
    ("slow", 0, ""),
)
IN_PROGRESS = "The operation cannot be performed at this time. An update is in progress for resource: {arn}"


class LambdaProxy(LambdaContract):
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port
        self.requests: list[Recorded] = []
        self.revisions: dict[str, str] = {}
        self.config_overrides: dict[str, deque] = defaultdict(deque)
        self.faults: list[Fault] = []
        self.update_states: dict[str, tuple[int, dict]] = {}
        self.busy_seconds = 0.0
        self.busy_until: dict[str, tuple[float, str]] = {}
        self.network_faults: list[NetworkFault] = []
        self.chaos_rng: random.Random | None = None
        self.chaos_rate = 0.0
        self.chaos_slow_s = 0.0
        self.injected: list[tuple[str, str, str]] = []  # (kind, method, path) of every fault served
        self.invoke_scripts: dict[tuple[str, str], tuple[bytes, str | None]] = {}
        self.invocations: list[Invoked] = []
        self.alias_revisions: dict[tuple[str, str], str] = {}
        self.last_published: dict[str, tuple[str | None, str]] = {}  # function -> (RevisionId published from, version)
        self.rng = random.Random(7)
        self.lock = threading.Lock()
        self._contract_init()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _handle(self):
                proxy._serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "LambdaProxy":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- scripting ---------------------------------------------------------------------------
    def queue_state(self, function: str, count: int = 1, **fields: str) -> None:
        """The next `count` polls of `function` report these Configuration fields."""
        with self.lock:
            for _ in range(count):
                self.config_overrides[function].append(dict(fields))

    def after_each_update(self, function: str, count: int = 1, **fields: str) -> None:
        """After every code or configuration update of `function`, the next `count` polls
        report these fields (for example LastUpdateStatus=InProgress)."""
        with self.lock:
            self.update_states[function] = (count, fields)

    def fail(self, method: str, path_regex: str, status: int, error_type: str, message: str = "", times: int = 1, **extra) -> None:
        """Answer the next `times` matching requests with this error instead of forwarding."""
        with self.lock:
            self.faults.append(Fault(method, re.compile(path_regex), status, error_type, message or error_type, times, extra))

    def lifecycle(self, busy_seconds: float) -> None:
        """From now on, every create or update keeps the function busy for `busy_seconds` of
        real time: polls report State=Pending (after a create) or LastUpdateStatus=InProgress,
        and an update or a publish meanwhile is refused with 409, as Lambda does."""
        with self.lock:
            self.busy_seconds = busy_seconds

    def _busy(self, name: str | None) -> str | None:
        """'create' or 'update' while `name` is busy, else None."""
        if not name or not self.busy_seconds:
            return None
        until, kind = self.busy_until.get(name, (0.0, ""))
        return kind if time.monotonic() < until else None

    # -- network faults ----------------------------------------------------------------------
    def reset_before(self, method: str, path_regex: str, times: int = 1) -> None:
        """Reset the next `times` matching connections before the request reaches the service."""
        self._add_network_fault(method, path_regex, "reset-before", times)

    def reset_after(self, method: str, path_regex: str, times: int = 1) -> None:
        """Forward the next `times` matching requests (the service applies them), then reset the
        connection instead of replying: the client never learns that it worked."""
        self._add_network_fault(method, path_regex, "reset-after", times)

    def slow(self, method: str, path_regex: str, seconds: float, times: int = 1) -> None:
        """Forward the next `times` matching requests, then hold the reply for `seconds`."""
        self._add_network_fault(method, path_regex, "slow", times, seconds)

    def _add_network_fault(self, method: str, path_regex: str, kind: str, times: int, seconds: float = 0.0) -> None:
        with self.lock:
            self.network_faults.append(NetworkFault(method, re.compile(path_regex), kind, times, seconds))

    # -- random faults -----------------------------------------------------------------------
    def chaos(self, rate: float, seed: int, slow_s: float = 0.3) -> None:
        """From now on, fail a share `rate` of requests at random (seeded) with one of
        CHAOS_FAULTS: 500, 503, 429, 409 'update in progress' (only on writes to an existing
        function, where Lambda answers it), a reset before or after forwarding, a slow reply."""
        with self.lock:
            self.chaos_rng = random.Random(seed)
            self.chaos_rate = rate
            self.chaos_slow_s = slow_s

    def _draw_chaos(self, method: str, path: str) -> tuple[str, int, str] | None:
        if self.chaos_rng is None or path.startswith("/moto-api") or self.chaos_rng.random() >= self.chaos_rate:
            return None
        match = FUNCTION_PATH.match(path)
        may_conflict = method in ("POST", "PUT", "DELETE") and match is not None
        choices = [f for f in CHAOS_FAULTS if f[1] != 409 or may_conflict]
        return self.chaos_rng.choice(choices)

    def script_invoke(self, function: str, version: str, payload: str, function_error: str | None = None) -> None:
        """Invocations that run `version` of `function` answer `payload`, with this
        X-Amz-Function-Error when given (Lambda's 'Unhandled' for an uncaught exception)."""
        with self.lock:
            self.invoke_scripts[(function, version)] = (payload.encode(), function_error)

    def touch(self, function: str) -> None:
        """Simulate someone else changing the function: its RevisionId moves on."""
        with self.lock:
            self.revisions[function] = str(uuid.uuid4())

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.is_write and not r.path.startswith("/moto-api")]

    def calls(self, method: str, path_regex: str) -> list[Recorded]:
        pattern = re.compile(path_regex)
        return [r for r in self.requests if r.method == method and pattern.search(r.path)]

    # -- serving -----------------------------------------------------------------------------
    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw and handler.headers.get("Content-Type", "").startswith("application/") else {}
        except ValueError:
            body = {}
        path = handler.path
        target = handler.headers.get("X-Amz-Target", "")
        with self.lock:
            self.requests.append(Recorded(handler.command, path, body if isinstance(body, dict) else {}, target))
            fault = self._take_fault(handler.command, path, target)
            network = self._take_network_fault(handler.command, path, target) if not fault else None
            drawn = self._draw_chaos(handler.command, path) if not (fault or network) else None
            if drawn:
                kind, status, error_type = drawn
                if kind == "error":
                    message = IN_PROGRESS.format(arn=path) if status == 409 else error_type
                    fault = Fault(handler.command, re.compile(""), status, error_type, message, 0, {})
                else:
                    network = NetworkFault(handler.command, re.compile(""), kind, 0, self.chaos_slow_s)
            if fault or network:
                self.injected.append((network.kind if network else str(fault.status), handler.command, path))
        if fault:
            payload = {"Type": "User", "message": fault.message, "__type": fault.error_type, **fault.extra}
            return self._reply(handler, fault.status, {"x-amzn-ErrorType": fault.error_type}, json.dumps(payload).encode())
        if network and network.kind == "reset-before":
            return self._reset(handler)

        played = self._contract_serve(handler.command, path, body if isinstance(body, dict) else {})
        if played:
            return self._reply_unless_lost(handler, network, *played)

        match = FUNCTION_PATH.match(path)
        name = _function_name(match["name"]) if match else None  # a name, name:qualifier or an ARN
        rest = (match["rest"] or "") if match else ""
        if match and handler.command == "POST" and rest == "/invocations":
            return self._invoke(handler, match["name"], path, raw, network)
        alias_name = unquote(rest.split("/")[2]) if rest.startswith("/aliases/") else None
        if match and handler.command == "PUT" and alias_name:
            refusal = self._check_alias_revision(name, alias_name, body)
            if refusal:
                return self._reply(handler, *refusal)
        if match and handler.command == "DELETE" and not rest and "Qualifier=" in path:
            refusal = self._check_version_delete(name, path)
            if refusal:
                return self._reply(handler, *refusal)
        guarded = match and (
            (handler.command == "PUT" and rest in ("/code", "/configuration"))
            or (handler.command == "POST" and rest == "/versions")
        )
        if guarded and self._busy(name):
            message = f"The operation cannot be performed at this time. An update is in progress for resource: arn:aws:lambda:us-east-1:123456789012:function:{name}"
            return self._reply(handler, 409, {"x-amzn-ErrorType": "ResourceConflictException"},
                               json.dumps({"Type": "User", "message": message}).encode())
        if guarded:
            error = self._check_guards(name, rest, body)
            if error:
                return self._reply(handler, *error)
        if guarded and rest == "/versions":
            unchanged = self._unchanged_since_publish(name, path, body)
            if unchanged:
                return self._reply_unless_lost(handler, network, 201, {"Content-Type": "application/json"}, unchanged)

        status, headers, data = self._forward(handler, raw)
        data = self._contract_reply(handler.command, path, body if isinstance(body, dict) else {}, status, data)
        if match and status == 409 and b'"ConflictException"' in data:
            headers = {k: v for k, v in headers.items() if k.lower() != "x-amzn-errortype"}
            headers["x-amzn-ErrorType"] = "ResourceConflictException"
            data = data.replace(b'"ConflictException"', b'"ResourceConflictException"')
        if match and 200 <= status < 300 and data:
            data = self._decorate(handler.command, name, rest, match["name"], data)
        if match and 200 <= status < 300 and (rest == "/aliases" or alias_name):
            data = self._alias_reply(handler.command, name, alias_name or body.get("Name", ""), data)
        if match and handler.command == "POST" and rest == "/versions" and 200 <= status < 300:
            with self.lock:
                self.last_published[name] = (self.revisions.get(name), json.loads(data)["Version"])
        if match and handler.command == "PUT" and rest in ("/code", "/configuration") and 200 <= status < 300 and self.busy_seconds:
            with self.lock:
                self.busy_until[name] = (time.monotonic() + self.busy_seconds, "update")
        if (path.startswith("/2015-03-31/functions") and handler.command == "POST" and not rest and 200 <= status < 300):
            created = json.loads(data).get("FunctionName")
            with self.lock:
                self.revisions.setdefault(created, str(uuid.uuid4()))
                if self.busy_seconds:
                    self.busy_until[created] = (time.monotonic() + self.busy_seconds, "create")
            data = self._decorate("GET", created, "/configuration", created, data)
        return self._reply_unless_lost(handler, network, status, headers, data)

    def _reply_unless_lost(self, handler: BaseHTTPRequestHandler, network: NetworkFault | None, status: int, headers: dict, data: bytes) -> None:
        """The reply, unless a network fault loses it (reset after the service acted) or delays it."""
        if network and network.kind == "reset-after":
            return self._reset(handler)
        if network and network.kind == "slow":
            time.sleep(network.seconds)
        return self._reply(handler, status, headers, data)

    # -- Lambda's invoke, as moto does not do it -------------------------------------------------
    def _invoke(self, handler: BaseHTTPRequestHandler, raw_name: str, path: str, payload: bytes, network: NetworkFault | None) -> None:
        raw = unquote(raw_name)
        parts = raw.split(":")
        name, in_name = (parts[6], ":".join(parts[7:])) if raw.startswith("arn:") else (parts[0], ":".join(parts[1:]))
        query = dict(part.split("=", 1) for part in urlsplit(path).query.split("&") if "=" in part)
        qualifier = unquote(query.get("Qualifier", "")) or in_name or None
        version = self._route(name, qualifier)
        if version is None:
            message = json.dumps({"Type": "User", "message": f"Function not found: {name}:{qualifier}"}).encode()
            return self._reply(handler, 404, {"x-amzn-ErrorType": "ResourceNotFoundException"}, message)
        with self.lock:
            self.invocations.append(Invoked(name, qualifier, version, payload))
            script = self.invoke_scripts.get((name, version))
        if script is None:
            status, headers, data = self._forward(handler, payload)
        else:
            body, function_error = script
            status, headers, data = 200, {"Content-Type": "application/json"}, body
            if function_error:
                headers["X-Amz-Function-Error"] = function_error
        if 200 <= status < 300:
            headers = {k: v for k, v in headers.items() if k.lower() != "x-amz-executed-version"}
            headers["X-Amz-Executed-Version"] = version
        return self._reply_unless_lost(handler, network, status, headers, data)

    def _route(self, name: str, qualifier: str | None) -> str | None:
        """The version that serves this request: an alias picks one by its routing weights."""
        if not qualifier or qualifier == "$LATEST" or qualifier.isdigit():
            return qualifier or "$LATEST"
        alias = self._upstream_json("GET", f"/2015-03-31/functions/{name}/aliases/{qualifier}")
        if "FunctionVersion" not in alias:
            return None
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        draw = self.rng.random()
        for version, weight in weights.items():
            if draw < weight:
                return version
            draw -= weight
        return alias["FunctionVersion"]

    def _check_version_delete(self, name: str, path: str):
        query = dict(part.split("=", 1) for part in urlsplit(path).query.split("&") if "=" in part)
        version = unquote(query.get("Qualifier", ""))
        aliases = self._upstream_json("GET", f"/2015-03-31/functions/{name}/aliases").get("Aliases", [])
        using = [a["Name"] for a in aliases
                 if a.get("FunctionVersion") == version or version in ((a.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {})]
        if not using:
            return None
        message = f"Unable to delete version because the following aliases reference it: {using}"
        return 409, {"x-amzn-ErrorType": "ResourceConflictException"}, json.dumps({"Type": "User", "message": message}).encode()

    def _take_fault(self, method: str, path: str, target: str = "") -> Fault | None:
        """The next scripted fault whose pattern matches the path, or the X-Amz-Target operation."""
        for fault in self.faults:
            matches = fault.pattern.search(path) or (target and fault.pattern.search(target))
            if fault.remaining > 0 and fault.method == method and matches:
                fault.remaining -= 1
                return fault
        return None

    def _take_network_fault(self, method: str, path: str, target: str = "") -> NetworkFault | None:
        for fault in self.network_faults:
            matches = fault.pattern.search(path) or (target and fault.pattern.search(target))
            if fault.remaining > 0 and fault.method == method and matches:
                fault.remaining -= 1
                return fault
        return None

    @staticmethod
    def _reset(handler: BaseHTTPRequestHandler) -> None:
        """Close the connection with a TCP reset and no reply."""
        handler.close_connection = True
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def _check_guards(self, name: str, rest: str, body: dict):
        with self.lock:
            current = self.revisions.get(name)
        wanted = body.get("RevisionId")
        if wanted and current and wanted != current:
            message = "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
            return 412, {"x-amzn-ErrorType": "PreconditionFailedException"}, json.dumps({"Type": "User", "message": message}).encode()
        if rest == "/versions" and body.get("CodeSha256"):
            latest = self._upstream_json("GET", f"/2015-03-31/functions/{name}/configuration")
            if latest.get("CodeSha256") != body["CodeSha256"]:
                message = f"CodeSHA256 ({body['CodeSha256']}) is different from current CodeSHA256 in $LATEST ({latest.get('CodeSha256')}). Please try again with the current CodeSHA256."
                return 400, {"x-amzn-ErrorType": "InvalidParameterValueException"}, json.dumps({"Type": "User", "message": message}).encode()
        return None

    # -- alias RevisionIds and publishing, as Lambda does them -------------------------------------
    def _check_alias_revision(self, name: str, alias: str, body: dict):
        """412 when an UpdateAlias names a RevisionId other than the alias's current one."""
        with self.lock:
            current = self.alias_revisions.get((name, alias))
        wanted = body.get("RevisionId")
        if wanted and current and wanted != current:
            message = "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
            return 412, {"x-amzn-ErrorType": "PreconditionFailedException"}, json.dumps({"Type": "User", "message": message}).encode()
        return None

    def _alias_reply(self, method: str, name: str, alias: str, data: bytes) -> bytes:
        """The alias's own RevisionId in a reply that carries aliases: a new one after a create or
        an update, dropped after a delete."""
        try:
            reply = json.loads(data) if data else {}
        except ValueError:
            return data
        with self.lock:
            if method == "DELETE":
                self.alias_revisions.pop((name, alias), None)
                return data
            if method in ("POST", "PUT"):
                self.alias_revisions[(name, alias)] = str(uuid.uuid4())
            for found in reply.get("Aliases", [reply]):
                if isinstance(found, dict) and found.get("Name"):
                    found["RevisionId"] = self.alias_revisions.setdefault((name, found["Name"]), str(uuid.uuid4()))
        return json.dumps(reply).encode()

    def _unchanged_since_publish(self, name: str, path: str, body: dict) -> bytes | None:
        """The reply of a PublishVersion that publishes nothing new: the version this proxy last
        published, when neither the code nor the configuration changed since (the RevisionId it
        was published from still holds, and $LATEST still has its code)."""
        with self.lock:
            revision, version = self.last_published.get(name, (None, ""))
            current = self.revisions.get(name)
        if not version or revision != current:
            return None
        published = self._upstream_json("GET", f"/2015-03-31/functions/{name}/configuration?Qualifier={version}")
        latest = self._upstream_json("GET", f"/2015-03-31/functions/{name}/configuration")
        volatile = ("FunctionArn", "Version", "LastModified", "RevisionId", "Description")
        if not published.get("CodeSha256") or any(
            published.get(key) != latest.get(key) for key in set(published) | set(latest) if key not in volatile
        ):
            return None  # changed in moto behind the proxy's back
        data = self._contract_reply("POST", path, body, 201, json.dumps(published).encode())
        return self._decorate("POST", name, "/versions", name, data)

    def _decorate(self, method: str, name: str, rest: str, raw_name: str, data: bytes) -> bytes:
        """Add RevisionId and scripted states to replies that carry a function configuration."""
        try:
            reply = json.loads(data)
        except ValueError:
            return data
        qualified = ":" in unquote(raw_name)
        with self.lock:
            if method in ("PUT", "POST") and rest in ("/code", "/configuration", ""):
                self.revisions[name] = str(uuid.uuid4())
                count, fields = self.update_states.get(name, (0, {}))
                self.config_overrides[name].extend(dict(fields) for _ in range(count))
            revision = self.revisions.setdefault(name, str(uuid.uuid4()))
            override = None
            if method == "GET" and rest in ("", "/configuration") and not qualified and self.config_overrides[name]:
                override = self.config_overrides[name].popleft()
        config = reply.get("Configuration") if rest == "" and method == "GET" else reply
        if isinstance(config, dict) and "FunctionName" in config:
            if not qualified:
                config["RevisionId"] = revision
            if override:
                config.update(override)
            busy = self._busy(name) if method == "GET" and not qualified else None
            if busy == "create":
                config.update(State="Pending", LastUpdateStatus="InProgress")
            elif busy == "update":
                config.update(LastUpdateStatus="InProgress")
        return json.dumps(reply).encode()

    def _upstream_json(self, method: str, path: str) -> dict:
        connection = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=30)
        try:
            connection.request(method, path, headers={"Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/lambda/aws4_request"})
            response = connection.getresponse()
            return json.loads(response.read() or b"{}")
        finally:
            connection.close()

    def _forward(self, handler: BaseHTTPRequestHandler, raw: bytes):
        connection = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=60)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "content-length", "connection")}
            headers["Host"] = f"{self.upstream_host}:{self.upstream_port}"
            connection.request(handler.command, handler.path, body=raw or None, headers=headers)
            response = connection.getresponse()
            data = response.read()
            out_headers = {k: v for k, v in response.getheaders() if k.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date")}
            return response.status, out_headers, data
        finally:
            connection.close()

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, headers: dict, data: bytes) -> None:
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(data)
