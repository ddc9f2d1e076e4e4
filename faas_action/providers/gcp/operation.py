"""Waiting on a deployment's long-running operation.

Owns: polling the Operation (`{"name", "done", "metadata": OperationMetadata, "error"}`, as the
REST API returns it) on the injected clock, 0.5 s growing to POLL_MAX, until it is done or the
deadline passes; printing each stage (BUILD, SERVICE, TRIGGER) when it changes and each stage's
log link once; and a failed operation's error with the service's message, the failing stages'
messages and the build log link.
Must not: start or change a deployment, or sleep except through the Deadline.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from ...errors import Cancelled, ProviderError
from ..base import Deadline, Log
from .client import GcpCalls

POLL_FIRST, POLL_FACTOR, POLL_MAX = 0.5, 1.5, 10.0
METADATA_TYPE = "OperationMetadata"  # the end of metadata's @type: type.googleapis.com/google.cloud.functions.v2.OperationMetadata


def poll_delays() -> Iterator[float]:
    delay = POLL_FIRST
    while True:
        yield delay
        delay = min(POLL_MAX, delay * POLL_FACTOR)


def wait(calls: GcpCalls, operation: Mapping[str, Any], deadline: Deadline, log: Log) -> None:
    """Poll `operation` until done; raise ProviderError with the service's message if it failed,
    DeadlineError (naming the operation and its last stages) if the deadline passes first."""
    reported: dict[str, str] = {}
    delays = poll_delays()
    while True:
        stages = _stages(operation)
        _report(stages, reported, log)
        if operation.get("done"):
            break
        name = str(operation.get("name", ""))
        try:
            deadline.sleep(next(delays), detail=f"{_progress(stages)}; operation {name} may still finish on its own")
        except Cancelled:
            raise Cancelled("the job was cancelled", hint=(
                f"operation {name} was left running ({_progress(stages)}): Cloud Functions finishes it on its own"
            )) from None
        operation = calls.get_operation(name, deadline)
    error = operation.get("error")
    if isinstance(error, Mapping):
        raise ProviderError(_failure(stages, str(error.get("message") or f"error code {error.get('code', '?')}")))


def _stages(operation: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The metadata's stages, each with the names the API leaves out when empty filled in."""
    metadata = operation.get("metadata")
    if not isinstance(metadata, Mapping) or not str(metadata.get("@type", "")).endswith(METADATA_TYPE):
        return []
    return [
        {"name": s.get("name") or "NAME_UNSPECIFIED", "state": s.get("state") or "STATE_UNSPECIFIED",
         "message": s.get("message") or "", "resourceUri": s.get("resourceUri") or "",
         "stateMessages": [m for m in s.get("stateMessages") or [] if isinstance(m, Mapping)]}
        for s in metadata.get("stages") or []
        if isinstance(s, Mapping)
    ]


def _report(stages: list[dict[str, Any]], reported: dict[str, str], log: Log) -> None:
    for stage in stages:
        key = stage["name"]
        line = f"{key}: {stage['state']}" + (f" - {stage['message']}" if stage["message"] else "")
        if reported.get(key) != line:
            reported[key] = line
            log.info(f"  {line}")
        if stage["resourceUri"] and f"{key}-uri" not in reported:
            reported[f"{key}-uri"] = stage["resourceUri"]
            log.info(f"  {key} logs: {stage['resourceUri']}")


def _progress(stages: list[dict[str, Any]]) -> str:
    shown = [f"{s['name']} {s['state']}" + (f" ({s['message']})" if s["message"] else "") for s in stages]
    return "last reported: " + (", ".join(shown) if shown else "no stage yet")


def _failure(stages: list[dict[str, Any]], message: str) -> str:
    """The service's message plus the build log link and the failing stages' messages."""
    parts = [f"the deployment failed: {message}"]
    for stage in stages:
        for state_message in stage["stateMessages"]:
            text = state_message.get("message") or ""
            if text and text not in message:
                parts.append(f"{stage['name']}: {text}")
        if stage["name"] == "BUILD" and stage["resourceUri"] and stage["resourceUri"] not in message:
            parts.append(f"build log: {stage['resourceUri']}")
    return "; ".join(parts)
