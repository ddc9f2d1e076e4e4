"""Reserved concurrency (of the function) and provisioned concurrency (of the alias).

Owns: planning both from what plan() read, applying them, and the wait until provisioned
concurrency is READY (FAILED fails with Lambda's reason; the deadline names what it waited for).
Neither is part of a version's configuration: changing them publishes nothing. Both puts are
idempotent (a retry after a lost reply sets the same value); a delete retried so finds nothing
left to delete, which is what it asked for.
Must not: touch the function's code, configuration, versions or aliases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ...errors import ProviderError
from ...models import UNRESERVED, AwsOptions, Change
from ..base import Deadline
from .client import NOT_FOUND, LambdaCalls, cause_code

READY, FAILED = "READY", "FAILED"
POLL_DELAYS = (1.0, 2.0, 4.0, 8.0)  # then every 10 s: allocation takes minutes on a real function
POLL_CAP = 10.0


@dataclass(frozen=True)
class ConcurrencyPlan:
    """`reserved`: the value to put, UNRESERVED to delete, None to leave. `provisioned`: the value
    to put on the alias, 0 to delete, None to leave. `wait_provisioned`: wait for READY after the
    alias moved (Lambda allocates again for the new version) or after a put."""

    reserved: int | None = None
    provisioned: int | None = None
    provisioned_configured: int = 0  # what the alias has now (0: nothing)

    @property
    def changed(self) -> bool:
        return self.reserved is not None or self.provisioned is not None


def plan_concurrency(
    options: AwsOptions, function: Mapping[str, Any] | None, provisioned: Mapping[str, Any] | None
) -> tuple[ConcurrencyPlan, list[Change], list[str]]:
    """From GetFunction's reply (its Concurrency) and the alias's provisioned concurrency config."""
    changes: list[Change] = []
    steps: list[str] = []
    reserved = None
    if options.reserved_concurrency is not None:
        current = ((function or {}).get("Concurrency") or {}).get("ReservedConcurrentExecutions")
        want = None if options.reserved_concurrency == UNRESERVED else options.reserved_concurrency
        if current != want:
            reserved = options.reserved_concurrency
            changes.append(Change("reserved concurrency", current, want))
            steps.append("remove the reserved concurrency" if want is None else f"reserve concurrency {want}")
    put = None
    configured = int((provisioned or {}).get("RequestedProvisionedConcurrentExecutions") or 0)
    if options.provisioned_concurrency is not None:
        want = options.provisioned_concurrency
        failed = (provisioned or {}).get("Status") == FAILED
        if want != configured or (failed and want):
            put = want
            changes.append(Change(f"provisioned concurrency of alias {options.alias}", configured or None, want or None))
            steps.append(
                f"remove the provisioned concurrency of alias {options.alias}" if want == 0
                else f"set provisioned concurrency {want} on alias {options.alias} and wait until it is READY"
            )
    return ConcurrencyPlan(reserved=reserved, provisioned=put, provisioned_configured=configured), changes, steps


def apply_reserved(calls: LambdaCalls, name: str, plan: ConcurrencyPlan, deadline: Deadline) -> None:
    if plan.reserved is None:
        return
    if plan.reserved == UNRESERVED:
        calls.log.info("Removing the reserved concurrency")
        calls.call(deadline, calls.client.delete_function_concurrency, FunctionName=name)
    else:
        calls.log.info(f"Reserving concurrency {plan.reserved}")
        calls.call(deadline, calls.client.put_function_concurrency, FunctionName=name, ReservedConcurrentExecutions=plan.reserved)


def apply_provisioned(calls: LambdaCalls, name: str, alias: str, plan: ConcurrencyPlan, alias_moved: bool, wait_s: float) -> None:
    """Put or delete the alias's provisioned concurrency (after the alias moved), then wait until
    it is READY when there is some: after a put, and after the alias moved to a new version."""
    deadline = Deadline(calls.clock, wait_s, f"provisioned concurrency of {name}:{alias} becoming READY")
    if plan.provisioned == 0:
        calls.log.info(f"Removing the provisioned concurrency of alias {alias}")
        try:
            calls.call(deadline, calls.client.delete_provisioned_concurrency_config, FunctionName=name, Qualifier=alias)
        except ProviderError as exc:
            # Already gone: removed since plan(), or by an earlier attempt whose reply was lost.
            if cause_code(exc) not in NOT_FOUND:
                raise
        return
    if plan.provisioned is not None:
        calls.log.info(f"Setting provisioned concurrency {plan.provisioned} on alias {alias}")
        calls.call(
            deadline, calls.client.put_provisioned_concurrency_config,
            FunctionName=name, Qualifier=alias, ProvisionedConcurrentExecutions=plan.provisioned,
        )
    elif not (alias_moved and plan.provisioned_configured):
        return
    wait_ready(calls, name, alias, deadline)


def wait_ready(calls: LambdaCalls, name: str, alias: str, deadline: Deadline) -> dict:
    """Poll GetProvisionedConcurrencyConfig until READY; FAILED raises with Lambda's reason."""
    attempt = 0
    while True:
        config = calls.provisioned(name, alias, deadline)
        if config is None:
            raise ProviderError(f"the provisioned concurrency of {name}:{alias} disappeared while waiting for it")
        status = config.get("Status")
        detail = (
            f"Status={status}, allocated {config.get('AllocatedProvisionedConcurrentExecutions', 0)}"
            f" of {config.get('RequestedProvisionedConcurrentExecutions')}"
        )
        if status == READY:
            calls.log.info(f"Provisioned concurrency of alias {alias} is READY ({detail})")
            return config
        if status == FAILED:
            raise ProviderError(
                f"provisioned concurrency of {name}:{alias} FAILED: {config.get('StatusReason') or 'no reason given'}",
                hint="check the account's concurrency quota and the function's published version",
            )
        calls.log.info(f"Waiting for provisioned concurrency of alias {alias}: {detail}")
        delay = POLL_DELAYS[attempt] if attempt < len(POLL_DELAYS) else POLL_CAP
        attempt += 1
        deadline.sleep(delay, detail=detail)
