"""Bounded Lambda (and S3) calls and waits.

Owns: every call to AWS goes through `LambdaCalls`: one retry loop (base.retrying) on the injected
clock for what botocore calls transient (network errors, 5xx, throttling) and for 'update in
progress' conflicts, within a deadline; each request's read timeout cut to what the deadline
leaves; the waits after each mutation (boto3's waiter acceptors in a loop on the injected clock);
the reads shared by plan, apply and release; a create whose 409 is told apart ('exists' or 'update
in progress') by reading; and the mapping of botocore's errors to the action's.
Must not: decide what to change (plan.py), change anything by itself, read os.environ or sleep
except through the injected clock.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Callable, Mapping, TypeVar

from botocore import xform_name
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError as BotoConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    SSLError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)
from botocore.retries import standard

from ...errors import CredentialsError, DeadlineError, ProviderError
from ..base import Clock, Deadline, Log, Retryable, refused, retrying

T = TypeVar("T")

DEFAULT_WAIT_S = 900.0  # wait-timeout's default: the bound of a read made without a deadline
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 70.0  # Lambda answers an UpdateFunctionCode of 50 MB in well under a minute
CONFLICT = "ResourceConflictException"
NOT_FOUND = {"ResourceNotFoundException", "ProvisionedConcurrencyConfigNotFoundException"}
NETWORK_HINT = "check the runner's network and proxy settings (HTTPS_PROXY, NO_PROXY) and any AWS_ENDPOINT_URL"
# botocore's own lists of what is worth another attempt (its 'standard' retry mode): throttling
# codes, RequestTimeout, HTTP 500/502/503/504, connection and HTTP client errors.
_THROTTLED = standard.ThrottledRetryableChecker()
_TRANSIENT = standard.TransientRetryableChecker()
_CREDENTIAL_ERRORS = (
    NoCredentialsError,
    PartialCredentialsError,
    CredentialRetrievalError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
    ProfileNotFound,
)

# The read timeout of the request being sent on this thread (plan() reads on several threads).
_attempt = threading.local()


def _bound_read_timeout(request, **_: Any) -> None:
    """botocore 'before-send' hook: botocore's HTTP session reads a per-request read timeout from
    the request context; without it a request that never answers waits the client's full
    READ_TIMEOUT_S however little of the deadline is left."""
    seconds = getattr(_attempt, "read_timeout", None)
    context = getattr(request, "context", None)
    if seconds is not None and isinstance(context, dict):
        context["read_timeout"] = seconds


class LambdaCalls:
    """Botocore clients whose calls are bounded by deadlines and retried within them."""

    def __init__(self, client, log: Log, clock: Clock, wait_s: float = DEFAULT_WAIT_S) -> None:
        self.client = self.adopt(client)
        self.log = log
        self.clock = clock
        self.wait_s = wait_s

    def within(self, wait_s: float) -> "LambdaCalls":
        """The same clients, with reads made without a deadline bounded by `wait_s` each."""
        return LambdaCalls(self.client, self.log, self.clock, wait_s)

    @staticmethod
    def adopt(client):
        """Let `client`'s requests be cut to the deadline (idempotent: one hook per client)."""
        client.meta.events.register("before-send", _bound_read_timeout, unique_id="faas-action-read-timeout")
        return client

    def run(
        self, deadline: Deadline, what: str, attempt: Callable[[], T], retry_conflicts: bool = True, *,
        retry_network: bool = True, read_timeout_s: float = READ_TIMEOUT_S,
    ) -> T:
        """Run `attempt` (one or more requests), retrying what botocore calls transient, and
        conflicts too unless `retry_conflicts` is False, until the deadline; errors come out as
        ProviderError (CredentialsError for credentials), the AWS error kept as the cause.
        Each request waits at most `read_timeout_s` for its reply, and never past the deadline.
        `retry_network=False`: a network failure ends it at once (the request may have run)."""

        def bounded() -> T:
            _attempt.read_timeout = deadline.budget(read_timeout_s)
            try:
                return attempt()
            finally:
                _attempt.read_timeout = None

        def classify(exc: Exception) -> Retryable | None:
            if not retry_network and not isinstance(exc, ClientError):
                return None
            return retryable(exc, retry_conflicts)

        try:
            return retrying(deadline, self.log, what, bounded, classify)
        except ClientError as exc:
            raise provider_error(exc, what) from exc
        except BotoCoreError as exc:
            mapped = botocore_error(exc, what)
            if mapped is None:  # a bug, not the world: keep the traceback
                raise
            raise mapped from exc

    def call(self, deadline: Deadline, method: Callable[..., dict], retry_conflicts: bool = True, **params: Any) -> dict:
        """Call `method` of a client (Lambda or S3) with `params`, bounded and retried as run() does."""
        return self.run(deadline, method.__name__, lambda: method(**params), retry_conflicts)

    def create(self, deadline: Deadline, what: str, create: Callable[[], dict], existing: Callable[[], dict | None]) -> tuple[dict, bool]:
        """Run `create` (a Create*/Add* call) as run() does. Lambda answers 409
        ResourceConflictException both for 'it already exists' and for 'an update is in progress':
        on a 409, `existing()` reads the thing (None when there is none). None: the conflict was
        an update in progress, retried like any. Found: it is returned with False, not created by
        this call (by an earlier attempt whose reply was lost, or by someone else: the caller
        compares it with what it asked for). Created: (the reply, True)."""

        def attempt() -> tuple[dict, bool]:
            try:
                return create(), True
            except ClientError as exc:
                if error_code(exc) != CONFLICT:
                    raise
                conflict = exc
            found = existing()
            if found is None:
                raise conflict
            return found, False

        return self.run(deadline, what, attempt)

    def wait(
        self,
        deadline: Deadline,
        name: str,
        waiters: tuple[str, ...] = ("function_active_v2", "function_updated_v2"),
    ) -> dict:
        """Poll until every named boto3 waiter's success acceptor matches the same response.

        The acceptors (Active / Successful succeed, Failed fails) come from boto3's waiter
        models; the loop is ours so that the deadline and the clock are. One GetFunction per
        poll answers both State and LastUpdateStatus. Returns the last response."""
        response: dict = {}
        models = [self.client.get_waiter(waiter).config for waiter in waiters]
        operation = getattr(self.client, xform_name(models[0].operation))
        assert all(m.operation == models[0].operation for m in models), "waiters must share their poll"
        while True:
            response = self.run(deadline, f"waiting for {name}", lambda: operation(FunctionName=name))
            outcomes = [next((a.state for a in m.acceptors if a.matcher_func(response)), "retry") for m in models]
            config = response.get("Configuration", response)
            status = f"State={config.get('State')}, LastUpdateStatus={config.get('LastUpdateStatus')}"
            if "failure" in outcomes:
                reason = config.get("LastUpdateStatusReason") or config.get("StateReason") or "no reason given"
                raise ProviderError(f"Lambda update of {name} failed ({status}): {reason}")
            if all(outcome == "success" for outcome in outcomes):
                break
            self.log.info(f"Waiting for {name}: {status}")
            deadline.sleep(max(m.delay for m in models), detail=status)
        return response

    # -- reads shared by plan, apply and release ----------------------------------------------
    def _deadline(self, deadline: Deadline | None, what: str) -> Deadline:
        return deadline or Deadline(self.clock, self.wait_s, what)

    def get_function(self, name: str, qualifier: str | None = None, deadline: Deadline | None = None) -> dict | None:
        """GetFunction, of a version or alias with `qualifier`; None when there is no such thing."""
        what = f"reading function {name}" + (f":{qualifier}" if qualifier else "")
        params = {"FunctionName": name, **({"Qualifier": qualifier} if qualifier else {})}
        try:
            return self.run(self._deadline(deadline, what), what, lambda: self.client.get_function(**params))
        except ProviderError as exc:
            if cause_code(exc) == "ResourceNotFoundException":
                return None
            raise

    def get_alias(self, name: str, alias: str | None, deadline: Deadline | None = None) -> dict | None:
        """GetAlias (version, RoutingConfig, Description, RevisionId); None when there is no such alias."""
        if not alias:
            return None
        what = f"reading alias {alias} of {name}"
        try:
            return self.run(self._deadline(deadline, what), what, lambda: self.client.get_alias(FunctionName=name, Name=alias))
        except ProviderError as exc:
            if cause_code(exc) == "ResourceNotFoundException":
                return None
            raise

    def alias(self, name: str, alias: str | None, deadline: Deadline | None = None) -> tuple[str | None, str | None]:
        """The alias's version and RevisionId; (None, None) when there is no such alias."""
        found = self.get_alias(name, alias, deadline)
        return (found["FunctionVersion"], found.get("RevisionId")) if found else (None, None)

    def aliases(self, name: str, deadline: Deadline | None = None) -> list[dict]:
        """Every alias of the function (ListAliases, all pages)."""
        what = f"listing aliases of {name}"

        def list_all() -> list[dict]:  # a failed page lists again from the start
            found: list[dict] = []
            for page in self.client.get_paginator("list_aliases").paginate(FunctionName=name):
                found.extend(page.get("Aliases", []))
            return found

        return self.run(self._deadline(deadline, what), what, list_all)

    def url_of(self, name: str, qualifier: str | None, deadline: Deadline | None = None) -> str:
        """The function URL of the alias `qualifier`, or of the unqualified function; '' if none."""
        return (self.url_config(name, qualifier, deadline) or {}).get("FunctionUrl", "")

    def url_config(self, name: str, qualifier: str | None, deadline: Deadline | None = None) -> dict | None:
        """GetFunctionUrlConfig of the alias `qualifier` or of the function; None if it has none."""
        return self._found(deadline, self.client.get_function_url_config, FunctionName=name, **_qualified(qualifier))

    def policy(self, name: str, qualifier: str | None, deadline: Deadline | None = None) -> list[dict]:
        """The statements of the resource-based policy of the alias `qualifier` or of the function."""
        found = self._found(deadline, self.client.get_policy, FunctionName=name, **_qualified(qualifier))
        return json.loads(found["Policy"]).get("Statement", []) if found else []

    def provisioned(self, name: str, qualifier: str, deadline: Deadline | None = None) -> dict | None:
        """GetProvisionedConcurrencyConfig of the alias; None when it has none."""
        return self._found(deadline, self.client.get_provisioned_concurrency_config, FunctionName=name, Qualifier=qualifier)

    def _found(self, deadline: Deadline | None, method: Callable[..., dict], **params: Any) -> dict | None:
        """A read through call(); None when Lambda says there is no such thing."""
        deadline = self._deadline(deadline, f"{method.__name__} of {params.get('FunctionName')}")
        try:
            return self.call(deadline, method, **params)
        except ProviderError as exc:
            if cause_code(exc) in NOT_FOUND:
                return None
            raise

    def versions(self, name: str, deadline: Deadline | None = None) -> list[dict]:
        """Every published version's configuration (ListVersionsByFunction, all pages)."""
        what = f"listing versions of {name}"

        def list_all() -> list[dict]:  # a failed page lists again from the start
            found: list[dict] = []
            for page in self.client.get_paginator("list_versions_by_function").paginate(FunctionName=name):
                found.extend(page.get("Versions", []))
            return found

        return self.run(self._deadline(deadline, what), what, list_all)


