"""allow-unauthenticated: `allUsers` in roles/run.invoker on the function's Cloud Run service.

Owns: whether the policy already says what the input asks (`invoker_change`, for the plan), and
the read-modify-write that grants or revokes it (`set_invoker`): the policy's own etag guards the
write, a conflict reads the policy again (backoff within the deadline), other members and
conditional bindings are kept, a policy that is already right is not written.
Must not: touch the function, or any role or member but allUsers in roles/run.invoker.
"""

from __future__ import annotations

from typing import Any, Mapping

from ...errors import ProviderError
from ..base import Deadline, Log, backoff_delays
from .client import GcpCalls, PolicyConflict

INVOKER_ROLE = "roles/run.invoker"
ALL_USERS = "allUsers"


def invoker_change(calls: GcpCalls, allow: bool | None, service: str, deadline: Deadline, log: Log) -> bool | None:
    """True/False when the allUsers invoker binding must be granted/revoked, None otherwise."""
    if allow is None:
        return None
    if not service:
        return True if allow else None
    try:
        public = is_public(calls.get_iam_policy(service, deadline))
    except ProviderError as exc:
        # A dry run may lack run.services.getIamPolicy; apply reads the policy again anyway.
        log.warning(f"could not read the IAM policy of {service} ({exc.message}); apply will set it")
        return allow
    return None if public == allow else allow


def set_invoker(calls: GcpCalls, service: str, allow: bool, deadline: Deadline, log: Log) -> None:
    delays = backoff_delays()
    while True:
        policy = calls.get_iam_policy(service, deadline)
        updated = with_invoker(policy, allow)
        if updated is None:
            log.info(f"{service}: {ALL_USERS} {'already has' if allow else 'does not have'} {INVOKER_ROLE}")
            return
        try:
            # Guarded by the policy's etag: a retry after a lost reply meets a 409 and reads again.
            calls.set_iam_policy(service, updated, deadline)
        except PolicyConflict:
            deadline.sleep(next(delays), detail="the IAM policy kept changing concurrently")
            continue
        log.info(f"{service}: {'granted' if allow else 'revoked'} {INVOKER_ROLE} for {ALL_USERS}")
        return


def is_public(policy: Mapping[str, Any]) -> bool:
    return any(
        b.get("role") == INVOKER_ROLE and ALL_USERS in b.get("members", []) and not b.get("condition")
        for b in policy.get("bindings", [])
    )


def with_invoker(policy: Mapping[str, Any], allow: bool) -> dict[str, Any] | None:
    """The policy with allUsers added to (or removed from) run.invoker; None when already so."""
    if is_public(policy) == allow:
        return None
    bindings = [dict(b) for b in policy.get("bindings", [])]
    binding = next((b for b in bindings if b.get("role") == INVOKER_ROLE and not b.get("condition")), None)
    if allow:
        if binding is None:
            bindings.append({"role": INVOKER_ROLE, "members": [ALL_USERS]})
        else:
            binding["members"] = sorted({*binding.get("members", []), ALL_USERS})
    else:
        assert binding is not None
        binding["members"] = [m for m in binding.get("members", []) if m != ALL_USERS]
        if not binding["members"]:
            bindings.remove(binding)
    return {**policy, "bindings": bindings}
