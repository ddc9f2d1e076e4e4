"""Applying a Cloud Functions Plan: the only code that changes a function.

Owns: the guard (the function re-read: if it changed since the plan, nothing is written), the
upload of new code (generateUploadUrl with the KMS key when set, then upload.py), the create or
the patch with the plan's update mask (JSON paths), the wait on its operation (operation.py),
the check that the function is ACTIVE afterwards (else its state messages), and the invoker
binding (iam.py) when asked.
Must not: decide what to change (the Plan did), or call Google except through GcpCalls and the
unauthenticated upload session.
"""

from __future__ import annotations

import copy
from typing import Any

import requests

from ...errors import ProviderError
from ...models import Artifact, DeployResult, FunctionSpec, Plan
from ..base import Deadline
from . import operation, settings
from .client import GcpCalls, LostReply
from .iam import set_invoker
from .limits import options_of
from .plan import ACTIVE, DEPLOYING, GcpState
from .upload import upload


class Applier:
    """Carries out one Plan with the calls and the upload session it needs."""

    def __init__(self, calls: GcpCalls, uploads: requests.Session) -> None:
        self.calls = calls
        self.uploads = uploads  # unauthenticated: signed URLs refuse credentials
        self.log = calls.log

    def apply(self, plan: Plan, spec: FunctionSpec, artifact: Artifact) -> DeployResult:
        state: GcpState = plan.state
        if plan.action == "none":
            self.log.info(f"{state.name} already runs this code and settings: nothing to deploy")
            return DeployResult(function_id=state.name, changed=False, version=state.revision, url=state.url)
        if state.create or state.update_mask:
            function = copy.deepcopy(dict(state.function))
            if not state.create:
                self._guard(state, spec)
            if state.upload:
                function.setdefault("buildConfig", {})["source"] = {"storageSource": self._upload(spec, state, artifact)}
            started = self._write_once(state, function, spec)
            if started is not None:
                operation.wait(self.calls, started, self._deadline(spec, f"deploying function {spec.name}"), self.log)
        function = self._verify(state.name, spec)
        service = str(settings.value_at(function, "serviceConfig.service"))
        if state.invoker is not None:
            if not service:
                raise ProviderError(f"function {spec.name} has no Cloud Run service to set the invoker on")
            set_invoker(self.calls, service, state.invoker, self._deadline(spec, f"setting the IAM policy of {service}"), self.log)
        return DeployResult(
            function_id=str(function.get("name") or state.name),
            changed=True,
            version=str(settings.value_at(function, "serviceConfig.revision")),
            url=str(function.get("url") or settings.value_at(function, "serviceConfig.uri")),
        )

    def _deadline(self, spec: FunctionSpec, what: str) -> Deadline:
        return Deadline(self.calls.clock, spec.wait_timeout_s, what)

    def _guard(self, state: GcpState, spec: FunctionSpec) -> None:
        function = self.calls.get_function(state.name, self._deadline(spec, f"reading function {state.name}")) or {}
        stamp = str(function.get("updateTime") or "")
        if stamp != state.update_time or function.get("state") == DEPLOYING:
            raise ProviderError(
                f"function {state.name} changed after the plan (updated {stamp or '?'}, "
                f"planned against {state.update_time or '?'}); nothing was deployed",
                hint="another deployment ran at the same time; re-run this step to plan again",
            )

    def _upload(self, spec: FunctionSpec, state: GcpState, artifact: Artifact) -> dict[str, Any]:
        deadline = self._deadline(spec, "uploading the package")
        target = self.calls.generate_upload_url(_parent(state.name), options_of(spec).kms_key, deadline)
        return upload(self.uploads, target, artifact, deadline, self.log)

    def _write_once(self, state: GcpState, function: dict[str, Any], spec: FunctionSpec) -> dict[str, Any] | None:
        """The create or update, sent again only when it is known not to have taken effect: when
        its answer is lost, the function is read. Unchanged since the plan (or still absent, for
        a create): sent again. Carrying this run's labels: it took effect, and once the function
        is no longer DEPLOYING, None (no operation to wait on) is returned. Anything else is
        someone else's change: an error. All within one wait-timeout."""
        deadline = self._deadline(spec, f"deploying function {spec.name}")
        while True:
            try:
                return self._write(state, function, spec, deadline)
            except LostReply as lost:
                self.log.warning(f"{lost.message}; reading {state.name} to see whether it took effect")
            while True:
                now = self.calls.get_function(state.name, deadline, what="read the function", missing_ok=True)
                if now is None or (not state.create and _unchanged(now, state)):
                    break  # it did not take effect: send it again
                if not _ours(now, function):
                    raise ProviderError(
                        f"function {state.name} was changed by someone else while this run's "
                        f"{'create' if state.create else 'update'} went unanswered; nothing more was deployed",
                        hint="another deployment ran at the same time; re-run this step to plan again",
                    )
                if now.get("state") != DEPLOYING:
                    self.log.info(f"{state.name} carries this run's change: it took effect")
                    return None
                deadline.sleep(2.0, detail=f"{state.name} is still DEPLOYING this run's change")
            deadline.check("the deployment's answer was lost")

    def _write(self, state: GcpState, function: dict[str, Any], spec: FunctionSpec, deadline: Deadline) -> dict[str, Any]:
        if state.create:
            self.log.info(f"creating {state.name}")
            return self.calls.create_function(_parent(state.name), spec.name, function, deadline)
        self.log.info(f"updating {state.name} (update mask: {', '.join(state.update_mask)})")
        return self.calls.patch_function(state.name, function, settings.mask(state.update_mask), deadline)

    def _verify(self, name: str, spec: FunctionSpec) -> dict[str, Any]:
        deadline = self._deadline(spec, f"reading function {name}")
        function = self.calls.get_function(name, deadline, what="read the deployed function") or {}
        state = function.get("state") or "STATE_UNSPECIFIED"
        if state != ACTIVE:
            messages = "; ".join(
                f"{m.get('severity') or 'SEVERITY_UNSPECIFIED'}: {m.get('message', '')}" for m in function.get("stateMessages") or []
            )
            raise ProviderError(
                f"function {name} is {state} after the deployment, not ACTIVE" + (f": {messages}" if messages else "")
            )
        self.log.info(f"{name} is ACTIVE, revision {settings.value_at(function, 'serviceConfig.revision')}")
        return function


def _unchanged(function: dict[str, Any], state: GcpState) -> bool:
    """Is the function as the plan read it (no write since)?"""
    return str(function.get("updateTime") or "") == state.update_time and function.get("state") != DEPLOYING


def _ours(function: dict[str, Any], sent: dict[str, Any]) -> bool:
    """Does the function carry the labels this run sent (its code hash and commit among them)?"""
    labels = function.get("labels") or {}
    return all(labels.get(key) == value for key, value in (sent.get("labels") or {}).items())


def _parent(function_name: str) -> str:
    """`projects/P/locations/L` of `projects/P/locations/L/functions/F`."""
    return function_name.rsplit("/functions/", 1)[0]