# -- helpers on botocore's replies and errors ----------------------------------------------------


def _qualified(qualifier: str | None) -> dict[str, str]:
    return {"Qualifier": qualifier} if qualifier else {}


def found_or_none(read: Callable[[], T]) -> T | None:
    """`read()` (one request, inside an attempt of LambdaCalls.run), or None when Lambda says
    there is no such thing; any other failure propagates to the retry loop."""
    try:
        return read()
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND:
            return None
        raise


def revision_of(response: Mapping[str, Any]) -> str | None:
    return response.get("Configuration", response).get("RevisionId")


def with_revision(params: dict[str, Any], revision: str | None) -> dict[str, Any]:
    """Add RevisionId where the service gave one (moto gives none)."""
    return {**params, "RevisionId": revision} if revision else params


def unqualified(arn: str) -> str:
    """`arn:aws:lambda:r:a:function:name[:qualifier]` → without the qualifier."""
    parts = arn.split(":")
    return ":".join(parts[:7]) if len(parts) > 7 else arn


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def cause_code(error: ProviderError) -> str:
    """The AWS error code behind a ProviderError raised by LambdaCalls, or '' (also for a
    deadline: retries of that code ran out, which is not the code's own answer)."""
    if isinstance(error, DeadlineError):
        return ""
    return error_code(error.__cause__) if isinstance(error.__cause__, ClientError) else ""


