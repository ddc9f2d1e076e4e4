"""Kudu (the SCM site): the package deploy and its status, with the ARM bearer token.

Owns: the `Kudu` client of one site (an azure-core pipeline with the management-scope bearer
token: basic publishing credentials are never used; every request's timeouts cut to its
deadline); the deploy (`deploy`: Flex Consumption `POST /api/publish`, elsewhere
`POST /api/zipdeploy?isAsync=true`; no answer, an answer cut short, 409, 408, 429 and 5xx retried
with backoff); polling the
deployment status until Success (4), Failed (3), Conflict (5), Cancelled (-1) and PartialSuccess
(6) failing, within the deadline; and printing the deployment log of a failed one.
Must not: decide whether to deploy (plan.py), touch ARM or the app settings, or sleep except
through the deadline's clock.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any, Mapping

from azure.core import PipelineClient
from azure.core.exceptions import DecodeError, ServiceRequestError, ServiceResponseError
from azure.core.pipeline.policies import BearerTokenCredentialPolicy, ProxyPolicy, UserAgentPolicy
from azure.core.rest import HttpRequest, HttpResponse

from ...errors import ActionError, Cancelled, CredentialsError, ProviderError
from ...models import Artifact
from ..base import Deadline, Log, Retryable, refused, retrying
from .calls import (
    AUTH_HINT,
    DEFAULT_POLL_S,
    MAX_POLL_S,
    NETWORK_HINT,
    REQUEST_TIMEOUT_S,
    ROLE_HINT,
    TRANSIENT_STATUS,
    USER_AGENT,
    LoopbackHttp,
    calling,
    first_line,
    retry_after,
    timeouts,
)

DEPLOYER = "faas-action"
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
DEPLOYMENT_ID = re.compile(r"[\w.-]{1,200}")
KUDU_FAILURES = {
    3: "the build or deployment failed: see the deployment log above",
    5: "another deployment conflicted with this one: run the workflow again",
    -1: "the deployment was cancelled",
    6: "only part of the deployment succeeded (often the trigger sync): see the deployment log above",
}


class Kudu:
    """The Kudu (SCM) REST API of one site, with the ARM bearer token, through azure-core."""

    def __init__(self, base: str, credential: Any, scope: str) -> None:
        self.base = base.rstrip("/")
        self._client = PipelineClient(
            base_url=self.base,
            policies=[
                UserAgentPolicy(base_user_agent=USER_AGENT),
                ProxyPolicy(),
                LoopbackHttp(),
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
        bounds = timeouts(deadline, REQUEST_TIMEOUT_S)
        request = HttpRequest(method, url, **kwargs)
        with calling(f"Kudu {method} {urllib.parse.urlsplit(url).path}", self.base, network=False):
            return self._client.send_request(request, **bounds)

    def retryable(self, exc: Exception) -> Retryable | None:
        """A busy answer (KuduBusy) or no answer at all: worth another attempt."""
        if isinstance(exc, KuduBusy):
            return Retryable(exc.reason, after=retry_after(exc.response))
        if isinstance(exc, DecodeError):  # the answer was cut short
            return Retryable("Kudu's answer was cut short", f"{self.base}: {first_line(exc)}", hint=NETWORK_HINT)
        if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
            return Retryable("Kudu did not answer", f"{self.base}: {first_line(exc)}", refused=refused(exc), hint=NETWORK_HINT)
        return None


class KuduBusy(Exception):
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


def deploy(
    kudu: Kudu,
    artifact: Artifact,
    *,
    flex: bool,
    label: str,
    message: str,
    remote_build: bool,
    deadline: Deadline,
    log: Log,
) -> str:
    """Deploy the package (Flex: /api/publish, else /api/zipdeploy) and wait for the deployment
    to end; its id ('' when Kudu deployed synchronously and named none)."""
    if flex:
        remote = "true" if remote_build else "false"
        url = kudu.url("/api/publish", RemoteBuild=remote, Deployer=DEPLOYER, message=message)
        log.info(f"Deploying {artifact.size} bytes to {label} with Kudu /api/publish (Flex Consumption)")
        response = post_package(kudu, url, artifact, "application/zip", deadline, log)
        deployment_id = response.text().strip().strip('"')
        if not deployment_id and response.status_code == 200:  # deployed synchronously: nothing to poll
            log.info(f"Kudu deployed the package to {label} synchronously")
            return ""
        if DEPLOYMENT_ID.fullmatch(deployment_id):
            status_url = kudu.url(f"/api/deployments/{urllib.parse.quote(deployment_id, safe='')}")
        else:  # no id, or none readable (a proxy's page): the deployment just started is the latest
            log.info(f"Kudu accepted the package for {label} without a readable deployment id: following the latest")
            deployment_id, status_url = "", kudu.url("/api/deployments/latest")
    else:
        url = kudu.url("/api/zipdeploy", isAsync="true", deployer=DEPLOYER, message=message)
        log.info(f"Deploying {artifact.size} bytes to {label} with Kudu /api/zipdeploy")
        response = post_package(kudu, url, artifact, "application/octet-stream", deadline, log)
        location = response.headers.get("Location")
        deployment_id = ""
        status_url = kudu.rebase(location) if location else kudu.url("/api/deployments/latest")
    result = wait_for_deployment(kudu, status_url, deadline, retry_after(response), label, log)
    return str(result.get("id") or deployment_id)


def post_package(
    kudu: Kudu, url: str, artifact: Artifact, content_type: str, deadline: Deadline, log: Log
) -> HttpResponse:
    """POST the zip; no answer, a 409 (a deployment in progress), throttling or a server error is retried
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
        if response.status_code == 409 or response.status_code in TRANSIENT_STATUS:
            why = "a deployment is already in progress" if response.status_code == 409 else "the SCM site is busy"
            raise KuduBusy(response, why)
        raise kudu_error(response, "uploading the package")

    return retrying(deadline, log, "uploading the package", attempt, kudu.retryable, base=2.0, cap=MAX_POLL_S)


