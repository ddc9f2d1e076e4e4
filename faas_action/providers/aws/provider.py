"""The Lambda provider object main.py talks to: plan() reads, apply() writes.

Owns: wiring the bounded client (client.py) to the planner (plan.py) and the applier (apply.py).
Must not: hold any Lambda logic of its own.
"""

from __future__ import annotations

from typing import Any, Callable

from ...models import Artifact, DeployResult, FunctionSpec, Plan
from ..base import RunContext
from . import plan as planning
from .apply import Applier
from .client import LambdaCalls


class LambdaProvider:
    """plan() only reads; apply() is the only thing that changes the function. `artifact` is None
    for a container-image function (`image-uri`): there is nothing to package."""

    def __init__(
        self, client, s3_factory: Callable[[], Any], ctx: RunContext, ecr_factory: Callable[[], Any] | None = None
    ) -> None:
        self.ctx = ctx
        self.log = ctx.log
        self.calls = LambdaCalls(client, ctx.log, ctx.clock)
        self.client = client
        self.s3_factory = s3_factory
        self.ecr_factory = ecr_factory or _no_ecr

    def plan(self, spec: FunctionSpec, artifact: Artifact | None) -> Plan:
        return planning.plan(self.calls.within(spec.wait_timeout_s), spec, artifact, self.ecr_factory)

    def apply(self, plan: Plan, spec: FunctionSpec, artifact: Artifact | None) -> DeployResult:
        return Applier(self.calls.within(spec.wait_timeout_s), self.s3_factory).apply(plan, spec, artifact)


def _no_ecr():
    raise RuntimeError("this provider was built without an ECR client")
