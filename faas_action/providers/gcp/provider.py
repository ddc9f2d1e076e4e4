"""The Cloud Functions provider object main.py talks to: plan() reads, apply() writes.

Owns: wiring the bounded client (client.py) to the planner (plan.py) and the applier (apply.py)
for one project, and the unauthenticated session the upload to a signed URL goes through.
Must not: hold any Cloud Functions logic of its own.
"""

from __future__ import annotations

import requests

from ...models import Artifact, DeployResult, FunctionSpec, Plan
from . import plan as planning
from .apply import Applier
from .client import GcpCalls


class GcpProvider:
    """Plans and applies functions of one project; plan() only reads, apply() is the only thing
    that changes a function."""

    def __init__(self, calls: GcpCalls, project: str) -> None:
        self.calls = calls
        self.project = project
        self.uploads = requests.Session()  # signed URLs refuse credentials: never the authorized session

    def plan(self, spec: FunctionSpec, artifact: Artifact) -> Plan:
        return planning.plan(self.calls, self.project, spec, artifact)

    def apply(self, plan: Plan, spec: FunctionSpec, artifact: Artifact) -> DeployResult:
        return Applier(self.calls, self.uploads).apply(plan, spec, artifact)
