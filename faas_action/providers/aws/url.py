"""The function URL of the alias (or of the function) and the permissions a public one needs.

Owns: planning the URL from what plan() read (its config and the resource-based policy) and
applying it: AuthType and Cors, and for `public` the two statements Lambda requires since
October 2025, `lambda:InvokeFunctionUrl` (condition FunctionUrlAuthType NONE) and
`lambda:InvokeFunction` (condition InvokedViaFunctionUrl), added when missing; when the URL is
`iam`, the statements this action adds for `public` are removed.
Must not: touch the function's code, configuration, versions or aliases.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from ...errors import ProviderError
from ...models import AwsOptions, Change, plain
from ..base import Deadline
from .client import LambdaCalls, cause_code, found_or_none

AUTH_TYPES = {"iam": "AWS_IAM", "public": "NONE"}
PUBLIC_WARNING = "anyone on the internet can invoke it, without credentials"


@dataclass(frozen=True)
class PublicStatement:
    sid: str
    action: str
    request: Mapping[str, Any]  # AddPermission's extra parameters
    condition: tuple[str, str]  # the condition key and value Lambda writes into the policy


PUBLIC_STATEMENTS = (
    PublicStatement("FunctionURLAllowPublicAccess", "lambda:InvokeFunctionUrl", {"FunctionUrlAuthType": "NONE"}, ("lambda:FunctionUrlAuthType", "none")),
    PublicStatement("FunctionURLAllowInvokeAction", "lambda:InvokeFunction", {"InvokedViaFunctionUrl": True}, ("lambda:InvokedViaFunctionUrl", "true")),
)


@dataclass(frozen=True)
class UrlPlan:
    """What apply does to the URL: create it or update these fields, then the permissions."""

    qualifier: str | None
    public: bool
    exists: bool
    url: str
    request: Mapping[str, Any] = field(default_factory=dict)  # AuthType / Cors to send (all of it to create)
    add: tuple[str, ...] = ()  # statement ids of PUBLIC_STATEMENTS to add
    remove: tuple[str, ...] = ()  # statement ids to remove (before adding)

    @property
    def changed(self) -> bool:
        return not self.exists or bool(self.request or self.add or self.remove)


def plan_url(options: AwsOptions, config: Mapping[str, Any] | None, statements: list[dict]) -> tuple[UrlPlan, list[Change], list[str]]:
    """The URL plan, its changes and its steps, from the URL config and policy statements read."""
    assert options.function_url is not None
    qualifier = options.alias
    where = f"alias {qualifier}" if qualifier else "the function"
    public = options.function_url == "public"
    auth_type = AUTH_TYPES[options.function_url]
    cors = _request_cors(options.function_url_cors)
    changes: list[Change] = []
    request: dict[str, Any] = {}
    if config is None:
        request = {"AuthType": auth_type, **({"Cors": cors} if cors is not None else {})}
        changes.append(Change(f"function URL of {where}", None, plain(request)))
    else:
        if config.get("AuthType") != auth_type:
            request["AuthType"] = auth_type
            changes.append(Change("function URL AuthType", config.get("AuthType"), auth_type))
        if cors is not None and normal_cors(config.get("Cors")) != normal_cors(cors):
            request["Cors"] = cors
            changes.append(Change("function URL Cors", normal_cors(config.get("Cors")), normal_cors(cors)))

    add: list[str] = []
    remove: list[str] = []
    by_sid = {s.get("Sid"): s for s in statements}
    for wanted in PUBLIC_STATEMENTS:
        granted = any(grants(s, wanted) for s in statements)
        if public and not granted:
            if wanted.sid in by_sid:  # our id on a statement that says something else: replace it
                remove.append(wanted.sid)
            add.append(wanted.sid)
        elif not public and wanted.sid in by_sid:
            remove.append(wanted.sid)
    if add:
        changes.append(Change(f"public access to the URL of {where}", None, [s.action for s in PUBLIC_STATEMENTS if s.sid in add]))
    if remove and not public:
        changes.append(Change(f"public access to the URL of {where}", sorted(remove), None))

    steps = []
    if config is None:
        steps.append(f"create the function URL of {where} ({options.function_url})")
    elif request:
        steps.append(f"update the function URL of {where}: {', '.join(sorted(request))}")
    if add:
        steps.append(f"grant public invocation through the URL ({', '.join(s.action for s in PUBLIC_STATEMENTS if s.sid in add)})")
    if remove and not public:
        steps.append("remove the public-access statements: the URL needs IAM auth now")
    if public:
        steps.append(f"the function URL of {where} is PUBLIC: {PUBLIC_WARNING}")
    url_plan = UrlPlan(
        qualifier=qualifier,
        public=public,
        exists=config is not None,
        url=(config or {}).get("FunctionUrl", ""),
        request=request,
        add=tuple(add),
        remove=tuple(remove),
    )
    return url_plan, changes, steps


def apply_url(calls: LambdaCalls, name: str, plan: UrlPlan, deadline: Deadline) -> str:
    """Create or update the URL, then its permissions; returns the URL.

    A create or an AddPermission retried after its reply was lost meets its own effect (409
    'exists'): what is there is read and compared with what this run asked for. The URL is then
    updated if it differs; a statement with this run's id that grants something else fails. A
    RemovePermission retried so meets 404: the statement is gone, as asked."""
    client, log = calls.client, calls.log
    qualified = {"Qualifier": plan.qualifier} if plan.qualifier else {}
    url = plan.url
    request = dict(plan.request)
    if not plan.exists:
        log.info(f"Creating the function URL ({plan.request['AuthType']})")
        config, created = calls.create(
            deadline, "create_function_url_config",
            lambda: client.create_function_url_config(FunctionName=name, **qualified, **plan.request),
            lambda: found_or_none(lambda: client.get_function_url_config(FunctionName=name, **qualified)),
        )
        url = config["FunctionUrl"]
        request = {} if created else _differences(config, plan.request)
        if not created and not request:
            log.info("The function URL already exists as asked (an earlier attempt whose reply was lost); carrying on")
    if request:
        log.info(f"Updating the function URL: {', '.join(sorted(request))}")
        url = calls.call(deadline, client.update_function_url_config, FunctionName=name, **qualified, **request).get("FunctionUrl", url)
    for sid in plan.remove:
        try:
            calls.call(deadline, client.remove_permission, FunctionName=name, StatementId=sid, **qualified)
        except ProviderError as exc:
            if cause_code(exc) != "ResourceNotFoundException":  # removed since plan(), or by a lost reply's attempt
                raise
    for statement in PUBLIC_STATEMENTS:
        if statement.sid in plan.add:
            _grant(calls, name, statement, qualified, deadline)
    if plan.public and (not plan.exists or plan.add or plan.request.get("AuthType")):
        log.warning(f"The function URL {url} is public: {PUBLIC_WARNING}")
    return url


def _grant(calls: LambdaCalls, name: str, statement: PublicStatement, qualified: dict[str, str], deadline: Deadline) -> None:
    """AddPermission for `statement`; a statement with its id already there must grant the same."""
    client = calls.client
    calls.log.info(f"Granting {statement.action} to everyone through the function URL")

    def existing() -> dict | None:
        policy = found_or_none(lambda: client.get_policy(FunctionName=name, **qualified))
        statements = json.loads(policy["Policy"]).get("Statement", []) if policy else []
        return next((s for s in statements if s.get("Sid") == statement.sid), None)

    found, added = calls.create(
        deadline, "add_permission",
        lambda: client.add_permission(
            FunctionName=name, StatementId=statement.sid, Action=statement.action, Principal="*",
            **statement.request, **qualified,
        ),
        existing,
    )
    if not added and not grants(found, statement):
        raise ProviderError(
            f"the resource-based policy of {name}{':' + qualified['Qualifier'] if qualified else ''} got a statement "
            f"{statement.sid} that does not grant {statement.action} to everyone through the URL while this run added it",
            hint="another deploy changed the policy at the same time; re-run when it is done",
        )


def _differences(config: Mapping[str, Any], request: Mapping[str, Any]) -> dict[str, Any]:
    """What of `request` (AuthType, Cors) the URL `config` does not have yet."""
    changed = {}
    if config.get("AuthType") != request.get("AuthType"):
        changed["AuthType"] = request["AuthType"]
    if "Cors" in request and normal_cors(config.get("Cors")) != normal_cors(request["Cors"]):
        changed["Cors"] = request["Cors"]
    return changed


def grants(statement: Mapping[str, Any], wanted: PublicStatement) -> bool:
    """Does this policy statement already allow what `wanted` allows (whatever its id)?"""
    if statement.get("Effect", "Allow") != "Allow" or statement.get("Principal") not in ("*", {"AWS": "*"}):
        return False
    actions = statement.get("Action")
    if wanted.action not in ([actions] if isinstance(actions, str) else actions or []):
        return False
    conditions = {
        str(key).lower(): str(value).lower()
        for operator in (statement.get("Condition") or {}).values()
        if isinstance(operator, Mapping)
        for key, value in operator.items()
    }
    key, value = wanted.condition
    return conditions.get(key.lower()) == value


def _request_cors(cors: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if cors is None else {k: list(v) if isinstance(v, tuple) else v for k, v in cors.items()}


def normal_cors(cors: Mapping[str, Any] | None) -> dict[str, Any]:
    """Cors with Lambda's defaults filled in; header names and methods compare case-insensitively."""
    cors = cors or {}
    return {
        "AllowCredentials": bool(cors.get("AllowCredentials") or False),
        "AllowHeaders": sorted(h.lower() for h in cors.get("AllowHeaders") or []),
        "AllowMethods": sorted(m.upper() for m in cors.get("AllowMethods") or []),
        "AllowOrigins": sorted(cors.get("AllowOrigins") or []),
        "ExposeHeaders": sorted(h.lower() for h in cors.get("ExposeHeaders") or []),
        "MaxAge": int(cors.get("MaxAge") or 0),
    }
