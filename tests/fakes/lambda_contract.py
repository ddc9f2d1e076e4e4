"""The parts of Lambda's REST contract that moto 5.2.5 ignores, played by the test proxy.

moto ignores LoggingConfig, SnapStart, DeadLetterConfig and FileSystemConfigs, keeps
EphemeralStorage, KMSKeyArn and ImageConfig only from CreateFunction, reports no reserved
concurrency of 0, keys function URLs and resource policies by function only (the Qualifier is
ignored, or lands on the alias's version), and has no provisioned concurrency. `LambdaContract`
(mixed into LambdaProxy) answers those from Lambda's API reference:
- a configuration overlay per function version: the fields above as the request set them, copied
  into each version Lambda publishes, reported in every reply that carries a configuration, with
  Lambda's defaults (LoggingConfig Text in /aws/lambda/NAME; SnapStart None);
- function URL configs (Create/Get/Update/DeleteFunctionUrlConfig) per function or alias;
- resource-based policies (AddPermission/GetPolicy/RemovePermission) per function or alias, with
  the conditions Lambda writes (lambda:FunctionUrlAuthType, lambda:InvokedViaFunctionUrl);
- provisioned concurrency per alias: IN_PROGRESS after a put (and after its alias moves), then
  READY or FAILED as scripted with `script_provisioned`.
"""

from __future__ import annotations

import http.client
import json
import re
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qs, unquote, urlsplit

OVERLAID = ("LoggingConfig", "SnapStart", "DeadLetterConfig", "FileSystemConfigs", "EphemeralStorage", "KMSKeyArn", "ImageConfig")
ACCOUNT, REGION = "123456789012", "us-east-1"
ROUTE = re.compile(r"^/(?P<api>[\d-]+)/functions/(?P<name>[^/?]+)(?P<rest>/[^?]*)?$")
NOT_FOUND = "The resource you requested does not exist."


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


