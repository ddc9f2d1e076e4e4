"""The Lambda provider object main.py talks to: plan() reads, apply() writes, release() moves the
alias under watch.

Owns: wiring the bounded client (client.py) to the planner (plan.py), the applier (apply.py) and
the release step (rollout.py), with the clients each needs.
Must not: hold any Lambda logic of its own.
"""

from __future__ import annotations

from typing import Any, Callable

from ...models import Artifact, DeployResult, FunctionSpec, Plan
from ..base import RunContext
from . import plan as planning
from .apply import Applier
from .client import LambdaCalls
from .metrics import CloudWatch


class LambdaProvider:
    """plan() only reads; apply() and release() are the only things that change the function.
    `artifact` is None for a container-image function (`image-uri`) and in rollback mode: there is
    nothing to package.

    `cloudwatch_factory` and `invoke_factory` make their clients on first use (a run without
    `alarms`, `max-error-rate` or a smoke test creates neither until its metrics are read);
    without an invoke factory the Lambda client invokes."""

    def __init__(
        self,
        client,
        s3_factory: Callable[[], Any],
        ctx: RunContext,
        ecr_factory: Callable[[], Any] | None = None,
        cloudwatch_factory: Callable[[], Any] | None = None,
        invoke_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.ctx = ctx
        self.log = ctx.log
        self.calls = LambdaCalls(client, ctx.log, ctx.clock)
        self.client = client
        self.s3_factory = s3_factory
        self.ecr_factory = ecr_factory or _no_ecr
        self.cloudwatch = CloudWatch(cloudwatch_factory, self.calls) if cloudwatch_factory else None
        self.invoke_factory = invoke_factory or (lambda: client)
        self._invoker = None

    def plan(self, spec: FunctionSpec, artifact: Artifact | None) -> Plan:
        return planning.plan(self.calls.within(spec.wait_timeout_s), spec, artifact, self.ecr_factory, self.cloudwatch)

    def apply(self, plan: Plan, spec: FunctionSpec, artifact: Artifact | None) -> DeployResult:
        return Applier(self.calls.within(spec.wait_timeout_s), self.s3_factory).apply(plan, spec, artifact)

    def release(self, plan: Plan, spec: FunctionSpec, result: DeployResult) -> DeployResult:
        """Move the alias to `result.version` as spec.release says (smoke test, traffic steps,
        gates), prune, read metrics. Raises errors.ReleaseError, carrying the result with the
        release's outputs, when it did not go through (the alias is restored)."""
        from .rollout import Rollout

        if self._invoker is None and spec.release is not None and spec.release.smoke_event is not None:
            self._invoker = self.invoke_factory()
        calls = self.calls.within(spec.wait_timeout_s)
        applier = Applier(calls, self.s3_factory)
        after = lambda done, moved: applier.after_release(plan, spec, done, moved)  # noqa: E731
        return Rollout(calls, self._invoker, self.cloudwatch, after_release=after).run(plan, spec, result)


def _no_ecr():
    raise RuntimeError("this provider was built without an ECR client")
