"""Reading a function into a Plan.

Owns: reading the function (waiting while another deployment runs, refusing a 1st gen function
and one being deleted), refusing a trigger switch Cloud Functions cannot make in place, comparing
each given setting and the code-hash label, and freezing what apply() needs: the Function body
to send (REST JSON), a minimal update mask, the update-time guard, the invoker change. Only an
ACTIVE function can be a no-op: a function left FAILED is deployed again.
Must not: change anything (only reads, through GcpCalls).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from ...errors import ProviderError
from ...models import Artifact, Change, FunctionSpec, GcpOptions, Plan
from ..base import Deadline
from . import settings
from .client import GcpCalls
from .iam import ALL_USERS, INVOKER_ROLE, invoker_change
from .limits import options_of
from .operation import poll_delays
from .settings import CODE_LABEL, OWN_LABELS, SHA_LABEL

ACTIVE, DEPLOYING, DELETING, GEN_1 = "ACTIVE", "DEPLOYING", "DELETING", "GEN_1"


@dataclass(frozen=True)
class GcpState:
    """What apply() needs, read at plan time. `function` is the Function body to send, in the REST
    API's JSON (apply adds the uploaded source); `update_mask` names the settings to update, by
    the names the plan shows (settings.mask gives the JSON paths)."""

    name: str
    create: bool
    function: Mapping[str, Any] = field(repr=False)
    update_mask: tuple[str, ...]
    upload: bool
    update_time: str  # guard: the function must be unchanged between plan and apply
    invoker: bool | None  # True: grant allUsers run.invoker, False: revoke, None: leave alone
    url: str
    revision: str


def function_name(project: str, region: str, function_id: str) -> str:
    return f"projects/{project}/locations/{region}/functions/{function_id}"


def plan(calls: GcpCalls, project: str, spec: FunctionSpec, artifact: Artifact) -> Plan:
    options = options_of(spec)
    name = function_name(project, options.region, spec.name)
    current = read(calls, name, Deadline(calls.clock, spec.wait_timeout_s, f"reading function {name}"))
    code_hex = artifact.sha256_hex[:63]
    wanted = settings.wanted(spec, options, settings.current(current) if current else None)
    labels = {**_labels(current), **dict(options.labels or {}), CODE_LABEL: code_hex}
    sha = settings.label_value(spec.github.sha)
    if sha:
        labels[SHA_LABEL] = sha
    if current is None:
        return _plan_create(spec, options, artifact, name, wanted, labels)
    return _plan_update(calls, spec, options, artifact, str(current.get("name") or name), current, wanted, labels, code_hex)


def read(calls: GcpCalls, name: str, deadline: Deadline) -> dict[str, Any] | None:
    """The function, None when it does not exist; waits while another deployment runs."""
    delays = poll_delays()
    while True:
        function = calls.get_function(name, deadline, missing_ok=True)
        if function is None:
            return None
        if function.get("environment") == GEN_1:
            raise ProviderError(
                f"function {name} is a 1st gen function; this action deploys 2nd gen only and "
                "Cloud Functions cannot convert one in place",
                hint="deploy under another function-name, or delete the 1st gen function first",
            )
        state = function.get("state")
        if state == DELETING:
            raise ProviderError(f"function {name} is being deleted", hint="re-run once the deletion has finished")
        if state != DEPLOYING:
            return function
        calls.log.info(f"{name} is DEPLOYING (another deployment is running); waiting for it")
        deadline.sleep(next(delays), detail="the function is still DEPLOYING")


def _plan_create(
    spec: FunctionSpec, options: GcpOptions, artifact: Artifact, name: str, wanted: dict[str, Any], labels: dict[str, str]
) -> Plan:
    if not options.runtime:
        raise ProviderError(
            f"function {name} does not exist; creating it needs `runtime`",
            hint="set runtime (e.g. python312, nodejs22), or check function-name, project and region",
        )
    values = dict(wanted)
    values["labels"] = labels
    values["environment"] = settings.GEN_2
    if options.event_trigger_type:
        values["event_trigger.event_type"] = options.event_trigger_type
    changes = [settings.change(path, None, value) for path, value in sorted(values.items()) if path not in ("labels", "environment")]
    if options.labels:
        changes.append(Change("labels", None, dict(options.labels)))
    steps = [
        f"upload the package ({artifact.size} bytes) to a signed URL",
        f"create function {name}",
        f"wait for the deployment (at most {spec.wait_timeout_s:g} s) and require state ACTIVE",
    ]
    if options.allow_unauthenticated:
        steps.append(f"grant {INVOKER_ROLE} to {ALL_USERS} on the function's Cloud Run service")
    state = GcpState(
        name=name,
        create=True,
        function=MappingProxyType(settings.body(values)),
        update_mask=(),
        upload=True,
        update_time="",
        invoker=True if options.allow_unauthenticated else None,
        url="",
        revision="",
    )
    return Plan("gcp", spec.name, "create", tuple(changes), None, artifact.sha256, tuple(steps), state=state)


def _plan_update(
    calls: GcpCalls,
    spec: FunctionSpec,
    options: GcpOptions,
    artifact: Artifact,
    name: str,
    current: dict[str, Any],
    wanted: dict[str, Any],
    labels: dict[str, str],
    code_hex: str,
) -> Plan:
    _refuse_trigger_switch(name, current, options)
    now = settings.current(current)
    mask: list[str] = []
    changes: list[Change] = []
    for path, value in wanted.items():
        if not settings.same(path, now.get(path), value):
            mask.append(path)
            changes.append(settings.change(path, now.get(path), value))
    old_labels = _labels(current)
    old_code = old_labels.get(CODE_LABEL)
    # A failed deploy already wrote its labels: only an ACTIVE function can be a no-op, so
    # that re-running after a failure deploys again instead of reporting "unchanged".
    state_now = current.get("state") or "STATE_UNSPECIFIED"
    active = state_now == ACTIVE
    upload = old_code != code_hex or not active
    if upload:
        mask.insert(0, "build_config.source")
    if not active:
        changes.append(Change("state", state_now, ACTIVE))
    shown = sorted(k for k in set(labels) - set(OWN_LABELS) if old_labels.get(k) != labels[k])
    if shown:
        changes.append(Change("labels", {k: old_labels.get(k) for k in shown}, {k: labels[k] for k in shown}))
    if mask or shown:
        # Every function write records the code hash and commit; a `labels` mask replaces the
        # whole map, hence the merge with the labels read above.
        mask.append("labels")

    service = str(settings.value_at(current, "serviceConfig.service"))
    invoker = None
    if options.allow_unauthenticated is not None:
        deadline = Deadline(calls.clock, spec.wait_timeout_s, f"reading the IAM policy of {service}")
        invoker = invoker_change(calls, options.allow_unauthenticated, service, deadline, calls.log)
    if invoker is not None:
        changes.append(Change("allow-unauthenticated", not invoker, invoker))

    steps = []
    if upload:
        steps.append(f"upload the package ({artifact.size} bytes) to a signed URL")
    if mask:
        steps.append(f"update function {name} with update mask: {', '.join(mask)}")
        steps.append(f"wait for the deployment (at most {spec.wait_timeout_s:g} s) and require state ACTIVE")
    if invoker is not None:
        steps.append(f"{'grant' if invoker else 'revoke'} {INVOKER_ROLE} for {ALL_USERS} on {service}")
    values = {path: wanted[path] for path in mask if path in wanted}
    values["labels"] = labels
    state = GcpState(
        name=name,
        create=False,
        function=MappingProxyType(settings.body(values)),
        update_mask=tuple(mask),
        upload=upload,
        update_time=str(current.get("updateTime") or ""),
        invoker=invoker,
        url=str(current.get("url") or settings.value_at(current, "serviceConfig.uri")),
        revision=str(settings.value_at(current, "serviceConfig.revision")),
    )
    return Plan(
        "gcp",
        spec.name,
        "update" if (mask or invoker is not None) else "none",
        tuple(changes),
        artifact.sha256 if old_code == code_hex else (f"hex:{old_code}" if old_code else None),
        artifact.sha256,
        tuple(steps),
        state=state,
    )


def _labels(function: Mapping[str, Any] | None) -> dict[str, str]:
    return dict(settings.value_at(function, "labels", {}))


def _refuse_trigger_switch(name: str, current: Mapping[str, Any], options: GcpOptions) -> None:
    """Cloud Functions cannot switch a function between HTTP and event triggers, or event types."""
    current_type = settings.value_at(current, "eventTrigger.eventType")
    hint = "deploy under another function-name, or delete the function first"
    if options.event_trigger_type and not current_type:
        raise ProviderError(f"function {name} is HTTP-triggered; it cannot become event-triggered in place", hint=hint)
    if options.event_trigger_type and current_type != options.event_trigger_type:
        raise ProviderError(
            f"function {name} is triggered by {current_type}; its event type cannot change to "
            f"{options.event_trigger_type} in place",
            hint=hint,
        )
    if options.trigger_http and current_type:
        raise ProviderError(f"function {name} is triggered by {current_type}; it cannot become HTTP-triggered in place", hint=hint)