def wait_for_deployment(
    kudu: Kudu, url: str, deadline: Deadline, first_delay: float | None, label: str, log: Log
) -> dict[str, Any]:
    """Poll a Kudu deployment until status 4; 3, 5, -1 and 6 fail; the deadline bounds it.
    A poll that gets no answer, a 404 (not registered yet), 408, 429 or a 5xx is polled again."""
    delay = first_delay if first_delay is not None else DEFAULT_POLL_S
    last = None

    def poll() -> HttpResponse:
        response = kudu.send("GET", url, deadline)
        if response.status_code in (200, 202):
            return response
        if response.status_code == 404 or response.status_code in TRANSIENT_STATUS:
            raise KuduBusy(response, "")
        raise kudu_error(response, "reading the deployment status")

    while True:
        response = retrying(
            deadline, log, "reading the deployment status", poll, kudu.retryable, base=DEFAULT_POLL_S, cap=MAX_POLL_S
        )
        body = _json_or_empty(response)
        status = _int(body.get("status"), 0)
        name = KUDU_STATUS.get(status, "Unknown")
        deployment_id = body.get("id") or "?"
        progress = str(body.get("progress") or "").strip()
        if (status, progress) != last:
            log.info(f"deployment {deployment_id}: {name} (status {status})" + (f": {progress}" if progress else ""))
            last = (status, progress)
        if status == KUDU_SUCCESS:
            return body
        if status in KUDU_FAILURES:
            print_deployment_log(kudu, body, deadline, log)
            raise ProviderError(
                f"Kudu deployment {deployment_id} to {label} ended with status {status} ({name})",
                hint=KUDU_FAILURES[status],
            )
        delay = retry_after(response) or delay
        try:
            deadline.sleep(min(delay, MAX_POLL_S), detail=f"deployment {deployment_id} is still {name} (status {status})")
        except Cancelled:
            raise Cancelled("the job was cancelled", hint=(
                f"Kudu deployment {deployment_id} to {label} was left {name} (status {status}): Kudu finishes it on its own"
            )) from None


def print_deployment_log(kudu: Kudu, deployment: Mapping[str, Any], deadline: Deadline, log: Log) -> None:
    log_url = deployment.get("log_url")
    if not log_url:
        return
    try:
        response = kudu.send("GET", kudu.rebase(str(log_url)), deadline)
    except (ServiceRequestError, ServiceResponseError):
        return
    entries = _json_or_empty(response, default=[]) if response.status_code == 200 else []
    # Printed flat: apply() already runs inside a log group, and groups do not nest.
    log.info(f"Kudu deployment log of {deployment.get('id')}:")
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict):
            log.info(f"  {entry.get('log_time', '')} {entry.get('message', '')}".rstrip())


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
