"""What every Azure request shares, whichever SDK makes it (ARM, Kudu, blob).

Owns: the per-request timeouts (`timeouts`: cut to what a deadline leaves); the loopback seam
(`LoopbackHttp`: azure-core refuses bearer tokens over plain http; the check is lowered per
request, and only when the request's own host is 127.0.0.1, localhost or ::1, the test servers);
which azure-core failures base.retrying may try again (`retryable`: connection failures, answers
cut short or not JSON, 408, 409, 429 and 5xx, a write only when it was never sent); the mapping of azure-core's exceptions to the
action's errors (`calling`: the message's first line, no secrets, the endpoint named); and the
hints those errors carry.
Must not: make a request itself, know any Azure service's paths, or sleep.
"""

from __future__ import annotations

import json
import urllib.parse
from contextlib import contextmanager
from typing import Any, Iterator

from azure.core.exceptions import (
    ClientAuthenticationError,
    DecodeError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.core.rest import HttpResponse

from ...errors import ActionError, CredentialsError, ProviderError
from ..base import Deadline, Retryable, refused

USER_AGENT = "faas-action"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

DEFAULT_POLL_S = 3.0
MAX_POLL_S = 30.0
REQUEST_TIMEOUT_S = 300.0  # one Kudu or blob request (a package upload)
ARM_TIMEOUT_S = 120.0  # one ARM request
CONNECT_TIMEOUT_S = 30.0
DEFAULT_WAIT_S = 900.0  # wait-timeout's default: the bound of a call made without a deadline
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# An answer that cannot be read: cut short of its Content-Length (azure-core's IncompleteReadError,
# a DecodeError), or a body that is not the JSON the SDK parses (a proxy's HTML error page).
UNREADABLE = (DecodeError, json.JSONDecodeError)

NETWORK_HINT = "check the runner's network and proxy settings (HTTPS_PROXY, NO_PROXY) and any FAAS_AZURE_*_ENDPOINT"
AUTH_HINT = (
    "use OIDC: add a federated credential for this repository to the app registration, give the job "
    "`permissions: id-token: write` and set client-id and tenant-id; or pass azure-access-token"
)
ROLE_HINT = "the identity needs the Website Contributor role on the Function App (or its resource group)"


def timeouts(deadline: Deadline, cap: float) -> dict[str, float]:
    """azure-core's timeouts for one request: what the deadline leaves, at most `cap`."""
    budget = deadline.budget(cap)
    return {"connection_timeout": min(CONNECT_TIMEOUT_S, budget), "read_timeout": budget}


class LoopbackHttp(SansIOHTTPPolicy):
    """Lets the bearer token go over plain http to 127.0.0.1, localhost or ::1, nowhere else.

    Runs on every attempt (after the retry and redirect policies), before the authentication
    policy, and decides from the URL being sent: a redirect away from loopback is enforced again.
    """

    def on_request(self, request: Any) -> None:
        request.context["enforce_https"] = not is_loopback(request.http_request.url)


def is_loopback(url: str) -> bool:
    return (urllib.parse.urlsplit(url).hostname or "").lower() in LOOPBACK_HOSTS


@contextmanager
def calling(what: str, endpoint: str, network: bool = True) -> Iterator[None]:
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
                f"{what}: Azure refused the token (401): {first_line(exc)}", hint=AUTH_HINT
            ) from exc
        raise CredentialsError(f"{what}: could not get an Azure token: {compact(exc)}", hint=AUTH_HINT) from exc
    except ResourceNotFoundError as exc:
        raise ProviderError(f"{what}: not found: {first_line(exc)}") from exc
    except UNREADABLE as exc:
        if not network:
            raise
        raise ProviderError(
            f"{what}: the answer from {endpoint} could not be read: {first_line(exc)}", hint=NETWORK_HINT
        ) from exc
    except HttpResponseError as exc:
        if exc.status_code == 403:
            raise ProviderError(f"{what}: forbidden (403): {first_line(exc)}", hint=ROLE_HINT) from exc
        raise ProviderError(f"{what} failed (HTTP {exc.status_code}): {first_line(exc)}") from exc
    except (ServiceRequestError, ServiceResponseError) as exc:
        if not network:
            raise
        raise ProviderError(f"{what}: could not reach {endpoint}: {first_line(exc)}", hint=NETWORK_HINT) from exc


def retryable(exc: Exception, endpoint: str, write: bool = False) -> Retryable | None:
    """Is this azure-core failure worth another attempt? A request never sent (ServiceRequestError:
    refused, unresolvable, connect timeout) always is; a request sent but unanswered, 408, 429 and
    5xx are too, unless it was a `write` that may have taken effect."""
    if isinstance(exc, ServiceRequestError):
        return Retryable("no connection", f"{endpoint}: {first_line(exc)}", refused=refused(exc), hint=NETWORK_HINT)
    if write:
        return None
    if isinstance(exc, ServiceResponseError):
        return Retryable("no answer", f"{endpoint}: {first_line(exc)}", hint=NETWORK_HINT)
    if isinstance(exc, UNREADABLE):
        return Retryable("unreadable answer", f"{endpoint}: {first_line(exc)}", hint=NETWORK_HINT)
    # 409: ARM's "another operation is in progress on the site"; only idempotent calls get here.
    if (
        isinstance(exc, HttpResponseError)
        and not isinstance(exc, ClientAuthenticationError)
        and exc.status_code in TRANSIENT_STATUS | {409}
    ):
        return Retryable(f"HTTP {exc.status_code}", first_line(exc), after=retry_after(exc.response))
    return None


def unreachable(exc: ProviderError) -> bool:
    """Did this error end retries of a request that could not reach its endpoint?"""
    return isinstance(exc.__cause__, (ServiceRequestError, ServiceResponseError))


def retry_after(response: HttpResponse | None) -> float | None:
    """Retry-After in seconds (fractions accepted), bounded; None when absent or unreadable."""
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return min(max(float(value), 0.05), MAX_POLL_S) if value else None
    except ValueError:
        return None


def first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # ARM errors read "(Code) message" then "Code: …" / "Message: …": the first line has both.
    return lines[0][:400] if lines else type(exc).__name__


def compact(exc: BaseException) -> str:
    return " ".join(str(getattr(exc, "message", None) or exc).split())[:600]