def retryable(exc: Exception, retry_conflicts: bool = True) -> Retryable | None:
    """Is this botocore failure worth another attempt? Throttling, RequestTimeout, 5xx, network
    errors (botocore's lists), and 'update in progress' conflicts when `retry_conflicts`."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == CONFLICT:
            return Retryable(code, message) if retry_conflicts else None
        context = standard.RetryContext(attempt_number=1, parsed_response=exc.response, http_response=_Status(status))
        if status == 429 or _THROTTLED.is_retryable(context) or _TRANSIENT.is_retryable(context):
            return Retryable(code or f"HTTP {status}", message, after=retry_after(exc))
        return None
    if isinstance(exc, SSLError):  # a certificate does not heal by retrying
        return None
    if isinstance(exc, (BotoConnectionError, HTTPClientError)):
        return Retryable(type(exc).__name__, str(exc), refused=refused(exc), hint=NETWORK_HINT)
    return None


class _Status:
    """What botocore's retry checkers read of an HTTP response: its status code."""

    def __init__(self, status_code: int | None) -> None:
        self.status_code = status_code


def botocore_error(exc: BotoCoreError, doing: str) -> ProviderError | CredentialsError | None:
    """A botocore failure that is not a service reply, as the action's error; None for a bug (a
    parameter botocore refuses, say), which stays a crash."""
    if isinstance(exc, _CREDENTIAL_ERRORS):
        return CredentialsError(
            f"{doing}: AWS credentials could not be loaded: {exc}",
            hint="a container action sees only the workspace and the job's environment: "
            "configure credentials with aws-actions/configure-aws-credentials in the same job",
        )
    if isinstance(exc, SSLError):
        return ProviderError(f"{doing} failed: {exc}", hint="set AWS_CA_BUNDLE if a proxy re-signs TLS traffic")
    if isinstance(exc, (BotoConnectionError, HTTPClientError)):
        return ProviderError(f"{doing} failed: {exc}", hint=NETWORK_HINT)
    return None


def retry_after(exc: ClientError) -> float | None:
    value = exc.response.get("retryAfterSeconds") or exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("retry-after")
    try:
        return float(value) if value else None
    except (TypeError, ValueError):
        return None


def provider_error(exc: ClientError, doing: str) -> ProviderError:
    code = error_code(exc)
    message = exc.response.get("Error", {}).get("Message", str(exc))
    hints = {
        "AccessDeniedException": "the role needs the permissions listed in the README (IAM policy)",
        "AccessDenied": "the role needs the permissions listed in the README (IAM policy)",
        "ResourceConflictException": "another update kept the function busy until wait-timeout",
        "TooManyRequestsException": "Lambda's control-plane quota throttled every retry until wait-timeout",
        "CodeStorageExceededException": "the region's 75 GB code storage is full: delete old versions",
        "PreconditionFailedException": "the function changed since this run read it",
        "InvalidParameterValueException": "",
        "UnrecognizedClientException": "the credentials are not valid for this account",
        "ExpiredTokenException": "the credentials expired: configure-aws-credentials sessions last 1 h by default",
    }
    return ProviderError(f"{doing} failed: {code}: {message}", hint=hints.get(code, ""))
