"""Applying an Azure Plan: the only caller of what changes a Function App (ArmCalls' writes,
kudu.deploy, run_from_package.upload and sync_triggers, swap.swap).

Owns: the guard (the app settings and the deployment plan() read are still there, checked before
any write), then the one path per deploy method: run-from-package uploads the blob, points
WEBSITE_RUN_FROM_PACKAGE at it in one settings update and syncs triggers; flex and zipdeploy
update the settings, then deploy with Kudu; then the wait for the functions to be indexed, the
swap into production, and the DeployResult (version = the Kudu deployment id or the blob name;
url = a function's invoke URL, else the app URL).
Must not: decide what to change (the Plan did), create Function Apps or slots, or call Azure
except through ArmCalls, Kudu and the blob upload.
"""

from __future__ import annotations

from typing import Any, Mapping

from ...errors import ProviderError
from ...models import Artifact, AzureOptions, DeployResult, FunctionSpec, Plan
from ..base import Deadline
from . import kudu, run_from_package
from .arm import ArmCalls
from .deployed import deployment_message, read_deployed
from .functions import invoke_url, list_functions_once, wait_for_functions
from .plan import AzureState
from .site import Site
from .swap import swap


class Applier:
    """Carries out one Plan on the site it was read from."""

    def __init__(self, arm: ArmCalls, options: AzureOptions, github: Any) -> None:
        self.arm = arm
        self.options = options
        self.github = github
        self.log = arm.log

    def apply(self, plan: Plan, spec: FunctionSpec, artifact: Artifact) -> DeployResult:
        state: AzureState = plan.state
        target = state.target
        final = state.production or target
        if not plan.changed:
            self.log.info(f"{final.label} already runs this package with these settings: nothing to deploy")
            functions = list_functions_once(self.arm, final)
            return _result(final, state, changed=False, version=state.live.version, functions=functions)

        self._check_guards(state)
        version = state.current.version
        if state.method == "run-from-package":
            if state.deploy_code:
                package_url = run_from_package.upload(
                    artifact,
                    state.blob_name,
                    settings=state.new_settings,
                    label=target.label,
                    log=self.log,
                    clock=self.arm.clock,
                    wait_s=self.arm.wait_s,
                )
                self._put_settings(target, {**state.new_settings, "WEBSITE_RUN_FROM_PACKAGE": package_url})
                run_from_package.sync_triggers(self.arm, target, spec.wait_timeout_s)
                version = state.blob_name
            elif state.settings_changed:
                self._put_settings(target, dict(state.new_settings))
        else:
            if state.settings_changed:
                self._put_settings(target, dict(state.new_settings))
            if state.deploy_code:
                version = self._kudu_deploy(state, spec, artifact)

        functions: list[Any] = []
        if state.deploy_code or state.settings_changed:
            functions = wait_for_functions(self.arm, target, spec.wait_timeout_s)
        if state.production is not None:
            swap(self.arm, target, spec.wait_timeout_s)
            functions = wait_for_functions(self.arm, state.production, spec.wait_timeout_s)
        return _result(final, state, changed=True, version=version, functions=functions)

    def _check_guards(self, state: AzureState) -> None:
        """Fail, before any write, if the app changed since the plan read it."""
        target = state.target
        if dict(self.arm.app_settings(target)) != dict(state.settings):
            raise ProviderError(
                f"the app settings of {target.label} changed since the plan was made; nothing was deployed",
                hint="run the workflow again",
            )
        if state.method != "run-from-package" and state.deploy_code:
            now = read_deployed(self.arm, target, state.method, state.settings)
            if now != state.current:
                raise ProviderError(
                    f"{target.label} was deployed to (deployment {now.version or '?'}) since the plan was made; nothing was deployed",
                    hint="run the workflow again",
                )

    def _put_settings(self, site: Site, settings: Mapping[str, str]) -> None:
        """Replace the whole set (the PUT has no merge): built from what plan() read."""
        self.log.info(f"Updating the app settings of {site.label} ({len(settings)} settings)")
        self.arm.put_app_settings(site, settings)

    def _kudu_deploy(self, state: AzureState, spec: FunctionSpec, artifact: Artifact) -> str:
        target = state.target
        client = kudu.Kudu(target.scm, self.arm.credential, self.arm.scope)
        message = deployment_message(self.github, artifact, self.options.remote_build)
        deadline = Deadline(self.arm.clock, spec.wait_timeout_s, f"Kudu deployment to {target.label}")
        return kudu.deploy(
            client,
            artifact,
            flex=state.method == "flex",
            label=target.label,
            message=message,
            remote_build=self.options.remote_build,
            deadline=deadline,
            log=self.log,
        )


def _result(site: Site, state: AzureState, changed: bool, version: str, functions: list[Any]) -> DeployResult:
    return DeployResult(
        function_id=site.id,
        changed=changed,
        version=version,
        url=invoke_url(functions) or site.url,
        outputs={"app-url": site.url, "slot": state.target.slot or "", "deploy-method": state.method},
    )
