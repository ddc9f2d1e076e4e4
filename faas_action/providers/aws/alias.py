"""Writing a Lambda alias: creating it, and moving it guarded by its RevisionId.

Owns: CreateAlias (Lambda's 409 read as 'the alias exists' only when it does), UpdateAlias with
the alias's RevisionId, and the rule for a retry that meets its own lost reply: the earlier
attempt moved the alias, so its RevisionId moved on and the retry gets 412 PreconditionFailed.
That is told apart from someone else's change by reading the alias: already where this call puts
it (version and routing weights), carry on; anywhere else, fail as a concurrent change.
Must not: decide where the alias goes (apply.py and traffic.py do), or call AWS except through
LambdaCalls.
"""

from __future__ import annotations

from typing import Any, Mapping

from ...errors import ProviderError
from ..base import Deadline
from .client import LambdaCalls, cause_code, found_or_none

PRECONDITION = "PreconditionFailedException"


def create_alias(
    calls: LambdaCalls, deadline: Deadline, function: str, alias: str, version: str, description: str | None = None
) -> tuple[dict, bool]:
    """CreateAlias; (the reply, True), or (the alias found, False) when it exists already: created
    by an earlier attempt whose reply was lost, or by someone else (the caller compares)."""
    params: dict[str, Any] = {"FunctionName": function, "Name": alias, "FunctionVersion": version}
    if description is not None:
        params["Description"] = description
    return calls.create(
        deadline, f"creating alias {alias} of {function}",
        lambda: calls.client.create_alias(**params),
        lambda: found_or_none(lambda: calls.client.get_alias(FunctionName=function, Name=alias)),
    )


def update_alias(
    calls: LambdaCalls, deadline: Deadline, function: str, alias: str, version: str, revision: str | None, *,
    weights: Mapping[str, float] | None = None, description: str | None = None,
) -> dict:
    """UpdateAlias to `version` with these routing `weights` ({version: fraction}; None leaves the
    alias's weights as they are, and out of the check), guarded by `revision` when there is one.
    Returns the alias as it is now: the reply, or what was read after a 412 that this call's own
    earlier attempt caused."""
    params: dict[str, Any] = {"FunctionName": function, "Name": alias, "FunctionVersion": version}
    if weights is not None:
        params["RoutingConfig"] = {"AdditionalVersionWeights": dict(weights)}
    if description is not None:
        params["Description"] = description
    if revision:
        params["RevisionId"] = revision
    try:
        return calls.call(deadline, calls.client.update_alias, **params)
    except ProviderError as exc:
        if not revision or cause_code(exc) != PRECONDITION:
            raise
        refused = exc
    found = calls.get_alias(function, alias, deadline)
    if found is not None and points_to(found, version, weights):
        calls.log.info(f"Alias {alias} already serves version {version} as asked (an earlier attempt whose reply was lost); carrying on")
        return found
    now = f"it serves {serving(found)}" if found is not None else "it no longer exists"
    raise ProviderError(
        f"alias {alias} of {function} was changed by someone else while this run moved it ({now}); "
        f"this run did not move it to version {version}",
        hint="another deploy or release changed the alias at the same time; re-run when it is done",
    ) from refused


def weights_of(found: Mapping[str, Any]) -> dict[str, float]:
    """The alias's routing weights, {version: fraction} ({} for none)."""
    return {str(k): float(v) for k, v in ((found.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}).items()}


def points_to(found: Mapping[str, Any], version: str, weights: Mapping[str, float] | None) -> bool:
    """Does the alias `found` serve `version` with these weights (None: whatever weights)?"""
    if found.get("FunctionVersion") != version:
        return False
    if weights is None:
        return True
    have = weights_of(found)
    return set(have) == set(weights) and all(abs(have[v] - float(weights[v])) < 1e-6 for v in have)


def serving(found: Mapping[str, Any]) -> str:
    """What the alias `found` serves: 'version 3 with 10% on version 4'."""
    split = "".join(f" with {round(w * 100)}% on version {v}" for v, w in weights_of(found).items())
    return f"version {found.get('FunctionVersion')}{split}"
