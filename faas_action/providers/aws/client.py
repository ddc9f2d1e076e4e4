"""Bounded Lambda calls and waits.

Owns: every call to the Lambda API goes through `LambdaCalls`: retries of 'update in progress'
conflicts and throttling with backoff until a deadline, the waits after each mutation (boto3's
waiter acceptors in a loop on the injected clock), the reads shared by plan, apply and release,
and the mapping of botocore's errors to ProviderError with a hint.
Must not: decide what to change (plan.py), change anything by itself, read os.environ or sleep
except through the injected clock.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping

from botocore import xform_name
from botocore.exceptions import ClientError

from ...errors import ProviderError
from ..base import Clock, Deadline, Log, backoff_delays

RETRYABLE = {"ResourceConflictException", "TooManyRequestsException", "ThrottlingException", "Throttling"}
NOT_FOUND = {"ResourceNotFoundException", "ProvisionedConcurrencyConfigNotFoundException"}


class LambdaCalls:
    """A botocore Lambda client whose calls are bounded by deadlines and retried within them."""

    def __init__(self, client, log: Log, clock: Clock) -> None:
        self.client = client
        self.log = log
        self.clock = clock

    def call(self, deadline: Deadline, method: Callable[..., dict], retry_conflicts: bool = True, **params: Any) -> dict:
        """Call `method`, retrying 'update in progress' conflicts and throttling until the deadline."""
        delays = backoff_delays(base=1.0, cap=15.0)
        while True:
            try:
                return method(**params)
            except ClientError as exc:
                code = error_code(exc)
                if code in RETRYABLE and (retry_conflicts or code != "ResourceConflictException"):
                    delay = retry_after(exc) or next(delays)
                    self.log.info(f"{method.__name__}: {code}, retrying in {delay:.1f} s")
                    deadline.sleep(delay, detail=f"{code}: {exc.response['Error'].get('Message', '')}")
                    continue
                raise provider_error(exc, method.__name__) from exc

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
            try:
                response = operation(FunctionName=name)
            except ClientError as exc:
                if error_code(exc) not in RETRYABLE:
                    raise provider_error(exc, f"waiting for {name}") from exc
                response = {}
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
    def get_function(self, name: str, qualifier: str | None = None) -> dict | None:
        """GetFunction, of a version or alias with `qualifier`; None when there is no such thing."""
        try:
            return self.client.get_function(FunctionName=name, **({"Qualifier": qualifier} if qualifier else {}))
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise provider_error(exc, f"reading function {name}" + (f":{qualifier}" if qualifier else "")) from exc

    def alias(self, name: str, alias: str | None) -> tuple[str | None, str | None]:
        """The alias's version and RevisionId; (None, None) when there is no such alias."""
        if not alias:
            return None, None
        try:
            found = self.client.get_alias(FunctionName=name, Name=alias)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None, None
            raise provider_error(exc, f"reading alias {alias}") from exc
        return found["FunctionVersion"], found.get("RevisionId")

    def url_of(self, name: str, qualifier: str | None, deadline: Deadline) -> str:
        """The function URL of the alias `qualifier`, or of the unqualified function; '' if none."""
        return (self.url_config(name, qualifier, deadline) or {}).get("FunctionUrl", "")

    def url_config(self, name: str, qualifier: str | None, deadline: Deadline) -> dict | None:
        """GetFunctionUrlConfig of the alias `qualifier` or of the function; None if it has none."""
        return self._found(deadline, self.client.get_function_url_config, FunctionName=name, **_qualified(qualifier))

    def policy(self, name: str, qualifier: str | None, deadline: Deadline) -> list[dict]:
        """The statements of the resource-based policy of the alias `qualifier` or of the function."""
        found = self._found(deadline, self.client.get_policy, FunctionName=name, **_qualified(qualifier))
        return json.loads(found["Policy"]).get("Statement", []) if found else []

    def provisioned(self, name: str, qualifier: str, deadline: Deadline) -> dict | None:
        """GetProvisionedConcurrencyConfig of the alias; None when it has none."""
        return self._found(deadline, self.client.get_provisioned_concurrency_config, FunctionName=name, Qualifier=qualifier)

    def _found(self, deadline: Deadline, method: Callable[..., dict], **params: Any) -> dict | None:
        """A read through call(); None when Lambda says there is no such thing."""
        try:
            return self.call(deadline, method, **params)
        except ProviderError as exc:
            if cause_code(exc) in NOT_FOUND:
                return None
            raise

    def versions(self, name: str) -> list[dict]:
        """Every published version's configuration (ListVersionsByFunction, all pages)."""
        found: list[dict] = []
        paginator = self.client.get_paginator("list_versions_by_function")
        try:
            for page in paginator.paginate(FunctionName=name):
                found.extend(page.get("Versions", []))
        except ClientError as exc:
            raise provider_error(exc, f"listing versions of {name}") from exc
        return found


# -- helpers on botocore's replies and errors ----------------------------------------------------


def _qualified(qualifier: str | None) -> dict[str, str]:
    return {"Qualifier": qualifier} if qualifier else {}


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
    """The AWS error code behind a ProviderError raised by LambdaCalls.call, or ''."""
    return error_code(error.__cause__) if isinstance(error.__cause__, ClientError) else ""


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
