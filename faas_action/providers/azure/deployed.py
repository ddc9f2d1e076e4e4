"""Which package a site runs: the no-op detection.

Owns: the Kudu deployment message the action writes (`deployment_message`: the package's hex
SHA-256 and whether it was built remotely, with GITHUB_SHA, GITHUB_REF and the run URL) and
reading it back (`active_deployment`: the active deployment, else the latest successful one);
`read_deployed`, what a site runs now: on run-from-package the blob WEBSITE_RUN_FROM_PACKAGE
names, elsewhere the deployment ARM lists. A deploy made by another tool leaves another message,
so it is never mistaken for ours.
Must not: change anything.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping

from ...errors import CredentialsError, DeadlineError, ProviderError
from ...models import Artifact
from .arm import ArmCalls
from .calls import unreachable
from .kudu import DEPLOYER, KUDU_SUCCESS
from .run_from_package import running_blob
from .site import Site


@dataclass(frozen=True)
class Deployed:
    """The code a site runs, as far as the platform tells: our package hash and its version."""

    sha256_hex: str | None = None
    version: str = ""
    remote_build: bool = False  # deployed with `remote-build: true` (the Kudu message says so)

    def runs(self, artifact: Artifact, remote_build: bool) -> bool:
        """Is this the package, built the same way (remotely or not)?"""
        return self.sha256_hex == artifact.sha256_hex and self.remote_build == remote_build


def read_deployed(arm: ArmCalls, site: Site, method: str, settings: Mapping[str, str]) -> Deployed:
    """What code the site runs: the package URL's blob, else the active Kudu deployment."""
    if method == "run-from-package":
        blob = running_blob(settings)
        return Deployed(*blob) if blob else Deployed()
    try:
        deployments = arm.deployments(site)
    except (CredentialsError, DeadlineError):
        raise
    except ProviderError as exc:
        if unreachable(exc):
            raise
        # Some plans do not list deployments through ARM: then the package is simply deployed.
        arm.log.debug(f"cannot tell which package {site.label} runs ({exc.message}); it will be deployed")
        return Deployed()
    return active_deployment(deployments)


def active_deployment(deployments: list[Any]) -> Deployed:
    """The active deployment (else the latest successful one) and the package hash it names."""

    def started(d: Any) -> str:
        value = getattr(d, "start_time", None)
        return value.isoformat() if hasattr(value, "isoformat") else str(value or "")

    ordered = sorted(deployments, key=started, reverse=True)
    chosen = next((d for d in ordered if getattr(d, "active", False)), None)
    chosen = chosen or next((d for d in ordered if getattr(d, "status", None) == KUDU_SUCCESS), None)
    if chosen is None:
        return Deployed()
    deployment_id = (chosen.name or "").rsplit("/", 1)[-1]
    try:
        message = json.loads(chosen.message or "")
    except ValueError:
        message = None
    digest = message.get("packageSha256") if isinstance(message, dict) else None
    if not (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest)):
        digest = None
    remote_build = isinstance(message, dict) and message.get("remoteBuild") is True
    return Deployed(digest, deployment_id, remote_build)


def deployment_message(github: Any, artifact: Artifact, remote_build: bool = False) -> str:
    """Kudu's `message`: who deployed what, as JSON (the Azure functions-action uses JSON too)."""
    data = {
        "type": "deployment",
        "deployer": DEPLOYER,
        "sha": github.sha,
        "ref": github.ref,
        "repoName": github.repository,
        "runUrl": github.run_url,
        "packageSha256": artifact.sha256_hex,
        "remoteBuild": remote_build,  # part of what runs: the same package built remotely or not differs
    }
    return json.dumps({k: v for k, v in data.items() if v}, separators=(",", ":"))
