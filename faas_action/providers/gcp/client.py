"""Bounded requests to the Cloud Functions v2 and Cloud Run Admin v2 REST APIs.

Owns: every request to those APIs, as JSON over google-auth's AuthorizedSession, in the REST API's
own shape (plain dicts, camelCase fields, enum names): functions get / create / patch with
`updateMask`, `functions:generateUploadUrl`, operations get, and a Cloud Run service's
getIamPolicy / setIamPolicy. Each request's timeout is cut to what its deadline leaves, and every
request goes through base.retrying on the injected clock: one never sent (refused, connect
timeout) is always asked again; no answer, an answer cut short or not JSON, 408, 429 and 5xx only
for reads, generateUploadUrl and the etag-guarded setIamPolicy, never for a create or an update
(it may have taken effect: those raise LostReply, and apply.py reads the function to find out). HTTP
errors become the action's errors here: 401 credentials, 403 permission denied with the roles
needed, 404 not found (or None where absence is an answer), 409 another deployment, a stale
setIamPolicy etag PolicyConflict. The access token is masked as soon as google-auth has it.
Must not: decide what to change, print workflow commands, sleep except through a Deadline, or
import any Google client library but google-auth (no GAPIC client, no google-api-core, no gRPC).
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import google.auth.credentials
import google.auth.exceptions
import requests
from google.auth.transport.requests import AuthorizedSession

from ...errors import ActionError, CredentialsError, ProviderError
from ..base import Clock, Deadline, Log, Retryable, refused, retrying

FUNCTIONS_ENDPOINT = "https://cloudfunctions.googleapis.com"
RUN_ENDPOINT = "https://run.googleapis.com"
CALL_TIMEOUT = 60.0  # seconds for one HTTP request, at most; waits are bounded by wait-timeout instead
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
OPERATION_NAME = re.compile(r"projects/[^/]+/locations/[^/]+/operations/[^/]+")
SERVICE_NAME = re.compile(r"projects/[^/]+/locations/[^/]+/services/[^/:]+")

NETWORK_HINT = "check the runner's network and proxy settings (HTTPS_PROXY, NO_PROXY) and any FAAS_GCP_ENDPOINT"
TOKEN_HINT = "check the google-github-actions/auth step (workload identity provider, service account)"
PERMISSION_HINT = (
    "the deploying identity needs roles/cloudfunctions.developer on the project and "
    "roles/iam.serviceAccountUser on the runtime service account (docs/gcp.md)"
)
IAM_PERMISSION_HINT = (
    "allow-unauthenticated needs run.services.getIamPolicy and run.services.setIamPolicy "
    "(roles/run.admin, or a custom role with both) on the function's service"
)
CONFLICT_HINT = "another deployment of this function is running or just ran; re-run this step"


class PolicyConflict(ProviderError):
    """setIamPolicy refused a stale etag: read the policy again."""


class LostReply(ProviderError):
    """A create or update was sent, but its answer was lost (no answer, cut short, not JSON, 429 or
    5xx): it may have taken effect. The caller reads the function to find out."""


class _Busy(Exception):
    """An answer worth asking again (408, 429, 5xx)."""

    def __init__(self, reply: requests.Response) -> None:
        super().__init__(f"HTTP {reply.status_code}")
        self.reply = reply


class _Unreadable(Exception):
    """An HTTP 200 whose body is not a JSON object (cut short, a proxy's HTML page)."""

    def __init__(self, reply: requests.Response) -> None:
        super().__init__(f"the service answered HTTP 200 without a JSON object: {reply.text[:200]!r}")


class GcpCalls:
    """The calls the provider makes, each bounded by the Deadline it is given; `clock` is the one
    callers make those deadlines on, `log` where retries are reported."""

    def __init__(
        self,
        session: AuthorizedSession,
        credentials: google.auth.credentials.Credentials,
        log: Log,
        clock: Clock,
        functions_endpoint: str = FUNCTIONS_ENDPOINT,
        run_endpoint: str = RUN_ENDPOINT,
    ) -> None:
        self.session = session
        self.credentials = credentials
        self.log = log
        self.clock = clock
        self.functions_endpoint = functions_endpoint.rstrip("/")
        self.run_endpoint = run_endpoint.rstrip("/")
        self._masked_token: str | None = None

    # -- Cloud Functions v2 -------------------------------------------------------------------
    def get_function(self, name: str, deadline: Deadline, what: str = "read the function", missing_ok: bool = False) -> dict[str, Any] | None:
        """The Function, or None when it does not exist and `missing_ok`."""
        return self._request(what, "GET", self.functions_endpoint, name, deadline=deadline, missing_ok=missing_ok)

    def generate_upload_url(self, parent: str, kms_key: str | None, deadline: Deadline) -> dict[str, Any]:
        """`{"uploadUrl": ..., "storageSource": {...}}` for a 2nd gen function's source."""
        body = {"environment": "GEN_2", **({"kmsKeyName": kms_key} if kms_key else {})}
        return self._request("generate an upload URL", "POST", self.functions_endpoint, f"{parent}/functions:generateUploadUrl",
                             body=body, deadline=deadline)

    def create_function(self, parent: str, function_id: str, function: Mapping[str, Any], deadline: Deadline) -> dict[str, Any]:
        """The long-running Operation of the create."""
        return self._request("create the function", "POST", self.functions_endpoint, f"{parent}/functions",
                             params={"functionId": function_id}, body=function, deadline=deadline, write=True)

    def patch_function(self, name: str, function: Mapping[str, Any], update_mask: str, deadline: Deadline) -> dict[str, Any]:
        """The long-running Operation of the update; only the fields `update_mask` names change."""
        return self._request("update the function", "PATCH", self.functions_endpoint, name,
                             params={"updateMask": update_mask}, body=function, deadline=deadline, write=True)

    def get_operation(self, name: str, deadline: Deadline) -> dict[str, Any]:
        if not OPERATION_NAME.fullmatch(name):
            raise ProviderError(f"the service named its operation {name!r}, not projects/*/locations/*/operations/*")
        return self._request("read the deployment operation", "GET", self.functions_endpoint, name, deadline=deadline)

    # -- Cloud Run Admin v2: the IAM policy of a function's service ----------------------------
    def get_iam_policy(self, service: str, deadline: Deadline) -> dict[str, Any]:
        return self._request(f"read the IAM policy of {_service(service)}", "GET", self.run_endpoint,
                             f"{service}:getIamPolicy", deadline=deadline, permission_hint=IAM_PERMISSION_HINT)

    def set_iam_policy(self, service: str, policy: Mapping[str, Any], deadline: Deadline) -> dict[str, Any]:
        """Guarded by the policy's etag: a stale one (or a retry after a lost reply) raises PolicyConflict."""
        return self._request(f"set the IAM policy of {_service(service)}", "POST", self.run_endpoint, f"{service}:setIamPolicy",
                             body={"policy": policy}, deadline=deadline, permission_hint=IAM_PERMISSION_HINT, guarded=True)

    # -- one request ----------------------------------------------------------------------------
    def _request(
        self,
        what: str,
        method: str,
        endpoint: str,
        path: str,
        *,
        deadline: Deadline,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        write: bool = False,
        missing_ok: bool = False,
        guarded: bool = False,
        permission_hint: str = PERMISSION_HINT,
    ) -> Any:
        """One JSON request to `endpoint`/v2/`path`, retried as the module docstring says, its
        answer as a dict; None for a 404 when `missing_ok`."""
        url = f"{endpoint}/v2/{path}"

        def attempt() -> Any:
            try:
                reply = self.session.request(method, url, params=params, json=body, timeout=deadline.budget(CALL_TIMEOUT))
            finally:
                self._mask_token()
            if reply.status_code in RETRYABLE_STATUS:
                raise _Busy(reply)
            if reply.status_code != 200:
                return reply
            try:
                answer = reply.json()
            except ValueError:
                answer = None
            if not isinstance(answer, dict):
                raise _Unreadable(reply)
            return answer

        try:
            answer = retrying(deadline, self.log, what, attempt, lambda exc: _retryable(exc, endpoint, write))
        except (_Busy, _Unreadable, requests.RequestException) as exc:
            # Only a write gets here with one of these (a read is retried until the deadline): it
            # was sent, and may have taken effect.
            if write:
                raise LostReply(f"{what}: the request reached {endpoint} but its answer was lost ({_lost(exc)})",
                                hint=NETWORK_HINT) from exc
            if isinstance(exc, requests.RequestException):
                raise ProviderError(f"{what}: cannot reach {endpoint}: {short(exc)}", hint=NETWORK_HINT) from exc
            raise ProviderError(f"{what}: {_lost(exc)}") from exc
        except google.auth.exceptions.GoogleAuthError as exc:
            raise CredentialsError(f"{what}: could not get a GCP access token: {exc}", hint=TOKEN_HINT) from exc
        if isinstance(answer, dict):
            return answer
        reply = answer
        if reply.status_code == 404 and missing_ok:
            return None
        raise _error(what, reply, permission_hint, guarded)

    def _mask_token(self) -> None:
        """Mask the access token google-auth obtained (a token given as input is masked already)."""
        token = getattr(self.credentials, "token", None)
        if token and token != self._masked_token:
            self._masked_token = token
            self.log.mask(token)


def _error(what: str, reply: requests.Response, permission_hint: str, guarded: bool) -> ActionError:
    """A refused request as the action's error, keeping the service's message."""
    status, message = reply.status_code, error_message(reply)
    if status == 401:
        return CredentialsError(f"{what}: {message}", hint="the access token is invalid or expired")
    if status == 403:
        return ProviderError(f"{what}: permission denied: {message}", hint=permission_hint)
    if guarded and status in (409, 412):
        return PolicyConflict(f"{what}: {message}")
    if status == 409:
        return ProviderError(f"{what}: {message}", hint=CONFLICT_HINT)
    return ProviderError(f"{what} failed: HTTP {status} {message}")


def _retryable(exc: Exception, endpoint: str, write: bool) -> Retryable | None:
    """Is this failure worth another attempt? A request never sent (refused, connect timeout)
    always is; no answer, 408, 429 and 5xx are too, unless it was a `write` that may have taken
    effect."""
    never_sent = isinstance(exc, requests.ConnectTimeout) or (isinstance(exc, requests.ConnectionError) and refused(exc))
    if never_sent:
        return Retryable("no connection", f"{endpoint}: {short(exc)}", refused=refused(exc), hint=NETWORK_HINT)
    if write:
        return None
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)):
        return Retryable("no answer", f"{endpoint}: {short(exc)}", hint=NETWORK_HINT)
    if isinstance(exc, _Unreadable):
        return Retryable("unreadable answer", str(exc))
    if isinstance(exc, _Busy):
        return Retryable(str(exc), error_message(exc.reply), after=_seconds(exc.reply.headers.get("Retry-After")))
    return None


def _lost(exc: Exception) -> str:
    if isinstance(exc, _Busy):
        return f"HTTP {exc.reply.status_code} {error_message(exc.reply)}"
    return short(exc) if isinstance(exc, requests.RequestException) else str(exc)


def error_message(reply: requests.Response) -> str:
    """The message of a Google JSON error (`{"error": {"message": ...}}`), else the body's start."""
    try:
        return str(reply.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return reply.text[:300]


def short(exc: Exception) -> str:
    """A requests/urllib3 error in one line: the innermost reason, not the whole wrapper chain."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return " ".join(str(reason or exc).split())[:300]


def _seconds(value: str | None) -> float | None:
    try:
        return min(max(float(value), 0.0), 60.0) if value else None
    except ValueError:
        return None


def _service(name: str) -> str:
    if not SERVICE_NAME.fullmatch(name):
        raise ProviderError(f"the function's Cloud Run service is named {name!r}, not projects/*/locations/*/services/*")
    return name
