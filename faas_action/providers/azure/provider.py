"""The Azure Functions provider object main.py talks to: plan() reads, apply() deploys.

Owns: wiring the bounded ARM client (arm.py) to the planner (plan.py) and the applier (apply.py),
with the options and GitHub context of the run.
Must not: hold any Azure logic of its own.
"""

from __future__ import annotations

from typing import Any

from ...models import Artifact, AzureOptions, DeployResult, FunctionSpec, Plan
from ..base import RunContext
from . import plan as planning
from .apply import Applier
from .arm import ArmCalls
from .calls import DEFAULT_WAIT_S


class AzureFunctions:
    """One Function App behind ARM (azure-mgmt-web) and Kudu. plan() reads; apply() deploys."""

    def __init__(self, options: AzureOptions, credential: Any, ctx: RunContext, wait_s: float = DEFAULT_WAIT_S) -> None:
        self.options = options
        self.github = ctx.github
        self.arm = ArmCalls(options, credential, ctx.log, ctx.clock, wait_s)

    def plan(self, spec: FunctionSpec, artifact: Artifact) -> Plan:
        return planning.plan(self.arm, self.options, spec, artifact)

    def apply(self, plan: Plan, spec: FunctionSpec, artifact: Artifact) -> DeployResult:
        return Applier(self.arm, self.options, self.github).apply(plan, spec, artifact)