class LambdaContract:
    """Mixed into LambdaProxy: `_contract_serve` answers the calls moto lacks, `_contract_reply`
    completes moto's replies. Needs `self.lock` and `self._upstream_json` from the proxy."""

    def _contract_init(self) -> None:
        self.overlays: dict[tuple[str, str], dict] = {}  # (function, version) -> overlaid fields
        self.reserved: dict[str, int] = {}
        self.urls: dict[tuple[str, str], dict] = {}  # (function, qualifier or '') -> URL config
        self.policies: dict[tuple[str, str], list[dict]] = {}  # (function, qualifier or '') -> statements
        self.provisioned: dict[tuple[str, str], dict] = {}  # (function, alias) -> config and progress
        self.provisioned_scripts: dict[str, tuple[int, str, str]] = {}

    # -- scripting ---------------------------------------------------------------------------
    def script_provisioned(self, function: str, in_progress_polls: int = 1, status: str = "READY", reason: str = "") -> None:
        """After each put (or alias move), provisioned concurrency of `function` reports
        IN_PROGRESS for `in_progress_polls` reads, then `status` (READY or FAILED, with `reason`)."""
        with self.lock:
            self.provisioned_scripts[function] = (in_progress_polls, status, reason)

    def policy_of(self, function: str, qualifier: str = "") -> list[dict]:
        return list(self.policies.get((function, qualifier), []))

    # -- serving -----------------------------------------------------------------------------
    def _contract_serve(self, method: str, path: str, body: dict):
        """(status, headers, bytes) for a call played here instead of moto; None to forward it."""
        parts = urlsplit(path)
        match = ROUTE.match(parts.path)
        if not match:
            return None
        name = _function_name(match["name"])
        qualifier = (parse_qs(parts.query).get("Qualifier") or [""])[0]
        rest = match["rest"] or ""
        if match["api"] == "2021-10-31" and rest == "/url":
            return self._function_url(method, name, qualifier, body)
        if match["api"] == "2015-03-31" and rest.startswith("/policy"):
            return self._policy(method, name, qualifier, rest[len("/policy/"):] if rest.startswith("/policy/") else "", body)
        if match["api"] == "2019-09-30" and rest == "/provisioned-concurrency":
            return self._provisioned_concurrency(method, name, qualifier, body)
        return None

    def _contract_reply(self, method: str, path: str, body: dict, status: int, data: bytes) -> bytes:
        """Complete a successful reply of moto's with what Lambda would also report or keep."""
        if not 200 <= status < 300:
            return data
        parts = urlsplit(path)
        created = parts.path.rstrip("/") == "/2015-03-31/functions" and method == "POST"
        if created:
            name, rest = _function_name(body.get("FunctionName", "")), ""
        else:
            match = ROUTE.match(parts.path)
            if not match:
                return data
            name, rest = _function_name(match["name"]), match["rest"] or ""
        with self.lock:
            if created or (method == "PUT" and rest == "/configuration"):
                latest = self.overlays.setdefault((name, "$LATEST"), {})
                latest.update({k: body[k] for k in OVERLAID if k in body})
            if rest == "/concurrency" and method == "PUT":
                self.reserved[name] = int(body.get("ReservedConcurrentExecutions", 0))
            if rest == "/concurrency" and method == "DELETE":
                self.reserved.pop(name, None)
            if rest.startswith("/aliases/") and method == "PUT":
                self._restart_provisioning(name, rest.split("/")[2])
        if not data:
            return data
        try:
            reply = json.loads(data)
        except ValueError:
            return data
        with self.lock:
            if method == "POST" and rest == "/versions" and reply.get("Version"):
                self.overlays.setdefault((name, reply["Version"]), dict(self.overlays.get((name, "$LATEST"), {})))
            for config in self._configurations(reply, rest):
                self._overlay(name, config)
            if rest == "" and method == "GET" and "Configuration" in reply and name in self.reserved:
                reply["Concurrency"] = {"ReservedConcurrentExecutions": self.reserved[name]}
        return json.dumps(reply).encode()

    @staticmethod
    def _configurations(reply: dict, rest: str) -> list[dict]:
        if rest == "/versions" and "Versions" in reply:
            return [v for v in reply["Versions"] if isinstance(v, dict)]
        config = reply.get("Configuration", reply)
        return [config] if isinstance(config, dict) and "FunctionName" in config else []

    def _overlay(self, name: str, config: dict) -> None:
        fields = self.overlays.get((name, str(config.get("Version", "$LATEST"))), {})
        logging = {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}", **(fields.get("LoggingConfig") or {})}
        if logging["LogFormat"] == "JSON":
            logging = {"ApplicationLogLevel": "INFO", "SystemLogLevel": "INFO", **logging}
        else:
            logging = {k: v for k, v in logging.items() if k in ("LogFormat", "LogGroup")}
        config["LoggingConfig"] = logging
        if "SnapStart" in fields:
            apply_on = fields["SnapStart"].get("ApplyOn", "None")
            published = config.get("Version", "$LATEST") != "$LATEST"
            config["SnapStart"] = {"ApplyOn": apply_on, "OptimizationStatus": "On" if apply_on == "PublishedVersions" and published else "Off"}
        if "DeadLetterConfig" in fields:
            if fields["DeadLetterConfig"].get("TargetArn"):
                config["DeadLetterConfig"] = {"TargetArn": fields["DeadLetterConfig"]["TargetArn"]}
            else:
                config.pop("DeadLetterConfig", None)
        if "FileSystemConfigs" in fields:
            if fields["FileSystemConfigs"]:
                config["FileSystemConfigs"] = fields["FileSystemConfigs"]
            else:
                config.pop("FileSystemConfigs", None)
        if "EphemeralStorage" in fields:
            config["EphemeralStorage"] = {"Size": fields["EphemeralStorage"]["Size"]}
        if fields.get("KMSKeyArn"):
            config["KMSKeyArn"] = fields["KMSKeyArn"]
        elif "KMSKeyArn" in fields or config.get("KMSKeyArn") is None:
            config.pop("KMSKeyArn", None)
        if "ImageConfig" in fields:
            config["ImageConfigResponse"] = {"ImageConfig": fields["ImageConfig"]}

    # -- function URLs ---------------------------------------------------------------------------
    def _function_url(self, method: str, name: str, qualifier: str, body: dict):
        missing = self._missing(name, qualifier, aliases_only=True)
        if missing:
            return missing
        key = (name, qualifier)
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}" + (f":{qualifier}" if qualifier else "")
        with self.lock:
            current = self.urls.get(key)
            if method == "POST":
                if current:
                    return _error(409, "ResourceConflictException", f"Failed to create function url config for [functionArn = {arn}]. Error message:  FunctionUrlConfig exists for this Lambda function")
                if body.get("AuthType") not in ("NONE", "AWS_IAM"):
                    return _error(400, "ValidationException", "1 validation error detected: Value at 'authType' failed to satisfy constraint")
                current = self.urls[key] = {
                    "FunctionUrl": f"https://{uuid.uuid4().hex}.lambda-url.{REGION}.on.aws/",
                    "FunctionArn": arn, "AuthType": body["AuthType"], "Cors": body.get("Cors") or {},
                    "CreationTime": _now(), "LastModifiedTime": _now(), "InvokeMode": body.get("InvokeMode", "BUFFERED"),
                }
                return 201, {}, json.dumps({k: v for k, v in current.items() if k != "LastModifiedTime"}).encode()
            if current is None:
                return _error(404, "ResourceNotFoundException", "The resource you requested does not exist.")
            if method == "GET":
                return 200, {}, json.dumps(current).encode()
            if method == "PUT":
                for field in ("AuthType", "Cors", "InvokeMode"):
                    if field in body:
                        current[field] = body[field]
                current["LastModifiedTime"] = _now()
                return 200, {}, json.dumps(current).encode()
            if method == "DELETE":
                del self.urls[key]
                return 204, {}, b""
        return _error(405, "MethodNotAllowed", method)

    # -- resource-based policies ---------------------------------------------------------------
    def _policy(self, method: str, name: str, qualifier: str, sid: str, body: dict):
        missing = self._missing(name, qualifier)
        if missing:
            return missing
        key = (name, qualifier)
        resource = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}" + (f":{qualifier}" if qualifier else "")
        with self.lock:
            statements = self.policies.setdefault(key, [])
            if method == "POST":
                if any(s["Sid"] == body.get("StatementId") for s in statements):
                    return _error(409, "ResourceConflictException", f"The statement id ({body.get('StatementId')}) provided already exists. Please provide a new statement id, or remove the existing statement.")
                statement = _statement(body, resource)
                statements.append(statement)
                return 201, {}, json.dumps({"Statement": json.dumps(statement)}).encode()
            if method == "GET":
                if not statements:
                    return _error(404, "ResourceNotFoundException", NOT_FOUND)
                policy = {"Version": "2012-10-17", "Id": "default", "Statement": statements}
                return 200, {}, json.dumps({"Policy": json.dumps(policy), "RevisionId": str(uuid.uuid4())}).encode()
            if method == "DELETE":
                kept = [s for s in statements if s["Sid"] != sid]
                if len(kept) == len(statements):
                    return _error(404, "ResourceNotFoundException", "No policy is associated with the given resource.")
                self.policies[key] = kept
                return 204, {}, b""
        return _error(405, "MethodNotAllowed", method)

    # -- provisioned concurrency ----------------------------------------------------------------
    def _provisioned_concurrency(self, method: str, name: str, qualifier: str, body: dict):
        if not qualifier or qualifier == "$LATEST":
            return _error(400, "InvalidParameterValueException", "Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
        missing = self._missing(name, qualifier)
        if missing:
            return missing
        key = (name, qualifier)
        with self.lock:
            current = self.provisioned.get(key)
            if method == "PUT":
                requested = int(body["ProvisionedConcurrentExecutions"])
                current = self.provisioned[key] = {"Requested": requested, "LastModified": _now()}
                self._start(name, current)
                return 202, {}, json.dumps(_provisioned_reply(current)).encode()
            if current is None:  # a delete too (the API lists a not-found error for it)
                return _error(404, "ProvisionedConcurrencyConfigNotFoundException", "No Provisioned Concurrency Config found for this function")
            if method == "GET":
                if current["Status"] == "IN_PROGRESS":
                    current["Polls"] -= 1
                    if current["Polls"] < 0:
                        current["Status"], current["StatusReason"] = current["Final"]
                return 200, {}, json.dumps(_provisioned_reply(current)).encode()
            if method == "DELETE":
                del self.provisioned[key]
                return 204, {}, b""
        return _error(405, "MethodNotAllowed", method)

    def _start(self, name: str, config: dict) -> None:
        polls, status, reason = self.provisioned_scripts.get(name, (1, "READY", ""))
        config.update({"Status": "IN_PROGRESS", "StatusReason": "", "Polls": polls, "Final": (status, reason)})

    def _restart_provisioning(self, name: str, alias: str) -> None:
        """Lambda allocates the alias's provisioned concurrency again for the version it now serves."""
        config = self.provisioned.get((name, alias))
        if config is not None:
            self._start(name, config)

    # -- helpers ---------------------------------------------------------------------------------
    def _missing(self, name: str, qualifier: str, aliases_only: bool = False):
        """A 404 reply when the function (or the alias/version `qualifier`) does not exist."""
        path = f"/2015-03-31/functions/{name}" + (f"/aliases/{qualifier}" if qualifier and (aliases_only or not qualifier.isdigit()) else "")
        if qualifier and qualifier.isdigit() and not aliases_only:
            path = f"/2015-03-31/functions/{name}/configuration?Qualifier={qualifier}"
        if qualifier and aliases_only and (qualifier.isdigit() or qualifier == "$LATEST"):
            return _error(400, "InvalidParameterValueException", "Function URLs can only be attached to an alias or to the unqualified function.")
        if self._upstream_status(path) == 404:
            return _error(404, "ResourceNotFoundException", f"Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}" + (f":{qualifier}" if qualifier else ""))
        return None

    def _upstream_status(self, path: str) -> int:
        connection = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=30)
        try:
            connection.request("GET", path, headers={"Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/lambda/aws4_request"})
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()


