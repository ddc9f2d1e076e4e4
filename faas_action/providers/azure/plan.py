"""Reading a Function App into a Plan.

Owns: what the deploy would do to the site (or slot): its hosting plan and deploy method, the app
settings after the deploy and their diff, whether the code must be deployed (the package hash and
remote-build flag it runs now, deployed.py), the steps in words, and the guard apply() checks
(the settings and deployment read here, in `AzureState`). The plan is 'none' when the site that
`url` serves already runs this package with these settings.
Must not: change anything (only reads, through ArmCalls).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Mapping

from ...errors import ProviderError
from ...models import Artifact, AzureOptions, FunctionSpec, Plan, frozen_map
from ..base import Log
from .arm import ArmCalls
from .deployed import Deployed, read_deployed
from .method import choose_method, refuse_unworkable
from .run_from_package import RELEASES_CONTAINER, blob_name, package_change
from .settings import desired_settings, remote_build_settings, settings_diff, truthy
from .site import HOSTING_LABELS, Site, read_site
from .swap import read_production


@dataclass(frozen=True)
class AzureState:
    """Plan.state: everything apply() needs, read at plan time."""

    target: Site
    production: Site | None  # set when the slot is swapped into production
    method: str  # flex | zipdeploy | run-from-package
    settings: Mapping[str, str]  # the target's app settings at plan time: the guard
    new_settings: Mapping[str, str]  # what to PUT (the package URL is added on run-from-package)
    settings_changed: bool
    deploy_code: bool
    current: Deployed  # what the target runs now
    live: Deployed  # what the site behind `url` runs now (production when swapping)
    blob_name: str = ""


def plan(arm: ArmCalls, options: AzureOptions, spec: FunctionSpec, artifact: Artifact) -> Plan:
    log = arm.log
    target = read_site(arm, spec.name, options.slot)
    method = choose_method(options.deploy_method, target, options.remote_build)
    log.info(
        f"Function App {target.label}: {HOSTING_LABELS[target.hosting]} on {'Linux' if target.linux else 'Windows'} "
        f"(SKU {target.sku or 'unknown'}), {target.state or 'state unknown'}; deploy method {method}"
    )
    if method != "run-from-package" and not target.scm:
        raise ProviderError(f"cannot tell the Kudu (SCM) host of {target.label}", hint="set FAAS_AZURE_SCM_ENDPOINT")
    settings = arm.app_settings(target)
    new_settings = desired_settings(settings, spec.environment, spec.environment_mode)
    if options.remote_build and method == "zipdeploy":
        new_settings = remote_build_settings(new_settings)
    refuse_unworkable(target, method, new_settings)
    _warn_about_builds(log, spec, target, method, new_settings)
    current = read_deployed(arm, target, method, settings)
    deploy_code = not current.runs(artifact, options.remote_build)
    settings_changed = dict(new_settings) != dict(settings)

    production, live, up_to_date = None, current, not deploy_code and not settings_changed
    if options.swap and target.slot:
        read = read_production(arm, spec, method, artifact, options.remote_build)
        production, live, up_to_date = read.site, read.live, read.up_to_date

    blob = blob_name(target.app, artifact.sha256_hex) if method == "run-from-package" else ""
    changes = settings_diff(settings, new_settings)
    if method == "run-from-package" and deploy_code:
        changes.append(package_change(settings, blob))
    state = AzureState(
        target=target,
        production=production,
        method=method,
        settings=frozen_map(settings),
        new_settings=frozen_map(new_settings),
        settings_changed=settings_changed,
        deploy_code=deploy_code,
        current=current,
        live=live,
        blob_name=blob,
    )
    return Plan(
        provider="azure",
        function=spec.name,
        action="none" if up_to_date else "update",
        changes=() if up_to_date else tuple(changes),
        code_sha256_old=_hex_to_b64(live.sha256_hex),
        code_sha256_new=artifact.sha256,
        steps=() if up_to_date else tuple(steps(state, spec, options.remote_build)),
        state=state,
    )


def steps(state: AzureState, spec: FunctionSpec, remote_build: bool) -> list[str]:
    target, lines = state.target, []
    wait = f"(up to {spec.wait_timeout_s:g} s)"
    if state.method == "run-from-package":
        if state.deploy_code:
            lines.append(f"upload the package to blob {RELEASES_CONTAINER}/{state.blob_name} in the app's storage account")
            lines.append(f"point WEBSITE_RUN_FROM_PACKAGE of {target.label} at it (one app settings update) and sync triggers")
        elif state.settings_changed:
            lines.append(f"update the app settings of {target.label}")
    else:
        if state.settings_changed:
            lines.append(f"update the app settings of {target.label}")
        if state.deploy_code:
            endpoint = "/api/publish" if state.method == "flex" else "/api/zipdeploy?isAsync=true"
            build = " (remote build: Azure installs requirements.txt)" if remote_build else ""
            lines.append(f"deploy the package with Kudu {endpoint} to {target.label}{build} and wait for it {wait}")
    if state.deploy_code or state.settings_changed:
        lines.append(f"wait for the functions of {target.label} to be indexed")
    if state.production is not None:
        lines.append(f"swap slot {target.slot} into production {wait}; the previous production build stays in {target.slot}")
    return lines


def _warn_about_builds(log: Log, spec: FunctionSpec, target: Site, method: str, settings: Mapping[str, str]) -> None:
    """Builds that would fight, or not happen, with these settings: warnings, not errors."""
    if spec.dependencies is not None and method == "zipdeploy" and truthy(settings.get("SCM_DO_BUILD_DURING_DEPLOYMENT")):
        log.warning(
            "SCM_DO_BUILD_DURING_DEPLOYMENT is set: Kudu will install requirements.txt again over the dependencies "
            "installed here; delete that app setting, or use remote-build instead of dependencies"
        )
    if (
        method == "run-from-package"
        and target.linux
        and target.hosting == "consumption"
        and truthy(settings.get("SCM_DO_BUILD_DURING_DEPLOYMENT"))
    ):
        log.warning(
            "SCM_DO_BUILD_DURING_DEPLOYMENT is set, but run-from-package runs no remote build: the package must hold its dependencies"
        )


def _hex_to_b64(digest: str | None) -> str | None:
    return base64.b64encode(bytes.fromhex(digest)).decode("ascii") if digest else None
