"""Input problems only the package reveals, and the endpoint rules: checked before any call.

Owns: host.json at the package root (naming the folder when it is nested), FAAS_AZURE_*_ENDPOINT
over plain http only on loopback (bearer tokens go over https only), no slot on Flex Consumption,
and WEBSITE_RUN_FROM_PACKAGE in `environment` (never a URL; not with flex or run-from-package).
Must not: call Azure or read the environment; every problem is returned, none raised.
"""

from __future__ import annotations

import urllib.parse
import zipfile

from ...errors import Problem
from ...models import Artifact, AzureOptions, FunctionSpec
from .calls import is_loopback
from .run_from_package import is_package_url


def check(spec: FunctionSpec, artifact: Artifact) -> list[Problem]:
    """Input problems only the package reveals, and endpoint rules; no network."""
    options = spec.options
    assert isinstance(options, AzureOptions)
    problems: list[Problem] = []
    where = "package" if spec.package is not None else "source"
    with zipfile.ZipFile(artifact.path) as archive:
        names = archive.namelist()
    if "host.json" not in names:
        nested = sorted((n for n in names if n.endswith("/host.json")), key=len)
        found = f"; found {nested[0]!r}: point `{where}` at that folder" if nested else ""
        problems.append(
            Problem(where, f"no host.json at the root of the package: a Function App needs it there{found}")
        )
    for variable, url in (
        ("FAAS_AZURE_ARM_ENDPOINT", options.arm_endpoint),
        ("FAAS_AZURE_SCM_ENDPOINT", options.scm_endpoint),
    ):
        if url and urllib.parse.urlsplit(url).scheme == "http" and not is_loopback(url):
            problems.append(
                Problem(
                    "",
                    f"{variable} is {url!r}: bearer tokens are only sent over https (plain http is accepted for 127.0.0.1, localhost and ::1 only)",
                )
            )
    if options.slot and options.deploy_method == "flex":
        problems.append(
            Problem(
                "slot", "Flex Consumption apps have no deployment slots: remove `slot` or use another deploy-method"
            )
        )
    package_setting = (spec.environment or {}).get("WEBSITE_RUN_FROM_PACKAGE")
    if package_setting is not None:
        if is_package_url(package_setting):
            problems.append(
                Problem(
                    "environment", "WEBSITE_RUN_FROM_PACKAGE must not be a URL: the action deploys the package itself"
                )
            )
        elif options.deploy_method in ("flex", "run-from-package"):
            problems.append(
                Problem(
                    "environment",
                    f"WEBSITE_RUN_FROM_PACKAGE is managed by deploy-method {options.deploy_method}: remove it from `environment`",
                )
            )
    return problems