def _function_name(raw: str) -> str:
    """The function's name in a path or request: a name, `name:qualifier` or an ARN."""
    raw = unquote(raw)
    return raw.split(":")[6] if raw.startswith("arn:") else raw.split(":")[0]


def _statement(body: dict, resource: str) -> dict:
    """A policy statement as Lambda writes it from AddPermission's parameters."""
    principal = body["Principal"]
    if principal != "*":
        principal = {"Service": principal} if principal.endswith(".amazonaws.com") else {"AWS": principal}
    statement = {"Sid": body["StatementId"], "Effect": "Allow", "Principal": principal, "Action": body["Action"], "Resource": resource}
    condition: dict[str, dict] = {}
    if body.get("FunctionUrlAuthType"):
        condition.setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = body["FunctionUrlAuthType"]
    if body.get("InvokedViaFunctionUrl"):
        condition.setdefault("Bool", {})["lambda:InvokedViaFunctionUrl"] = "true"
    if body.get("SourceAccount"):
        condition.setdefault("StringEquals", {})["AWS:SourceAccount"] = body["SourceAccount"]
    if body.get("SourceArn"):
        condition.setdefault("ArnLike", {})["AWS:SourceArn"] = body["SourceArn"]
    if condition:
        statement["Condition"] = condition
    return statement


def _provisioned_reply(config: dict) -> dict:
    ready = config["Status"] == "READY"
    reply = {
        "RequestedProvisionedConcurrentExecutions": config["Requested"],
        "AvailableProvisionedConcurrentExecutions": config["Requested"] if ready else 0,
        "AllocatedProvisionedConcurrentExecutions": config["Requested"] if ready else 0,
        "Status": config["Status"],
        "LastModified": config["LastModified"],
    }
    if config.get("StatusReason"):
        reply["StatusReason"] = config["StatusReason"]
    return reply


def _error(status: int, error_type: str, message: str):
    return status, {"x-amzn-ErrorType": error_type}, json.dumps({"Type": "User", "message": message}).encode()
